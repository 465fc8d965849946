"""Dry-run orders over any exchange's prices: a book that fills as a real one would.

- A market order fills at once and whole at the touch: a buy at the ticker's ask, a sell
  at its bid (the spread is paid).
- A limit order that crosses the touch when placed (a buy at or above the ask, a sell at
  or below the bid) fills at once at the touch, as a taker. The touch is the ticker the
  bot read for its decision when that was at most 2 s before.
- Any other limit order rests on the book (time in force GTC) or is cancelled unfilled
  at once (IOC and FOK: nothing rests). A resting buy fills whole at its limit price once
  a candle opened after it was placed trades at or below the limit (its low <= limit), or
  the ask falls to it; a resting sell once a high >= limit, or the bid rises to it.

- A stop order (``stoploss_on_exchange``) waits until the bid falls to its stop price, or
  a candle opened after it was placed trades at or below it (low <= stop). It then
  sells at the price it was triggered at: the stop price, or below it when the price
  jumped past the stop (the candle's open or the bid). A stop-market fills whole at that
  price; a stop-limit too, unless that price is below its limit: it then rests as a
  limit sell that fills at its limit once a later candle's high or the bid reaches it.

Everything an order is made of is kept in its id, so a bot restarted after ``kill -9``
finds its open dry-run orders where the market has taken them in the meantime.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace

import pandas as pd

from candlecast.domain.candles import dates_to_ms
from candlecast.domain.orders import OrderState
from candlecast.domain.timeframes import timeframe_to_msecs
from candlecast.exceptions import InvalidOrderError
from candlecast.exchange.base import Exchange, Ticker

ORDER_TYPES = ("limit", "market")
TIME_IN_FORCE = ("GTC", "FOK", "IOC")
#: candles looked at for a resting order's fill (older orders are checked on the last ones)
MAX_CANDLES = 1000
#: an order placed within this many ms of a ticker the bot read meets that ticker (the
#: price the bot decided on), as freqtrade's dry-run uses its cached rates
TICKER_REUSE_MS = 2000


@dataclass(frozen=True)
class _Placed:
    side: str
    order_type: str  # "limit", "market", "stoplimit" or "stopmarket"
    time_in_force: str
    created_ms: int
    amount: float
    price: float  # a stop-market's: its stop price
    pair: str
    stop: float | None = None  # a stop order's stop price

    @property
    def is_stop(self) -> bool:
        return self.stop is not None


def _num(value: float) -> str:
    # no "-" in the id's fields: a small amount's repr is "1e-05"
    return repr(float(value)).replace("e-", "e~")


def _parse(text: str) -> float:
    return float(text.replace("e~", "e-"))


def _encode(order: _Placed, serial: int) -> str:
    price = _num(order.price) + ("" if order.stop is None else "@" + _num(order.stop))
    return (
        f"dry-{serial}-{order.side}-{order.order_type}-{order.time_in_force}-"
        f"{order.created_ms}-{_num(order.amount)}-{price}"
    )


def _decode(order_id: str, pair: str) -> _Placed:
    try:
        _, _, side, kind, tif, created, amount, price = order_id.split("-", 7)
        limit, _, stop = price.partition("@")
        return _Placed(
            side,
            kind,
            tif,
            int(created),
            _parse(amount),
            _parse(limit),
            pair,
            _parse(stop) if stop else None,
        )
    except ValueError:
        raise InvalidOrderError(f"{pair}: unknown dry-run order {order_id!r}") from None


class DryRunBook(Exchange):
    """``exchange``'s markets and prices, with orders simulated on them.

    ``timeframe``: the candles a resting order's fill is looked for in. ``balance``:
    what ``free_balance`` answers (the bot's dry-run wallet).
    """

    can_trade_live = True

    def __init__(self, exchange: Exchange, timeframe: str, balance: Callable[[str], float]) -> None:
        self.inner = exchange
        self.name = exchange.name
        self.timeframe = timeframe
        self._balance = balance
        self._serial = itertools.count(1)
        self._final: dict[str, OrderState] = {}
        self._tickers: dict[str, tuple[int, Ticker]] = {}

    # --- market data: the inner exchange's ------------------------------------------
    async def load_markets(self) -> dict[str, dict]:
        return await self.inner.load_markets()

    async def refresh_markets(self) -> dict[str, dict] | None:
        return await self.inner.refresh_markets()

    async def fetch_ohlcv(self, pair: str, timeframe: str, limit: int) -> pd.DataFrame:
        return await self.inner.fetch_ohlcv(pair, timeframe, limit)

    async def fetch_ticker(self, pair: str) -> Ticker:
        ticker = await self.inner.fetch_ticker(pair)
        self._tickers[pair] = (self.now_ms(), ticker)
        return ticker

    async def _touch_ticker(self, pair: str) -> Ticker:
        """The ticker the bot read just before placing, else a fresh one."""
        seen = self._tickers.get(pair)
        if seen is not None and 0 <= self.now_ms() - seen[0] <= TICKER_REUSE_MS:
            return seen[1]
        return await self.inner.fetch_ticker(pair)

    def fee(self, pair: str) -> float:
        return self.inner.fee(pair)

    def now_ms(self) -> int:
        return self.inner.now_ms()

    def last_closed_open_ms(self, timeframe: str) -> int:
        return self.inner.last_closed_open_ms(timeframe)

    async def close(self) -> None:
        await self.inner.close()

    async def free_balance(self, currency: str) -> float:
        # the wallet is read from SQLite: off the event loop
        return await asyncio.to_thread(self._balance, currency)

    # --- orders -----------------------------------------------------------------------
    async def create_order(
        self,
        pair: str,
        side: str,
        amount: float,
        price: float,
        order_type: str = "limit",
        time_in_force: str = "GTC",
    ) -> OrderState:
        if side not in ("buy", "sell") or order_type not in ORDER_TYPES:
            raise InvalidOrderError(f"{pair}: cannot place a {order_type} {side} order")
        if time_in_force not in TIME_IN_FORCE:
            raise InvalidOrderError(f"{pair}: time in force {time_in_force!r} is not known")
        if not amount > 0 or not price > 0:
            raise InvalidOrderError(f"{pair}: order amount and price must be positive")
        placed = _Placed(side, order_type, time_in_force, self.now_ms(), amount, price, pair)
        order_id = _encode(placed, next(self._serial))
        ticker = await self._touch_ticker(pair)
        touch = ticker.ask if side == "buy" else ticker.bid
        crossed = price >= touch if side == "buy" else price <= touch
        if order_type == "market" or crossed:
            return self._filled(order_id, placed, touch, final=True)
        state = OrderState(order_id, pair, side, "open", amount, 0.0, price)
        if time_in_force != "GTC":
            state = replace(state, status="canceled")
            self._final[order_id] = state
        return state

    def stop_order_problem(self, order_type: str) -> str | None:
        return self.inner.stop_order_problem(order_type)

    async def create_stop_order(
        self,
        pair: str,
        amount: float,
        stop_price: float,
        limit_price: float | None,
        order_type: str = "limit",
    ) -> OrderState:
        if order_type not in ORDER_TYPES:
            raise InvalidOrderError(f"{pair}: cannot place a stop-{order_type} order")
        price = stop_price if order_type == "market" else limit_price
        if not amount > 0 or not stop_price > 0 or price is None or not price > 0:
            raise InvalidOrderError(f"{pair}: stop order amount and prices must be positive")
        if price > stop_price:
            raise InvalidOrderError(
                f"{pair}: a sell stop-limit needs its limit {price:.10g} at or below "
                f"its stop {stop_price:.10g}"
            )
        placed = _Placed(
            "sell", "stop" + order_type, "GTC", self.now_ms(), amount, price, pair, stop_price
        )
        order_id = _encode(placed, next(self._serial))
        return await self.fetch_order(pair, order_id)

    async def fetch_order(self, pair: str, order_id: str) -> OrderState:
        final = self._final.get(order_id)
        if final is not None:
            return final
        placed = _decode(order_id, pair)
        if placed.is_stop:
            fill = await self._stop_fill(placed)
            if fill is not None:
                return self._filled(order_id, placed, fill, final=True)
            return OrderState(order_id, pair, "sell", "open", placed.amount, 0.0, placed.price)
        if placed.order_type == "market" or placed.time_in_force != "GTC":
            # decided when placed: a market order filled then, an IOC/FOK one that did
            # not cross was cancelled then
            ticker = await self.inner.fetch_ticker(pair)
            if placed.order_type == "market":
                touch = ticker.ask if placed.side == "buy" else ticker.bid
                return self._filled(order_id, placed, touch, final=True)
            return OrderState(
                order_id, pair, placed.side, "canceled", placed.amount, 0.0, placed.price
            )
        if await self._reached(placed):
            return self._filled(order_id, placed, placed.price, final=True)
        return OrderState(order_id, pair, placed.side, "open", placed.amount, 0.0, placed.price)

    async def cancel_order(self, pair: str, order_id: str) -> OrderState:
        state = await self.fetch_order(pair, order_id)
        if state.status == "open":
            state = replace(state, status="canceled")
            self._final[order_id] = state
        return state

    def _filled(self, order_id: str, placed: _Placed, price: float, final: bool) -> OrderState:
        state = OrderState(
            order_id,
            placed.pair,
            placed.side,
            "closed",
            placed.amount,
            placed.amount,
            placed.price,
            price,
        )
        if final:
            self._final[order_id] = state
        return state

    async def _reached(self, placed: _Placed) -> bool:
        """Whether the market traded through ``placed``'s limit since it was placed."""
        ticker = await self.inner.fetch_ticker(placed.pair)
        if placed.side == "buy" and ticker.ask <= placed.price:
            return True
        if placed.side == "sell" and ticker.bid >= placed.price:
            return True
        step = timeframe_to_msecs(self.timeframe)
        newest = self.inner.last_closed_open_ms(self.timeframe)
        first = -(-placed.created_ms // step) * step  # the first candle opened after it
        if newest < first:
            return False
        count = min((newest - first) // step + 1, MAX_CANDLES)
        candles = await self.inner.fetch_ohlcv(placed.pair, self.timeframe, int(count))
        after = candles[dates_to_ms(candles["date"]) >= first]
        if after.empty:
            return False
        if placed.side == "buy":
            return bool((after["low"] <= placed.price).any())
        return bool((after["high"] >= placed.price).any())

    async def _stop_fill(self, placed: _Placed) -> float | None:
        """The price ``placed`` (a stop order) filled at, or None while it waits."""
        assert placed.stop is not None
        step = timeframe_to_msecs(self.timeframe)
        newest = self.inner.last_closed_open_ms(self.timeframe)
        first = -(-placed.created_ms // step) * step  # the first candle opened after it
        triggered_at: float | None = None
        if newest >= first:
            count = min((newest - first) // step + 1, MAX_CANDLES)
            candles = await self.inner.fetch_ohlcv(placed.pair, self.timeframe, int(count))
            after = candles[dates_to_ms(candles["date"]) >= first]
            for open_, high, low in zip(after["open"], after["high"], after["low"], strict=True):
                if triggered_at is None and low <= placed.stop:
                    triggered_at = min(placed.stop, float(open_))
                    if placed.order_type == "stopmarket" or triggered_at >= placed.price:
                        return triggered_at
                elif triggered_at is not None and high >= placed.price:
                    return placed.price  # the resting limit sell is reached
        bid = (await self.inner.fetch_ticker(placed.pair)).bid
        if triggered_at is None and bid <= placed.stop:
            if placed.order_type == "stopmarket" or bid >= placed.price:
                return bid
        elif triggered_at is not None and bid >= placed.price:
            return placed.price
        return None
