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
    # window [2,3,4]: mean 3, population std sqrt(2/3)
    std = np.sqrt(2 / 3)
    assert bands["mid"].iloc[-1] == pytest.approx(3.0)
    assert bands["upper"].iloc[-1] == pytest.approx(3 + 2 * std)
    assert bands["lower"].iloc[-1] == pytest.approx(3 - 2 * std)
    assert bands["mid"].iloc[:2].isna().all()


def test_talib_abstract_works_on_our_frames():
    frame = make_ohlcv(100)
    rsi = ta.RSI(frame)
    assert len(rsi) == 100 and rsi.iloc[:14].isna().all() and rsi.iloc[14:].between(0, 100).all()
    ours = qtpylib.rsi(frame["close"], 14)
    assert ours.iloc[-1] == pytest.approx(rsi.iloc[-1], rel=1e-9)


def test_true_range_and_atr():
    bars = pd.DataFrame({"high": [10.0, 12.0], "low": [8.0, 11.0], "close": [9.0, 11.5]})
    tr = qtpylib.true_range(bars)
    assert tr.tolist() == [2.0, 3.0]  # second: high - previous close = 3
    assert qtpylib.atr(bars, window=2).iloc[-1] == pytest.approx(2.5)
