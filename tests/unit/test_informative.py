"""merge_informative_pair by hand-built cases: the rules of the golden vectors spelled out,
plus what the vectors do not cover (seconds timeframes, multi-month and yearly candles)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from candlecast.strategy import merge_informative_pair
from candlecast.testing import make_ohlcv

START = datetime(2026, 1, 1, tzinfo=UTC)


def at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def base_and_inf(
    base_tf: str, inf_tf: str, n: int, n_inf: int, inf_start: datetime = START
) -> tuple[pd.DataFrame, pd.DataFrame]:
    base = make_ohlcv(n, base_tf, seed=1)
    inf = make_ohlcv(n_inf, inf_tf, start=inf_start, seed=2)
    inf["rsi"] = np.arange(n_inf, dtype=float)
    return base, inf


def value_at(merged: pd.DataFrame, column: str, date: str) -> float:
    return float(merged.loc[merged["date"] == at(date), column].item())


def test_same_timeframe_merges_one_to_one_with_suffix():
    base, inf = base_and_inf("5m", "5m", 10, 10)
    merged = merge_informative_pair(base, inf, "5m", "5m", append_timeframe=False, suffix="default")
    assert "rsi_default" in merged.columns and "date_default" in merged.columns
    assert merged["rsi_default"].tolist() == list(range(10))
    assert (merged["date_default"] == merged["date"]).all()
    assert len(merged) == len(base)


def test_slower_timeframe_has_no_look_ahead():
    base, inf = base_and_inf("5m", "1h", 36, 3)  # 3 hours of 5m candles
    merged = merge_informative_pair(base, inf, "5m", "1h")
    # the 1h candle opening 00:00 closes 01:00: first visible on the 5m candle opening 00:55
    first_visible = merged.loc[merged["rsi_1h"].notna(), "date"].iloc[0]
    assert first_visible == at("2026-01-01 00:55")
    assert value_at(merged, "rsi_1h", "2026-01-01 01:55") == 1.0
    assert value_at(merged, "rsi_1h", "2026-01-01 01:30") == 0.0  # carried forward


def test_base_rows_before_the_first_close_get_the_candle_closed_before_them():
    # the informative frame starts 2 h before the base: the 23:00 candle (closed at 00:00)
    # is what the base candles 00:00 .. 00:50 may see
    base, inf = base_and_inf("5m", "1h", 24, 5, inf_start=datetime(2025, 12, 31, 22, tzinfo=UTC))
    merged = merge_informative_pair(base, inf, "5m", "1h")
    assert merged["rsi_1h"].iloc[:11].tolist() == [1.0] * 11
    assert merged["date_1h"].iloc[0] == at("2025-12-31 23:00")
    assert value_at(merged, "rsi_1h", "2026-01-01 00:55") == 2.0


def test_leading_rows_never_see_a_candle_before_it_closed_even_across_a_base_gap():
    # Deliberate (docs/compat.md): the base misses 00:10 .. 01:00, so its first exact match
    # is 01:55. freqtrade gives every row before that the 00:00 candle, which closes at
    # 01:00 (look-ahead for 00:00 and 00:05); each row here gets the candle closed by then.
    base, inf = base_and_inf("5m", "1h", 36, 5, inf_start=datetime(2025, 12, 31, 23, tzinfo=UTC))
    base = base[(base["date"] < at("2026-01-01 00:10")) | (base["date"] > at("2026-01-01 01:00"))]
    merged = merge_informative_pair(base, inf, "5m", "1h")
    assert value_at(merged, "rsi_1h", "2026-01-01 00:00") == 0.0  # the 23:00 candle
    assert value_at(merged, "rsi_1h", "2026-01-01 00:05") == 0.0
    assert value_at(merged, "rsi_1h", "2026-01-01 01:05") == 1.0  # the 00:00 candle
    assert value_at(merged, "rsi_1h", "2026-01-01 01:50") == 1.0
    assert value_at(merged, "rsi_1h", "2026-01-01 01:55") == 2.0
    closes = merged["date_1h"] + pd.Timedelta(hours=1)
    assert (closes <= merged["date"] + pd.Timedelta(minutes=5)).all()


def test_a_nan_in_the_matched_informative_row_stays_nan():
    base, inf = base_and_inf("5m", "1h", 36, 3)
    inf.loc[1, "rsi"] = np.nan  # the candle opening 01:00, seen from 01:55
    merged = merge_informative_pair(base, inf, "5m", "1h")
    assert np.isnan(value_at(merged, "rsi_1h", "2026-01-01 01:55"))
    assert value_at(merged, "close_1h", "2026-01-01 01:55") == inf.loc[1, "close"]


def test_without_ffill_only_the_closing_candle_gets_values():
    base, inf = base_and_inf("5m", "1h", 36, 3)
    merged = merge_informative_pair(base, inf, "5m", "1h", ffill=False)
    assert merged["rsi_1h"].notna().sum() == 3


def test_without_suffix_or_timeframe_shared_names_get_pandas_suffixes():
    base, inf = base_and_inf("5m", "5m", 4, 4)
    merged = merge_informative_pair(base, inf, "5m", "5m", append_timeframe=False)
    assert list(merged.columns) == [
        *(f"{col}_x" for col in ("date", "open", "high", "low", "close", "volume")),
        *(f"{col}_y" for col in ("date", "open", "high", "low", "close", "volume")),
        "rsi",
    ]


def test_the_result_has_a_fresh_index_and_leaves_the_inputs_alone():
    base, inf = base_and_inf("5m", "1h", 36, 3)
    base.index = range(100, 136)
    base_before, inf_before = base.copy(), inf.copy()
    merged = merge_informative_pair(base, inf, "5m", "1h")
    assert merged.index.equals(pd.RangeIndex(36))
    pd.testing.assert_frame_equal(base, base_before)
    pd.testing.assert_frame_equal(inf, inf_before)


def test_weekly_and_monthly_alignment():
    days = make_ohlcv(70, "1d", start=datetime(2026, 1, 5, tzinfo=UTC))  # a Monday
    weeks = make_ohlcv(10, "1w", start=datetime(2026, 1, 5, tzinfo=UTC))
    weeks["w"] = np.arange(10.0)
    merged = merge_informative_pair(days, weeks, "1d", "1w")
    # the week opening Mon 5 Jan closes Mon 12 Jan: first visible on the day opening Sun 11 Jan
    assert merged.loc[merged["w_1w"].notna(), "date"].iloc[0] == at("2026-01-11")

    months = pd.DataFrame(
        {
            "date": pd.to_datetime(["2026-01-01", "2026-02-01"], utc=True).as_unit("us"),
            "m": [1.0, 2.0],
        }
    )
    merged = merge_informative_pair(days, months, "1d", "1M")
    # January closes 1 Feb: first visible on the day opening 31 Jan
    assert merged.loc[merged["m_1M"].notna(), "date"].iloc[0] == at("2026-01-31")


@pytest.mark.parametrize("year", [2024, 2026])  # a leap year and a common one
def test_quarterly_candles_close_at_the_calendar_quarter_end(year: int):
    # Deliberate (docs/compat.md): every <n>M and <n>y candle lasts calendar months / years,
    # so a quarter is never visible before it has closed, in leap years too.
    days = make_ohlcv(120, "1d", start=datetime(year, 1, 1, tzinfo=UTC))
    quarters = pd.DataFrame({"date": [at(f"{year}-01-01")], "q": [1.0]})
    merged = merge_informative_pair(days, quarters, "1d", "3M")
    assert merged.loc[merged["q_3M"].notna(), "date"].iloc[0] == at(f"{year}-03-31")


def test_yearly_candles_close_at_the_calendar_year_end():
    days = make_ohlcv(400, "1d", start=datetime(2024, 1, 1, tzinfo=UTC))
    years = pd.DataFrame({"date": [at("2024-01-01")], "y": [1.0]})
    merged = merge_informative_pair(days, years, "1d", "1y")
    assert merged.loc[merged["y_1y"].notna(), "date"].iloc[0] == at("2024-12-31")


def test_seconds_timeframes_are_shifted_by_their_seconds():
    # Deliberate (docs/compat.md): 1s and 30s are both "0 minutes" to freqtrade, which then
    # merges them 1:1 and shows each 30s candle from its opening second.
    base, inf = base_and_inf("1s", "30s", 90, 3)
    merged = merge_informative_pair(base, inf, "1s", "30s")
    first_visible = merged.loc[merged["rsi_30s"].notna(), "date"].iloc[0]
    assert first_visible == at("2026-01-01 00:00:29")


def test_faster_informative_timeframe_is_an_error():
    base, inf = base_and_inf("1h", "5m", 5, 5)
    with pytest.raises(ValueError, match="Tried to merge a faster timeframe"):
        merge_informative_pair(base, inf, "1h", "5m")


def test_suffix_and_append_timeframe_together_is_an_error():
    base, inf = base_and_inf("5m", "5m", 5, 5)
    with pytest.raises(ValueError, match="can not specify `append_timeframe` as True and a"):
        merge_informative_pair(base, inf, "5m", "5m", append_timeframe=True, suffix="x")


def test_a_missing_informative_date_column_is_a_key_error():
    base, inf = base_and_inf("5m", "1h", 5, 5)
    with pytest.raises(KeyError, match="open_time"):
        merge_informative_pair(base, inf, "5m", "1h", date_column="open_time")


def test_empty_informative_gives_nan_columns():
    base = make_ohlcv(5, "5m")
    merged = merge_informative_pair(
        base,
        pd.DataFrame(columns=["date", "rsi"]),
        "5m",
        "5m",
        append_timeframe=False,
        suffix="default",
    )
    assert merged["rsi_default"].isna().all()
    assert len(merged) == 5
