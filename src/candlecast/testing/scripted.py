"""An exchange whose prices follow a script: one price per candle, known in advance.

Tests of exits and position adjustment use it to state by hand at which price and on
which candle a rule must act.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np
import pandas as pd

from candlecast.clock import Clock
from candlecast.domain.candles import ms_to_dates
from candlecast.domain.timeframes import timeframe_to_msecs
from candlecast.exchange.base import Ticker
from candlecast.exchange.simulated import SimulatedExchange


class ScriptedExchange(SimulatedExchange):
    """Prices of each pair from a script: ``path[pair][i]`` during the ``i``-th period of
    ``step_seconds`` after ``start`` (the first price before, the last one after).

    Every candle of a period has that price as open, high, low and close; the ticker's
    last, bid and ask are all that price (no spread), so exits happen at the script's
    prices exactly.
    """

    name = "scripted"

    def __init__(
        self,
        clock: Clock,
        path: Mapping[str, Sequence[float]],
        start: datetime,
        step_seconds: float = 60.0,
        fee: float = 0.0,
    ) -> None:
        super().__init__(fee=fee, clock=clock)
        self.path = {pair: [float(p) for p in prices] for pair, prices in path.items()}
        self.start_ms = int(start.timestamp() * 1000)
        self.step_ms = int(step_seconds * 1000)

    def _index(self, pair: str, t_ms: int) -> float:
        prices = self.path[pair]
        i = (t_ms - self.start_ms) // self.step_ms
        return prices[min(max(int(i), 0), len(prices) - 1)]

    def price_at(self, pair: str, t_ms: int) -> float:
        return self._index(pair, t_ms)

    def candles(self, pair: str, timeframe: str, start_ms: int, count: int) -> pd.DataFrame:
        tf = timeframe_to_msecs(timeframe)
        opens = start_ms + tf * np.arange(count, dtype=np.int64)
        close = np.array([self._index(pair, int(t) + tf - 1) for t in opens])
        return pd.DataFrame(
            {
                "date": ms_to_dates(opens),
                "open": close,
                "high": close,
                "low": close,
                "close": close,
                "volume": np.full(count, 1000.0),
            }
        )

    async def fetch_ticker(self, pair: str) -> Ticker:
        last = self.price_at(pair, self.now_ms())
        return Ticker(pair, last, last, last)
