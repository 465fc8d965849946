"""Injected time: wall-clock time and intervals, live and under test."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from candlecast.clock import FixedClock, LiveClock

START = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_live_clock_measures_intervals_on_the_monotonic_clock():
    clock = LiveClock()
    before = time.monotonic()
    assert before <= clock.monotonic() <= time.monotonic()


def test_a_fixed_clock_with_manual_intervals_moves_both_only_when_advanced():
    clock = FixedClock(START, manual_intervals=True)
    first = clock.monotonic()
    assert clock.monotonic() == first and clock.now() == START
    clock.advance(90)
    assert clock.monotonic() - first == 90
    assert clock.timestamp() - START.timestamp() == 90


def test_a_fixed_clock_by_default_fixes_the_date_but_lets_intervals_run_in_real_time():
    clock = FixedClock(START)
    first = clock.monotonic()
    clock.advance(3600)  # the candles' hour passes; socket timeouts are not fired by it
    assert 0 <= clock.monotonic() - first < 60
    assert clock.now() == START.replace(hour=1)


def test_time_does_not_run_backwards():
    with pytest.raises(ValueError, match="backwards"):
        FixedClock(START).advance(-1)
