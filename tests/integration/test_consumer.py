"""A consumer following real candlecast producers on 127.0.0.1 port 0."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve

from candlecast.messaging import protocol as proto
from candlecast.testing import make_ohlcv, wait_until
from tests.integration.harness import (
    PAIRS,
    PASSWORD,
    USER,
    CraftedSignals,
    advance,
    assert_copy_equals_producer,
    consumer_config,
    copies_match,
    make_bot,
    new_clock,
    opened,
    producer_config,
    running,
)

pytestmark = pytest.mark.anyio


def client(bot, name: str = "default"):
    return next(c for c in bot.clients if c.name == name)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
async def test_copies_equal_the_producers_after_sync_and_streaming(tmp_path: Path, binary: bool):
    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), "ProducerStrategy", clock)) as producer:
        raw = consumer_config(
            tmp_path, {"default": producer.api_port}, external_message_consumer={"binary": binary}
        )
        async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
            await wait_until(
                lambda: copies_match(consumer, producer, PAIRS, exact=binary), timeout=10
            )
            assert client(consumer).status.encoding == ("binary" if binary else "json")
            assert consumer.dp.get_producer_pairs() == PAIRS
            for _ in range(5):
                await advance(producer, clock)
            await wait_until(
                lambda: copies_match(consumer, producer, PAIRS, exact=binary), timeout=10
            )
            assert_copy_equals_producer(consumer, producer, PAIRS, exact=binary)
            # 5 live updates per pair were appended, not re-requested
            assert client(consumer).status.requests_sent == 0


async def test_producer_restart_on_the_same_port_resyncs(tmp_path: Path):
    clock = new_clock()
    first = make_bot(producer_config(tmp_path), "ProducerStrategy", clock)
    async with opened(first) as producer:
        port = producer.api_port
        raw = consumer_config(tmp_path, {"default": port})
        consumer_bot = make_bot(raw, "ConsumerStrategy", clock)
        async with running(consumer_bot) as consumer:
            await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)
            await producer.close()
            await wait_until(lambda: client(consumer).status.state != "connected", timeout=5)
            clock.advance(180)  # three candles pass while the producer is down
            restarted = make_bot(
                producer_config(tmp_path, api_server={"listen_port": port}),
                "ProducerStrategy",
                clock,
            )
            async with opened(restarted) as producer2:
                await wait_until(lambda: client(consumer).status.state == "connected", timeout=5)
                await advance(producer2, clock)
                await wait_until(lambda: copies_match(consumer, producer2, PAIRS), timeout=10)
                assert client(consumer).status.reconnects == 1


async def test_wrong_token_is_reported_and_nothing_is_stored(tmp_path: Path):
    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), "ProducerStrategy", clock)) as producer:
        raw = consumer_config(tmp_path, {"default": producer.api_port})
        raw["external_message_consumer"]["producers"][0]["ws_token"] = "not-the-token"
        async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
            await wait_until(lambda: client(consumer).status.last_error is not None, timeout=5)
            assert client(consumer).status.last_error == "producer default refused the ws_token"
            assert consumer.producer_store.keys("default") == []


async def test_oversized_message_is_reported_and_the_client_reconnects(tmp_path: Path):
    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), "ProducerStrategy", clock)) as producer:
        raw = consumer_config(
            tmp_path,
            {"default": producer.api_port},
            external_message_consumer={"message_size_limit": 1, "binary": False},
        )
        async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
            # a 1500-candle JSON frame with these columns is ~300 KB: fine under 1 MB
            await wait_until(
                lambda: copies_match(consumer, producer, PAIRS, exact=False), timeout=10
            )
            # now make the producer's frames larger than 1 MB
            big = producer.dp.get_analyzed_dataframe("BTC/USDT")[0]
            for i in range(40):
                big[f"extra_{i}"] = big["close"] * (1 + i / 1000)
            producer.dp.set_analyzed("BTC/USDT", big, clock.now())
            for msg in producer.hub.build_analyzed(
                ("BTC/USDT", "1m", "spot"), big, clock.now(), False
            ):
                producer.hub.publish(msg)
            await wait_until(
                lambda: "exceeds" in (client(consumer).status.last_error or ""), timeout=10
            )
            assert (
                client(consumer).status.last_error
                == "message from default exceeds message_size_limit=1 MB"
            )
            await wait_until(lambda: client(consumer).status.reconnects >= 1, timeout=10)


async def test_a_gap_is_filled_exactly_once(tmp_path: Path):
    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), "ProducerStrategy", clock)) as producer:
        raw = consumer_config(tmp_path, {"default": producer.api_port})
        async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
            await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)
            hub = producer.hub
            original = hub.publish_threadsafe
            hub.publish_threadsafe = lambda message: None  # two candles are never broadcast
            await advance(producer, clock, 2)
            hub.publish_threadsafe = original
            await advance(producer, clock)  # this one arrives after a 2-candle hole
            await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)
            assert client(consumer).status.requests_sent == len(PAIRS)  # one re-request per pair
            await advance(producer, clock, 2)
            await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)
            assert client(consumer).status.requests_sent == len(PAIRS)


async def test_a_young_producer_with_50_candles_seeds_the_consumer(tmp_path: Path):
    clock = new_clock()
    producer_bot = make_bot(producer_config(tmp_path), "ProducerStrategy", clock)
    producer_bot._history = 50  # a new listing: only 50 candles exist
    async with opened(producer_bot) as producer:
        assert len(producer.dp.get_analyzed_dataframe("BTC/USDT")[0]) == 50
        raw = consumer_config(tmp_path, {"default": producer.api_port})
        async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
            await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)
            await advance(producer, clock)
            await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)
            assert client(consumer).status.requests_sent == 0  # no request loop


async def test_two_producers_with_different_names(tmp_path: Path):
    clock = new_clock()
    other_pairs = ["XRP/USDT", "ADA/USDT"]
    raw_b = producer_config(tmp_path, name="other", exchange={"pair_whitelist": other_pairs})
    async with (
        opened(make_bot(producer_config(tmp_path), "ProducerStrategy", clock)) as a,
        opened(make_bot(raw_b, "ProducerStrategy", clock)) as b,
    ):
        raw = consumer_config(tmp_path, {"default": a.api_port, "other": b.api_port})
        async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
            await wait_until(
                lambda: (
                    copies_match(consumer, a, PAIRS)
                    and copies_match(consumer, b, other_pairs, "other")
                ),
                timeout=10,
            )
            assert consumer.dp.get_producer_pairs("other") == other_pairs
            assert consumer.dp.get_producer_df("XRP/USDT")[0].empty  # not from "default"
            assert not consumer.dp.get_producer_df("XRP/USDT", producer_name="other")[0].empty


async def test_producer_pairlist_follows_the_producer(tmp_path: Path):
    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), "ProducerStrategy", clock)) as producer:
        raw = consumer_config(
            tmp_path,
            {"default": producer.api_port},
            exchange={"pair_whitelist": ["DOT/USDT", "ETH/USDT"]},
            pairlists=[
                {"method": "StaticPairList"},
                {"method": "ProducerPairList", "number_assets": 3},
            ],
        )
        async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
            await wait_until(lambda: consumer.dp.get_producer_pairs() == PAIRS, timeout=10)
            await consumer.cycle()
            # static pairs first, then producer pairs de-duplicated; as in freqtrade,
            # number_assets caps the whole list (the static pairs count)
            assert consumer.whitelist == ["DOT/USDT", "ETH/USDT", "BTC/USDT"]


async def test_the_seed_consumer_strategy_trades_on_producer_signals(tmp_path: Path):
    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), CraftedSignals(), clock)) as producer:
        raw = consumer_config(tmp_path, {"default": producer.api_port})
        async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
            await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)
            for _ in range(2):  # one of two consecutive candles carries the crossing
                await advance(producer, clock)
            await wait_until(lambda: consumer.repository.count(is_open=True) >= 1, timeout=10)
            trades = consumer.repository.open_trades()
            assert {t.pair for t in trades} <= set(PAIRS)
            assert all(t.strategy == "ConsumerStrategy" for t in trades)
            # the consumer's own analyzed frame carries the producer's columns
            frame = consumer.dp.get_analyzed_dataframe(trades[0].pair)[0]
            assert {"rsi_default", "tema_default", "bb_middleband_default"} <= set(frame.columns)
            # and its API reports the producer connection
            async with httpx.AsyncClient() as http:
                status = (
                    await http.get(
                        f"http://127.0.0.1:{consumer.api_port}/api/v1/producers",
                        auth=(USER, PASSWORD),
                    )
                ).json()
            assert status[0]["name"] == "default" and status[0]["state"] == "connected"
            assert status[0]["pairs"] == PAIRS and status[0]["messages_received"] > len(PAIRS)


async def test_remove_entry_exit_signals_zeroes_producer_signals(tmp_path: Path):
    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), CraftedSignals(), clock)) as producer:
        raw = consumer_config(
            tmp_path,
            {"default": producer.api_port},
            external_message_consumer={"remove_entry_exit_signals": True},
        )
        async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
            await wait_until(
                lambda: all(not consumer.dp.get_producer_df(p)[0].empty for p in PAIRS), timeout=10
            )
            assert producer.dp.get_analyzed_dataframe("BTC/USDT")[0]["enter_long"].sum() > 0
            for pair in PAIRS:
                assert consumer.dp.get_producer_df(pair)[0]["enter_long"].eq(0).all()


async def run_listen(port: int, token: str, *options: str) -> tuple[int, bytes, bytes]:
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "candlecast.cli",
        "listen",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--token",
        token,
        *options,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out, err


async def test_listen_prints_what_the_producer_sends(tmp_path: Path):
    import json

    from tests.integration.harness import TOKEN

    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), "ProducerStrategy", clock)) as producer:
        code, out, _ = await run_listen(producer.api_port, TOKEN, "--seconds", "3", "--json")
        assert code == 0
        doc = json.loads(out)
        assert doc["producer_pairs"] == PAIRS
        frame = producer.dp.get_analyzed_dataframe("BTC/USDT")[0]
        btc = doc["frames"]["BTC/USDT|1m|spot"]
        assert btc["rows"] == len(frame) and btc["columns"] == list(frame.columns)
        assert btc["last"] == frame["date"].iloc[-1].isoformat()

        code, _, err = await run_listen(producer.api_port, "wrong", "--seconds", "2")
        assert code == 1
        assert b"refused the ws_token" in err


class FailsOnEth(CraftedSignals):
    def populate_indicators(self, dataframe, metadata):
        if metadata["pair"] == "ETH/USDT":
            raise KeyError("no such column")
        return super().populate_indicators(dataframe, metadata)


async def test_a_strategy_error_skips_only_that_pair(tmp_path: Path):
    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), FailsOnEth(), clock)) as producer:
        assert producer.stats.strategy_errors == 1
        await advance(producer, clock)
        assert producer.stats.strategy_errors == 2  # tried again next cycle, still failing
        assert producer.dp.get_analyzed_dataframe("ETH/USDT")[0].empty
        for pair in ("BTC/USDT", "SOL/USDT"):  # the others are analyzed and served
            assert (
                producer.dp.get_analyzed_dataframe(pair)[0]["date"].iloc[-1]
                == producer.dp.ohlcv(pair)["date"].iloc[-1]
            )


async def test_a_malformed_producer_url_stops_only_that_producer(tmp_path: Path):
    from candlecast.config.models import ProducerConfig
    from candlecast.messaging.client import ProducerClient

    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), "ProducerStrategy", clock)) as producer:
        raw = consumer_config(tmp_path, {"default": producer.api_port})
        async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
            # the config refuses such a host at start-up; here it slips through to the client
            bad = ProducerConfig.model_construct(
                name="broken",
                host="no such host/with a path",
                port=8080,
                ws_token="t0ken",
                secure=False,
                ca_file=None,
            )
            broken = ProducerClient(
                bad, consumer.config.external_message_consumer, consumer.producer_store
            )
            await asyncio.wait_for(broken.run(), timeout=10)  # returns: that producer's task ends
            assert broken.status.state == "failed"
            assert "invalid URL" in (broken.status.last_error or "")
            await wait_until(
                lambda: copies_match(consumer, producer, PAIRS), timeout=10
            )  # the other one works
            await advance(producer, clock)
            await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)


class ScriptedProducer:
    """A bare websocket server speaking the producer's side of the protocol as a test says,
    recording every request a consumer sends (nothing of candlecast's producer involved)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.connected = asyncio.Event()
        self.ws: ServerConnection | None = None

    async def handler(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.connected.set()
        async for raw in ws:
            self.requests.append(orjson.loads(raw))

    def analyzed_df_requests(self, pair: str | None) -> list[dict]:
        return [
            r for r in self.requests if r["type"] == "analyzed_df" and r["data"]["pair"] == pair
        ]


async def test_several_gapped_updates_before_the_answer_send_one_request_per_pair(tmp_path: Path):
    # The producer keeps sending updates after a hole while the consumer's request is
    # unanswered; the consumer must not ask again for each of them (a request storm).
    history = make_ohlcv(300, "1m")
    history["enter_long"] = 0
    la = datetime(2026, 6, 1, 12, tzinfo=UTC)
    fake = ScriptedProducer()

    def frame_msg(pair: str, rows: slice) -> str:
        return proto.encode_analyzed_df_json((pair, "1m", "spot"), history.iloc[rows], la).decode()

    async with serve(fake.handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        raw = consumer_config(
            tmp_path, {"default": port}, external_message_consumer={"binary": False}
        )
        async with running(make_bot(raw, "ConsumerStrategy", new_clock())) as consumer:
            await asyncio.wait_for(fake.connected.wait(), 10)
            assert fake.ws is not None
            await wait_until(lambda: len(fake.requests) == 3, timeout=10)  # the initial three
            await fake.ws.send(proto.encode_whitelist(["BTC/USDT", "ETH/USDT"]).decode())
            for pair in ("BTC/USDT", "ETH/USDT"):  # seed: 200 candles each (0..199)
                await fake.ws.send(frame_msg(pair, slice(0, 200)))
            await wait_until(
                lambda: all(
                    len(consumer.dp.get_producer_df(p)[0]) == 200 for p in ("BTC/USDT", "ETH/USDT")
                ),
                timeout=10,
            )
            for n in range(205, 210):  # five updates after a hole, none answered
                await fake.ws.send(frame_msg("BTC/USDT", slice(n, n + 1)))
            # then one gapped ETH update: its request comes after any BTC request
            await fake.ws.send(frame_msg("ETH/USDT", slice(205, 206)))
            await wait_until(lambda: fake.analyzed_df_requests("ETH/USDT"), timeout=10)
            btc = fake.analyzed_df_requests("BTC/USDT")
            assert btc == [{"type": "analyzed_df", "data": {"limit": 7, "pair": "BTC/USDT"}}]
            assert len(fake.analyzed_df_requests("ETH/USDT")) == 1
            assert len(consumer.dp.get_producer_df("BTC/USDT")[0]) == 200  # no hole merged
