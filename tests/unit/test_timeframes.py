"""Timeframe helpers the vectors do not cover, by hand-computed cases: the pandas resample
rule, date_minus_candles, default and naive dates, and the config's strict check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from candlecast.domain import validate_timeframe
from candlecast.strategy import (
    date_minus_candles,
    timeframe_to_next_date,
    timeframe_to_prev_date,
    timeframe_to_resample_freq,
    timeframe_to_seconds,
)


@pytest.mark.parametrize(
    ("timeframe", "rule"),
    [
        ("1s", "1s"),
        ("1m", "60s"),
        ("5m", "300s"),
        ("1h", "3600s"),
        ("4h", "14400s"),
        ("1d", "86400s"),
        ("3d", "259200s"),
        ("1w", "1W-MON"),
        ("2w", "1W-MON"),  # freqtrade resamples every week-long timeframe weekly
        ("1M", "1MS"),
        ("3M", "3MS"),
        ("1y", "1YS"),
    ],
)
def test_resample_rule_is_the_one_freqtrade_documents(timeframe: str, rule: str):
    assert timeframe_to_resample_freq(timeframe) == rule
    pd.tseries.frequencies.to_offset(rule)  # and pandas accepts it


def test_monthly_resample_rule_starts_bins_on_the_first_of_the_month():
    days = pd.Series(1.0, index=pd.date_range("2026-01-15", "2026-03-20", freq="D", tz="UTC"))
    bins = days.resample(timeframe_to_resample_freq("1M")).sum()
    assert list(bins.index) == [
        pd.Timestamp("2026-01-01", tz="UTC"),
        pd.Timestamp("2026-02-01", tz="UTC"),
        pd.Timestamp("2026-03-01", tz="UTC"),
    ]
    assert bins.tolist() == [17.0, 28.0, 20.0]


@pytest.mark.parametrize(
    ("timeframe", "count", "date", "expected"),
    [
        ("5m", 0, "2026-01-05T00:07:30", "2026-01-05T00:05:00"),
        ("5m", 3, "2026-01-05T00:07:30", "2026-01-04T23:50:00"),
        ("1h", 24, "2026-03-01T00:00:00", "2026-02-28T00:00:00"),
        ("1d", 2, "2024-03-01T12:00:00", "2024-02-28T00:00:00"),
        ("1w", 1, "2026-01-07T13:00:00", "2025-12-29T00:00:00"),  # weeks start on Monday
        ("1M", 1, "2026-03-15T00:00:00", "2026-01-30T00:00:00"),  # a month counts 30 days
        ("30s", 2, "2026-01-05T00:01:10", "2026-01-05T00:00:00"),
    ],
)
def test_date_minus_candles_steps_back_from_the_candle_open(
    timeframe: str, count: int, date: str, expected: str
):
    start = datetime.fromisoformat(date).replace(tzinfo=UTC)
    assert date_minus_candles(timeframe, count, start) == datetime.fromisoformat(expected).replace(
        tzinfo=UTC
    )


def test_sub_minute_candles_count_their_seconds():
    # Deliberate (docs/compat.md): freqtrade subtracts whole minutes, so 30s candles move 0.
    start = datetime(2026, 1, 5, 0, 1, 10, tzinfo=UTC)
    assert date_minus_candles("30s", 4, start) == datetime(2026, 1, 4, 23, 59, 0, tzinfo=UTC)


def test_a_naive_date_is_read_as_utc():
    naive = datetime(2026, 1, 5, 10, 30, tzinfo=UTC).replace(tzinfo=None)
    assert timeframe_to_prev_date("1h", naive) == datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert timeframe_to_next_date("1h", naive) == datetime(2026, 1, 5, 11, tzinfo=UTC)


def test_dates_default_to_now():
    before = datetime.now(UTC)
    prev, nxt = timeframe_to_prev_date("1m"), timeframe_to_next_date("1m")
    minus = date_minus_candles("1m", 1)
    after = datetime.now(UTC)
    assert timeframe_to_prev_date("1m", before) <= prev <= timeframe_to_prev_date("1m", after)
    assert before < nxt <= timeframe_to_next_date("1m", after)
    one = timedelta(minutes=1)
    assert timeframe_to_prev_date("1m", before) - one <= minus
    assert minus <= timeframe_to_prev_date("1m", after) - one


def test_the_strategy_helpers_parse_leniently_but_the_config_check_is_strict():
    assert timeframe_to_seconds(" 5m") == 300 and timeframe_to_seconds("0m") == 0
    for bad in (" 5m", "0m", "-5m", "1H", "5x", ""):
        with pytest.raises(ValueError, match="invalid timeframe"):
            validate_timeframe(bad)
    assert validate_timeframe("15m") == "15m"
