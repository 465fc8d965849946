"""The message websocket protocol without I/O.

Value objects for every message, parsing and serializing them (JSON text frames as
freqtrade speaks them, binary frames for candlecast peers), and the small rules both
sides follow. The asyncio server and client only move bytes through these.

The encodings a connection may negotiate are the members of :class:`Encoding`; what
each one does is in two tables, ``ANALYZED_DF_ENCODERS`` (producer) and ``DECODERS``
(consumer). Nothing else branches on the encoding.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson
import pandas as pd

from candlecast.domain.analyzed import MAX_CANDLE_LIMIT, PairKey
from candlecast.domain.enums import CandleType
from candlecast.exceptions import ProtocolViolation
from candlecast.messaging import codec_binary, codec_json

logger = logging.getLogger(__name__)

WS_PATH = "/api/v1/message/ws"


class MessageType(StrEnum):
    STATUS = "status"
    WARNING = "warning"
    EXCEPTION = "exception"
    STARTUP = "startup"
    ENTRY = "entry"
    ENTRY_FILL = "entry_fill"
    ENTRY_CANCEL = "entry_cancel"
    EXIT = "exit"
    EXIT_FILL = "exit_fill"
    EXIT_CANCEL = "exit_cancel"
    PROTECTION_TRIGGER = "protection_trigger"
    PROTECTION_TRIGGER_GLOBAL = "protection_trigger_global"
    STRATEGY_MSG = "strategy_msg"
    WHITELIST = "whitelist"
    ANALYZED_DF = "analyzed_df"
    NEW_CANDLE = "new_candle"


KNOWN_TYPES = frozenset(t.value for t in MessageType)
_ANALYZED_DF = MessageType.ANALYZED_DF.value  # a plain str: compared on the hot path


class EncodingKind(StrEnum):
    """What an encoding is (the members are in :class:`Encoding`; a member-less enum, so a
    test can make an encoding of its own).

    Each member knows its ``subprotocol`` (None for freqtrade's JSON, the only one without),
    whether its frames are ``bytes_frames`` (websocket binary frames) or text, and whether
    a big frame is worth ``precompress``-ing once in the encoding thread for the deflating
    consumers (text compresses well; candlecast's binary frames barely do). The value is
    the name shown in status and REST (``/message/clients``, ``/producers``).
    """

    subprotocol: str | None
    bytes_frames: bool
    precompress: bool

    def __new__(
        cls, name: str, subprotocol: str | None, bytes_frames: bool, precompress: bool
    ) -> EncodingKind:
        member = str.__new__(cls, name)
        member._value_ = name
        member.subprotocol = subprotocol
        member.bytes_frames = bytes_frames
        member.precompress = precompress
        return member

    def frame(self, data: bytes) -> str | bytes:
        """``data`` (an encoder's output) as the websocket sends it: bytes or text."""
        return data if self.bytes_frames else data.decode()

    def carries(self, message_type: str) -> bool:
        """True when this encoding has its own form of ``message_type`` messages: JSON has
        every message; another encoding only ``analyzed_df`` (the rest of its connection
        is JSON text)."""
        return self.subprotocol is None or message_type == _ANALYZED_DF


class Encoding(EncodingKind):
    """How a connection carries ``analyzed_df`` messages, negotiated by websocket subprotocol.

    Members are in order of preference: a producer answers with the first member whose
    subprotocol the consumer offered. ``JSON`` is freqtrade's text protocol: it needs no
    subprotocol, every peer speaks it, and it carries every message; another encoding
    carries only ``analyzed_df`` messages, the rest of its connection stays JSON text
    (PROTOCOL.md). To add an encoding: a member here (before ``JSON``), its encoder in
    ``ANALYZED_DF_ENCODERS`` and its decoder in ``DECODERS``.
    """

    BINARY = "binary", codec_binary.SUBPROTOCOL, True, False
    JSON = "json", None, False, True


_JSON = Encoding.JSON  # for the hot paths (an enum attribute lookup is slow)


def accept_encoding(offered: Iterable[str]) -> Encoding:
    """The producer's side of the negotiation: the encoding to answer a consumer that
    offered the subprotocols ``offered`` with (the most preferred one offered; JSON,
    which needs no subprotocol, when none is known)."""
    offered = frozenset(offered)
    for encoding in Encoding:
        if encoding.subprotocol is not None and encoding.subprotocol in offered:
            return encoding
    return Encoding.JSON


def offer_subprotocols(encodings: Collection[Encoding]) -> list[str] | None:
    """The consumer's side of the negotiation: the subprotocols to offer for ``encodings``
    (in order of preference; None when only JSON, which is never offered, remains)."""
    offer = [e.subprotocol for e in Encoding if e in encodings and e.subprotocol is not None]
    return offer or None


def negotiated_encoding(subprotocol: str | None) -> Encoding:
    """The encoding of a connection the producer answered with ``subprotocol`` (None or
    one candlecast does not know: JSON)."""
    for encoding in Encoding:
        if encoding.subprotocol == subprotocol:
            return encoding
    return Encoding.JSON


class RequestType(StrEnum):
    """What a consumer may ask a producer."""

    SUBSCRIBE = "subscribe"
    WHITELIST = "whitelist"
    ANALYZED_DF = "analyzed_df"


def key_to_wire(key: PairKey) -> list[str]:
    pair, timeframe, candle_type = key
    return [pair, timeframe, str(candle_type)]


def key_from_wire(value: Any) -> PairKey:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 3
        or not all(isinstance(v, str) and v for v in value)
    ):
        raise ProtocolViolation(f"expected key [pair, timeframe, candle_type], got {value!r:.80}")
    try:
        return PairKey(value[0], value[1], CandleType.from_string(value[2]))
    except ValueError:
        raise ProtocolViolation(f"unknown candle type {value[2]!r:.40}") from None


def format_la(analyzed_at: datetime) -> str:
    return analyzed_at.astimezone(UTC).isoformat()


def parse_la(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ProtocolViolation(f"expected 'la' as an ISO 8601 string, got {value!r:.60}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ProtocolViolation(f"expected 'la' as an ISO 8601 string, got {value!r:.60}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ---------------------------------------------------------------------- requests


@dataclass(frozen=True)
class SubscribeRequest:
    types: frozenset[str]


@dataclass(frozen=True)
class WhitelistRequest:
    pass


@dataclass(frozen=True)
class AnalyzedDfRequest:
    limit: int | None
    pair: str | None


Request = SubscribeRequest | WhitelistRequest | AnalyzedDfRequest


def parse_request(raw: str | bytes) -> Request | None:
    """Parse a consumer's request frame.

    Returns None for a request that is valid but asks for nothing (an empty
    ``subscribe``). A ``subscribe`` may list types candlecast does not know (freqtrade
    2026.9 accepts more, e.g. ``liquidation_warning``): they are kept and simply never
    broadcast, so the known ones still reach the consumer.

    Raises:
        ProtocolViolation: not JSON, not an object, unknown type, or bad data; the
            message is what the producer answers in an ``exception`` message.
    """
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProtocolViolation("Invalid request: not valid JSON") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise ProtocolViolation("Invalid request: expected an object with a string 'type'")
    kind = obj["type"]
    data = obj.get("data")
    if kind == RequestType.SUBSCRIBE:
        if not data:
            return None
        if not isinstance(data, list) or not all(isinstance(t, str) for t in data):
            raise ProtocolViolation("Invalid subscribe request: expected a list of message types")
        return SubscribeRequest(frozenset(data))
    if kind == RequestType.WHITELIST:
        return WhitelistRequest()
    if kind == RequestType.ANALYZED_DF:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ProtocolViolation("Invalid analyzed_df request: expected data to be an object")
        limit, pair = data.get("limit"), data.get("pair")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise ProtocolViolation(
                "Invalid analyzed_df request: limit must be a non-negative integer"
            )
        if pair is not None and not isinstance(pair, str):
            raise ProtocolViolation("Invalid analyzed_df request: pair must be a string or null")
        return AnalyzedDfRequest(None if limit is None else min(limit, MAX_CANDLE_LIMIT), pair)
    raise ProtocolViolation(f"Invalid request type: {kind[:64]}")


def subscribe_request(types: list[str]) -> bytes:
    return orjson.dumps({"type": RequestType.SUBSCRIBE, "data": types})


def whitelist_request() -> bytes:
    return orjson.dumps({"type": RequestType.WHITELIST})


def analyzed_df_request(limit: int | None, pair: str | None = None) -> bytes:
    return orjson.dumps({"type": RequestType.ANALYZED_DF, "data": {"limit": limit, "pair": pair}})


def initial_requests(limit: int) -> list[bytes]:
    """What a consumer sends on every (re)connect, in order."""
    return [
        subscribe_request([MessageType.WHITELIST.value, MessageType.ANALYZED_DF.value]),
        whitelist_request(),
        analyzed_df_request(limit, None),
    ]


# ---------------------------------------------------------------------- producer messages


@dataclass(frozen=True)
class WhitelistMessage:
    pairs: tuple[str, ...]


@dataclass(frozen=True)
class AnalyzedDfMessage:
    """An analyzed dataframe: ``analyzed_at`` (the wire's ``la``, when the producer analyzed
    it) is the event time; ``sent_at`` (the binary wire's ``ts``) when the producer sent it."""

    key: PairKey
    frame: pd.DataFrame = field(compare=False)
    analyzed_at: datetime
    sent_at: float | None = None


@dataclass(frozen=True)
class NewCandleMessage:
    key: PairKey


@dataclass(frozen=True)
class OtherMessage:
    type: str
    data: Any


Message = WhitelistMessage | AnalyzedDfMessage | NewCandleMessage | OtherMessage


def encode_whitelist(pairs: list[str] | tuple[str, ...]) -> bytes:
    return orjson.dumps({"type": MessageType.WHITELIST, "data": list(pairs)})


def encode_new_candle(key: PairKey) -> bytes:
    return orjson.dumps({"type": MessageType.NEW_CANDLE, "data": key_to_wire(key)})


def encode_exception(text: str) -> bytes:
    return orjson.dumps({"type": MessageType.EXCEPTION, "data": text})


class DroppedColumns:
    """Which (pair, column) pairs were already reported as left out of broadcasts.

    Owned by whoever encodes broadcasts (the producer's hub), so the report is one
    warning per pair and column for that producer, not one per candle.
    """

    def __init__(self) -> None:
        self._warned: set[tuple[str, str]] = set()

    def report(self, key: PairKey, dropped: list[tuple[Any, str]]) -> None:
        for column, reason in dropped:
            marker = (key[0], str(column))
            if marker in self._warned:
                continue
            self._warned.add(marker)
            logger.warning(
                "%s: column %r cannot be sent to consumers (it %s); it is left out of the "
                "analyzed dataframe messages",
                key[0],
                column,
                reason,
            )


def _report_dropped(
    key: PairKey, dropped: list[tuple[Any, str]], log: DroppedColumns | None
) -> None:
    (log or DroppedColumns()).report(key, dropped)


def encode_analyzed_df_json(
    key: PairKey,
    frame: pd.DataFrame,
    analyzed_at: datetime,
    dropped_log: DroppedColumns | None = None,
    sent_at: float | None = None,
) -> bytes:
    """The freqtrade text frame: the dataframe as a JSON string inside the message
    (freqtrade's message has no send time: ``sent_at`` is not sent).

    A column the encoding cannot carry is left out, with a warning (once per pair and
    column of ``dropped_log``; every time without one).
    """
    document, dropped = codec_json.encode_split_lenient(frame)
    if dropped:
        _report_dropped(key, dropped, dropped_log)
    return orjson.dumps(
        {
            "type": MessageType.ANALYZED_DF,
            "data": {
                "key": key_to_wire(key),
                "df": {"__type__": "dataframe", "__value__": document.decode()},
                "la": format_la(analyzed_at),
            },
        }
    )


def encode_analyzed_df_binary(
    key: PairKey,
    frame: pd.DataFrame,
    analyzed_at: datetime,
    dropped_log: DroppedColumns | None = None,
    sent_at: float | None = None,
) -> bytes:
    """The candlecast binary frame; ``sent_at`` (POSIX seconds, the wire's ``ts``) defaults
    to ``analyzed_at``."""
    meta = {
        "type": MessageType.ANALYZED_DF,
        "key": key_to_wire(key),
        "la": format_la(analyzed_at),
        "ts": analyzed_at.timestamp() if sent_at is None else sent_at,
    }
    dropped: list[tuple[Any, str]] = []
    data = codec_binary.encode_frame(meta, frame, dropped)
    if dropped:
        _report_dropped(key, dropped, dropped_log)
    return data


#: an ``analyzed_df`` message in one encoding: (key, frame, analyzed_at, dropped-column
#: log, send time) -> the frame's bytes (``Encoding.frame`` turns text encodings into str)
AnalyzedDfEncoder = Callable[
    [PairKey, pd.DataFrame, datetime, DroppedColumns | None, float | None], bytes
]

ANALYZED_DF_ENCODERS: dict[Encoding, AnalyzedDfEncoder] = {
    Encoding.BINARY: encode_analyzed_df_binary,
    Encoding.JSON: encode_analyzed_df_json,
}


def encode_analyzed_df(
    encoding: Encoding,
    key: PairKey,
    frame: pd.DataFrame,
    analyzed_at: datetime,
    dropped_log: DroppedColumns | None = None,
    sent_at: float | None = None,
) -> bytes:
    """An ``analyzed_df`` message in ``encoding`` (its encoder in ``ANALYZED_DF_ENCODERS``)."""
    return ANALYZED_DF_ENCODERS[encoding](key, frame, analyzed_at, dropped_log, sent_at)


def _parse_binary(raw: str | bytes) -> Message:
    meta, frame = codec_binary.decode_frame(raw if isinstance(raw, bytes) else raw.encode())
    if meta.get("type") != MessageType.ANALYZED_DF:
        raise ProtocolViolation(f"binary frame of unexpected type {meta.get('type')!r:.40}")
    sent = meta.get("ts")
    return AnalyzedDfMessage(
        key_from_wire(meta.get("key")),
        frame,
        parse_la(meta.get("la")),
        sent_at=float(sent) if isinstance(sent, int | float) else None,
    )


def _parse_json(raw: str | bytes) -> Message:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProtocolViolation("message is not valid JSON") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise ProtocolViolation("expected an object with a string 'type'")
    kind, data = obj["type"], obj.get("data")
    if kind == MessageType.WHITELIST:
        if not isinstance(data, list) or not all(isinstance(p, str) for p in data):
            raise ProtocolViolation("whitelist: expected a list of pair names")
        return WhitelistMessage(tuple(data))
    if kind == MessageType.ANALYZED_DF:
        if not isinstance(data, dict):
            raise ProtocolViolation("analyzed_df: expected data to be an object")
        df = data.get("df")
        if (
            not isinstance(df, dict)
            or df.get("__type__") != "dataframe"
            or not isinstance(df.get("__value__"), str)
        ):
            raise ProtocolViolation(
                "analyzed_df: expected df as {__type__: dataframe, __value__: string}"
            )
        frame = codec_json.decode_split(df["__value__"])
        return AnalyzedDfMessage(key_from_wire(data.get("key")), frame, parse_la(data.get("la")))
    if kind == MessageType.NEW_CANDLE:
        return NewCandleMessage(key_from_wire(data))
    return OtherMessage(kind, data)


#: a received frame of one encoding -> the message (raises ProtocolViolation)
DECODERS: dict[Encoding, Callable[[str | bytes], Message]] = {
    Encoding.BINARY: _parse_binary,
    Encoding.JSON: _parse_json,
}


def parse_message(raw: str | bytes, encoding: Encoding = Encoding.JSON) -> Message:
    """Parse a producer's frame received on a connection of ``encoding``: a frame of that
    encoding's kind (bytes or text) is decoded by it, a frame of the other kind is JSON
    (the messages the encoding does not carry).

    Raises:
        ProtocolViolation: the frame is malformed; the stored data must not change.
    """
    if isinstance(raw, bytes) is not encoding.bytes_frames:
        encoding = _JSON
    return DECODERS[encoding](raw)


__all__ = [
    "WS_PATH",
    "AnalyzedDfMessage",
    "AnalyzedDfRequest",
    "Encoding",
    "MessageType",
    "NewCandleMessage",
    "OtherMessage",
    "RequestType",
    "SubscribeRequest",
    "WhitelistMessage",
    "WhitelistRequest",
    "parse_message",
    "parse_request",
]
