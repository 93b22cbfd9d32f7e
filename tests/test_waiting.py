"""tests/waiting.py: a wait returns as soon as its condition holds, and fails clearly when it never does."""

import time

import pytest

from tests.waiting import WaitTimeout, wait_past, wait_until


def test_wait_until_returns_the_first_truthy_value_as_soon_as_there_is_one():
    calls = []

    def third_time():
        calls.append(1)
        return len(calls) >= 3 and "ready"

    started = time.monotonic()
    assert wait_until(third_time, timeout=5, interval=0.01) == "ready"
    assert len(calls) == 3 and time.monotonic() - started < 1


def test_wait_until_fails_with_what_it_waited_for_and_the_last_value():
    queue = [1, 2, 3]
    with pytest.raises(WaitTimeout, match=r"waited 0.1s for the queue to drain; last value: False"):
        wait_until(lambda: len(queue) == 0, timeout=0.1, message="the queue to drain")
    # A callable message is built only on failure, from what is true then.
    with pytest.raises(WaitTimeout, match=r"for 3 items to go; last value: None"):
        wait_until(lambda: None, timeout=0.05, message=lambda: f"{len(queue)} items to go")


def test_wait_past_returns_once_the_clock_is_past_the_time():
    end = time.time() + 0.2
    wait_past(end, margin=0)
    assert time.time() > end
