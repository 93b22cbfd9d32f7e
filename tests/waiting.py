"""Waiting on a condition instead of sleeping a fixed time (issue #15).

A fixed `sleep` is either too short on a loaded machine (a flaky test) or too long everywhere (a slow
suite). `wait_until` polls a predicate and returns its first truthy value as soon as there is one;
when the time is up it fails with a message that says what was awaited and what was last seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The condition did not hold in time (an AssertionError: pytest reports it as a failed check)."""


def wait_until(predicate: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.05,
               message: str | Callable[[], str] = "") -> T:
    """Call `predicate` every `interval` seconds until it returns something truthy, and return that.

    Fails with WaitTimeout after `timeout` seconds (the predicate is always called at least once, and
    once more at the deadline). `message` (or a callable giving it, called only on failure) says what
    was awaited; the last value the predicate returned is added to it.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            what = message() if callable(message) else message
            name = getattr(predicate, "__name__", repr(predicate))
            raise WaitTimeout(f"waited {timeout:g}s for {what or name}; last value: {value!r}")
        time.sleep(min(interval, remaining))


def wait_past(timestamp: float, *, margin: float = 0.05) -> None:
    """Wait until the wall clock is past `timestamp` (a token's `exp`, a TTL's end): for tests where
    the passing of time is the thing being tested, and no longer than it takes."""
    wait_until(lambda: time.time() > timestamp + margin, timeout=max(0.0, timestamp + margin - time.time()) + 5,
               interval=0.02, message=f"the clock to pass {timestamp}")
