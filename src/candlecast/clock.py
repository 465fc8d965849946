"""Injected time: every component asks a Clock, never ``datetime.now()`` or ``time.*``.

``now()``/``timestamp()`` are wall-clock time (candle dates, trade times, the wire's
``la`` and ``ts``); ``monotonic()`` measures intervals (timeouts, throttles, queue ages)
and never jumps when the system clock is set.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """The source of wall-clock time, always UTC-aware."""

    def now(self) -> datetime:
        """Return the current time (UTC-aware)."""
        ...

    def timestamp(self) -> float:
        """Return the current time as POSIX seconds."""
        ...

    def monotonic(self) -> float:
        """Return seconds on a clock that only moves forward (for intervals)."""
        ...


class LiveClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def timestamp(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class FixedClock:
    """A clock for tests: wall-clock time moves only when told to.

    Intervals (``monotonic()``) run on real time by default (``advance()`` does not move
    them), so the socket timeouts of bots under test behave as in production while the
    test steps the candles' time; with ``manual_intervals=True`` they move only by
    ``advance()``.
    """

    def __init__(self, start: datetime, manual_intervals: bool = False) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._elapsed = 0.0
        self._manual_intervals = manual_intervals

    def now(self) -> datetime:
        return self._now

    def timestamp(self) -> float:
        return self._now.timestamp()

    def monotonic(self) -> float:
        if self._manual_intervals:
            return self._elapsed
        return time.monotonic()

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        if seconds < 0:
            raise ValueError("time does not run backwards")
        self._now += timedelta(seconds=seconds)
        self._elapsed += seconds
