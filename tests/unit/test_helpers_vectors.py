"""freqtrade's timeframe and stoploss helpers against its 2026.9 golden vectors (helpers.json),
one test per case: results with their type (int vs float, -0.0 kept), or the same exception
type and message. (The file's producer_pairlist part is tested with the pairlists.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from candlecast.strategy import (
    stoploss_from_absolute,
    stoploss_from_open,
    timeframe_to_minutes,
    timeframe_to_msecs,
    timeframe_to_next_date,
    timeframe_to_prev_date,
    timeframe_to_seconds,
)
from tests import golden

VECTORS = golden.load("helpers")
TIMEFRAMES = VECTORS["timeframes"]
DATES = VECTORS["dates"]
FROM_OPEN = VECTORS["stoploss_from_open"]
FROM_ABSOLUTE = VECTORS["stoploss_from_absolute"]

LENGTHS: dict[str, Callable[[str], int]] = {
    "to_seconds": timeframe_to_seconds,
    "to_minutes": timeframe_to_minutes,
    "to_msecs": timeframe_to_msecs,
}


def _exception_name(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"


def _same_number(actual: Any, expected: Any) -> bool:
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(actual, float) and math.isnan(actual)
    return bool(actual == expected) and math.copysign(1, actual) == math.copysign(1, expected)


def _check(function: Callable[..., Any], kwargs: dict[str, Any], expected: dict[str, Any]) -> None:
    if "raises" in expected:
        with pytest.raises(Exception) as info:
            function(**kwargs)
        assert _exception_name(info.value) == expected["raises"]["type"]
        assert str(info.value) == expected["raises"]["message"]
        return
    result = function(**kwargs)
    assert type(result).__name__ == expected["result_type"], f"{function.__name__}: {result!r}"
    assert _same_number(result, expected["result"]), (
        f"{function.__name__}({kwargs}) = {result!r}, expected {expected['result']!r}"
    )


def _ids(cases: list[dict[str, Any]], keys: tuple[str, ...]) -> list[str]:
    return [" ".join(f"{key}={case[key]!r}" for key in keys) for case in cases]


def test_every_helper_case_is_present_with_a_unique_id():
    assert (len(TIMEFRAMES), len(DATES), len(FROM_OPEN), len(FROM_ABSOLUTE)) == (32, 121, 216, 60)
    for cases, keys in (
        (TIMEFRAMES, ("timeframe",)),
        (DATES, ("timeframe", "date")),
        (FROM_OPEN, ("open_relative_stop", "current_profit", "is_short", "leverage")),
        (FROM_ABSOLUTE, ("stop_rate", "current_rate", "is_short", "leverage")),
    ):
        assert len(set(_ids(cases, keys))) == len(cases)


@pytest.mark.parametrize("case", TIMEFRAMES, ids=_ids(TIMEFRAMES, ("timeframe",)))
def test_timeframe_lengths_match_freqtrade(case: dict[str, Any]):
    for key, function in LENGTHS.items():
        _check(function, {"timeframe": case["timeframe"]}, case[key])


@pytest.mark.parametrize("case", DATES, ids=_ids(DATES, ("timeframe", "date")))
def test_candle_dates_match_freqtrade(case: dict[str, Any]):
    date = datetime.fromisoformat(case["date"])
    for key, function in (
        ("prev_date", timeframe_to_prev_date),
        ("next_date", timeframe_to_next_date),
    ):
        result = function(case["timeframe"], date)
        assert result.tzinfo is UTC
        assert result.isoformat() == case[key]["result"]
        assert int(result.timestamp() * 1000) == case[key]["epoch_ms"]


@pytest.mark.parametrize(
    "case",
    FROM_OPEN,
    ids=_ids(FROM_OPEN, ("open_relative_stop", "current_profit", "is_short", "leverage")),
)
def test_stoploss_from_open_matches_freqtrade(case: dict[str, Any]):
    kwargs = {k: case[k] for k in ("open_relative_stop", "current_profit", "is_short", "leverage")}
    _check(stoploss_from_open, kwargs, case)


@pytest.mark.parametrize(
    "case",
    FROM_ABSOLUTE,
    ids=_ids(FROM_ABSOLUTE, ("stop_rate", "current_rate", "is_short", "leverage")),
)
def test_stoploss_from_absolute_matches_freqtrade(case: dict[str, Any]):
    kwargs = {k: case[k] for k in ("stop_rate", "current_rate", "is_short", "leverage")}
    _check(stoploss_from_absolute, kwargs, case)
