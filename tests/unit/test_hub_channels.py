"""The producer's hub, channel by channel: what a channel reports, what it sends and when,
how replies are encoded and shared, and what reaches the hub from other threads.

The slow-consumer limits are in ``test_hub_policy.py``, subscriptions in
``test_subscribe.py``, the encodings in ``test_encodings.py``. Everything here is the
real hub; the sockets record what they are sent (or never finish sending).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pandas as pd
import pytest

from candlecast.clock import FixedClock
from candlecast.domain.analyzed import PairKey
from candlecast.domain.enums import CandleType
from candlecast.messaging import protocol as proto
from candlecast.messaging.hub import Channel, ChannelPolicy, MessageHub, Outgoing, _ReplyCache
from candlecast.messaging.protocol import Encoding, MessageType
from candlecast.testing import make_ohlcv, wait_until
from tests.hub_fakes import RecordingSocket
from tests.unit.test_hub_policy import StoppedReading

BTC = PairKey("BTC/USDT", "5m", CandleType.SPOT)
ETH = PairKey("ETH/USDT", "5m", CandleType.SPOT)
LA = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 1, 5, 12, 3, 7, tzinfo=UTC)


class _Source:
    """Two analyzed pairs; any other pair was never analyzed."""

    timeframe = "5m"
    candle_type = CandleType.SPOT

    def __init__(self, rows: int = 30) -> None:
        self.frames = {BTC: make_ohlcv(rows, seed=1), ETH: make_ohlcv(rows, seed=2)}

    def current_whitelist(self) -> list[str]:
        return [BTC.pair, ETH.pair]

    def analyzed_entry(self, key: PairKey) -> tuple[pd.DataFrame, datetime] | None:
        frame = self.frames.get(key)
        return None if frame is None else (frame, LA)


def hub_of(source: _Source | None = None, **limits: Any) -> MessageHub:
    policy = replace(ChannelPolicy.from_config(), **limits)
    return MessageHub(source or _Source(), policy, FixedClock(NOW))


def subscribe(channel: Channel, *types: str) -> None:
    channel.handle_request(orjson.dumps({"type": "subscribe", "data": list(types)}))


def sent(channel: Channel) -> list[str | bytes]:
    socket = channel.ws
    assert isinstance(socket, RecordingSocket)
    return socket.sent


async def flushed(*channels: Channel) -> None:
    await wait_until(lambda: not any(c.queue_depth for c in channels), timeout=5)


def analyzed(raw: str | bytes, encoding: Encoding = Encoding.JSON) -> proto.AnalyzedDfMessage:
    message = proto.parse_message(raw, encoding)
    assert isinstance(message, proto.AnalyzedDfMessage)
    return message


# ---------------------------------------------------------------------- what a channel reports


def test_a_channel_reports_when_it_connected_and_how_much_it_sent():
    # /message/clients and /metrics show these
    async def run() -> None:
        hub = hub_of()
        channel = hub.open_channel(RecordingSocket(), "10.0.0.7:40001", Encoding.JSON)
        assert channel.stats.connected_at == NOW.timestamp()
        assert (channel.stats.messages_sent, channel.stats.bytes_sent) == (0, 0)
        assert channel.close_reason is None  # not dropped
        channel.enqueue("abc")
        channel.enqueue(b"\x00\x01")
        await flushed(channel)
        assert (channel.stats.messages_sent, channel.stats.bytes_sent) == (2, 5)
        await hub.stop()

    asyncio.run(run())


def test_messages_queued_after_the_outbox_emptied_are_sent_too():
    async def run() -> None:
        hub = hub_of()
        channel = hub.open_channel(RecordingSocket(), "peer", Encoding.JSON)
        for text in ("first", "second", "third"):
            channel.enqueue(text)
            await flushed(channel)
        assert sent(channel) == ["first", "second", "third"]
        await hub.stop()

    asyncio.run(run())


# ---------------------------------------------------------------------- the byte limit's accounting


def test_bytes_already_sent_do_not_count_against_the_byte_limit():
    async def run() -> None:
        hub = hub_of(max_queue_bytes=100)
        channel = hub.open_channel(RecordingSocket(), "peer", Encoding.JSON)
        for _ in range(3):
            assert channel.enqueue("s" * 100)
            await flushed(channel)
        # now two at once: one in flight (never counted) and 60 bytes waiting
        assert channel.enqueue("x")
        assert channel.enqueue("w" * 60)
        assert not channel.closed
        await hub.stop()

    asyncio.run(run())


def test_a_reply_waiting_to_be_encoded_counts_no_bytes():
    # its size is known only once encoded, when it is sent
    async def run() -> None:
        hub = hub_of(max_queue_bytes=0)
        socket = StoppedReading()
        channel = hub.open_channel(socket, "peer", Encoding.JSON)
        assert channel.enqueue("x")  # in flight: never counted
        await wait_until(lambda: socket.started_sending, timeout=5)
        channel.handle_request(proto.analyzed_df_request(5, BTC.pair))
        assert channel.queue_depth == 2 and not channel.closed
        await hub.stop()

    asyncio.run(run())


def test_a_dropped_channel_stays_dropped():
    async def run() -> None:
        hub = hub_of(max_queue_messages=1)
        channel = hub.open_channel(StoppedReading(), "peer", Encoding.JSON)
        channel.enqueue("a")
        assert not channel.enqueue("b")
        assert channel.closed
        assert not channel.check_policy()
        assert not channel.enqueue("c")
        await hub.stop()

    asyncio.run(run())


def test_a_dropped_consumers_stuck_send_is_cancelled():
    # its writer, stuck in a send that never completes, ends with the drop: only the
    # hub's sweeper is left running
    async def run() -> None:
        hub = hub_of(max_queue_messages=2)
        await hub.start()
        socket = StoppedReading()
        channel = hub.open_channel(socket, "peer", Encoding.JSON)
        channel.enqueue("a")
        await wait_until(lambda: socket.started_sending, timeout=5)
        channel.enqueue("b")
        channel.enqueue("c")
        assert not channel.enqueue("d")
        await wait_until(lambda: len(hub.tasks) == 1, timeout=5)
        await hub.stop()

    asyncio.run(run())


def test_aclose_returns_once_the_channels_writer_has_ended():
    async def run() -> None:
        hub = hub_of()
        channel = hub.open_channel(StoppedReading(), "peer", Encoding.JSON)
        channel.enqueue("stuck")
        await asyncio.sleep(0)  # the writer starts sending
        writers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert len(writers) == 1
        await channel.aclose()
        assert writers[0].done()
        assert channel not in hub.channels
        await hub.stop()

    asyncio.run(run())


def test_a_consumer_whose_close_never_completes_does_not_hold_up_stop():
    class NeverCloses(RecordingSocket):
        async def close(self, code: int = 1000, reason: str | None = None) -> None:
            await asyncio.Event().wait()

    async def run() -> None:
        hub = hub_of()
        await hub.start()
        hub.open_channel(NeverCloses(), "peer", Encoding.JSON)
        await asyncio.wait_for(hub.stop(), timeout=10)  # each close waits at most 2 s
        assert hub.channels == set()

    asyncio.run(run())


def test_dropped_consumers_are_counted_by_address_ipv6_too():
    async def run() -> None:
        hub = hub_of(max_queue_messages=1)
        for peer in ("::1:40001", "[fe80::1]:40002", "unknown"):
            channel = hub.open_channel(StoppedReading(), peer, Encoding.JSON)
            channel.enqueue("a")
            channel.enqueue("b")
        assert hub.drops == {"::1": 1, "[fe80::1]": 1, "unknown": 1}
        await hub.stop()

    asyncio.run(run())


# ---------------------------------------------------------------------- requests


def test_an_invalid_request_is_answered_with_the_reason_it_was_refused():
    raw = b'{"type": "analyzed_df", "data": {"limit": "ten"}}'
    with pytest.raises((proto.ProtocolViolation, ValueError, TypeError)) as refused:
        proto.parse_request(raw)

    async def run() -> list[str | bytes]:
        hub = hub_of()
        channel = hub.open_channel(RecordingSocket(), "peer", Encoding.JSON)
        channel.handle_request(raw)
        await flushed(channel)
        await hub.stop()
        return sent(channel)

    [answer] = asyncio.run(run())
    assert orjson.loads(answer) == {"type": "exception", "data": str(refused.value)}


def test_a_request_for_one_pair_is_answered_with_that_pair_and_none_with_every_pair():
    async def run() -> tuple[list[PairKey], list[PairKey]]:
        hub = hub_of()
        channel = hub.open_channel(RecordingSocket(), "peer", Encoding.JSON)
        channel.handle_request(proto.analyzed_df_request(5, ETH.pair))
        await flushed(channel)
        one = [analyzed(raw).key for raw in sent(channel)]
        channel.handle_request(proto.analyzed_df_request(5))
        await flushed(channel)
        every = [analyzed(raw).key for raw in sent(channel)[len(one) :]]
        await hub.stop()
        return one, every

    assert asyncio.run(run()) == ([ETH], [BTC, ETH])


def test_a_request_for_a_pair_never_analyzed_sends_nothing_and_the_channel_goes_on():
    async def run() -> None:
        hub = hub_of()
        channel = hub.open_channel(RecordingSocket(), "peer", Encoding.JSON)
        channel.handle_request(proto.analyzed_df_request(5, "XRP/USDT"))
        channel.handle_request(proto.whitelist_request())
        await flushed(channel)
        assert [orjson.loads(raw)["type"] for raw in sent(channel)] == ["whitelist"]
        assert not channel.closed
        await hub.stop()

    asyncio.run(run())


# ---------------------------------------------------------------------- replies


def _recording_encoders(
    monkeypatch: pytest.MonkeyPatch,
) -> list[tuple[str, int, int]]:
    """Every encoder call, in order: (encoding, rows, thread id)."""
    calls: list[tuple[str, int, int]] = []
    for encoding in Encoding:
        original = proto.ANALYZED_DF_ENCODERS[encoding]

        def recording(
            *args: Any, _e: str = str(encoding), _f: Callable[..., Any] = original
        ) -> Any:
            calls.append((_e, len(args[1]), threading.get_ident()))
            return _f(*args)

        monkeypatch.setitem(proto.ANALYZED_DF_ENCODERS, encoding, recording)
    return calls


def test_small_replies_are_encoded_on_the_event_loop_big_ones_in_a_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
):
    calls = _recording_encoders(monkeypatch)

    async def run() -> int:
        hub = hub_of(_Source(rows=1500))
        for limit in (5, 20, 21, None):
            await hub.encode_reply(BTC, limit, Encoding.JSON)
        await hub.stop()
        return threading.get_ident()

    loop_thread = asyncio.run(run())
    assert [(rows, thread == loop_thread) for _, rows, thread in calls] == [
        (5, True),
        (20, True),
        (21, False),
        (1500, False),
    ]


def test_a_big_reply_asked_again_later_is_served_from_the_cache(
    monkeypatch: pytest.MonkeyPatch,
):
    calls = _recording_encoders(monkeypatch)

    async def run() -> None:
        hub = hub_of(_Source(rows=1500))
        first = await hub.encode_reply(BTC, 100, Encoding.JSON)
        again = await hub.encode_reply(BTC, 100, Encoding.JSON)
        assert again is first
        assert hub._encoding == {}  # nothing is kept per request once it is encoded
        await hub.stop()

    asyncio.run(run())
    assert len(calls) == 1


def test_the_reply_cache_forgets_the_least_recently_used_beyond_its_size():
    cache = _ReplyCache(max_bytes=30)
    cache.put(("a",), "a" * 10)
    cache.put(("b",), "b" * 10)
    cache.put(("c",), "c" * 10)  # exactly full: all kept
    assert [cache.get((k,)) is not None for k in "abc"] == [True, True, True]
    cache.get(("a",))  # used last: "b" is now the least recently used
    cache.put(("d",), "d" * 10)
    assert [cache.get((k,)) is not None for k in "abcd"] == [True, False, True, True]
    cache.put(("a",), "A" * 30)  # already there: kept as it was
    assert cache.get(("a",)) == "a" * 10
    cache.put(("e",), "e" * 25)  # forgets as many as it takes
    assert [cache.get((k,)) is not None for k in "acde"] == [False, False, False, True]
    cache.put(("f",), "f" * 5)
    assert [cache.get((k,)) is not None for k in "ef"] == [True, True]


# ---------------------------------------------------------------------- broadcasts


def test_a_binary_broadcast_carries_the_time_it_was_encoded():
    async def run() -> None:
        hub = hub_of()
        channel = hub.open_channel(RecordingSocket(), "peer", Encoding.BINARY)
        subscribe(channel, "analyzed_df")
        [message] = hub.build_analyzed(BTC, make_ohlcv(3), LA, new_candle=False)
        hub.publish(message)
        await flushed(channel)
        received = analyzed(sent(channel)[0], Encoding.BINARY)
        assert (received.analyzed_at, received.sent_at) == (LA, NOW.timestamp())
        await hub.stop()

    asyncio.run(run())


def test_the_precompressed_encodings_are_encoded_first(monkeypatch: pytest.MonkeyPatch):
    # so the send time the others' frames carry is taken as close to publishing as can be
    calls = _recording_encoders(monkeypatch)

    async def run() -> None:
        hub = hub_of()
        for encoding in (Encoding.BINARY, Encoding.JSON):
            subscribe(hub.open_channel(RecordingSocket(), str(encoding), encoding), "analyzed_df")
        hub.build_analyzed(BTC, make_ohlcv(3), LA, new_candle=False)
        await hub.stop()

    asyncio.run(run())
    assert [encoding for encoding, _, _ in calls] == ["json", "binary"]
    assert [e for e in Encoding if e.precompress] == [Encoding.JSON]


def test_only_text_frames_over_20_rows_are_handed_over_for_precompression():
    handed: list[str | bytes] = []

    async def run() -> None:
        hub = hub_of()
        hub.precompress = handed.append
        for encoding in (Encoding.BINARY, Encoding.JSON):
            subscribe(hub.open_channel(RecordingSocket(), str(encoding), encoding), "analyzed_df")
        hub.build_analyzed(BTC, make_ohlcv(20), LA, new_candle=False)
        assert handed == []
        [message] = hub.build_analyzed(BTC, make_ohlcv(21), LA, new_candle=False)
        assert handed == [str(message.payloads[Encoding.JSON]).encode()]  # the same text
        await hub.stop()

    asyncio.run(run())


def test_a_precompression_that_fails_does_not_stop_the_broadcast():
    def broken(payload: str | bytes) -> None:
        raise OSError("compressor unavailable")

    async def run() -> None:
        hub = hub_of()
        hub.precompress = broken
        channel = hub.open_channel(RecordingSocket(), "peer", Encoding.JSON)
        subscribe(channel, "analyzed_df")
        for message in hub.build_analyzed(BTC, make_ohlcv(30), LA, new_candle=False):
            hub.publish(message)
        await flushed(channel)
        assert len(analyzed(sent(channel)[0]).frame) == 30
        await hub.stop()

    asyncio.run(run())


def test_a_left_out_column_is_reported_once_however_many_broadcasts(
    caplog: pytest.LogCaptureFixture,
):
    frame = make_ohlcv(3).assign(blob=pd.Series([{"a": i} for i in range(3)], dtype=object))

    async def run() -> None:
        hub = hub_of()
        subscribe(hub.open_channel(RecordingSocket(), "peer", Encoding.JSON), "analyzed_df")
        for _ in range(3):
            hub.build_analyzed(BTC, frame, LA, new_candle=False)
        await hub.stop()

    with caplog.at_level("WARNING", logger="candlecast.messaging.protocol"):
        asyncio.run(run())
    assert [(r.args[0], r.args[1]) for r in caplog.records] == [("BTC/USDT", "blob")]  # type: ignore[index]


def test_a_channel_that_subscribed_while_a_broadcast_was_encoded_gets_none_of_it():
    # encoded for the JSON channels only: binary channels are skipped, the others served
    text = proto.encode_analyzed_df(Encoding.JSON, BTC, make_ohlcv(3), LA).decode()
    message = Outgoing(MessageType.ANALYZED_DF, {Encoding.JSON: text})
    assert message.payload_for(Encoding.BINARY) is None

    async def run() -> tuple[int, list[Channel]]:
        hub = hub_of()
        channels = [
            hub.open_channel(RecordingSocket(), f"{encoding}-{i}", encoding)
            for i in range(10)
            for encoding in (Encoding.BINARY, Encoding.JSON)
        ]
        for channel in channels:
            subscribe(channel, "analyzed_df")
        count = hub.publish(message)
        await flushed(*channels)
        await hub.stop()
        return count, channels

    count, channels = asyncio.run(run())
    assert count == 10
    assert all(sent(c) == ([text] if c.encoding is Encoding.JSON else []) for c in channels)


def test_another_thread_publishes_through_the_event_loop_once_the_hub_started():
    async def run() -> list[str | bytes]:
        hub = hub_of()
        channel = hub.open_channel(RecordingSocket(), "peer", Encoding.JSON)
        subscribe(channel, "whitelist")
        hub.publish_threadsafe(hub.broadcast_whitelist(["BEFORE/START"]))  # not started: dropped
        await hub.start()
        thread = threading.Thread(
            target=hub.publish_threadsafe, args=(hub.broadcast_whitelist([BTC.pair]),)
        )
        thread.start()
        await asyncio.to_thread(thread.join)
        await wait_until(lambda: sent(channel), timeout=5)
        await hub.stop()
        hub.publish_threadsafe(hub.broadcast_whitelist(["AFTER/STOP"]))  # nobody left: dropped
        return sent(channel)

    assert asyncio.run(run()) == [proto.encode_whitelist([BTC.pair]).decode()]


def test_publishing_after_the_event_loop_closed_is_a_no_op():
    async def run() -> MessageHub:
        hub = hub_of()
        await hub.start()
        await hub.stop()
        return hub

    hub = asyncio.run(run())
    hub.publish_threadsafe(hub.broadcast_whitelist([BTC.pair]))  # the loop is closed: no error


# ---------------------------------------------------------------------- the operator's log lines
# The wording is free; what each line must name is not: the consumer, and why.


def _lines(caplog: pytest.LogCaptureFixture, level: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "candlecast.messaging.hub" and r.levelname == level
    ]


def test_a_slow_consumers_drop_is_logged_naming_it_and_why(caplog: pytest.LogCaptureFixture):
    async def run() -> str | None:
        hub = hub_of(max_queue_messages=1)
        channel = hub.open_channel(StoppedReading(), "10.0.0.7:40001", Encoding.JSON)
        channel.enqueue("a")
        channel.enqueue("b")
        await hub.stop()
        return channel.close_reason

    with caplog.at_level("INFO", logger="candlecast.messaging.hub"):
        why = asyncio.run(run())
    [line] = _lines(caplog, "WARNING")
    assert "10.0.0.7:40001" in line and why is not None and why in line


def test_an_invalid_request_is_logged_naming_the_consumer_and_the_error(
    caplog: pytest.LogCaptureFixture,
):
    raw = b'{"type": "subscribe", "data": 5}'
    with pytest.raises((proto.ProtocolViolation, ValueError, TypeError)) as refused:
        proto.parse_request(raw)

    async def run() -> None:
        hub = hub_of()
        hub.open_channel(RecordingSocket(), "10.0.0.7:40001", Encoding.JSON).handle_request(raw)
        await hub.stop()

    with caplog.at_level("INFO", logger="candlecast.messaging.hub"):
        asyncio.run(run())
    [line] = _lines(caplog, "INFO")
    assert "10.0.0.7:40001" in line and str(refused.value) in line


def test_a_socket_that_fails_to_send_ends_its_channel_and_is_logged(
    caplog: pytest.LogCaptureFixture,
):
    class Broken(RecordingSocket):
        async def send_text(self, data: str) -> None:
            raise OSError("connection reset by peer")

    async def run() -> None:
        hub = hub_of()
        channel = hub.open_channel(Broken(), "10.0.0.7:40001", Encoding.JSON)
        channel.enqueue("lost")
        await wait_until(lambda: channel.closed, timeout=5)
        assert channel not in hub.channels
        assert not channel.enqueue("more")
        await hub.stop()

    with caplog.at_level("INFO", logger="candlecast.messaging.hub"):
        asyncio.run(run())
    [line] = _lines(caplog, "INFO")
    assert "10.0.0.7:40001" in line and "connection reset by peer" in line


# ---------------------------------------------------------------------- the sweeper's pace


class _SweepCounter:
    """Stands among the hub's channels and counts the sweeps that check it."""

    def __init__(self) -> None:
        self.sweeps = 0

    def check_policy(self) -> bool:
        self.sweeps += 1
        return True


@pytest.mark.parametrize(
    ("send_timeout", "sweeps", "within"),
    [
        (0.4, 3, 2.0),  # every send_timeout / 4 (0.1 s): 0.3 s
        (8.0, 2, 3.5),  # at most every second: 2 s
    ],
    ids=["quarter-of-send-timeout", "at-most-every-second"],
)
def test_the_sweeper_checks_every_channel_every_quarter_send_timeout_at_most_every_second(
    send_timeout: float, sweeps: int, within: float
):
    async def run() -> None:
        hub = hub_of(send_timeout=send_timeout)
        counter = _SweepCounter()
        hub.channels.add(counter)  # type: ignore[arg-type]
        await hub.start()
        await wait_until(lambda: counter.sweeps >= sweeps, timeout=within)
        hub.channels.discard(counter)
        await hub.stop()

    asyncio.run(run())


def test_the_hubs_tasks_are_named_after_their_job_and_consumer():
    # the names a task dump and TaskOwner's failure lines show
    class SlowToClose(StoppedReading):
        async def close(self, code: int = 1000, reason: str | None = None) -> None:
            await asyncio.sleep(0.05)

    async def run() -> set[str]:
        hub = hub_of(_Source(rows=1500), max_queue_messages=1)
        await hub.start()
        hub.open_channel(StoppedReading(), "10.0.0.7:40001", Encoding.JSON)
        dropped = hub.open_channel(SlowToClose(), "10.0.0.8:40002", Encoding.JSON)
        dropped.enqueue("a")
        dropped.enqueue("b")
        reply = asyncio.create_task(hub.encode_reply(BTC, None, Encoding.JSON))
        await asyncio.sleep(0)  # the reply's encoding starts
        names = {t.get_name() for t in asyncio.all_tasks()} - {reply.get_name()}
        await reply
        await hub.stop()
        return names - {asyncio.current_task().get_name()}  # type: ignore[union-attr]

    assert asyncio.run(run()) == {
        "ws-policy-sweep",
        "ws-writer-10.0.0.7:40001",
        "ws-close-10.0.0.8:40002",
        "encode-BTC/USDT",
    }
