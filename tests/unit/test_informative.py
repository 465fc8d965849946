from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from candlecast.strategy import merge_informative_pair
from candlecast.testing import make_ohlcv


def base_and_inf(
    base_tf: str, inf_tf: str, n: int, n_inf: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    base = make_ohlcv(n, base_tf, seed=1)
    inf = make_ohlcv(n_inf, inf_tf, seed=2)
    inf["rsi"] = np.arange(n_inf, dtype=float)
    return base, inf


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
    assert first_visible == pd.Timestamp("2026-01-01 00:55", tz="UTC")
    assert (
        merged.loc[merged["date"] == pd.Timestamp("2026-01-01 01:55", tz="UTC"), "rsi_1h"].item()
        == 1.0
    )
    # forward-filled between closes
    assert (
        merged.loc[merged["date"] == pd.Timestamp("2026-01-01 01:30", tz="UTC"), "rsi_1h"].item()
        == 0.0
    )


def test_without_ffill_only_the_closing_candle_gets_values():
    base, inf = base_and_inf("5m", "1h", 36, 3)
    merged = merge_informative_pair(base, inf, "5m", "1h", ffill=False)
    assert merged["rsi_1h"].notna().sum() == 3


def test_weekly_and_monthly_alignment():
    days = make_ohlcv(
        70, "1d", start=pd.Timestamp("2026-01-05", tz="UTC").to_pydatetime()
    )  # a Monday
    weeks = make_ohlcv(10, "1w", start=pd.Timestamp("2026-01-05", tz="UTC").to_pydatetime())
    weeks["w"] = np.arange(10.0)
    merged = merge_informative_pair(days, weeks, "1d", "1w")
    # the week opening Mon 5 Jan closes Mon 12 Jan: first visible on the day opening Sun 11 Jan
    assert merged.loc[merged["w_1w"].notna(), "date"].iloc[0] == pd.Timestamp(
        "2026-01-11", tz="UTC"
    )

    months = pd.DataFrame(
        {
            "date": pd.to_datetime(["2026-01-01", "2026-02-01"], utc=True).as_unit("us"),
            "m": [1.0, 2.0],
        }
    )
    merged = merge_informative_pair(days, months, "1d", "1M")
    # January closes 1 Feb: first visible on the day opening 31 Jan
    assert merged.loc[merged["m_1M"].notna(), "date"].iloc[0] == pd.Timestamp(
        "2026-01-31", tz="UTC"
    )


def test_faster_informative_timeframe_is_an_error():
    base, inf = base_and_inf("1h", "5m", 5, 5)
    with pytest.raises(ValueError, match="faster informative timeframe"):
        merge_informative_pair(base, inf, "1h", "5m")


def test_suffix_and_append_timeframe_together_is_an_error():
    base, inf = base_and_inf("5m", "5m", 5, 5)
    with pytest.raises(ValueError, match="not both"):
        merge_informative_pair(base, inf, "5m", "5m", append_timeframe=True, suffix="x")


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
