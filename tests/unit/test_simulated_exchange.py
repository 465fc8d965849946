from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from candlecast.clock import FixedClock
from candlecast.domain.candles import DATE_DTYPE, OHLCV_COLUMNS
from candlecast.exchange import SimulatedExchange

SCRIPT = """
import asyncio, sys
from datetime import datetime, UTC
from candlecast.clock import FixedClock
from candlecast.exchange import SimulatedExchange
ex = SimulatedExchange(seed=7, clock=FixedClock(datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)))
df = asyncio.run(ex.fetch_ohlcv("ETH/USDT", "1m", 200))
sys.stdout.write(df.to_csv(index=False, float_format="%.17g"))
"""


def test_two_processes_with_the_same_config_see_identical_candles():
    outputs = [
        subprocess.run(
            [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    ]
    assert outputs[0] == outputs[1]
    assert len(outputs[0].splitlines()) == 201


def test_a_candle_is_the_same_to_the_bit_however_many_candles_were_asked_for():
    # a producer fetches 1,500 candles, a consumer of the same market one or two at a
    # time: both must see identical candles, or "same market" comparisons fail by an ulp
    ex = SimulatedExchange(seed=42, volatility=10)
    start = 1_796_289_000_000
    whole = ex.candles("ADA/USDT", "1s", start, 400)
    for count in (1, 2, 3, 5, 8, 13, 37, 100):
        for first in range(0, 400 - count, 17):
            part = ex.candles("ADA/USDT", "1s", start + first * 1000, count)
            pd.testing.assert_frame_equal(
                part, whole.iloc[first : first + count].reset_index(drop=True), check_exact=True
            )


def test_candles_follow_the_candle_contract_and_only_closed_candles():
    clock = FixedClock(datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC))
    frame = asyncio.run(SimulatedExchange(clock=clock).fetch_ohlcv("BTC/USDT", "1m", 1500))
    assert list(frame.columns) == list(OHLCV_COLUMNS)
    assert str(frame["date"].dtype) == DATE_DTYPE
    assert len(frame) == 1500 and frame["date"].is_unique and frame["date"].is_monotonic_increasing
    # 12:00:30 -> the 12:00 candle is still open; the last closed one opened at 11:59
    assert frame["date"].iloc[-1] == pd.Timestamp("2026-03-01 11:59", tz="UTC")
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()
    assert (frame["volume"] > 0).all()
    # continuity: each candle opens where the previous closed
    np.testing.assert_allclose(
        frame["open"].iloc[1:].to_numpy(), frame["close"].iloc[:-1].to_numpy()
    )


def test_seed_pair_and_timeframe_change_the_market():
    clock = FixedClock(datetime(2026, 3, 1, tzinfo=UTC))
    a = asyncio.run(SimulatedExchange(seed=1, clock=clock).fetch_ohlcv("BTC/USDT", "5m", 50))
    b = asyncio.run(SimulatedExchange(seed=2, clock=clock).fetch_ohlcv("BTC/USDT", "5m", 50))
    c = asyncio.run(SimulatedExchange(seed=1, clock=clock).fetch_ohlcv("ETH/USDT", "5m", 50))
    assert not np.allclose(a["close"], b["close"]) and not np.allclose(a["close"], c["close"])


def test_timeframes_agree_on_prices_at_the_same_instant():
    clock = FixedClock(datetime(2026, 3, 1, 1, tzinfo=UTC))
    ex = SimulatedExchange(clock=clock)
    minutes = asyncio.run(ex.fetch_ohlcv("BTC/USDT", "1m", 60))
    hour = asyncio.run(ex.fetch_ohlcv("BTC/USDT", "1h", 1))
    assert hour["open"].item() == minutes["open"].iloc[0]
    assert hour["close"].item() == minutes["close"].iloc[-1]


def test_ticker_is_near_the_last_close_and_clock_driven():
    clock = FixedClock(datetime(2026, 3, 1, tzinfo=UTC))
    ex = SimulatedExchange(clock=clock)
    ticker = asyncio.run(ex.fetch_ticker("BTC/USDT"))
    assert ticker.bid < ticker.last < ticker.ask
    clock.advance(3600)
    assert asyncio.run(ex.fetch_ticker("BTC/USDT")).last != ticker.last
