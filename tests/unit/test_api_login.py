"""Login as FreqUI does it: basic auth for token/login, bearer tokens for the rest, refresh
tokens only for token/refresh, and CORS for the origins configured (in-process ASGI app)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from candlecast.api.app import create_app
from candlecast.api.context import ApiContext
from candlecast.config import validate_config
from candlecast.data.dataprovider import DataProvider
from candlecast.messaging.hub import ChannelPolicy, MessageHub
from candlecast.persistence.repository import TradeRepository

pytestmark = pytest.mark.anyio

SECRET = "0123456789abcdef0123456789abcdef"
ORIGIN = "http://localhost:3000"


def app(tmp_path: Path, **api: object):
    config = validate_config(
        {
            "api_server": {
                "enabled": True,
                "listen_ip_address": "127.0.0.1",
                "listen_port": 8080,
                "username": "frequi",
                "password": "secret-password",
                "jwt_secret_key": SECRET,
                **api,
            }
        }
    )
    dp = DataProvider("5m")
    ctx = ApiContext(
        config=config,
        jwt_secret=SECRET,
        dataprovider=dp,
        repository=TradeRepository(f"sqlite:///{tmp_path / 'trades.sqlite'}"),
        hub=MessageHub(dp, ChannelPolicy.from_config()),
    )
    transport = httpx.ASGITransport(app=create_app(ctx))
    return httpx.AsyncClient(transport=transport, base_url="http://bot")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_login_gives_tokens_that_open_the_api_and_refresh_only_access(tmp_path: Path):
    async with app(tmp_path) as http:
        assert (await http.post("/api/v1/token/login", auth=("frequi", "wrong"))).status_code == 401
        tokens = (await http.post("/api/v1/token/login", auth=("frequi", "secret-password"))).json()
        assert (
            await http.get("/api/v1/count", headers=bearer(tokens["access_token"]))
        ).status_code == 200
        # a refresh token opens nothing but token/refresh; an access token cannot refresh
        assert (
            await http.get("/api/v1/count", headers=bearer(tokens["refresh_token"]))
        ).status_code == 401
        refused = await http.post("/api/v1/token/refresh", headers=bearer(tokens["access_token"]))
        assert refused.status_code == 401
        fresh = await http.post("/api/v1/token/refresh", headers=bearer(tokens["refresh_token"]))
        assert fresh.status_code == 200 and set(fresh.json()) == {"access_token"}
        assert (
            await http.get("/api/v1/count", headers=bearer(fresh.json()["access_token"]))
        ).status_code == 200
        assert (await http.get("/api/v1/count")).status_code == 401
        assert (await http.get("/api/v1/ping")).json() == {"status": "pong"}


async def test_cors_allows_the_configured_origin_only(tmp_path: Path):
    preflight = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    async with app(tmp_path, CORS_origins=[ORIGIN]) as http:
        reply = await http.options("/api/v1/token/login", headers=preflight)
        assert reply.status_code == 200
        assert reply.headers["access-control-allow-origin"] == ORIGIN
        other = await http.options(
            "/api/v1/token/login", headers={**preflight, "Origin": "http://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
    async with app(tmp_path) as http:  # no origins configured: no CORS headers at all
        reply = await http.options("/api/v1/token/login", headers=preflight)
        assert "access-control-allow-origin" not in reply.headers


async def test_the_fleet_page_and_its_chart_library_are_served_without_login(tmp_path: Path):
    async with app(tmp_path) as http:
        page = await http.get("/fleet")
        assert page.status_code == 200 and "fleet.js" in page.text
        lib = await http.get("/fleet/static/vendor/lightweight-charts.standalone.production.js")
        assert lib.status_code == 200 and "LightweightCharts" in lib.text
        licence = await http.get("/fleet/static/vendor/LICENSE-lightweight-charts.txt")
        assert "Apache License" in licence.text
        assert (await http.get("/fleet/static/..%2Fapp.py")).status_code == 404  # no way out
        assert (await http.get("/api/v1/fleet")).status_code == 401
