from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib.abstract as ta

from candlecast.strategy import qtpylib
from candlecast.testing import make_ohlcv


def test_crossed_above_marks_only_the_crossing_candle():
    a = pd.Series([1.0, 2.0, 3.0, 1.5, 4.0])
    b = pd.Series([2.0, 2.0, 2.0, 2.0, 2.0])
    # 1->2 touches (not above), 2->3 crosses above, 3->1.5 crosses below, 1.5->4 crosses above
    assert qtpylib.crossed_above(a, b).tolist() == [False, False, True, False, True]
    assert qtpylib.crossed_below(a, b).tolist() == [False, False, False, True, False]


def test_crossed_above_a_number():
    rsi = pd.Series([20.0, 29.0, 31.0, 35.0, 25.0, 30.5])
    assert qtpylib.crossed_above(rsi, 30).tolist() == [False, False, True, False, False, True]


def test_typical_price_by_hand():
    bars = pd.DataFrame({"high": [3.0, 6.0], "low": [1.0, 3.0], "close": [2.0, 6.0]})
    assert qtpylib.typical_price(bars).tolist() == [2.0, 5.0]


def test_bollinger_bands_by_hand():
    series = pd.Series([1.0, 2.0, 3.0, 4.0])
    bands = qtpylib.bollinger_bands(series, window=3, stds=2)
    # freqtrade's bands: sample std (ddof=1) and min_periods=1
    # window [2,3,4]: mean 3, sample std 1
    assert bands["mid"].iloc[-1] == 3.0
    assert bands["upper"].iloc[-1] == 5.0
    assert bands["lower"].iloc[-1] == 1.0
    # from the first row on: window [1,2]: mean 1.5, sample std sqrt(0.5); one value: no std
    assert bands["mid"].iloc[1] == 1.5
    assert bands["upper"].iloc[1] == pytest.approx(1.5 + 2 * np.sqrt(0.5))
    assert bands["mid"].iloc[0] == 1.0
    assert bands[["upper", "lower"]].iloc[0].isna().all()


def test_talib_abstract_works_on_our_frames():
    frame = make_ohlcv(400)
    rsi = ta.RSI(frame)
    assert len(rsi) == 400 and rsi.iloc[:14].isna().all() and rsi.iloc[14:].between(0, 100).all()


def test_rsi_by_hand_seeds_like_freqtrade():
    # deltas 1, 1, -1, 2; window 2: the seed takes window + 1 = 3 deltas (gains 2, losses 1,
    # each / 2) and fills the first 2 rows; then Wilder's smoothing from delta[1] on
    strength = qtpylib.rsi(pd.Series([10.0, 11.0, 12.0, 11.0, 13.0]), window=2)
    assert strength.tolist() == pytest.approx([200 / 3, 200 / 3, 80.0, 400 / 9, 80.0])


def test_rsi_differs_from_talib_at_first_and_converges():
    frame = make_ohlcv(400)
    gap = (ta.RSI(frame) - qtpylib.rsi(frame["close"], 14)).abs()
    assert gap.iloc[14] > 0.1
    assert gap.iloc[-1] < 1e-6


def test_true_range_and_atr():
    bars = pd.DataFrame({"high": [10.0, 12.0], "low": [8.0, 11.0], "close": [9.0, 11.5]})
    tr = qtpylib.true_range(bars)
    assert tr.tolist() == [2.0, 3.0]  # second: high - previous close = 3
    assert qtpylib.atr(bars, window=2).iloc[-1] == pytest.approx(2.5)
