"""Any spot exchange ccxt supports, through ccxt's asyncio API.

This is the one module that knows ccxt. Every call goes through ``_call``, which maps
ccxt's errors to candlecast's tree and retries the temporary ones:

- RateLimitExceeded, DDoSProtection: TemporaryExchangeError, retried with 5x longer waits;
- other NetworkError (RequestTimeout, ExchangeNotAvailable, ...), BadResponse (a
  malformed body) and aiohttp transport failures: TemporaryExchangeError, retried;
- AuthenticationError: ExchangeAuthenticationError, not retried;
- InvalidOrder, InsufficientFunds: InvalidOrderError, not retried;
- BadSymbol and every other ccxt error: ExchangeError, not retried.

Order creation is never retried: a request that timed out may still have placed the
order, and a second one would double the position.
"""

from __future__ import annotations

import asyncio
import difflib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from candlecast.clock import Clock, LiveClock
from candlecast.config.models import ExchangeConfig
from candlecast.domain.candles import empty_ohlcv, ms_to_dates
from candlecast.domain.orders import OrderState
from candlecast.domain.timeframes import timeframe_to_msecs
from candlecast.exceptions import (
    ConfigError,
    ExchangeAuthenticationError,
    ExchangeError,
    InvalidOrderError,
    TemporaryExchangeError,
)
from candlecast.exchange.base import Exchange, Ticker
from candlecast.util.dicts import deep_merge

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Attempts per idempotent request (the first try and three retries).
RETRY_ATTEMPTS = 4
#: Candles per request when the exchange does not say its maximum.
DEFAULT_OHLCV_PAGE = 500
_CREDENTIALS = {"apiKey": "key", "secret": "secret", "password": "password"}


def _ccxt() -> Any:
    import ccxt.async_support as ccxt_async  # imported on demand: ~0.6 s, not needed by sims

    return ccxt_async


def ccxt_exchange_ids() -> list[str]:
    return list(_ccxt().exchanges)


class CcxtExchange(Exchange):
    """A ccxt exchange, spot markets only.

    ``retry_delay`` is the first wait before retrying a temporary error; each next
    wait doubles, and rate-limit errors wait five times as long.
    """

    can_trade_live = True

    def __init__(
        self,
        config: ExchangeConfig,
        clock: Clock | None = None,
        *,
        retry_delay: float = 0.5,
        live: bool = False,
    ) -> None:
        ccxt = _ccxt()
        ids = list(ccxt.exchanges)
        if config.name not in ids:
            close = difflib.get_close_matches(config.name, ids, n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            raise ConfigError(
                f'exchange.name: expected "simulated" or a ccxt exchange id such as '
                f'"binance", "kraken", "bybit", got {config.name!r}{hint}'
            )
        self.name = config.name
        self.clock = clock or LiveClock()
        self.retry_delay = retry_delay
        self.markets_refresh_secs = config.markets_refresh_interval * 60.0
        params: dict[str, Any] = {
            "enableRateLimit": True,
            "options": {"defaultType": "spot"},
        }
        for ccxt_key, our_key in _CREDENTIALS.items():
            value = getattr(config, our_key)
            if value:
                params[ccxt_key] = value
        params = deep_merge(deep_merge(params, config.ccxt_config), config.ccxt_async_config)
        self._api = getattr(ccxt, config.name)(params)
        _reject_malformed_bodies(self._api)
        missing_features = [f for f in ("fetchOHLCV", "fetchTicker") if not self._api.has.get(f)]
        if live:
            missing_features += [
                f for f in ("createOrder", "fetchOrder", "cancelOrder") if not self._api.has.get(f)
            ]
        if missing_features:
            raise ConfigError(
                f"exchange.name: ccxt's {config.name} does not support "
                f"{', '.join(missing_features)}, which candlecast needs"
            )
        if live:
            missing = [
                _CREDENTIALS.get(name, name)
                for name, required in self._api.requiredCredentials.items()
                if required and not getattr(self._api, name, None)
            ]
            if missing:
                raise ConfigError(
                    f"exchange.{missing[0]}: live trading (dry_run: false) on {self.name} "
                    f"needs {', '.join('exchange.' + m for m in missing)}; none may be empty"
                )
        self._markets: dict[str, dict] = {}
        self._markets_loaded_at = 0.0
        self._time_offset_ms = 0

    # --- the error boundary ---------------------------------------------------------
    async def _call(
        self,
        what: str,
        request: Callable[[], Awaitable[T]],
        attempts: int = RETRY_ATTEMPTS,
    ) -> T:
        """Run ``request``, mapping ccxt errors and retrying temporary ones with backoff."""
        ccxt = _ccxt()
        for attempt in range(attempts):
            try:
                return await request()
            except (ccxt.RateLimitExceeded, ccxt.DDoSProtection) as exc:
                error: ExchangeError = TemporaryExchangeError(
                    f"{self.name}: {what}: rate limited ({_short(exc)})"
                )
                delay = self.retry_delay * 5 * 2**attempt
            except ccxt.OperationFailed as exc:
                error = TemporaryExchangeError(f"{self.name}: {what}: {_describe(exc)}")
                delay = self.retry_delay * 2**attempt
            except ccxt.AuthenticationError as exc:
                raise ExchangeAuthenticationError(
                    f"{self.name}: {what}: the exchange refused the API key ({_short(exc)}); "
                    "check exchange.key, exchange.secret and exchange.password"
                ) from None
            except (ccxt.InvalidOrder, ccxt.InsufficientFunds) as exc:
                raise InvalidOrderError(f"{self.name}: {what}: {_short(exc)}") from None
            except ccxt.BaseError as exc:
                if not _is_transport_error(exc):
                    raise ExchangeError(f"{self.name}: {what}: {_describe(exc)}") from None
                error = TemporaryExchangeError(f"{self.name}: {what}: {_describe(exc.__cause__)}")
                delay = self.retry_delay * 2**attempt
            if attempt + 1 < attempts:
                logger.warning("%s; retry %d/%d in %.1f s", error, attempt + 1, attempts - 1, delay)
                await asyncio.sleep(delay)
        raise error

    # --- markets --------------------------------------------------------------------
    async def load_markets(self) -> dict[str, dict]:
        markets = await self._call("loading markets", lambda: self._api.load_markets(reload=True))
        self._markets = {s: m for s, m in markets.items() if m.get("spot")}
        self._markets_loaded_at = time.monotonic()
        if self._api.has.get("fetchTime"):
            try:
                server = await self._call("reading the server time", self._api.fetch_time, 1)
                if server:
                    self._time_offset_ms = int(server) - int(self.clock.timestamp() * 1000)
            except ExchangeError as exc:
                logger.warning("%s; candle closing uses the local clock", exc)
        logger.info("%s: %d spot markets loaded", self.name, len(self._markets))
        return self._markets

    async def refresh_markets(self) -> dict[str, dict] | None:
        if time.monotonic() - self._markets_loaded_at < self.markets_refresh_secs:
            return None
        return await self.load_markets()

    def now_ms(self) -> int:
        return int(self.clock.timestamp() * 1000) + self._time_offset_ms

    def _market(self, pair: str) -> dict:
        market = self._markets.get(pair)
        if market is None:
            raise ExchangeError(f"{self.name}: {pair} is not a spot market of this exchange")
        return market

    def fee(self, pair: str) -> float:
        taker = self._markets.get(pair, {}).get("taker")
        if taker is None:
            taker = self._api.fees.get("trading", {}).get("taker", 0.001)
        return float(taker)

    # --- market data ----------------------------------------------------------------
    def _ohlcv_page(self) -> int:
        features = getattr(self._api, "features", None) or {}
        limit = (features.get("spot") or {}).get("fetchOHLCV", {}).get("limit")
        return int(limit) if limit else DEFAULT_OHLCV_PAGE

    async def fetch_ohlcv(self, pair: str, timeframe: str, limit: int) -> pd.DataFrame:
        """The last ``limit`` closed candles, paged ``since`` oldest to newest."""
        step = timeframe_to_msecs(timeframe)
        last_closed = self.last_closed_open_ms(timeframe)
        since = last_closed - (max(int(limit), 1) - 1) * step
        page = self._ohlcv_page()
        by_time: dict[int, list[float]] = {}
        cursor = since
        while cursor <= last_closed:
            wanted = min(page, (last_closed - cursor) // step + 1)
            batch = await self._call(
                f"fetching {pair} {timeframe} candles",
                functools.partial(
                    self._api.fetch_ohlcv, pair, timeframe, since=cursor, limit=wanted
                ),
            )
            rows = [r for r in batch or [] if cursor <= int(r[0]) <= last_closed]
            if not rows:
                break  # the exchange has no (older) candles from here
            for row in rows:
                by_time[int(row[0])] = row
            newest = max(int(r[0]) for r in rows)
            cursor = newest + step
        if not by_time:
            return empty_ohlcv()
        opens = np.array(sorted(by_time), dtype=np.int64)
        values = np.array(
            [[_num(v) for v in by_time[t][1:6]] for t in opens.tolist()], dtype=np.float64
        )
        frame = pd.DataFrame(
            {
                "date": ms_to_dates(opens),
                "open": values[:, 0],
                "high": values[:, 1],
                "low": values[:, 2],
                "close": values[:, 3],
                "volume": values[:, 4],
            }
        )
        return frame.tail(limit).reset_index(drop=True)

    async def fetch_ticker(self, pair: str) -> Ticker:
        raw = await self._call(f"fetching the {pair} ticker", lambda: self._api.fetch_ticker(pair))
        bid, ask, last = raw.get("bid"), raw.get("ask"), raw.get("last")
        if not bid or not ask:
            book = await self._call(
                f"fetching the {pair} order book", lambda: self._api.fetch_order_book(pair, 5)
            )
            bid = bid or (book["bids"][0][0] if book.get("bids") else None)
            ask = ask or (book["asks"][0][0] if book.get("asks") else None)
        last = last or bid or ask
        if not last:
            raise TemporaryExchangeError(
                f"{self.name}: no price for {pair} (empty ticker and book)"
            )
        return Ticker(pair, float(last), float(bid or last), float(ask or last))

    # --- orders ---------------------------------------------------------------------
    def prepare_order(self, pair: str, amount: float, price: float) -> tuple[float, float]:
        """Round ``amount`` down and ``price`` to the market's precision; check its limits.

        Raises:
            InvalidOrderError: the rounded order is outside the market's limits.
        """
        market = self._market(pair)
        ccxt = _ccxt()
        try:
            amount_r = float(self._api.amount_to_precision(pair, amount))
            price_r = float(self._api.price_to_precision(pair, price))
        except ccxt.BaseError as exc:
            raise InvalidOrderError(f"{pair}: amount {amount:.10g}: {_short(exc)}") from None
        limits = market.get("limits") or {}
        checks = (
            ("amount", amount_r, "amount"),
            ("cost", amount_r * price_r, "cost (amount * price)"),
            ("price", price_r, "price"),
        )
        for key, value, label in checks:
            low = (limits.get(key) or {}).get("min")
            high = (limits.get(key) or {}).get("max")
            if low is not None and value < low:
                raise InvalidOrderError(
                    f"{pair}: order {label} {value:.10g} is below the market minimum {low:.10g}"
                )
            if high is not None and value > high:
                raise InvalidOrderError(
                    f"{pair}: order {label} {value:.10g} is above the market maximum {high:.10g}"
                )
        if amount_r <= 0:
            raise InvalidOrderError(f"{pair}: order amount {amount:.10g} rounds to zero")
        return amount_r, price_r

    async def create_order(
        self,
        pair: str,
        side: str,
        amount: float,
        price: float,
        order_type: str = "limit",
        time_in_force: str = "GTC",
    ) -> OrderState:
        amount, price = self.prepare_order(pair, amount, price)
        params: dict[str, Any] = {}
        if order_type == "limit" and time_in_force != "GTC":
            params["timeInForce"] = time_in_force
        # a market order goes without a price: given one, ccxt turns some (Binance spot)
        # into an order for amount x price of the quote currency instead of ``amount``
        limit = price if order_type == "limit" else None
        raw = await self._call(
            f"placing a {order_type} {side} order for {amount:.10g} {pair} at {price:.10g}",
            lambda: self._api.create_order(pair, order_type, side, amount, limit, params),
            attempts=1,
        )
        state = _order_state(raw, pair, side, amount, price)
        if state.status == "open" and not raw.get("status"):
            # some exchanges answer a create with the id only: ask for the state
            state = await self.fetch_order(pair, state.id)
        return state

    async def fetch_order(self, pair: str, order_id: str) -> OrderState:
        raw = await self._call(
            f"fetching order {order_id} ({pair})", lambda: self._api.fetch_order(order_id, pair)
        )
        return _order_state(raw, pair)

    async def cancel_order(self, pair: str, order_id: str) -> OrderState:
        try:
            await self._call(
                f"cancelling order {order_id} ({pair})",
                lambda: self._api.cancel_order(order_id, pair),
            )
        except InvalidOrderError:
            pass  # already filled or cancelled: its final state says which
        return await self.fetch_order(pair, order_id)

    # --- stop orders -----------------------------------------------------------------
    def _spot_features(self, name: str) -> dict[str, Any]:
        features = getattr(self._api, "features", None) or {}
        return ((features.get("spot") or {}).get(name)) or {}

    def stop_order_problem(self, order_type: str) -> str | None:
        """ccxt says per exchange whether a spot order may carry ``stopLossPrice``."""
        if not self._spot_features("createOrder").get("stopLossPrice"):
            return f"ccxt's {self.name} cannot place stop-loss orders on spot markets"
        return None

    def _trigger_params(self) -> dict[str, Any]:
        # exchanges that keep trigger orders apart answer for them only when asked so
        return {"trigger": True} if self._spot_features("fetchOrder").get("trigger") else {}

    async def create_stop_order(
        self,
        pair: str,
        amount: float,
        stop_price: float,
        limit_price: float | None,
        order_type: str = "limit",
    ) -> OrderState:
        amount, price = self.prepare_order(pair, amount, limit_price or stop_price)
        stop = float(self._api.price_to_precision(pair, stop_price))
        params: dict[str, Any] = {"stopLossPrice": stop}
        limit = price if order_type == "limit" else None
        raw = await self._call(
            f"placing a stop-{order_type} sell order for {amount:.10g} {pair} at {stop:.10g}",
            lambda: self._api.create_order(pair, order_type, "sell", amount, limit, params),
            attempts=1,
        )
        state = _order_state(raw, pair, "sell", amount, price)
        if state.status == "open" and not raw.get("status"):
            state = await self.fetch_stop_order(pair, state.id)
        return state

    async def fetch_stop_order(self, pair: str, order_id: str) -> OrderState:
        params = self._trigger_params()
        raw = await self._call(
            f"fetching stop order {order_id} ({pair})",
            lambda: self._api.fetch_order(order_id, pair, params),
        )
        return _order_state(raw, pair)

    async def cancel_stop_order(self, pair: str, order_id: str) -> OrderState:
        params = self._trigger_params()
        try:
            await self._call(
                f"cancelling stop order {order_id} ({pair})",
                lambda: self._api.cancel_order(order_id, pair, params),
            )
        except InvalidOrderError:
            pass  # already filled or cancelled: its final state says which
        return await self.fetch_stop_order(pair, order_id)

    async def free_balance(self, currency: str) -> float:
        balance = await self._call("fetching the balance", self._api.fetch_balance)
        return float((balance.get("free") or {}).get(currency) or 0.0)

    async def close(self) -> None:
        await self._api.close()


def _reject_malformed_bodies(api: Any) -> None:
    """Make a 2xx answer that is not valid JSON a ``BadResponse`` (retried), not a result.

    ccxt hands an unparsable body to the parsers as a string, which then yield empty
    tickers or candles; a truncated JSON body or an HTML error page from a proxy is
    really a failed request.
    """
    ccxt = _ccxt()
    exchange_checks = api.handle_errors

    def handle_errors(
        code: int,
        reason: str,
        url: str,
        method: str,
        headers: Any,
        body: Any,
        response: Any,
        *rest: Any,
    ) -> Any:
        result = exchange_checks(code, reason, url, method, headers, body, response, *rest)
        if (
            response is None
            and 200 <= int(code) < 300
            and isinstance(body, str)
            and body.lstrip()[:1] in ("{", "[", "<")
        ):
            raise ccxt.BadResponse(f"{api.id} {method} {url}: malformed response body")
        return result

    api.handle_errors = handle_errors


def _is_transport_error(exc: BaseException) -> bool:
    """ccxt reports some aiohttp failures (a truncated payload) as a plain ExchangeError."""
    import aiohttp

    return isinstance(exc.__cause__, aiohttp.ClientError)


_STATUS = {"open": "open", "closed": "closed", "canceled": "canceled", "cancelled": "canceled"}


def _order_state(
    raw: dict, pair: str, side: str | None = None, amount: float = 0.0, price: float = 0.0
) -> OrderState:
    status = _STATUS.get(str(raw.get("status") or "open"), "canceled")  # expired/rejected
    amount = _opt(raw.get("amount")) or amount
    filled = _opt(raw.get("filled"))
    if filled is None:
        filled = amount if status == "closed" else 0.0
    return OrderState(
        id=str(raw["id"]),
        pair=pair,
        side=str(raw.get("side") or side),
        status=status,
        amount=amount,
        filled=filled,
        price=_opt(raw.get("price")) or price,
        average=_opt(raw.get("average")),
    )


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {_short(exc)}"
