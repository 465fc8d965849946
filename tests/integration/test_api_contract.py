"""freqtrade's REST API as FreqUI uses it: every response of a real running bot (uvicorn on
127.0.0.1 port 0, a real SQLite file) validates against freqtrade 2026.9's OpenAPI schemas
(``/work/shared/freqtrade-openapi.json``)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from jsonschema import Draft202012Validator
from websockets.asyncio.client import connect

from candlecast.api.routers.system import API_VERSION
from candlecast.testing import wait_until
from tests.integration.harness import (
    PAIRS,
    PASSWORD,
    USER,
    make_bot,
    new_clock,
    opened,
    producer_config,
    ws_url,
)

pytestmark = pytest.mark.anyio

OPENAPI = Path(os.environ.get("FREQTRADE_OPENAPI", "/work/shared/freqtrade-openapi.json"))

if not OPENAPI.is_file():
    pytest.skip(f"freqtrade's OpenAPI document not found at {OPENAPI}", allow_module_level=True)

DOC = json.loads(OPENAPI.read_text())

#: candlecast's own routes under /api/v1 (not in freqtrade's document)
OURS = {"/api/v1/message/clients", "/api/v1/producers", "/api/v1/message/ws", "/api/v1/fleet"}


def response_schema(method: str, path: str) -> dict[str, Any]:
    operation = DOC["paths"][path][method.lower()]
    schema = dict(operation["responses"]["200"]["content"]["application/json"]["schema"])
    schema["components"] = DOC["components"]
    return schema


def assert_matches(method: str, path: str, body: Any) -> None:
    validator = Draft202012Validator(response_schema(method, path))
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, f"{method} {path}: " + "; ".join(
        f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]
    )


class Api:
    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(
        self,
        method: str,
        path: str,
        *,
        template: str | None = None,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
    ) -> Any:
        reply = await self.http.request(
            method, path, params=params, json=json_body, headers=self.headers
        )
        assert reply.status_code == 200, f"{method} {path}: {reply.status_code} {reply.text}"
        body = reply.json()
        assert_matches(method, template or path, body)
        return body


@pytest.fixture
async def bot(tmp_path: Path):
    raw = producer_config(tmp_path, stake_amount=50, dry_run_wallet=1000)
    async with opened(make_bot(raw, "ProducerStrategy", new_clock())) as running:
        yield running


async def login(http: httpx.AsyncClient) -> dict[str, str]:
    reply = await http.post("/api/v1/token/login", auth=(USER, PASSWORD))
    assert reply.status_code == 200
    tokens = reply.json()
    assert_matches("POST", "/api/v1/token/login", tokens)
    return tokens


def client(bot) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{bot.api_port}", timeout=10)


async def test_every_freqtrade_endpoint_answers_in_freqtrades_shape(bot, caplog):
    caplog.set_level(logging.INFO)  # as `candlecast trade` logs
    async with client(bot) as http:
        tokens = await login(http)
        refreshed = await http.post(
            "/api/v1/token/refresh",
            headers={"Authorization": f"Bearer {tokens['refresh_token']}"},
        )
        assert_matches("POST", "/api/v1/token/refresh", refreshed.json())
        api = Api(http, refreshed.json()["access_token"])

        # trades: one closed by a forced exit, one left open
        first = await api.call("POST", "/api/v1/forceenter", json_body={"pair": PAIRS[0]})
        second = await api.call(
            "POST", "/api/v1/forceenter", json_body={"pair": PAIRS[1], "entry_tag": "manual"}
        )
        assert first["pair"] == PAIRS[0] and second["enter_tag"] == "manual"
        await wait_until(lambda: len(bot.repository.open_trades()) == 2, timeout=10)
        result = await api.call(
            "POST", "/api/v1/forceexit", json_body={"tradeid": str(first["trade_id"])}
        )
        assert str(first["trade_id"]) in result["result"]

        async def closed() -> bool:
            await bot.cycle()
            return bot.repository.count(is_open=False) == 1

        for _ in range(20):
            if await closed():
                break
        assert bot.repository.count(is_open=False) == 1

        version = await api.call("GET", "/api/v1/version")
        assert "candlecast" in version["version"]
        config = await api.call("GET", "/api/v1/show_config")
        assert config["api_version"] == API_VERSION
        assert config["state"] == "running" and config["bot_name"] == "producer"
        status = await api.call("GET", "/api/v1/status")
        assert [t["trade_id"] for t in status] == [second["trade_id"]]
        trades = await api.call("GET", "/api/v1/trades")
        assert [t["trade_id"] for t in trades["trades"]] == [first["trade_id"]]
        assert trades["trades"][0]["exit_reason"] == "force_exit"
        one = await api.call(
            "GET", f"/api/v1/trade/{second['trade_id']}", template="/api/v1/trade/{tradeid}"
        )
        assert one["is_open"] is True
        count = await api.call("GET", "/api/v1/count")
        assert count["current"] == 1
        await api.call("GET", "/api/v1/balance")
        profit = await api.call("GET", "/api/v1/profit")
        assert profit["trade_count"] == 2 and profit["closed_trade_count"] == 1
        performance = await api.call("GET", "/api/v1/performance")
        assert [p["pair"] for p in performance] == [PAIRS[0]]
        for path in ("/api/v1/daily", "/api/v1/weekly", "/api/v1/monthly"):
            periods = await api.call("GET", path)
            assert sum(d["trade_count"] for d in periods["data"]) == 1
        stats = await api.call("GET", "/api/v1/stats")
        assert sum(stats["exit_reasons"]["force_exit"].values()) == 1
        for path in ("/api/v1/entries", "/api/v1/exits", "/api/v1/mix_tags"):
            assert sum(row["count"] for row in await api.call("GET", path)) == 1
        for path in ("/api/v1/health", "/api/v1/sysinfo", "/api/v1/ping"):
            await api.call("GET", path)
        logs = await api.call("GET", "/api/v1/logs", params={"limit": 5})
        assert 0 < logs["log_count"] <= 5
        whitelist = await api.call("GET", "/api/v1/whitelist")
        assert whitelist["whitelist"] == PAIRS
        await api.call("GET", "/api/v1/available_pairs")
        await api.call("GET", "/api/v1/plot_config")
        await api.call("GET", "/api/v1/pairlists/available")
        strategies = await api.call("GET", "/api/v1/strategies")
        assert strategies["strategies"] == ["ProducerStrategy"]
        strategy = await api.call(
            "GET", "/api/v1/strategy/ProducerStrategy", template="/api/v1/strategy/{strategy}"
        )
        assert "class ProducerStrategy" in strategy["code"]


async def test_candles_in_freqtrades_format_and_ours(bot):
    async with client(bot) as http:
        api = Api(http, (await login(http))["access_token"])
        frame, _ = bot.dp.get_analyzed_dataframe(PAIRS[0])
        candles = await api.call(
            "GET", "/api/v1/pair_candles", params={"pair": PAIRS[0], "timeframe": "1m", "limit": 5}
        )
        assert candles["length"] == 5 and candles["all_columns"] == list(frame.columns)
        ts = candles["columns"].index("__date_ts")
        close = candles["columns"].index("close")
        tail = frame.tail(5)
        assert [row[ts] for row in candles["data"]] == [
            int(d.timestamp() * 1000) for d in tail["date"]
        ]
        assert [row[close] for row in candles["data"]] == tail["close"].tolist()
        posted = await api.call(
            "POST",
            "/api/v1/pair_candles",
            json_body={"pair": PAIRS[0], "timeframe": "1m", "limit": 3, "columns": ["close"]},
        )
        assert posted["length"] == 3 and "open" not in posted["columns"]
        history = await api.call(
            "GET",
            "/api/v1/pair_history",
            params={
                "pair": PAIRS[0],
                "timeframe": "1m",
                "timerange": "20200101-",
                "strategy": "ProducerStrategy",
            },
        )
        assert history["length"] == len(frame)
        ours = (
            await http.get(
                "/api/v1/pair_candles",
                params={"pair": PAIRS[0], "limit": 5, "format": "candlecast"},
                headers=api.headers,
            )
        ).json()
        assert ours["columns"] == list(frame.columns) and "dtypes" in ours


async def test_blacklist_locks_and_bot_state_follow_frequi(bot):
    async with client(bot) as http:
        api = Api(http, (await login(http))["access_token"])
        listed = await api.call("GET", "/api/v1/blacklist")
        assert listed["blacklist"] == []
        added = await api.call("POST", "/api/v1/blacklist", json_body={"blacklist": ["SOL/.*"]})
        assert added["blacklist"] == ["SOL/.*"]
        await bot.cycle()
        assert "SOL/USDT" not in bot.whitelist
        removed = await api.call(
            "DELETE", "/api/v1/blacklist", params={"pairs_to_delete": ["SOL/.*"]}
        )
        assert removed["blacklist"] == []
        await bot.cycle()
        assert "SOL/USDT" in bot.whitelist

        locks = await api.call("GET", "/api/v1/locks")
        assert locks["lock_count"] == 0

        paused = await api.call("POST", "/api/v1/pause")
        assert "paused" in paused["status"]
        assert (await api.call("GET", "/api/v1/show_config"))["state"] == "paused"
        assert not bot.control.entries_allowed and bot.control.trading_allowed
        await api.call("POST", "/api/v1/stopbuy")
        stopped = await api.call("POST", "/api/v1/stop")
        assert stopped["status"]
        assert not bot.control.trading_allowed
        await api.call("POST", "/api/v1/start")
        assert bot.control.entries_allowed


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/backtest"),
        ("POST", "/api/v1/backtest"),
        ("GET", "/api/v1/backtest/history"),
        ("GET", "/api/v1/hyperoptloss"),
        ("GET", "/api/v1/freqaimodels"),
        ("GET", "/api/v1/background"),
    ],
)
async def test_what_candlecast_lacks_answers_not_available(bot, method: str, path: str):
    async with client(bot) as http:
        token = (await login(http))["access_token"]
        reply = await http.request(method, path, headers={"Authorization": f"Bearer {token}"})
        assert reply.status_code == 503
        assert reply.json() == {"detail": "Bot is not in the correct state."}


async def test_every_api_route_is_one_of_freqtrades_or_a_documented_extension(bot):
    from candlecast.api.routers import fleet

    routes = {r.path for r in bot.api_server.server.config.app.routes if hasattr(r, "path")}
    api_routes = {p for p in routes if p.startswith("/api/v1/")}
    assert api_routes - OURS <= set(DOC["paths"]), sorted(api_routes - OURS - set(DOC["paths"]))
    assert fleet.router.routes  # the fleet page is served besides the API


async def test_trade_events_reach_websocket_subscribers_as_freqtrade_sends_them(bot):
    async with client(bot) as http:
        api = Api(http, (await login(http))["access_token"])
        async with connect(ws_url(bot)) as ws:
            kinds = ["entry", "entry_fill", "exit", "exit_fill", "status"]
            await ws.send(orjson.dumps({"type": "subscribe", "data": kinds}).decode())
            await wait_until(lambda: any(c.subscriptions for c in bot.hub.channels), timeout=10)
            trade = await api.call("POST", "/api/v1/forceenter", json_body={"pair": PAIRS[2]})
            await api.call("POST", "/api/v1/forceexit", json_body={"tradeid": trade["trade_id"]})
            for _ in range(20):
                await bot.cycle()
                if bot.repository.count(is_open=False):
                    break
            await api.call("POST", "/api/v1/pause")
            seen: list[dict[str, Any]] = []
            while not any(m["type"] == "status" for m in seen):
                seen.append(orjson.loads(await asyncio.wait_for(ws.recv(), 10)))
        types = [m["type"] for m in seen]
        assert types == ["entry", "entry_fill", "exit", "exit_fill", "status"], types
        assert [m.get("trade_id") for m in seen[:4]] == [trade["trade_id"]] * 4, seen
        assert seen[3]["exit_reason"] == "force_exit" and seen[3]["pair"] == PAIRS[2]
        assert seen[4] == {"type": "status", "status": "paused"}
