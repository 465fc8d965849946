"""Timeframe strings (``1s`` .. ``1y``): their lengths and the candles they cut time into.

Two families live here:

- freqtrade's strategy helpers (``timeframe_to_seconds/minutes/msecs``,
  ``timeframe_to_prev_date/next_date``, ``timeframe_to_resample_freq``,
  ``date_minus_candles``), which strategies import and which behave as freqtrade's do,
  lenient parsing and exception types included;
- :func:`validate_timeframe`, the strict check the config uses.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# A month counts 30 days and a year 365 for lengths (freqtrade's and ccxt's convention);
# candle boundaries (prev/next date) use calendar months and years instead.
_SECONDS_PER_UNIT = {
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 604800,
    "M": 2592000,
    "y": 31536000,
}
_STRICT_PATTERN = re.compile(r"^(\d+)([smhdwM])$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_MS = 86_400_000
_WEEK_MS = 7 * _DAY_MS
# Weeks start on Monday; 1970-01-05 is the first Monday after the epoch.
_EPOCH_MONDAY_MS = 4 * _DAY_MS


def _unsupported_unit(unit: str) -> Exception:
    # freqtrade raises ccxt's NotSupported here; strategies may catch exactly that.
    from ccxt.base.errors import NotSupported

    return NotSupported(f"timeframe unit {unit} is not supported")


def _parse(timeframe: str) -> tuple[int, str]:
    """``(amount, unit)``, parsed as freqtrade does: ``int()`` of all but the last character
    (so ``" 5m"`` and ``"05m"`` are 5 minutes, ``"-5m"`` is -5), then the unit."""
    amount = int(timeframe[:-1])
    unit = timeframe[-1]
    if unit not in _SECONDS_PER_UNIT:
        raise _unsupported_unit(unit)
    return amount, unit


def timeframe_to_seconds(timeframe: str) -> int:
    """The length of one ``timeframe`` candle in seconds (``1M`` = 30 days, ``1y`` = 365).

    Raises:
        ValueError: the amount before the unit is not an integer (``"1.5h"``, ``""``).
        ccxt.NotSupported: the unit is not one of ``s m h d w M y`` (``"1H"``).
    """
    amount, unit = _parse(timeframe)
    return amount * _SECONDS_PER_UNIT[unit]


def timeframe_to_minutes(timeframe: str) -> int:
    """The length in whole minutes, rounded down (``30s`` gives 0); raises as
    :func:`timeframe_to_seconds`."""
    return timeframe_to_seconds(timeframe) // 60


def timeframe_to_msecs(timeframe: str) -> int:
    """The length in milliseconds; raises as :func:`timeframe_to_seconds`."""
    return timeframe_to_seconds(timeframe) * 1000


def timeframe_to_timedelta(timeframe: str) -> timedelta:
    return timedelta(seconds=timeframe_to_seconds(timeframe))


def timeframe_to_resample_freq(timeframe: str) -> str:
    """The pandas resample rule for ``timeframe``: ``"<seconds>s"`` up to a week, ``"1W-MON"``
    for week-long timeframes, ``"<n>MS"`` (month start) for months, ``"1YS"`` for ``1y``
    (and the timeframe itself for longer ones), as freqtrade documents it."""
    if timeframe == "1y":
        return "1YS"
    seconds = timeframe_to_seconds(timeframe)
    minutes = seconds // 60
    if 10_000 < minutes < 43_200:
        return "1W-MON"
    if 43_200 <= minutes < 525_600:
        return f"{timeframe}S"
    if minutes > 43_200:
        return timeframe
    return f"{seconds}s"


def _epoch_ms(date: datetime | None) -> int:
    if date is None:
        date = datetime.now(UTC)
    elif date.tzinfo is None:
        date = date.replace(tzinfo=UTC)  # a naive date is read as UTC
    return (date - _EPOCH) // timedelta(milliseconds=1)


def _from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _month_start_ms(months: int) -> int:
    """Epoch ms of the first day of month number ``months`` (counted from year 0)."""
    year, month = divmod(months, 12)
    return _epoch_ms(datetime(year, month + 1, 1, tzinfo=UTC))


def _candle_bounds(timeframe: str, ms: int) -> tuple[int, int]:
    """Open time of the candle holding ``ms`` and the open time of the one after it (epoch ms).

    Weeks start on Monday, months and years are calendar months and years (a multiple ``n``
    of them counted from year 0); shorter timeframes divide time since the epoch.
    """
    amount, unit = _parse(timeframe)
    if amount >= 1 and unit == "w":
        step = amount * _WEEK_MS
        start = ms - (ms - _EPOCH_MONDAY_MS) % step
        return start, start + step
    if amount >= 1 and unit in ("M", "y"):
        date = _from_ms(ms)
        months_per = amount if unit == "M" else 12 * amount
        months = (date.year * 12 + date.month - 1) // months_per * months_per
        return _month_start_ms(months), _month_start_ms(months + months_per)
    step = amount * _SECONDS_PER_UNIT[unit] * 1000
    start = ms - ms % step
    return start, start + step


def timeframe_to_prev_date(timeframe: str, date: datetime | None = None) -> datetime:
    """Open time (UTC) of the ``timeframe`` candle that ``date`` (default: now) falls in; a
    candle open time is returned unchanged. A naive ``date`` is read as UTC."""
    return _from_ms(_candle_bounds(timeframe, _epoch_ms(date))[0])


def timeframe_to_next_date(timeframe: str, date: datetime | None = None) -> datetime:
    """Open time (UTC) of the ``timeframe`` candle after the one ``date`` (default: now) falls
    in, so always later than ``date``. A naive ``date`` is read as UTC."""
    return _from_ms(_candle_bounds(timeframe, _epoch_ms(date))[1])


def date_minus_candles(timeframe: str, candle_count: int, date: datetime | None = None) -> datetime:
    """The open time of the candle ``candle_count`` candles before the one ``date`` (default:
    now) falls in: :func:`timeframe_to_prev_date` minus ``candle_count`` timeframe lengths
    (a month counts 30 days)."""
    start = timeframe_to_prev_date(timeframe, date)
    return start - timedelta(seconds=timeframe_to_seconds(timeframe) * candle_count)


def validate_timeframe(timeframe: str) -> str:
    """Return ``timeframe`` if it is a positive ``<n><s|m|h|d|w|M>`` (the config's check).

    Raises:
        ValueError: anything else, e.g. ``"0m"``, ``"1H"``, ``" 5m"``.
    """
    match = _STRICT_PATTERN.match(timeframe) if isinstance(timeframe, str) else None
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"invalid timeframe {timeframe!r}: expected e.g. 1s, 5m, 1h, 1d")
    return timeframe
