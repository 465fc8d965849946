"""The encodings a connection may negotiate: one extension point, ``protocol.Encoding``.

An encoding is a member of ``Encoding`` (its subprotocol; bytes or text frames), its
encoder in ``protocol.ANALYZED_DF_ENCODERS`` and its decoder in ``protocol.DECODERS``.
The hub, the server and the client only look these up, so the tests below hold for
every member, and a third encoding needs nothing else (the last test makes one).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import orjson
import pandas as pd
import pytest

from candlecast.config.models import ExternalMessageConsumerConfig, ProducerConfig
from candlecast.domain.analyzed import PairKey
from candlecast.domain.enums import CandleType
from candlecast.exceptions import ProtocolViolation
from candlecast.messaging import codec_binary
from candlecast.messaging import protocol as proto
from candlecast.messaging.client import connect_options
from candlecast.messaging.codec_binary import SUBPROTOCOL
from candlecast.messaging.hub import Channel, ChannelPolicy, MessageHub
from candlecast.messaging.protocol import Encoding, EncodingKind, MessageType
from candlecast.messaging.session import ConsumerSession, StoreFrame
from candlecast.testing import make_ohlcv
from tests.hub_fakes import RecordingSocket

KEY = PairKey("BTC/USDT", "5m", CandleType.SPOT)
LA = datetime(2026, 1, 5, 12, 0, 1, tzinfo=UTC)


def frame(rows: int = 30) -> pd.DataFrame:
    """Values with 6 decimals: freqtrade's JSON (10 digits) carries them exactly too."""
    out = make_ohlcv(rows, "5m")
    prices = ["open", "high", "low", "close", "volume"]
    out[prices] = out[prices].round(6)
    return out


class _Source:
    timeframe = "5m"
    candle_type = CandleType.SPOT

    def __init__(self) -> None:
        self.analyzed = frame(40)

    def current_whitelist(self) -> list[str]:
        return [KEY.pair]

    def analyzed_entry(self, key: PairKey) -> tuple[pd.DataFrame, datetime] | None:
        return (self.analyzed, LA) if key == KEY else None


def subscribe(channel: Channel, *types: str) -> None:
    channel.handle_request(orjson.dumps({"type": "subscribe", "data": list(types)}))


async def flushed(*channels: Channel) -> None:
    async with asyncio.timeout(5):
        while any(c.queue_depth for c in channels):
            await asyncio.sleep(0.001)


def consumer_settings(**extra: object) -> ExternalMessageConsumerConfig:
    producer = ProducerConfig(name="default", host="127.0.0.1", port=8080, ws_token="t" * 32)
    return ExternalMessageConsumerConfig(enabled=True, producers=[producer], **extra)


# ---------------------------------------------------------------------- negotiation


@pytest.mark.parametrize(
    ("offered", "answer"),
    [
        ([SUBPROTOCOL], Encoding.BINARY),
        (["chat", SUBPROTOCOL], Encoding.BINARY),
        ([], Encoding.JSON),  # freqtrade's consumers offer nothing
        (["chat"], Encoding.JSON),  # nothing candlecast knows
    ],
    ids=["binary", "binary-among-others", "nothing", "unknown"],
)
def test_a_producer_answers_with_the_preferred_encoding_the_consumer_offered(
    offered: list[str], answer: Encoding
):
    assert proto.accept_encoding(offered) is answer


def test_a_consumer_offers_candlecasts_encodings_unless_binary_is_off():
    # freqtrade's configs never set ``binary``: a candlecast consumer offers it by default
    assert connect_options(consumer_settings())["subprotocols"] == [SUBPROTOCOL]
    assert connect_options(consumer_settings(binary=False))["subprotocols"] is None


@pytest.mark.parametrize("encoding", list(Encoding), ids=str)
def test_an_encoding_offered_alone_is_the_one_both_sides_end_up_with(encoding: Encoding):
    offer = proto.offer_subprotocols({encoding}) or []
    answer = proto.accept_encoding(offer)
    assert proto.negotiated_encoding(answer.subprotocol) is encoding


def test_an_answer_without_a_known_subprotocol_is_json():
    assert proto.negotiated_encoding(None) is Encoding.JSON
    assert proto.negotiated_encoding("chat") is Encoding.JSON


def test_status_and_rest_name_the_encodings_binary_and_json():
    # /message/clients, /producers and the metrics show these (docs/rest-api.md)
    assert (Encoding.BINARY.value, Encoding.JSON.value) == ("binary", "json")
    assert f"{Encoding.BINARY}" == "binary"
    assert orjson.loads(orjson.dumps({"encoding": Encoding.JSON})) == {"encoding": "json"}


# ---------------------------------------------------------------------- the tables


@pytest.mark.parametrize("encoding", list(Encoding), ids=str)
def test_every_encoding_encodes_and_decodes_an_analyzed_frame(encoding: Encoding):
    data = proto.encode_analyzed_df(encoding, KEY, frame(), LA)
    payload = encoding.frame(data)
    assert isinstance(payload, bytes) is encoding.bytes_frames
    message = proto.parse_message(payload, encoding)
    assert isinstance(message, proto.AnalyzedDfMessage)
    assert (message.key, message.analyzed_at) == (KEY, LA)
    pd.testing.assert_frame_equal(message.frame, frame(), check_exact=True)


@pytest.mark.parametrize("encoding", list(Encoding), ids=str)
def test_text_frames_on_any_connection_are_json(encoding: Encoding):
    # a candlecast.v1 connection still gets whitelists and new_candle as JSON text
    text = proto.encode_whitelist([KEY.pair]).decode()
    assert proto.parse_message(text, encoding) == proto.WhitelistMessage((KEY.pair,))


def test_a_json_connection_reads_a_bytes_frame_as_json():
    # only a connection that negotiated an encoding of bytes frames decodes them with it
    raw = proto.encode_whitelist([KEY.pair])
    assert proto.parse_message(raw, Encoding.JSON) == proto.WhitelistMessage((KEY.pair,))
    with pytest.raises(ProtocolViolation):
        proto.parse_message(raw, Encoding.BINARY)


def test_a_session_decodes_frames_in_the_encoding_its_connection_opened_with():
    packed = proto.encode_analyzed_df(Encoding.BINARY, KEY, frame(), LA)
    binary = ConsumerSession()
    binary.on_open(0.0, Encoding.BINARY)
    stored = [a for a in binary.on_data(packed, 1.0) if isinstance(a, StoreFrame)]
    assert [a.key for a in stored] == [KEY]
    plain = ConsumerSession()
    plain.on_open(0.0)  # JSON: what a freqtrade producer answers
    with pytest.raises(ProtocolViolation):
        plain.on_data(packed, 1.0)


def test_a_binary_frame_of_another_message_type_is_refused():
    # the binary encoding carries analyzed_df only; anything else comes as JSON text
    meta = {"type": "whitelist", "key": ["BTC/USDT", "5m", "spot"], "la": LA.isoformat()}
    raw = codec_binary.encode_frame(meta, frame(), [])
    with pytest.raises(ProtocolViolation, match="unexpected type"):
        proto.parse_message(raw, Encoding.BINARY)


# ---------------------------------------------------------------------- the hub


def _counting(monkeypatch: pytest.MonkeyPatch, encodings: list[EncodingKind]) -> Counter[str]:
    calls: Counter[str] = Counter()
    for encoding in encodings:
        original = proto.ANALYZED_DF_ENCODERS[encoding]  # type: ignore[index]

        def counting(*args: object, _e: str = str(encoding), _f: object = original) -> bytes:
            calls[_e] += 1
            return _f(*args)  # type: ignore[operator,no-any-return]

        monkeypatch.setitem(proto.ANALYZED_DF_ENCODERS, encoding, counting)
    return calls


def test_a_broadcast_is_encoded_once_in_each_encoding_a_subscriber_has_and_no_other(
    monkeypatch: pytest.MonkeyPatch,
):
    calls = _counting(monkeypatch, list(Encoding))

    async def run() -> list[int]:
        hub = MessageHub(_Source(), ChannelPolicy.from_config())
        texts = [hub.open_channel(RecordingSocket(), f"json-{i}", Encoding.JSON) for i in range(3)]
        for channel in texts:
            subscribe(channel, "analyzed_df")
        hub.open_channel(RecordingSocket(), "binary-idle", Encoding.BINARY)  # not subscribed
        counts = [sum(hub.publish(m) for m in hub.build_analyzed(KEY, frame(), LA, False))]
        assert calls == {"json": 1}
        packed = [
            hub.open_channel(RecordingSocket(), f"bin-{i}", Encoding.BINARY) for i in range(2)
        ]
        for channel in packed:
            subscribe(channel, "analyzed_df")
        counts.append(sum(hub.publish(m) for m in hub.build_analyzed(KEY, frame(), LA, False)))
        assert calls == {"json": 2, "binary": 1}
        await flushed(*texts, *packed)
        assert all(isinstance(c.ws.sent[-1], bytes) for c in packed)  # type: ignore[attr-defined]
        assert all(isinstance(c.ws.sent[-1], str) for c in texts)  # type: ignore[attr-defined]
        await hub.stop()
        return counts

    assert asyncio.run(run()) == [3, 5]


def test_a_reply_is_encoded_once_per_encoding_however_many_channels_ask(
    monkeypatch: pytest.MonkeyPatch,
):
    calls = _counting(monkeypatch, list(Encoding))

    async def run() -> dict[Encoding, list[str | bytes | None]]:
        hub = MessageHub(_Source(), ChannelPolicy.from_config())
        replies = {
            encoding: [await hub.encode_reply(KEY, 5, encoding) for _ in range(3)]
            for encoding in Encoding
        }
        await hub.stop()
        return replies

    replies = asyncio.run(run())
    assert calls == {str(e): 1 for e in Encoding}
    for encoding, payloads in replies.items():
        assert all(p is payloads[0] for p in payloads)  # the cached payload, shared
        message = proto.parse_message(payloads[0] or b"", encoding)
        assert isinstance(message, proto.AnalyzedDfMessage) and len(message.frame) == 5


# ---------------------------------------------------------------------- a third encoding

MARK = b"PK"


class _Trial(EncodingKind):
    """A third encoding, made for this test: freqtrade's JSON behind a marker, in binary
    websocket frames, negotiated as its own subprotocol."""

    PACKED = "packed", "candlecast.test-packed", True, False


def _encode_packed(
    key: PairKey,
    analyzed: pd.DataFrame,
    analyzed_at: datetime,
    dropped: proto.DroppedColumns | None,
    sent_at: float | None,
) -> bytes:
    return MARK + proto.encode_analyzed_df_json(key, analyzed, analyzed_at, dropped)


def _decode_packed(raw: str | bytes) -> proto.Message:
    if not isinstance(raw, bytes) or not raw.startswith(MARK):
        raise ProtocolViolation("packed frame: no marker")
    return proto.DECODERS[Encoding.JSON](raw[len(MARK) :])


def test_a_third_encoding_needs_only_its_member_encoder_and_decoder(
    monkeypatch: pytest.MonkeyPatch,
):
    packed = _Trial.PACKED
    monkeypatch.setitem(proto.ANALYZED_DF_ENCODERS, packed, _encode_packed)  # type: ignore[arg-type]
    monkeypatch.setitem(proto.DECODERS, packed, _decode_packed)  # type: ignore[arg-type]
    source = _Source()

    async def run() -> tuple[list[str | bytes], list[str | bytes]]:
        hub = MessageHub(source, ChannelPolicy.from_config())
        trial = hub.open_channel(RecordingSocket(), "trial", packed)  # type: ignore[arg-type]
        plain = hub.open_channel(RecordingSocket(), "plain", Encoding.JSON)
        for channel in (trial, plain):
            subscribe(channel, "whitelist", "analyzed_df", "new_candle")
        assert hub.encodings_needed(MessageType.ANALYZED_DF) == {packed, Encoding.JSON}
        hub.publish(hub.broadcast_whitelist([KEY.pair]))
        for message in hub.build_analyzed(KEY, frame(), LA, new_candle=True):
            hub.publish(message)
        trial.handle_request(proto.analyzed_df_request(3, KEY.pair))  # a reply, cached
        await flushed(trial, plain)
        await hub.stop()
        return trial.ws.sent, plain.ws.sent  # type: ignore[attr-defined]

    received, plain = asyncio.run(run())
    # the analyzed frames in the new encoding (bytes), the other messages as JSON text
    assert [type(raw) for raw in received] == [str, bytes, str, bytes]
    assert all(raw.startswith(MARK) for raw in received if isinstance(raw, bytes))
    messages = [proto.parse_message(raw, packed) for raw in received]  # type: ignore[arg-type]
    assert [type(m) for m in messages] == [
        proto.WhitelistMessage,
        proto.AnalyzedDfMessage,
        proto.NewCandleMessage,
        proto.AnalyzedDfMessage,
    ]
    broadcast, reply = messages[1], messages[3]
    assert isinstance(broadcast, proto.AnalyzedDfMessage)
    assert isinstance(reply, proto.AnalyzedDfMessage)
    pd.testing.assert_frame_equal(broadcast.frame, frame(), check_exact=True)
    pd.testing.assert_frame_equal(reply.frame, source.analyzed.tail(3), check_exact=True)
    # a JSON peer of the same hub is not affected
    assert all(isinstance(raw, str) for raw in plain)
    assert [orjson.loads(raw)["type"] for raw in plain] == [
        "whitelist",
        "analyzed_df",
        "new_candle",
    ]
