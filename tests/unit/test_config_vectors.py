"""The api_server and external_message_consumer sections are judged as freqtrade 2026.9 does.

``config_cases.json`` holds every variant freqtrade's startup validation saw: accepted (the
section with defaults filled in; for the consumer also its runtime values and the URL and
connect() arguments per producer) or refused. We put the same section into a valid
candlecast config and compare: accepted -> the same effective values (field names mapped
where ours differ), the same runtime values and URLs; refused -> refused too, with our own
one-line message that names the key path. ``ws_token_auth`` is the producer's check of the
token a consumer presents, run here through candlecast's real websocket route.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI

from candlecast.api import auth
from candlecast.api.app import ApiContext, create_app
from candlecast.config import Config, unknown_keys, validate_config
from candlecast.data.dataprovider import DataProvider
from candlecast.exceptions import ConfigError
from candlecast.messaging.client import connect_options, producer_url
from candlecast.messaging.hub import CLOSE_POLICY, ChannelPolicy, MessageHub
from candlecast.messaging.protocol import WS_PATH
from candlecast.persistence.repository import TradeRepository
from tests import golden

VECTORS = golden.load("config_cases")
CASES: list[dict[str, Any]] = VECTORS["cases"]
AUTH_CASES: list[dict[str, Any]] = VECTORS["ws_token_auth"]
EMC = "external_message_consumer"

# freqtrade's base config, restricted to the top-level keys candlecast knows.
BASE = {k: v for k, v in VECTORS["generator"]["base_config"].items() if k in Config.model_fields}

# Refused cases: the key path our message must name.
REFUSED_PATH = {
    "external_message_consumer: port 65536": "external_message_consumer.producers[0].port",
    "external_message_consumer: port -1": "external_message_consumer.producers[0].port",
    "external_message_consumer: port '8080' (string)": "external_message_consumer.producers[0].port",
    "external_message_consumer: port 8080.0 (float)": "external_message_consumer.producers[0].port",
    "external_message_consumer: port true (bool)": "external_message_consumer.producers[0].port",
    # freqtrade crashes here (KeyError 'name'); a refusal either way
    "external_message_consumer: name omitted": "external_message_consumer.producers[0].name",
    "external_message_consumer: name omitted, section disabled": (
        "external_message_consumer.producers[0].name"
    ),
    "external_message_consumer: host omitted": "external_message_consumer.producers[0].host",
    "external_message_consumer: ws_token omitted": "external_message_consumer.producers[0].ws_token",
    "external_message_consumer: ws_token list": "external_message_consumer.producers[0].ws_token",
    "external_message_consumer: duplicate producer names": "external_message_consumer.producers",
    "external_message_consumer: enabled, producers []": "external_message_consumer.producers",
    "external_message_consumer: enabled, producers key missing": (
        "external_message_consumer.producers"
    ),
    "external_message_consumer: disabled, producers key missing": (
        "external_message_consumer.producers"
    ),
    "external_message_consumer: enabled 'true' (string)": "external_message_consumer.enabled",
    # freqtrade crashes here (TypeError); a refusal either way
    "external_message_consumer: producers is an object": "external_message_consumer.producers",
    "external_message_consumer: wait_timeout 2.5": "external_message_consumer.wait_timeout",
    "external_message_consumer: wait_timeout -1": "external_message_consumer.wait_timeout",
    "external_message_consumer: wait_timeout '30'": "external_message_consumer.wait_timeout",
    "external_message_consumer: sleep_time 0.5": "external_message_consumer.sleep_time",
    "external_message_consumer: message_size_limit 0": "external_message_consumer.message_size_limit",
    "external_message_consumer: message_size_limit 21": (
        "external_message_consumer.message_size_limit"
    ),
    "external_message_consumer: initial_candle_limit 1501": (
        "external_message_consumer.initial_candle_limit"
    ),
    "external_message_consumer: remove_entry_exit_signals 1": (
        "external_message_consumer.remove_entry_exit_signals"
    ),
    "external_message_consumer: remove_entry_exit_signals 'yes'": (
        "external_message_consumer.remove_entry_exit_signals"
    ),
    "external_message_consumer: secure 'false' (string)": (
        "external_message_consumer.producers[0].secure"
    ),
    "api_server: ws_token integer": "api_server.ws_token",
    "api_server: ws_token list with an integer": "api_server.ws_token",
    "api_server: ws_token null": "api_server.ws_token",
    "api_server: jwt_secret_key shorter than 32": "api_server.jwt_secret_key",
    "api_server: listen_port 80": "api_server.listen_port",
    "api_server: enabled omitted": "api_server.enabled",
    "api_server: username omitted": "api_server.username",
    "api_server: verbosity 'debug'": "api_server.verbosity",
}

# Deliberate differences: case id -> (what candlecast does, why). Listed in docs/compat.md.
REFUSED_BY_US = {
    "external_message_consumer: ws_token empty string": (
        "external_message_consumer.producers[0].ws_token",
        "no empty secrets: an empty token is no authentication",
    ),
    "api_server: ws_token empty string": (
        "api_server.ws_token",
        "no empty secrets: an empty token is no authentication",
    ),
    "external_message_consumer: host with scheme 'ws://x'": (
        "external_message_consumer.producers[0].host",
        "freqtrade builds the unusable URL ws://ws://x:8080/... and fails only when connecting; "
        "a host is a hostname or an IP address",
    ),
}
OUR_URL = {
    "external_message_consumer: ws_token with URL-special and non-ASCII characters": (
        ["ws://127.0.0.1:8080/api/v1/message/ws?token=a%20b%26c%3Dd%2F%C3%A9%3F%23"],
        "freqtrade puts the token into the URL unescaped: the producer reads 'a b' and a "
        "stray parameter c=d; escaped, the producer reads the whole token",
    ),
    "external_message_consumer: host IPv6 '::1'": (
        ["ws://[::1]:8080/api/v1/message/ws?token=tok"],
        "freqtrade writes ws://::1:8080, which is not a URL; an IPv6 host goes in brackets",
    ),
}
OUR_EFFECTIVE = {
    "api_server: jwt_secret_key omitted": (
        {"jwt_secret_key": ""},
        "freqtrade fills in a fixed key published in its docs, so anyone can sign API "
        "tokens; candlecast leaves it empty and uses a random key per run",
    ),
}

# Runtime values of freqtrade's consumer that are not configuration in candlecast.
UNMAPPED_RUNTIME = {
    "dataprovider_external_data_enabled": (
        "freqtrade's DataProvider flag 'producers configured'; candlecast's DataProvider "
        "serves whatever the running consumer received, there is no separate flag"
    ),
}


def case_config(case: dict[str, Any]) -> dict[str, Any]:
    raw = copy.deepcopy(BASE)
    raw[case["section"]] = copy.deepcopy(case["input"])
    return raw


def refusal(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    return info.value.problems


def assert_refused_naming(raw: dict[str, Any], path: str, freqtrade_message: str = "") -> None:
    lines = refusal(raw)
    for line in lines:
        assert "\n" not in line and "pydantic" not in line.lower()
        assert "Input should" not in line and "validation error" not in line
        assert line != freqtrade_message
    assert any(
        line.startswith(f"{path}: expected") or line == f"{path}: required key is missing"
        for line in lines
    ), lines


def normalized(section: str, key: str, value: Any) -> Any:
    """freqtrade's value as candlecast stores it: a single ws_token is a list of one."""
    if section == "api_server" and key == "ws_token" and isinstance(value, str):
        return [value]
    return value


def assert_section_values(case: dict[str, Any], config: Config, expected: dict[str, Any]) -> None:
    section = case["section"]
    ours = getattr(config, section).model_dump(mode="json")
    unknown = {w.split("'")[1] for w in unknown_keys(case_config(case))}
    for key, value in expected.items():
        if key not in ours:
            # freqtrade keeps a key it does not know; candlecast drops it with a warning
            assert f"{section}.{key}" in unknown
            continue
        if key == "producers":
            assert len(ours[key]) == len(value)
            for i, (mine, theirs) in enumerate(zip(ours[key], value, strict=True)):
                for field, v in theirs.items():
                    if field in mine:
                        assert mine[field] == v, f"producers[{i}].{field}"
                    else:
                        assert f"{section}.producers[{i}].{field}" in unknown
            continue
        assert ours[key] == normalized(section, key, value), key


def assert_consumer_runtime(case: dict[str, Any], config: Config) -> None:
    settings = config.external_message_consumer
    expected = dict(case["consumer"])
    connect = expected.pop("connect", None)
    assert settings.message_size_limit_bytes == expected.pop("message_size_limit_bytes")
    for key in UNMAPPED_RUNTIME:
        expected.pop(key)
    assert_section_values(case, config, expected)
    if connect is None:
        assert not config.is_consumer  # no connection is made
        return
    assert config.is_consumer
    options = connect_options(settings)
    urls = OUR_URL.get(case["id"], ([c["url"] for c in connect], ""))[0]
    assert [producer_url(p) for p in settings.producers] == urls
    for c in connect:
        assert options["max_size"] == c["max_size"]
        assert options["ping_interval"] == c["ping_interval"]


def test_every_case_is_judged():
    assert len(CASES) == 65 and len(AUTH_CASES) == 13
    refused = {c["id"] for c in CASES if not c["accepted"]}
    assert refused == set(REFUSED_PATH)
    deliberate = set(REFUSED_BY_US) | set(OUR_URL) | set(OUR_EFFECTIVE)
    assert deliberate <= {c["id"] for c in CASES if c["accepted"]}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_section_is_judged_as_freqtrade_does(case: dict[str, Any]):
    raw = case_config(case)
    if not case["accepted"]:
        assert_refused_naming(raw, REFUSED_PATH[case["id"]], case["raises"]["message"])
        return
    if case["id"] in REFUSED_BY_US:
        assert_refused_naming(raw, REFUSED_BY_US[case["id"]][0])
        return
    config = validate_config(raw)
    effective = dict(case["effective"])
    if case["id"] in OUR_EFFECTIVE:
        ours = OUR_EFFECTIVE[case["id"]][0]
        for key, value in ours.items():
            assert effective.pop(key) != value
            assert getattr(getattr(config, case["section"]), key) == value
    assert_section_values(case, config, effective)
    if case["section"] == EMC:
        assert_consumer_runtime(case, config)


# --- the producer's check of a consumer's token ---------------------------------------------

JWT_KEY = "0123456789abcdef0123456789abcdef"
OTHER_KEY = "fedcba9876543210fedcba9876543210"

# case id -> (our verdict: the subject accepted, or None = closed 1008; why)
AUTH_DELIBERATE: dict[str, tuple[str | None, str]] = {
    "non-ASCII token configured and presented": (
        "s\u00e9cret",
        "freqtrade's compare raises TypeError on non-ASCII text and the connection fails; "
        "candlecast compares UTF-8 bytes in constant time",
    ),
    "string token configured, non-ASCII presented": (
        None,
        "freqtrade raises TypeError; candlecast refuses the wrong token with close code 1008",
    ),
}


def api_section(configured: Any) -> dict[str, Any]:
    section = {
        "enabled": True,
        "listen_ip_address": "127.0.0.1",
        "listen_port": 8080,
        "username": "u",
        "password": "p",
        "jwt_secret_key": JWT_KEY,
    }
    if configured != "(absent)":
        section["ws_token"] = configured
    return section


def producer_app(config: Config, tmp_path: Path) -> FastAPI:
    dp = DataProvider(config.timeframe or "5m")
    ctx = ApiContext(
        config=config,
        jwt_secret=config.api_server.jwt_secret_key or secrets.token_urlsafe(32),
        dataprovider=dp,
        repository=TradeRepository(f"sqlite:///{tmp_path / 'trades.sqlite'}"),
        hub=MessageHub(dp, ChannelPolicy.from_config(config.api_server)),
    )
    return create_app(ctx)


async def presented_token(app: FastAPI, presented: str | None) -> str | None:
    if presented == "<jwt_ok>":  # an access token of our own login route
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://producer") as client:
            reply = await client.post("/api/v1/token/login", auth=("u", "p"))
        assert reply.status_code == 200
        token: str = reply.json()["access_token"]
        return token
    if presented == "<jwt_other>":
        return auth.create_jwt(OTHER_KEY, "u", "access", auth.ACCESS_TOKEN_SECONDS)
    return presented


async def websocket_verdict(app: FastAPI, token: str | None) -> int | None:
    """Open the message websocket through the app's ASGI interface, as a server would.

    Returns None when the route accepts the socket, else the close code it sends.
    """
    query = b"" if token is None else f"token={quote(token, safe='')}".encode()
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": WS_PATH,
        "raw_path": WS_PATH.encode(),
        "query_string": query,
        "headers": [(b"host", b"producer")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "subprotocols": [],
        "root_path": "",
        "state": {},
    }
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    incoming.put_nowait({"type": "websocket.connect"})
    first: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def send(message: dict[str, Any]) -> None:
        if not first.done():
            first.set_result(message)

    route = asyncio.create_task(app(scope, incoming.get, send))
    async with asyncio.timeout(10):
        reply = await first
        if reply["type"] == "websocket.accept":
            incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await route
    if reply["type"] == "websocket.accept":
        return None
    assert reply["type"] == "websocket.close"
    code: int = reply["code"]
    return code


async def check_token(
    config: Config, tmp_path: Path, presented: str | None
) -> tuple[str | None, int | None]:
    app = producer_app(config, tmp_path)
    token = await presented_token(app, presented)
    subject = auth.ws_token_subject(token, config.api_server.ws_token, JWT_KEY)
    return subject, await websocket_verdict(app, token)


@pytest.mark.parametrize("case", AUTH_CASES, ids=[c["id"] for c in AUTH_CASES])
def test_producer_token_check_gives_freqtrades_verdict(case: dict[str, Any], tmp_path: Path):
    raw = {**BASE, "api_server": api_section(case["configured_ws_token"])}
    if case["configured_ws_token"] == "":
        # candlecast never runs with an empty token (deliberate, see REFUSED_BY_US) ...
        assert_refused_naming(raw, "api_server.ws_token")
        # ... and the check refuses an empty token anyway: same verdict as freqtrade
        assert auth.ws_token_subject("", [""], JWT_KEY) is None
        assert case["accepted"] is False and case["close_code"] == CLOSE_POLICY
        return
    config = validate_config(raw)
    subject, verdict = asyncio.run(check_token(config, tmp_path, case["presented_token"]))
    if case["id"] in AUTH_DELIBERATE:
        assert "raises" in case
        expected_subject = AUTH_DELIBERATE[case["id"]][0]
        assert subject == expected_subject
        assert verdict == (None if expected_subject is not None else CLOSE_POLICY)
        return
    assert subject == case["returned"]
    assert verdict == (None if case["accepted"] else case["close_code"])
