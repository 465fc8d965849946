"""The Exchange interface every market-data and order source implements."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

import pandas as pd

from candlecast.domain.timeframes import timeframe_to_msecs


@dataclass(frozen=True)
class Ticker:
    pair: str
    last: float
    bid: float
    ask: float


class Exchange(ABC):
    """What the bot needs from an exchange: markets, closed candles, prices, fees."""

    name: str

    @abstractmethod
    async def load_markets(self) -> dict[str, dict]:
        """Return the markets by pair (``BASE/QUOTE``)."""

    @abstractmethod
    async def fetch_ohlcv(self, pair: str, timeframe: str, limit: int) -> pd.DataFrame:
        """Return the last ``limit`` *closed* candles of ``pair`` (the candle contract)."""

    @abstractmethod
    async def fetch_ticker(self, pair: str) -> Ticker:
        """Return the current price of ``pair``."""

    @abstractmethod
    def fee(self, pair: str) -> float:
        """Return the taker fee ratio for ``pair`` (0.001 = 0.1 %)."""

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def last_closed_open_ms(self, timeframe: str) -> int:
        """Open time (epoch ms) of the newest closed candle of ``timeframe``."""
        step = timeframe_to_msecs(timeframe)
        return (self.now_ms() // step) * step - step

    def validate_pairs(
        self, pairs: list[str], markets: dict[str, dict]
    ) -> tuple[list[str], list[str]]:
        """Split ``pairs`` into (tradable, rejected) according to ``markets``."""
        good = [p for p in pairs if p in markets and markets[p].get("active", True)]
        return good, [p for p in pairs if p not in good]

    async def close(self) -> None:
        """Release connections."""
