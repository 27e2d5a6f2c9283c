"""Helpers for the test suite: real components it starts, and plan builders."""
