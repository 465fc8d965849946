"""A local stand-in for Binance's spot REST API, served by real uvicorn on 127.0.0.1.

It answers the endpoints ccxt's ``binance`` class calls for spot market data and
orders, with bodies shaped like Binance's own (field names, strings for decimals,
error objects ``{"code": -1121, "msg": ...}``). Candles come from the simulated
market, so prices are deterministic. Tests steer it:

- ``fail(path, status, body, times)`` answers the next ``times`` requests to ``path``
  with that status and raw body (429, 5xx, a malformed body, ...);
- ``fill_mode`` decides how new orders fill: "immediate", "never" or "partial";
- stop orders (STOP_LOSS, STOP_LOSS_LIMIT) wait until ``trigger_stops(price)``, which
  fills those whose stop price is at or above ``price``; ``reject_stops`` refuses them;
- ``requests`` records every request (method, path, params, API key header).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from candlecast.api.server import bind_socket
from candlecast.domain.candles import dates_to_ms
from candlecast.domain.timeframes import timeframe_to_msecs
from candlecast.exchange.simulated import SimulatedExchange

API_KEY = "fake-binance-key-0123456789"
API_SECRET = "fake-binance-secret-9876543210"


@dataclass
class Symbol:
    base: str
    quote: str
    status: str = "TRADING"
    tick: str = "0.01"
    step: str = "0.00001"
    min_qty: str = "0.00001"
    min_notional: str = "5"

    @property
    def id(self) -> str:
        return self.base + self.quote

    @property
    def pair(self) -> str:
        return f"{self.base}/{self.quote}"


DEFAULT_SYMBOLS = [
    Symbol("BTC", "USDT"),
    Symbol("ETH", "USDT", step="0.0001", min_qty="0.0001"),
    Symbol("SOL", "USDT", step="0.001", min_qty="0.001"),
    Symbol("LUNA", "USDT", status="BREAK"),  # listed, not trading
]


@dataclass
class Fault:
    status: int
    body: bytes
    content_type: str = "application/json"
    delay: float = 0.0  # seconds to wait before answering


@dataclass
class FakeBinance:
    symbols: list[Symbol] = field(default_factory=lambda: [replace(s) for s in DEFAULT_SYMBOLS])
    fill_mode: str = "immediate"  # "immediate" | "never" | "partial"
    balances: dict[str, float] = field(default_factory=lambda: {"USDT": 10_000.0})
    market: SimulatedExchange = field(default_factory=lambda: SimulatedExchange(seed=7))
    requests: list[tuple[str, str, dict[str, str], str | None]] = field(default_factory=list)
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    port: int = 0
    reject_stops: bool = False
    api_key: str = API_KEY
    api_secret: str = API_SECRET
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1000))

    # --- steering ---------------------------------------------------------------
    def fail(self, path: str, status: int, body: bytes | str | dict, times: int = 1) -> None:
        raw = orjson.dumps(body) if isinstance(body, dict) else body
        raw = raw.encode() if isinstance(raw, str) else raw
        kind = "application/json" if isinstance(body, dict) else "text/html"
        self.faults.setdefault(path, []).extend(Fault(status, raw, kind) for _ in range(times))

    def stall(self, path: str, seconds: float, times: int = 1) -> None:
        """Answer the next ``times`` requests to ``path`` only after ``seconds``."""
        self.faults.setdefault(path, []).extend(Fault(0, b"", delay=seconds) for _ in range(times))

    def calls(self, path: str, method: str = "GET") -> list[dict[str, str]]:
        return [params for m, p, params, _ in self.requests if p == path and m == method]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ccxt_urls(self) -> dict[str, Any]:
        """ccxt_config for the ``binance`` class: every API root pointed at this server."""
        import ccxt

        roots = ccxt.binance().urls["api"]
        return {
            "urls": {
                "api": {
                    name: self.base_url + "/" + url.split("://", 1)[1].split("/", 1)[1]
                    for name, url in roots.items()
                    if isinstance(url, str)
                }
            }
        }

    def trigger_stops(self, price: float) -> list[dict[str, Any]]:
        """The market traded down to ``price``: fill every waiting stop order at or above
        it (a stop-limit at its limit price, a stop-market at ``price``)."""
        filled = []
        for order in self.orders.values():
            if order["status"] != "NEW" or not order["type"].startswith("STOP_LOSS"):
                continue
            if float(order["stopPrice"]) < price:
                continue
            at = float(order["price"]) if order["type"] == "STOP_LOSS_LIMIT" else price
            qty = float(order["origQty"])
            order.update(
                status="FILLED",
                executedQty=order["origQty"],
                cummulativeQuoteQty=f"{qty * at:.8f}",
                updateTime=int(time.time() * 1000),
            )
            filled.append(order)
        return filled

    def symbol(self, symbol_id: str) -> Symbol | None:
        return next((s for s in self.symbols if s.id == symbol_id), None)

    # --- the app -----------------------------------------------------------------
    def app(self) -> Starlette:
        routes = [
            Route("/api/v3/ping", self.ping),
            Route("/api/v3/time", self.server_time),
            Route("/api/v3/exchangeInfo", self.exchange_info),
            Route("/fapi/v1/exchangeInfo", self.empty_exchange_info),
            Route("/dapi/v1/exchangeInfo", self.empty_exchange_info),
            Route("/api/v3/klines", self.klines),
            Route("/api/v3/ticker/24hr", self.ticker_24hr),
            Route("/api/v3/ticker/bookTicker", self.book_ticker),
            Route("/api/v3/depth", self.depth),
            Route("/api/v3/account", self.account),
            Route("/api/v3/order", self.order, methods=["GET", "POST", "DELETE"]),
            Route("/sapi/v1/capital/config/getall", self.signed_empty_list),
            Route("/sapi/v1/margin/allPairs", self.signed_empty_list),
            Route("/sapi/v1/margin/isolated/allPairs", self.signed_empty_list),
        ]
        app = Starlette(routes=routes)
        app.add_middleware(_Recorder, fake=self)  # type: ignore[arg-type]
        return app

    async def ping(self, request: Request) -> Response:
        return _json({})

    async def server_time(self, request: Request) -> Response:
        return _json({"serverTime": int(time.time() * 1000)})

    async def exchange_info(self, request: Request) -> Response:
        return _json(
            {
                "timezone": "UTC",
                "serverTime": int(time.time() * 1000),
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": 6000,
                    }
                ],
                "exchangeFilters": [],
                "symbols": [_symbol_info(s) for s in self.symbols],
            }
        )

    async def empty_exchange_info(self, request: Request) -> Response:
        return _json({"timezone": "UTC", "serverTime": int(time.time() * 1000), "symbols": []})

    async def signed_empty_list(self, request: Request) -> Response:
        params = await self._signed(request)
        return params if isinstance(params, Response) else _json([])

    async def klines(self, request: Request) -> Response:
        q = request.query_params
        symbol = self.symbol(q.get("symbol", ""))
        if symbol is None:
            return _error(400, -1121, "Invalid symbol.")
        interval = q.get("interval", "1m")
        step = timeframe_to_msecs(interval)
        limit = min(int(q.get("limit", 500)), 1000)
        now = int(time.time() * 1000)
        current_open = now // step * step  # Binance includes the candle still forming
        if "startTime" in q:
            start = int(q["startTime"]) // step * step
            if int(q["startTime"]) % step:
                start += step
        else:
            start = current_open - (limit - 1) * step
        count = max(0, min(limit, (current_open - start) // step + 1))
        frame = self.market.candles(symbol.pair, interval, start, count) if count else None
        rows: list[list[Any]] = []
        if frame is not None:
            for t, o, h, lo, c, v in zip(
                dates_to_ms(frame["date"]).tolist(),
                frame["open"],
                frame["high"],
                frame["low"],
                frame["close"],
                frame["volume"],
                strict=True,
            ):
                ohlcv = [f"{o:.8f}", f"{h:.8f}", f"{lo:.8f}", f"{c:.8f}", f"{v:.8f}"]
                quote = [f"{v * c:.8f}", 100, f"{v / 2:.8f}", f"{v * c / 2:.8f}", "0"]
                rows.append([t, *ohlcv, t + step - 1, *quote])
        return _json(rows)

    def _price(self, symbol: Symbol) -> float:
        return self.market.price_at(symbol.pair, int(time.time() * 1000))

    async def ticker_24hr(self, request: Request) -> Response:
        symbol = self.symbol(request.query_params.get("symbol", ""))
        if symbol is None:
            return _error(400, -1121, "Invalid symbol.")
        last = self._price(symbol)
        now = int(time.time() * 1000)
        return _json(
            {
                "symbol": symbol.id,
                "priceChange": "0.00000000",
                "priceChangePercent": "0.000",
                "weightedAvgPrice": f"{last:.8f}",
                "prevClosePrice": f"{last:.8f}",
                "lastPrice": f"{last:.8f}",
                "lastQty": "0.01000000",
                "bidPrice": f"{last * 0.9999:.8f}",
                "bidQty": "1.00000000",
                "askPrice": f"{last * 1.0001:.8f}",
                "askQty": "1.00000000",
                "openPrice": f"{last:.8f}",
                "highPrice": f"{last * 1.01:.8f}",
                "lowPrice": f"{last * 0.99:.8f}",
                "volume": "1000.00000000",
                "quoteVolume": f"{last * 1000:.8f}",
                "openTime": now - 86_400_000,
                "closeTime": now,
                "firstId": 1,
                "lastId": 1000,
                "count": 1000,
            }
        )

    async def book_ticker(self, request: Request) -> Response:
        symbol = self.symbol(request.query_params.get("symbol", ""))
        if symbol is None:
            return _error(400, -1121, "Invalid symbol.")
        last = self._price(symbol)
        return _json(
            {
                "symbol": symbol.id,
                "bidPrice": f"{last * 0.9999:.8f}",
                "bidQty": "1.00000000",
                "askPrice": f"{last * 1.0001:.8f}",
                "askQty": "1.00000000",
            }
        )

    async def depth(self, request: Request) -> Response:
        symbol = self.symbol(request.query_params.get("symbol", ""))
        if symbol is None:
            return _error(400, -1121, "Invalid symbol.")
        last = self._price(symbol)
        return _json(
            {
                "lastUpdateId": 1,
                "bids": [[f"{last * (1 - 0.0001 * i):.8f}", "1.0"] for i in range(1, 6)],
                "asks": [[f"{last * (1 + 0.0001 * i):.8f}", "1.0"] for i in range(1, 6)],
            }
        )

    # --- signed endpoints -----------------------------------------------------------
    async def _signed(self, request: Request) -> dict[str, str] | Response:
        """Check the API key header and the HMAC-SHA256 signature, as Binance does."""
        if request.headers.get("x-mbx-apikey") != self.api_key:
            return _error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        body = (await request.body()).decode() if request.method == "POST" else ""
        total = request.url.query + body  # Binance signs the query and body concatenated
        payload, _, signature = total.rpartition("&signature=")
        expected = hmac.new(self.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            return _error(400, -1022, "Signature for this request is not valid.")
        return dict(parse_qsl(payload))

    async def account(self, request: Request) -> Response:
        params = await self._signed(request)
        if isinstance(params, Response):
            return params
        return _json(
            {
                "makerCommission": 10,
                "takerCommission": 10,
                "canTrade": True,
                "accountType": "SPOT",
                "updateTime": int(time.time() * 1000),
                "balances": [
                    {"asset": a, "free": f"{v:.8f}", "locked": "0.00000000"}
                    for a, v in self.balances.items()
                ],
                "permissions": ["SPOT"],
            }
        )

    async def order(self, request: Request) -> Response:
        params = await self._signed(request)
        if isinstance(params, Response):
            return params
        symbol = self.symbol(params.get("symbol", ""))
        if symbol is None:
            return _error(400, -1121, "Invalid symbol.")
        if request.method == "POST":
            return self._new_order(symbol, params)
        order = self.orders.get(int(params.get("orderId", "0")))
        if order is None:
            return _error(400, -2013, "Order does not exist.")
        if request.method == "DELETE":
            if order["status"] in ("FILLED", "CANCELED"):
                return _error(400, -2011, "Unknown order sent.")
            order["status"] = "CANCELED"
        return _json(order)

    def _new_order(self, symbol: Symbol, params: dict[str, str]) -> Response:
        qty = float(params["quantity"])
        price = float(params.get("price") or params.get("stopPrice") or "0")
        if params["type"] == "MARKET":
            price = self._price(symbol) * (1.0001 if params["side"] == "BUY" else 0.9999)
        is_stop = params["type"] in ("STOP_LOSS", "STOP_LOSS_LIMIT")
        if is_stop and self.reject_stops:
            return _error(400, -2010, "Stop price would trigger immediately.")
        if qty * price < float(symbol.min_notional):
            return _error(400, -1013, "Filter failure: NOTIONAL")
        if params["side"] == "BUY" and qty * price > self.balances.get(symbol.quote, 0):
            return _error(400, -2010, "Account has insufficient balance for requested action.")
        half = math.floor(qty / 2 / float(symbol.step)) * float(symbol.step)  # fills are in steps
        filled = {"immediate": qty, "never": 0.0, "partial": half}[self.fill_mode]
        if is_stop:
            filled = 0.0  # waits for trigger_stops
        order_id = next(self._ids)
        self.orders[order_id] = order = {
            "symbol": symbol.id,
            "orderId": order_id,
            "orderListId": -1,
            "clientOrderId": params.get("newClientOrderId", f"x-{order_id}"),
            "transactTime": int(time.time() * 1000),
            "time": int(time.time() * 1000),
            "updateTime": int(time.time() * 1000),
            "price": params.get("price", "0"),
            "origQty": params["quantity"],
            "executedQty": f"{filled:.8f}",
            "cummulativeQuoteQty": f"{filled * price:.8f}",
            "status": "FILLED" if filled >= qty else ("PARTIALLY_FILLED" if filled else "NEW"),
            "timeInForce": params.get("timeInForce", "GTC"),
            "type": params["type"],
            "stopPrice": params.get("stopPrice", "0.00000000"),
            "side": params["side"],
            "workingTime": int(time.time() * 1000),
            "selfTradePreventionMode": "NONE",
            "isWorking": True,
        }
        return _json(order)

    # --- serving -------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[FakeBinance]:
        sock = bind_socket("127.0.0.1", 0)
        self.port = sock.getsockname()[1]
        # log_config=None: uvicorn's default would reconfigure the test process's loggers
        # (its "uvicorn" logger stops propagating), hiding later bots' server logs
        config = uvicorn.Config(self.app(), log_config=None, access_log=False, lifespan="off")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            while not server.started:
                await asyncio.sleep(0.01)
            yield self
        finally:
            server.should_exit = True
            await task
            sock.close()


class _Recorder:
    """Record each request, and answer with a queued fault when one is due."""

    def __init__(self, app: Any, fake: FakeBinance) -> None:
        self.app, self.fake = app, fake

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        self.fake.requests.append(
            (
                scope["method"],
                scope["path"],
                dict(request.query_params),
                request.headers.get("x-mbx-apikey"),
            )
        )
        queue = self.fake.faults.get(scope["path"])
        if queue:
            fault = queue.pop(0)
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status:
                await Response(fault.body, fault.status, media_type=fault.content_type)(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)


def _symbol_info(s: Symbol) -> dict[str, Any]:
    return {
        "symbol": s.id,
        "status": s.status,
        "baseAsset": s.base,
        "baseAssetPrecision": 8,
        "quoteAsset": s.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": s.tick,
                "maxPrice": "1000000.00",
                "tickSize": s.tick,
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": s.min_qty,
                "maxQty": "9000.00",
                "stepSize": s.step,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": s.min_notional,
                "applyMinToMarket": True,
                "maxNotional": "9000000.00",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def _error(status: int, code: int, msg: str) -> Response:
    return _json({"code": code, "msg": msg}, status)
