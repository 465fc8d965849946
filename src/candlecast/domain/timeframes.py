"""Timeframe strings (``1s`` .. ``1M``) and their lengths."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000}
_PATTERN = re.compile(r"^(\d+)([smhdwM])$")


def timeframe_to_seconds(timeframe: str) -> int:
    """Return the length of ``timeframe`` in seconds (a month counts 30 days).

    Raises:
        ValueError: ``timeframe`` is not of the form ``<n><s|m|h|d|w|M>``.
    """
    match = _PATTERN.match(timeframe or "")
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"invalid timeframe {timeframe!r}: expected e.g. 1s, 5m, 1h, 1d")
    return int(match.group(1)) * _UNITS[match.group(2)]


def timeframe_to_msecs(timeframe: str) -> int:
    return timeframe_to_seconds(timeframe) * 1000


def timeframe_to_timedelta(timeframe: str) -> timedelta:
    return timedelta(seconds=timeframe_to_seconds(timeframe))


def validate_timeframe(timeframe: str) -> str:
    timeframe_to_seconds(timeframe)
    return timeframe
