"""The market guard's comparison of a consumer's candles with its producer's."""

from __future__ import annotations

import pandas as pd

from candlecast.data.market_guard import CHECKED_CANDLES, check_market
from candlecast.testing import make_ohlcv


def test_the_same_candles_are_no_mismatch():
    frame = make_ohlcv(60, "1m")
    assert check_market("p", "ETH/USDT", frame, frame.copy(), 0.01) is None


def test_prices_beyond_tolerance_are_reported_with_both_prices():
    theirs = make_ohlcv(60, "1m")
    ours = theirs.copy()
    ours.loc[55, "close"] = theirs.loc[55, "close"] * 0.95
    found = check_market("p", "ETH/USDT", ours, theirs, 0.01)
    assert found is not None
    assert (found.date, found.column) == (theirs.loc[55, "date"], "close")
    assert (found.own_price, found.producer_price) == (
        ours.loc[55, "close"],
        theirs.loc[55, "close"],
    )
    assert abs(found.difference - 0.05) < 1e-12
    assert "0.01" not in found.describe() and "1.00%" in found.describe()


def test_differences_within_tolerance_pass():
    theirs = make_ohlcv(60, "1m")
    ours = theirs.copy()
    ours["close"] = theirs["close"] * 1.005
    assert check_market("p", "ETH/USDT", ours, theirs, 0.01) is None


def test_only_common_recent_dates_are_compared():
    theirs = make_ohlcv(200, "1m")
    ours = theirs.copy()
    ours.loc[0, "open"] = 1e9  # older than the compared window
    assert check_market("p", "X/Y", ours, theirs, 0.01) is None
    shifted = theirs.copy()
    shifted["date"] = shifted["date"] + pd.Timedelta(days=1)  # no common date
    assert check_market("p", "X/Y", shifted, theirs, 0.01) is None
    assert CHECKED_CANDLES < 200
