"""Waiting for something to become true: the tests' two pollers, one blocking and one async."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], Any], timeout: float, what: str = "the condition", every: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; ``AssertionError`` naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float = 20.0, every: float = 0.5
) -> T:
    """Await ``probe`` every ``every`` seconds until ``done`` accepts its result or ``timeout`` passes; the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if done(result) or time.monotonic() > deadline:
            return result
        await asyncio.sleep(every)
