"""Deterministic orchestration: the ``RingRelease`` workflow and its message models."""
