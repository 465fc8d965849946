"""The consumer's websocket client, against a bare websocket server on 127.0.0.1 port 0.

The server is scripted by each test (nothing of candlecast's producer is involved): it
records the requests of every connection and sends what the test says. The client is
the real one, with a real ``ProducerStore``; the rules it follows are the session's
(``test_session.py``), so these tests check what the client adds: the URL and the
connection's options, the status it reports, what it stores, how it reports each way a
connection fails, its keepalive, and reconnecting.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from candlecast.clock import FixedClock
from candlecast.config.models import ExternalMessageConsumerConfig, ProducerConfig
from candlecast.data.producer_store import ProducerStore
from candlecast.domain.analyzed import PairKey
from candlecast.domain.enums import CandleType
from candlecast.exceptions import ProtocolViolation
from candlecast.messaging import protocol as proto
from candlecast.messaging.client import (
    ConnectionStatus,
    ProducerClient,
    connect_options,
    producer_url,
)
from candlecast.messaging.codec_binary import SUBPROTOCOL
from candlecast.messaging.protocol import Encoding
from candlecast.messaging.session import ConsumerSession
from candlecast.testing import make_ohlcv, wait_until
from tests.integration.tls import make_ca, make_server_cert

KEY = PairKey("BTC/USDT", "5m", CandleType.SPOT)
ETH = PairKey("ETH/USDT", "5m", CandleType.SPOT)
LA = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
TOKEN = "secret token/with?odd&chars="
MIB = 1024 * 1024

Script = Callable[["Producer", ServerConnection, int], Coroutine[Any, Any, None]]


# ---------------------------------------------------------------------- the URL and options


def producer(port: int = 8080, **extra: Any) -> ProducerConfig:
    return ProducerConfig(name="default", host="127.0.0.1", port=port, ws_token=TOKEN, **extra)


def settings(**extra: Any) -> ExternalMessageConsumerConfig:
    """The consumer's section; ``wait_timeout``/``ping_timeout`` given as fractions of a
    second are set after validation (the config takes whole seconds, as freqtrade's)."""
    fractions: dict[str, Any] = {
        k: extra.pop(k) for k in ("wait_timeout", "ping_timeout") if k in extra
    }
    section = ExternalMessageConsumerConfig(enabled=True, producers=[producer()], **extra)
    return section.model_copy(update=fractions)


def test_the_url_names_scheme_host_port_and_path_with_the_token_escaped():
    assert producer_url(producer(8081)) == (
        "ws://127.0.0.1:8081/api/v1/message/ws?token=secret%20token%2Fwith%3Fodd%26chars%3D"
    )
    assert producer_url(producer(8081), token=False) == "ws://127.0.0.1:8081/api/v1/message/ws"
    assert producer_url(producer(443, secure=True), token=False) == (
        "wss://127.0.0.1:443/api/v1/message/ws"
    )


@pytest.mark.parametrize(
    ("host", "netloc"),
    [("::1", "[::1]:8080"), ("[::1]", "[::1]:8080"), ("example.org", "example.org:8080")],
    ids=["ipv6", "ipv6-in-brackets", "hostname"],
)
def test_an_ipv6_host_is_put_in_brackets_once(host: str, netloc: str):
    config = ProducerConfig(name="p", host=host, ws_token="t")
    assert producer_url(config, token=False) == f"ws://{netloc}/api/v1/message/ws"


def test_connect_options_leave_keepalive_to_the_client_and_bound_every_wait():
    assert connect_options(settings()) == {
        "subprotocols": [SUBPROTOCOL],
        "max_size": 8 * MIB,
        "ping_interval": None,  # the client pings after wait_timeout without a message
        "compression": None,
        "open_timeout": 10,  # ping_timeout
        "close_timeout": 2,
        "max_queue": 64,
    }
    options = connect_options(
        settings(binary=False, compression=True, message_size_limit=3, ping_timeout=2)
    )
    assert options["subprotocols"] is None  # freqtrade's JSON needs no subprotocol
    assert options["max_size"] == 3 * MIB
    assert options["compression"] == "deflate"
    assert options["open_timeout"] == 5.0  # never less than 5 s for the handshake


def test_status_reports_the_median_and_99th_percentile_of_the_last_2000_latencies():
    status = ConnectionStatus("default", "ws://127.0.0.1:8080/api/v1/message/ws")
    assert status.as_dict(["BTC/USDT"]) == {
        "name": "default",
        "url": "ws://127.0.0.1:8080/api/v1/message/ws",
        "state": "starting",
        "encoding": None,
        "connected_since": None,
        "last_message_at": None,
        "messages_received": 0,
        "bytes_received": 0,
        "reconnects": 0,
        "last_error": None,
        "invalid_messages": 0,
        "requests_sent": 0,
        "pairs": ["BTC/USDT"],
        "latency_ms_p50": None,
        "latency_ms_p99": None,
    }
    status.latencies_ms.append(7.0)
    assert _percentiles(status) == (7.0, 7.0)
    status.latencies_ms.append(3.0)  # unordered: sorted before taking the percentiles
    assert _percentiles(status) == (7.0, 7.0)
    for ms in range(2500):
        status.latencies_ms.append(float(ms))
    assert len(status.latencies_ms) == 2000  # the 500 oldest were forgotten: 500..2499 remain
    assert _percentiles(status) == (1500.0, 2480.0)


def _percentiles(status: ConnectionStatus) -> tuple[float, float]:
    shown = status.as_dict([])
    return shown["latency_ms_p50"], shown["latency_ms_p99"]


# ---------------------------------------------------------------------- a scripted producer


class _PingCounting(ServerConnection):
    """The server's side of a connection, counting the pings it receives (it answers
    them as any websocket server does)."""

    pings = 0

    def process_event(self, event: Any) -> None:
        if isinstance(event, Frame) and event.opcode is Opcode.PING:
            self.pings += 1
        super().process_event(event)


class Producer:
    """A websocket server on 127.0.0.1 port 0 that records each connection's requests and
    runs ``script(producer, ws, n)`` on the ``n``-th connection (from 0) once it is open."""

    def __init__(self, script: Script | None = None, binary: bool = True) -> None:
        self.script = script
        self.binary = binary
        self.connections: list[_PingCounting] = []
        self.requests: list[list[dict[str, Any]]] = []
        self.opened_at: list[float] = []
        self.port = 0

    async def _handler(self, ws: ServerConnection) -> None:
        assert isinstance(ws, _PingCounting)
        n = len(self.connections)
        self.connections.append(ws)
        self.requests.append([])
        self.opened_at.append(time.monotonic())
        reader = asyncio.create_task(self._read(ws, self.requests[n]))
        script = None if self.script is None else asyncio.create_task(self.script(self, ws, n))
        try:
            await reader  # until the connection closes: a script still waiting is stopped
        finally:
            reader.cancel()
            if script is not None:
                script.cancel()

    def requests_of(self, n: int) -> list[dict[str, Any]]:
        """The requests of the ``n``-th connection so far (none before it opened)."""
        return self.requests[n] if n < len(self.requests) else []

    async def _read(self, ws: ServerConnection, into: list[dict[str, Any]]) -> None:
        with suppress(ConnectionClosed):
            async for raw in ws:
                into.append(orjson.loads(raw))

    async def send_frame(
        self,
        ws: ServerConnection,
        frame: pd.DataFrame,
        sent_at: float | None = None,
        key: PairKey = KEY,
    ) -> str | bytes:
        """Send ``frame`` as an ``analyzed_df`` of ``key`` in the connection's encoding."""
        encoding = proto.negotiated_encoding(ws.subprotocol)
        payload = encoding.frame(proto.encode_analyzed_df(encoding, key, frame, LA, None, sent_at))
        await ws.send(payload)
        return payload

    @asynccontextmanager
    async def serving(self, **options: Any) -> AsyncIterator[Producer]:
        async with serve(
            self._handler,
            "127.0.0.1",
            0,
            subprotocols=[SUBPROTOCOL] if self.binary else None,  # type: ignore[list-item]
            create_connection=_PingCounting,
            close_timeout=0.2,
            **options,
        ) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            yield self


@asynccontextmanager
async def following(
    port: int,
    clock: FixedClock | None = None,
    store: ProducerStore | None = None,
    config: ProducerConfig | None = None,
    **extra: Any,
) -> AsyncIterator[ProducerClient]:
    """A client following the producer on ``port``, running until the block ends."""
    client = ProducerClient(
        config or producer(port), settings(**extra), store or ProducerStore(), clock
    )
    task = asyncio.create_task(client.run())
    try:
        yield client
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def clock_at(moment: datetime = LA + timedelta(seconds=2)) -> FixedClock:
    return FixedClock(moment)  # intervals run on real time: socket timeouts are real


async def initial_requests_sent(p: Producer, n: int) -> None:
    await wait_until(lambda: len(p.requests_of(n)) >= 3, timeout=5)


def frame(rows: int = 10) -> pd.DataFrame:
    return make_ohlcv(rows, KEY.timeframe)


def _lines(caplog: pytest.LogCaptureFixture, level: str) -> list[str]:
    """The client's log lines at ``level``. Their wording is free; what they name is not."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "candlecast.messaging.client" and r.levelname == level
    ]


# ---------------------------------------------------------------------- connecting


def test_on_connecting_it_subscribes_asks_for_the_whitelist_then_every_pairs_candles(
    caplog: pytest.LogCaptureFixture,
):
    clock = clock_at()
    handshake = asyncio.Event()

    async def held(connection: ServerConnection, request: Any) -> None:
        await handshake.wait()  # the handshake waits until the test saw "connecting"

    async def scenario() -> int:
        async with (
            Producer().serving(process_request=held) as p,
            following(p.port, clock, initial_candle_limit=7) as client,
        ):
            await wait_until(lambda: client.status.state == "connecting", timeout=5)
            handshake.set()
            await initial_requests_sent(p, 0)
            assert p.requests[0] == [orjson.loads(r) for r in proto.initial_requests(7)]
            status = client.status
            assert (status.state, status.encoding) == ("connected", Encoding.BINARY)
            assert (status.name, status.connected_since) == ("default", clock.timestamp())
            assert status.url == f"ws://127.0.0.1:{p.port}/api/v1/message/ws"  # no token
            # the initial requests are not counted: requests_sent counts gap requests
            assert (status.requests_sent, status.reconnects, status.last_error) == (0, 0, None)
            return p.port

    with caplog.at_level("INFO", logger="candlecast.messaging.client"):
        port = asyncio.run(scenario())
    # one line saying which producer it connected to, where, and in which encoding
    [line] = _lines(caplog, "INFO")
    assert all(part in line for part in ("default", f"ws://127.0.0.1:{port}/", "binary"))


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_the_whitelist_and_frames_are_stored_under_the_producers_name(binary: bool):
    clock = clock_at()
    store = ProducerStore()
    sent: list[str | bytes] = []

    async def script(p: Producer, ws: ServerConnection, n: int) -> None:
        await initial_requests_sent(p, n)
        sent.append(proto.encode_whitelist(["BTC/USDT", "ETH/USDT"]).decode())
        await ws.send(sent[-1])
        sent.append(await p.send_frame(ws, frame()))

    async def scenario() -> None:
        async with (
            Producer(script, binary).serving() as p,
            following(p.port, clock, store, binary=binary) as client,
        ):
            await wait_until(lambda: store.get("default", KEY) is not None, timeout=5)
            assert client.status.encoding == (Encoding.BINARY if binary else Encoding.JSON)
            assert store.pairs("default") == ["BTC/USDT", "ETH/USDT"]
            stored = store.get("default", KEY)
            assert stored is not None
            assert (stored.analyzed_at, stored.received_at) == (LA, clock.timestamp())
            pd.testing.assert_frame_equal(stored.frame, frame(), check_exact=binary)
            status = client.status
            assert status.messages_received == 2
            assert status.bytes_received == sum(len(raw) for raw in sent)
            assert status.last_message_at == clock.timestamp()
            assert (status.invalid_messages, status.requests_sent) == (0, 0)
            assert list(status.latencies_ms) == []  # an answer to our request is no live update

    asyncio.run(scenario())


def test_signals_are_removed_from_stored_frames_when_the_config_says_so():
    store = ProducerStore()
    analyzed = frame().assign(enter_long=1, exit_long=0)

    async def script(p: Producer, ws: ServerConnection, n: int) -> None:
        await initial_requests_sent(p, n)
        await p.send_frame(ws, analyzed)

    async def scenario() -> None:
        async with (
            Producer(script).serving() as p,
            following(p.port, store=store, remove_entry_exit_signals=True),
        ):
            await wait_until(lambda: store.get("default", KEY) is not None, timeout=5)
            stored = store.get("default", KEY)
            assert stored is not None and (stored.frame["enter_long"] == 0).all()

    asyncio.run(scenario())


# ---------------------------------------------------------------------- live updates


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_latency_is_measured_on_live_updates_from_the_send_time_or_the_analysis(binary: bool):
    # binary frames carry their send time (``ts``); freqtrade's JSON only the analysis date
    clock = clock_at(LA + timedelta(seconds=2))
    sent_at = LA.timestamp() + 1.5
    candles = frame(12)
    step, dropped = asyncio.Event(), asyncio.Event()

    async def script(p: Producer, ws: ServerConnection, n: int) -> None:
        await initial_requests_sent(p, n)
        if n == 0:
            await p.send_frame(ws, candles.iloc[:10], sent_at)  # the answer: seeds the copy
            await step.wait()
            await p.send_frame(ws, candles.iloc[10:11], sent_at)  # the next candle: live
            await dropped.wait()
            await ws.close(1011)
        else:  # on the new connection, the first frame answers the request again
            await p.send_frame(ws, candles.iloc[:11], sent_at)

    async def scenario() -> list[float]:
        store = ProducerStore()
        async with (
            Producer(script, binary).serving() as p,
            following(p.port, clock, store, binary=binary, sleep_time=0) as client,
        ):
            await wait_until(lambda: store.get("default", KEY) is not None, timeout=5)
            assert list(client.status.latencies_ms) == []
            step.set()
            await wait_until(lambda: len(store.get("default", KEY).frame) == 11, timeout=5)  # type: ignore[union-attr]
            assert len(client.status.latencies_ms) == 1
            dropped.set()
            await wait_until(lambda: client.status.messages_received == 3, timeout=5)
            assert client.status.reconnects == 1
            return list(client.status.latencies_ms)

    latencies = asyncio.run(scenario())
    assert latencies == [pytest.approx(500.0 if binary else 2000.0)]


def test_a_gap_asks_the_producer_for_the_missing_candles_and_is_counted(
    caplog: pytest.LogCaptureFixture,
):
    store = ProducerStore()
    candles = frame(14)

    async def script(p: Producer, ws: ServerConnection, n: int) -> None:
        await initial_requests_sent(p, n)
        for key in (KEY, ETH):
            await p.send_frame(ws, candles.iloc[:10], key=key)
        await wait_until(lambda: store.get("default", ETH) is not None, timeout=5)
        for key in (KEY, ETH):
            await p.send_frame(ws, candles.iloc[13:], key=key)  # three candles missing

    async def scenario() -> None:
        async with Producer(script).serving() as p, following(p.port, store=store) as client:
            await wait_until(lambda: len(p.requests_of(0)) == 5, timeout=5)
            asked = p.requests_of(0)[3:]
            assert [(r["type"], r["data"]["pair"]) for r in asked] == [
                ("analyzed_df", "BTC/USDT"),
                ("analyzed_df", "ETH/USDT"),
            ]
            assert all(r["data"]["limit"] >= 4 for r in asked)  # the missing ones, the new one
            assert client.status.requests_sent == 2

    with caplog.at_level("INFO", logger="candlecast.messaging.client"):
        asyncio.run(scenario())
    # one line per request, naming the producer and the pair
    asking = [line for line in _lines(caplog, "INFO") if "USDT" in line]
    assert len(asking) == 2
    assert all("default" in line for line in asking)
    assert ["BTC/USDT" in asking[0], "ETH/USDT" in asking[1]] == [True, True]


def test_invalid_messages_are_counted_and_ignored_and_the_connection_stays(
    caplog: pytest.LogCaptureFixture,
):
    store = ProducerStore()

    async def script(p: Producer, ws: ServerConnection, n: int) -> None:
        await initial_requests_sent(p, n)
        await ws.send("not json")
        await ws.send(b"\x00not a binary frame")
        await ws.send(proto.encode_whitelist(["BTC/USDT"]).decode())

    async def scenario() -> None:
        async with Producer(script).serving() as p, following(p.port, store=store) as client:
            await wait_until(lambda: store.pairs("default") == ["BTC/USDT"], timeout=5)
            status = client.status
            assert (status.messages_received, status.invalid_messages) == (3, 2)
            assert (status.state, status.reconnects, len(p.connections)) == ("connected", 0, 1)

    with caplog.at_level("WARNING", logger="candlecast.messaging.client"):
        asyncio.run(scenario())
    # one line per message ignored, naming the producer and what is wrong with it
    errors = []
    for raw, encoding in (
        ("not json", Encoding.BINARY),
        (b"\x00not a binary frame", Encoding.BINARY),
    ):
        with pytest.raises(ProtocolViolation) as refused:
            proto.parse_message(raw, encoding)
        errors.append(str(refused.value))
    lines = _lines(caplog, "WARNING")
    assert len(lines) == 2
    assert all(
        "default" in line and error in line for line, error in zip(lines, errors, strict=True)
    )


def test_a_frame_that_cannot_be_applied_is_counted_and_ignored(caplog: pytest.LogCaptureFixture):
    # a frame whose columns cannot be merged with the stored copy's (a date of another type)
    store = ProducerStore()
    candles = frame(12)
    odd = candles.iloc[10:].assign(date=candles["date"].iloc[10:].astype(str))

    async def script(p: Producer, ws: ServerConnection, n: int) -> None:
        await initial_requests_sent(p, n)
        await p.send_frame(ws, candles.iloc[:10])
        await p.send_frame(ws, odd)
        await p.send_frame(ws, odd)
        await ws.send(proto.encode_whitelist(["BTC/USDT"]).decode())

    async def scenario() -> None:
        async with Producer(script).serving() as p, following(p.port, store=store) as client:
            await wait_until(lambda: store.pairs("default") == ["BTC/USDT"], timeout=5)
            assert client.status.invalid_messages == 2
            assert len(store.get("default", KEY).frame) == 10  # type: ignore[union-attr]

    with caplog.at_level("WARNING", logger="candlecast.messaging.client"):
        asyncio.run(scenario())
    # what the session raised, named in the producer's line
    session = ConsumerSession()
    session.on_open(0.0, Encoding.BINARY)
    session.on_message(proto.AnalyzedDfMessage(KEY, candles.iloc[:10], LA), 0.0)
    with pytest.raises(Exception) as failed:
        session.on_message(proto.AnalyzedDfMessage(KEY, odd, LA), 0.0)
    lines = _lines(caplog, "WARNING")
    assert len(lines) == 2
    named = ("default", type(failed.value).__name__, str(failed.value))
    assert all(part in line for line in lines for part in named)


# ---------------------------------------------------------------------- failures


async def _close_1013(p: Producer, ws: ServerConnection, n: int) -> None:
    await ws.close(1013, "slow consumer")


async def _close_1011(p: Producer, ws: ServerConnection, n: int) -> None:
    await ws.close(1011)


async def _close_1000(p: Producer, ws: ServerConnection, n: int) -> None:
    await ws.close()


async def _vanish(p: Producer, ws: ServerConnection, n: int) -> None:
    ws.transport.abort()


async def _oversized(p: Producer, ws: ServerConnection, n: int) -> None:
    await ws.send("x" * (MIB + 1))


@pytest.mark.parametrize(
    ("script", "error"),
    [
        (_close_1013, "producer default dropped us as a slow consumer"),
        (_close_1011, "connection closed (1011)"),
        (_close_1000, "connection closed (1000)"),
        (_vanish, "connection closed (no close frame)"),
        (_oversized, "message from default exceeds message_size_limit=1 MB"),
    ],
    ids=["slow-consumer", "1011", "1000", "no-close-frame", "oversized"],
)
def test_a_lost_connection_is_reported_with_its_reason(script: Script, error: str):
    async def scenario() -> None:
        async with (
            Producer(script).serving() as p,
            following(p.port, message_size_limit=1) as client,  # retries after 10 s
        ):
            await wait_until(lambda: client.status.last_error is not None, timeout=5)
            status = client.status
            assert (status.last_error, status.state) == (error, "disconnected")
            assert status.connected_since is None

    asyncio.run(scenario())


def test_a_failure_applying_a_message_is_reported_and_the_client_reconnects():
    store = ProducerStore()
    failures: list[str] = []

    def listener(name: str, key: PairKey | None) -> None:
        if not failures:
            failures.append(name)
            raise RuntimeError("the store's listener failed")

    store.add_listener(listener)

    async def script(p: Producer, ws: ServerConnection, n: int) -> None:
        await initial_requests_sent(p, n)
        await ws.send(proto.encode_whitelist(["BTC/USDT"]).decode())

    async def scenario() -> None:
        async with (
            Producer(script).serving() as p,
            following(p.port, store=store, sleep_time=1) as client,
        ):
            await wait_until(lambda: client.status.last_error is not None, timeout=5)
            assert client.status.last_error == "RuntimeError: the store's listener failed"
            await wait_until(lambda: len(p.connections) == 2, timeout=5)
            await wait_until(lambda: client.status.state == "connected", timeout=5)
            assert (client.status.reconnects, client.status.last_error) == (1, None)

    asyncio.run(scenario())


def test_after_each_drop_it_reconnects_and_asks_for_everything_again():
    async def script(p: Producer, ws: ServerConnection, n: int) -> None:
        if n < 2:
            await ws.close(1011)

    async def scenario() -> None:
        async with Producer(script).serving() as p, following(p.port, sleep_time=0) as client:
            await wait_until(lambda: len(p.connections) == 3, timeout=5)
            await initial_requests_sent(p, 2)
            assert p.requests[2] == [orjson.loads(r) for r in proto.initial_requests(1500)]
            status = client.status
            assert (status.state, status.reconnects, status.last_error) == ("connected", 2, None)
            assert status.connected_since is not None

    asyncio.run(scenario())


def _refuse(status: int) -> Callable[[ServerConnection, Any], Any]:
    def process_request(connection: ServerConnection, request: Any) -> Any:
        return connection.respond(status, "no\n")

    return process_request


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"process_request": _refuse(403)}, "producer default refused the ws_token"),
        ({"process_request": _refuse(503)}, "producer default answered HTTP 503"),
        (
            {"select_subprotocol": lambda connection, offered: "chat"},
            "cannot connect to ws://127.0.0.1:{port}/api/v1/message/ws: unsupported subprotocol: chat",
        ),
    ],
    ids=["403", "503", "bad-subprotocol"],
)
def test_a_refused_handshake_is_reported(options: dict[str, Any], error: str):
    async def refused() -> tuple[str | None, str, int]:
        async with Producer().serving(**options) as p, following(p.port) as client:
            await wait_until(lambda: client.status.last_error is not None, timeout=5)
            return client.status.last_error, client.status.state, p.port

    last_error, state, port = asyncio.run(refused())
    assert (last_error, state) == (error.format(port=port), "disconnected")


def test_a_producer_not_listening_is_reported_with_the_systems_reason():
    port = _free_port()

    async def scenario() -> ConnectionStatus:
        async with following(port) as client:
            await wait_until(lambda: client.status.last_error is not None, timeout=5)
            assert client.status.state == "disconnected"  # and retrying (not "failed")
            return client.status

    status = asyncio.run(scenario())
    url = re.escape(f"ws://127.0.0.1:{port}/api/v1/message/ws")
    assert re.fullmatch(rf"cannot connect to {url}: \[Errno \d+\] .+", status.last_error or "")
    assert status.reconnects == 0  # never connected: nothing to reconnect


def test_a_failure_that_repeats_is_logged_as_a_warning_once(caplog: pytest.LogCaptureFixture):
    port = _free_port()

    def lines(level: str) -> list[str]:
        return _lines(caplog, level)

    async def scenario() -> str | None:
        async with following(port, sleep_time=0) as client:  # retries at once, failing alike
            await wait_until(lambda: len(lines("DEBUG")) >= 3, timeout=5)
            return client.status.last_error

    with caplog.at_level("DEBUG", logger="candlecast.messaging.client"):
        error = asyncio.run(scenario())
    [warning] = lines("WARNING")  # the later attempts, failing alike, only at debug level
    assert "default" in warning and error is not None and error in warning
    assert all("default" in line and error in line for line in lines("DEBUG"))


def test_the_first_warning_says_whether_the_producer_was_never_reached_or_lost(
    caplog: pytest.LogCaptureFixture,
):
    # the operator's two messages, as docs/producer-consumer.md documents them
    port = _free_port()

    async def drop_first(p: Producer, ws: ServerConnection, n: int) -> None:
        await initial_requests_sent(p, n)
        await ws.close(1011)

    async def never_reached() -> None:
        async with following(port, sleep_time=7):
            await wait_until(lambda: _lines(caplog, "WARNING"), timeout=5)

    async def lost() -> None:
        async with Producer(drop_first).serving() as p, following(p.port, sleep_time=7):
            await wait_until(lambda: _lines(caplog, "WARNING"), timeout=5)

    with caplog.at_level("WARNING", logger="candlecast.messaging.client"):
        asyncio.run(never_reached())
        [unreached] = _lines(caplog, "WARNING")
        caplog.clear()
        asyncio.run(lost())
        [dropped] = _lines(caplog, "WARNING")
    assert unreached.startswith("Cannot connect to producer default yet: ")
    assert dropped.startswith("Lost producer default: ")
    assert unreached.endswith("; retrying every 7 s") and dropped.endswith("; retrying every 7 s")


@pytest.mark.parametrize(
    ("host", "port", "error"),
    [
        (
            "no such host/with a path",
            8080,
            "invalid URL: host 'no such host/with a path' is not a hostname or IP address",
        ),
        (
            "127.0.0.1",
            70000,
            "invalid URL for host '127.0.0.1' port 70000: Port out of range 0-65535",
        ),
    ],
    ids=["host", "port"],
)
def test_an_invalid_url_stops_following_that_producer(
    host: str, port: int, error: str, caplog: pytest.LogCaptureFixture
):
    # the config refuses both at start-up; here they slip through to the client
    config = ProducerConfig.model_construct(
        name="default", host=host, port=port, ws_token="t", secure=False, ca_file=None
    )
    client = ProducerClient(config, settings(), ProducerStore())

    async def scenario() -> None:
        await asyncio.wait_for(client.run(), timeout=5)  # returns: nothing to retry

    with caplog.at_level("ERROR", logger="candlecast.messaging.client"):
        asyncio.run(scenario())
    assert (client.status.state, client.status.last_error) == ("failed", error)
    [line] = _lines(caplog, "ERROR")
    assert "default" in line and error in line


def test_stopping_closes_the_connection_normally_and_reports_stopped():
    async def scenario() -> tuple[ProducerClient, Producer]:
        async with Producer().serving() as p:
            async with following(p.port) as client:
                await initial_requests_sent(p, 0)
            await wait_until(lambda: p.connections[0].close_code is not None, timeout=5)
            return client, p

    client, p = asyncio.run(scenario())
    assert client.status.state == "stopped"
    assert p.connections[0].close_code == 1000


# ---------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("tls")
    ca_path, ca_cert, ca_key = make_ca(directory, "producer-ca")
    other_ca, _, _ = make_ca(directory, "other-ca")
    cert, key = make_server_cert(directory, ca_cert, ca_key)
    return {"ca": ca_path, "other": other_ca, "cert": cert, "key": key}


@pytest.mark.parametrize(
    ("ca", "error"),
    [
        ("ca", None),
        ("other", "certificate of producer default does not verify: "),
        (None, "certificate of producer default does not verify: "),  # the system's CAs
    ],
    ids=["own-ca", "other-ca", "system-cas"],
)
def test_wss_verifies_the_producers_certificate_with_the_ca_file(
    certificates: dict[str, Path], ca: str | None, error: str | None
):
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(certificates["cert"], certificates["key"])

    async def scenario() -> ConnectionStatus:
        async with Producer().serving(ssl=server_context) as p:
            config = producer(p.port, secure=True, ca_file=str(certificates[ca]) if ca else None)
            async with following(p.port, config=config) as client:
                await wait_until(
                    lambda: client.status.state == "connected" or client.status.last_error,
                    timeout=5,
                )
                return client.status

    status = asyncio.run(scenario())
    if error is None:
        assert (status.state, status.last_error) == ("stopped", None)
        assert status.url.startswith("wss://")
    else:
        assert status.last_error is not None and status.last_error.startswith(error)
        assert len(status.last_error) > len(error)  # the reason OpenSSL gives


# ---------------------------------------------------------------------- keepalive


def test_a_quiet_producer_that_answers_pings_is_kept(caplog: pytest.LogCaptureFixture):
    async def scenario() -> None:
        async with (
            Producer().serving() as p,
            following(p.port, wait_timeout=0.05, ping_timeout=0.5) as client,
        ):
            await initial_requests_sent(p, 0)
            # a second ping goes out only after the first one's pong came back
            await wait_until(lambda: p.connections[0].pings >= 3, timeout=5)
            assert (client.status.state, client.status.last_error) == ("connected", None)
            assert len(p.connections) == 1

    with caplog.at_level("DEBUG", logger="candlecast.messaging.client"):
        asyncio.run(scenario())
    # each pong is logged at debug level, naming the producer and the round trip
    pongs = [
        r
        for r in caplog.records
        if r.name == "candlecast.messaging.client" and r.levelname == "DEBUG"
    ]
    assert len(pongs) >= 2 and all("default" in r.getMessage() for r in pongs)
    round_trips = [r.args[1] for r in pongs if isinstance(r.args, tuple)]
    assert len(round_trips) == len(pongs)
    assert all(isinstance(ms, float) and 0 <= ms < 500 for ms in round_trips)  # under ping_timeout


def test_a_frozen_connection_is_dropped_without_waiting_for_a_closing_handshake():
    wait, pong = 0.1, 0.2

    async def freeze(p: Producer, ws: ServerConnection, n: int) -> None:
        await initial_requests_sent(p, n)
        ws.transport.pause_reading()  # nothing read: no pong, no closing handshake
        await ws.wait_closed()

    async def scenario() -> tuple[float, ConnectionStatus]:
        async with (
            Producer(freeze).serving() as p,
            following(p.port, wait_timeout=wait, ping_timeout=pong) as client,
        ):
            await initial_requests_sent(p, 0)
            # connected_since is cleared once the connection is closed
            await wait_until(lambda: client.status.connected_since is None, timeout=5)
            return time.monotonic() - p.opened_at[0], client.status

    took, status = asyncio.run(scenario())
    assert status.last_error == "no message for 0.1 s and no pong within 0.2 s"
    assert wait + pong <= took < wait + pong + 2  # 2 s: the closing handshake's timeout
