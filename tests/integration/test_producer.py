"""The producer's message websocket and REST API, on a real uvicorn on 127.0.0.1 port 0."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx
import orjson
import pandas as pd
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from candlecast.api.server import bind_socket
from candlecast.exceptions import PortInUseError
from candlecast.messaging import protocol as proto
from candlecast.messaging.codec_binary import SUBPROTOCOL
from candlecast.messaging.codec_json import reference_decode
from candlecast.messaging.protocol import Encoding
from candlecast.testing import stalled_websocket, wait_until
from tests.claims import count
from tests.integration.harness import (
    PAIRS,
    PASSWORD,
    TOKEN,
    USER,
    advance,
    captured_logs,
    make_bot,
    new_clock,
    opened,
    producer_config,
    producer_frame,
    ws_url,
)

pytestmark = pytest.mark.anyio


async def recv_json(ws, timeout: float = 5.0) -> dict:
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


async def subscribed(bot, n: int) -> None:
    """Wait until the producer has applied ``n`` consumers' subscriptions."""
    await wait_until(lambda: sum(1 for c in bot.hub.channels if c.subscriptions) >= n, timeout=10)


async def test_tokens_from_query_or_header_string_or_list(tmp_path: Path):
    clock = new_clock()
    raw = producer_config(tmp_path, api_server={"ws_token": ["first-token-aaaa", TOKEN]})
    async with opened(make_bot(raw, "ProducerStrategy", clock)) as bot:
        for url, headers in [
            (ws_url(bot, TOKEN), None),
            (ws_url(bot, "first-token-aaaa"), None),
            (ws_url(bot, None), {"Authorization": f"Bearer {TOKEN}"}),
        ]:
            async with connect(url, additional_headers=headers) as ws:
                await ws.send('{"type":"whitelist"}')
                assert (await recv_json(ws)) == {"type": "whitelist", "data": PAIRS}


@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN[:-1], TOKEN + "x", TOKEN.upper()])
async def test_wrong_or_missing_token_is_refused_with_403(tmp_path: Path, token: str | None):
    async with opened(make_bot(producer_config(tmp_path), "ProducerStrategy", new_clock())) as bot:
        with pytest.raises(InvalidStatus) as info:
            async with connect(ws_url(bot, token)):
                pass
        assert info.value.response.status_code == 403
        assert not bot.hub.channels


async def test_requests_and_replies(tmp_path: Path):
    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), "ProducerStrategy", clock)) as bot:
        async with connect(ws_url(bot)) as ws:
            await ws.send('{"type":"analyzed_df","data":{"limit":2,"pair":"ETH/USDT"}}')
            reply = await recv_json(ws)
            assert reply["data"]["key"] == ["ETH/USDT", "1m", "spot"]
            frame = reference_decode(reply["data"]["df"]["__value__"])
            assert len(frame) == 2
            # every pair of the whitelist, capped at 1500 candles
            await ws.send('{"type":"analyzed_df","data":{"limit":99999,"pair":null}}')
            keys = []
            for _ in PAIRS:
                msg = await recv_json(ws)
                keys.append(msg["data"]["key"][0])
                assert len(reference_decode(msg["data"]["df"]["__value__"])) == 1500
            assert keys == PAIRS
            # an invalid request gets an exception message; the connection stays open
            await ws.send('{"type":"foo","data":null}')
            assert await recv_json(ws) == {"type": "exception", "data": "Invalid request type: foo"}
            await ws.send("not json at all")
            assert (await recv_json(ws))["type"] == "exception"
            await ws.send('{"type":"whitelist"}')
            assert (await recv_json(ws))["data"] == PAIRS


async def test_frames_decoded_by_pandas_equal_the_producers(tmp_path: Path):
    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), "ProducerStrategy", clock)) as bot:
        async with connect(ws_url(bot)) as ws:
            await ws.send('{"type":"analyzed_df","data":{}}')
            for _ in PAIRS:
                msg = await recv_json(ws)
                pair = msg["data"]["key"][0]
                decoded = reference_decode(msg["data"]["df"]["__value__"])
                ours = producer_frame(bot, pair)
                assert len(decoded) == len(ours)
                pd.testing.assert_frame_equal(
                    decoded,
                    ours,
                    check_exact=False,
                    rtol=1e-9,
                    atol=1e-10,
                    check_index_type="equiv",
                )


async def test_broadcasts_follow_subscriptions(tmp_path: Path):
    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), "ProducerStrategy", clock)) as bot:
        async with connect(ws_url(bot)) as all_types, connect(ws_url(bot)) as only_whitelist:
            await all_types.send(
                '{"type":"subscribe","data":["whitelist","analyzed_df","new_candle"]}'
            )
            await only_whitelist.send('{"type":"subscribe","data":["whitelist"]}')
            await subscribed(bot, 2)
            await advance(bot, clock)
            received = [await recv_json(all_types) for _ in range(2 * len(PAIRS))]
            assert [m["type"] for m in received] == ["analyzed_df", "new_candle"] * len(PAIRS)
            for msg in received[::2]:
                frame = reference_decode(msg["data"]["df"]["__value__"])
                pair = msg["data"]["key"][0]
                assert len(frame) == 1  # broadcasts carry the newest candle only
                assert frame["date"].iloc[0] == producer_frame(bot, pair)["date"].iloc[-1]
            # a whitelist change reaches both; the whitelist-only channel got nothing else
            bot.pairlists.handlers[0].pairs.append("ADA/USDT")
            await bot.cycle()
            assert await recv_json(only_whitelist) == {
                "type": "whitelist",
                "data": [*PAIRS, "ADA/USDT"],
            }
            # the all-types channel: the new whitelist, then the new pair's first analysis
            # (its full frame) and its new_candle; the old pairs had no new candle
            got = [await recv_json(all_types) for _ in range(3)]
            assert got[0] == {"type": "whitelist", "data": [*PAIRS, "ADA/USDT"]}
            assert got[1]["type"] == "analyzed_df" and got[1]["data"]["key"][0] == "ADA/USDT"
            assert got[2] == {"type": "new_candle", "data": ["ADA/USDT", "1m", "spot"]}
            ada = reference_decode(got[1]["data"]["df"]["__value__"])
            assert len(ada) == len(producer_frame(bot, "ADA/USDT"))
            # nothing else was queued for either channel: the next message is a reply
            for ws in (only_whitelist, all_types):
                await ws.send('{"type":"whitelist"}')
                assert (await recv_json(ws))["type"] == "whitelist"


async def test_binary_subprotocol_is_negotiated_only_when_offered(tmp_path: Path):
    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), "ProducerStrategy", clock)) as bot:
        async with connect(ws_url(bot), subprotocols=[SUBPROTOCOL]) as ws:
            assert ws.subprotocol == SUBPROTOCOL
            await ws.send('{"type":"analyzed_df","data":{"limit":5,"pair":"BTC/USDT"}}')
            data = await asyncio.wait_for(ws.recv(), 5)
            assert isinstance(data, bytes) and data.startswith(b"CCB1")
        async with connect(ws_url(bot)) as ws:
            assert ws.subprotocol is None
            await ws.send('{"type":"analyzed_df","data":{"limit":5,"pair":"BTC/USDT"}}')
            assert isinstance(await asyncio.wait_for(ws.recv(), 5), str)


async def test_encoded_once_however_many_subscribers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from candlecast.messaging import protocol

    calls = {"json": 0}
    original = protocol.ANALYZED_DF_ENCODERS[Encoding.JSON]

    def counting(*args, **kwargs):
        calls["json"] += 1
        return original(*args, **kwargs)

    monkeypatch.setitem(protocol.ANALYZED_DF_ENCODERS, Encoding.JSON, counting)
    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), "ProducerStrategy", clock)) as bot:
        clients = [await connect(ws_url(bot)) for _ in range(5)]
        try:
            for ws in clients:
                await ws.send('{"type":"subscribe","data":["analyzed_df"]}')
            await subscribed(bot, len(clients))
            await advance(bot, clock)
            for ws in clients:
                for _ in PAIRS:
                    assert (await recv_json(ws))["type"] == "analyzed_df"
            assert calls["json"] == len(PAIRS)  # one encoding per pair, not per subscriber
        finally:
            for ws in clients:
                await ws.close()


CONSUMERS = 50


async def test_stalled_consumer_among_50_is_dropped_while_the_others_keep_receiving(
    tmp_path: Path,
):
    clock = new_clock()
    raw = producer_config(
        tmp_path, api_server={"ws_max_queue_bytes": 1_000_000, "ws_send_timeout": 60}
    )
    async with opened(make_bot(raw, "ProducerStrategy", clock)) as bot:
        # One stalled consumer (handshake, subscription, then it never reads) among 50.
        stalled = await asyncio.to_thread(stalled_websocket, bot.api_port, TOKEN)
        healthy = [await connect(ws_url(bot), max_queue=None) for _ in range(CONSUMERS - 1)]
        received = [0] * len(healthy)

        async def read(i: int) -> None:
            async for _ in healthy[i]:
                received[i] += 1

        readers = [asyncio.create_task(read(i)) for i in range(len(healthy))]
        try:
            for ws in healthy:
                await ws.send('{"type":"subscribe","data":["analyzed_df"]}')
            await subscribed(bot, CONSUMERS)
            count("stalled-consumer test: consumers connected", len(bot.hub.channels))
            port = stalled.getsockname()[1]
            channel = next(c for c in bot.hub.channels if c.peer.endswith(f":{port}"))
            frame = producer_frame(bot, "BTC/USDT")  # 1500 candles: ~400 kB of JSON
            rounds, backlog, slowest = 0, 0, 0.0
            while channel in bot.hub.channels:
                assert rounds < 60, "the stalled consumer was never dropped"
                backlog = max(backlog, channel.queue_depth)
                for msg in bot.hub.build_analyzed(
                    ("BTC/USDT", "1m", "spot"), frame, clock.now(), False
                ):
                    bot.hub.publish(msg)
                rounds += 1
                started = time.monotonic()
                # every healthy consumer gets every broadcast, whatever the stalled one's
                # backlog (bound: 10 s on a loaded 2-core machine; the run prints the slowest)
                await wait_until(lambda r=rounds: min(received) == r, timeout=10)
                slowest = max(slowest, time.monotonic() - started)
            assert backlog >= 2, "the stalled consumer never held a backlog"
            assert channel.close_reason is not None and "bytes queued" in channel.close_reason
            # (its close code, 1013, is checked in tests/unit/test_hub_policy.py)
            assert len(bot.hub.channels) == CONSUMERS - 1
            print(f"dropped after {rounds} broadcasts; slowest delivery to 49: {slowest:.2f} s")
            count(
                "stalled-consumer test: slowest delivery to the 49 others (ms)", int(slowest * 1000)
            )
            # the others still get everything
            await advance(bot, clock)
            await wait_until(lambda: min(received) == rounds + len(PAIRS), timeout=10)
        finally:
            stalled.close()
            for task in readers:
                task.cancel()
            for ws in healthy:
                await ws.close()


async def test_the_first_broadcast_after_a_start_carries_the_full_frame(tmp_path: Path):
    # A restarted producer's history may differ from what consumers kept from its previous
    # run: its first broadcast of each pair replaces their copy instead of appending to it.
    clock = new_clock()
    producer = make_bot(producer_config(tmp_path), "ProducerStrategy", clock)
    async with opened(producer, first_cycle=False) as bot:
        async with connect(ws_url(bot), subprotocols=[SUBPROTOCOL]) as ws:
            await ws.send('{"type":"subscribe","data":["analyzed_df"]}')
            await subscribed(bot, 1)
            await bot.cycle()  # the first analysis since the start
            for _ in PAIRS:
                msg = proto.parse_message(await asyncio.wait_for(ws.recv(), 5), Encoding.BINARY)
                assert isinstance(msg, proto.AnalyzedDfMessage)
                ours = producer_frame(bot, msg.key[0])
                assert len(ours) >= 100  # a full frame, which replaces a consumer's copy
                pd.testing.assert_frame_equal(msg.frame, ours, check_index_type="equiv")
            await advance(bot, clock)  # later broadcasts carry the new candle only
            for _ in PAIRS:
                msg = proto.parse_message(await asyncio.wait_for(ws.recv(), 5), Encoding.BINARY)
                assert isinstance(msg, proto.AnalyzedDfMessage)
                assert len(msg.frame) == 1


def test_port_in_use_is_a_clear_error():
    holder = bind_socket("127.0.0.1", 0)
    port = holder.getsockname()[1]
    try:
        with pytest.raises(PortInUseError, match=f"127.0.0.1:{port} is already in use"):
            bind_socket("127.0.0.1", port)
    finally:
        holder.close()


async def test_rest_api_requires_auth_and_serves_data(tmp_path: Path):
    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), "ProducerStrategy", clock)) as bot:
        base = f"http://127.0.0.1:{bot.api_port}/api/v1"
        async with httpx.AsyncClient(timeout=10) as http:
            assert (await http.get(f"{base}/ping")).json() == {"status": "pong"}
            for path in (
                "status",
                "trades",
                "whitelist",
                "show_config",
                "message/clients",
                "producers",
                "pair_candles?pair=BTC/USDT",
            ):
                assert (await http.get(f"{base}/{path}")).status_code == 401, path
            assert (await http.get(f"{base}/status", auth=(USER, "wrong"))).status_code == 401
            auth = (USER, PASSWORD)
            assert (await http.get(f"{base}/whitelist", auth=auth)).json()["whitelist"] == PAIRS
            candles = (
                await http.get(
                    f"{base}/pair_candles",
                    params={"pair": "ETH/USDT", "limit": 10, "format": "candlecast"},
                    auth=auth,
                )
            ).json()
            frame = producer_frame(bot, "ETH/USDT").tail(10)
            assert candles["columns"] == list(frame.columns)
            assert [row[frame.columns.get_loc("close")] for row in candles["data"]] == frame[
                "close"
            ].tolist()
            config = (
                await http.get(f"{base}/show_config", params={"format": "candlecast"}, auth=auth)
            ).json()
            assert (
                config["api_server"]["ws_token"] == ["***"]
                and config["api_server"]["password"] == "***"
            )
            # the values the bot runs with: unset keys filled from the strategy
            assert config["stoploss"] == bot.strategy.stoploss
            assert config["minimal_roi"] == {str(k): v for k, v in bot.strategy.minimal_roi.items()}
            freqtrade_shape = (await http.get(f"{base}/show_config", auth=auth)).json()
            assert freqtrade_shape["order_types"] == {
                "entry": "limit",
                "exit": "limit",
                "emergency_exit": "market",
                "force_entry": "limit",
                "force_exit": "limit",
                "stoploss": "limit",
                "stoploss_on_exchange": False,
                "stoploss_on_exchange_interval": 60,
            }
            login = await http.post(f"{base}/token/login", auth=auth)
            token = login.json()["access_token"]
            bearer = {"Authorization": f"Bearer {token}"}
            assert (await http.get(f"{base}/trades", headers=bearer)).status_code == 200
            assert (
                await http.get(f"{base}/trades", headers={"Authorization": "Bearer x.y.z"})
            ).status_code == 401
            async with connect(ws_url(bot)) as ws:
                await ws.send('{"type":"subscribe","data":["analyzed_df"]}')
                await ws.send('{"type":"whitelist"}')
                await recv_json(ws)
                clients = (await http.get(f"{base}/message/clients", auth=auth)).json()
                assert len(clients) == 1
                assert clients[0]["subscriptions"] == ["analyzed_df"]
                assert clients[0]["messages_sent"] == 1 and clients[0]["bytes_sent"] > 0


async def test_tokens_never_reach_the_logs(tmp_path: Path):
    clock = new_clock()
    # a bot without the access log first, in the same process: uvicorn switches the
    # access log off process-wide for it, and the next bot must switch it back on
    quiet = producer_config(tmp_path / "quiet", api_server={"verbosity": "error"})
    async with opened(make_bot(quiet, "ProducerStrategy", clock)):
        pass
    with captured_logs() as logs:
        raw = producer_config(tmp_path, api_server={"verbosity": "info"})
        async with opened(make_bot(raw, "ProducerStrategy", clock)) as bot:
            async with connect(ws_url(bot)) as ws:
                await ws.send('{"type":"whitelist"}')
                await recv_json(ws)
            wrong = "wrong-token-that-must-not-be-logged"
            with pytest.raises(InvalidStatus) as refused:
                async with connect(ws_url(bot, wrong)):
                    pass
            assert refused.value.response.status_code == 403
            # the first connection's channel goes when the server sees the close; the
            # refused one never had a channel
            await wait_until(lambda: len(bot.hub.channels) == 0, 10)
            async with httpx.AsyncClient() as http:
                ping = f"http://127.0.0.1:{bot.api_port}/api/v1/ping?token={TOKEN}"
                assert (await http.get(ping)).status_code == 200
                status = f"http://127.0.0.1:{bot.api_port}/api/v1/status?password={PASSWORD}"
                assert (await http.get(status)).status_code == 401
    text = logs.getvalue()
    # uvicorn's access log and the refusal were logged (lines exist to leak from; the
    # access log's request line, not httpx's own "HTTP Request: GET http://..." line)...
    assert '"GET /api/v1/ping?token=' in text and "/api/v1/message/ws" in text
    # ...without any token or password
    assert TOKEN not in text and wrong not in text and PASSWORD not in text


async def test_deflate_broadcasts_are_compressed_once_for_all_subscribers(tmp_path: Path):
    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), "ProducerStrategy", clock)) as bot:
        assert bot.api_server is not None
        shared = bot.api_server.deflate_cache  # one cache per server, shared by its connections
        clients = [await connect(ws_url(bot), compression="deflate") for _ in range(4)]
        try:
            extensions = clients[0].response.headers["Sec-WebSocket-Extensions"]
            assert "permessage-deflate" in extensions and "server_no_context_takeover" in extensions
            for ws in clients:
                await ws.send('{"type":"subscribe","data":["analyzed_df"]}')
            await subscribed(bot, len(clients))
            frame = producer_frame(
                bot, "BTC/USDT"
            )  # ~1500 candles: well above the sharing threshold
            hits, misses = shared.hits, shared.misses
            for msg in bot.hub.build_analyzed(
                ("BTC/USDT", "1m", "spot"), frame, clock.now(), False
            ):
                bot.hub.publish(msg)
            texts = [await asyncio.wait_for(ws.recv(), 5) for ws in clients]
            assert len(set(texts)) == 1  # every subscriber got the same, intact message
            decoded = reference_decode(orjson.loads(texts[0])["data"]["df"]["__value__"])
            assert len(decoded) == len(frame)
            # four subscribers, no compression on the event loop: the full frame was
            # compressed once, in the thread that encoded it, and every send reused it
            assert shared.hits - hits == 4
            assert shared.misses - misses == 0
        finally:
            for ws in clients:
                await ws.close()


async def test_accepted_connections_send_without_nagle_delay():
    # Small broadcasts must not wait for the consumer's delayed ACK (~40 ms): the listening
    # socket is created so that asyncio sets TCP_NODELAY on every accepted connection.
    sock = bind_socket("127.0.0.1", 0)
    nodelay: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nodelay.set_result(
            writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        )
        writer.close()

    server = await asyncio.start_server(handler, sock=sock)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
        assert await asyncio.wait_for(nodelay, 5) != 0
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
