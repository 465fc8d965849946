"""The Exchange interface every market-data and order source implements."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

import pandas as pd

from candlecast.domain.orders import OrderState
from candlecast.domain.timeframes import timeframe_to_msecs
from candlecast.exceptions import ExchangeError


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

    #: Whether this exchange can place real orders (``dry_run: false``).
    can_trade_live: bool = False

    async def refresh_markets(self) -> dict[str, dict] | None:
        """Reload the markets when they are due for a refresh; None when not due."""
        return None

    # --- live orders (only exchanges with ``can_trade_live``) ---------------------------
    async def create_order(
        self,
        pair: str,
        side: str,
        amount: float,
        price: float,
        order_type: str = "limit",
        time_in_force: str = "GTC",
    ) -> OrderState:
        """Place an order ("limit" at ``price``, or "market"), rounded to the market's
        precision and checked against its limits."""
        raise ExchangeError(f"exchange {self.name} does not place live orders")

    async def fetch_order(self, pair: str, order_id: str) -> OrderState:
        raise ExchangeError(f"exchange {self.name} does not place live orders")

    async def cancel_order(self, pair: str, order_id: str) -> OrderState:
        """Cancel an order and return its final state (with whatever was filled)."""
        raise ExchangeError(f"exchange {self.name} does not place live orders")

    async def free_balance(self, currency: str) -> float:
        raise ExchangeError(f"exchange {self.name} does not place live orders")

    # --- stop orders (``order_types.stoploss_on_exchange``) -----------------------------
    def stop_order_problem(self, order_type: str) -> str | None:
        """Why this exchange cannot hold a sell stop order of ``order_type`` ("limit":
        stop-limit, "market": stop-market) on a spot market; None when it can."""
        return f"exchange {self.name} does not place stop orders"

    async def create_stop_order(
        self,
        pair: str,
        amount: float,
        stop_price: float,
        limit_price: float | None,
        order_type: str = "limit",
    ) -> OrderState:
        """Place a sell stop order: once the price falls to ``stop_price`` it sells
        ``amount`` at ``limit_price`` ("limit") or at the market ("market")."""
        raise ExchangeError(f"exchange {self.name} does not place stop orders")

    async def fetch_stop_order(self, pair: str, order_id: str) -> OrderState:
        return await self.fetch_order(pair, order_id)

    async def cancel_stop_order(self, pair: str, order_id: str) -> OrderState:
        """Cancel a stop order and return its final state (it may have filled)."""
        return await self.cancel_order(pair, order_id)

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def last_closed_open_ms(self, timeframe: str) -> int:
        """Open time (epoch ms) of the newest closed candle of ``timeframe``."""
        step = timeframe_to_msecs(timeframe)
        return (self.now_ms() // step) * step - step

    async def close(self) -> None:
        """Release connections."""
