"""The producer's fan-out: channels, bounded outboxes, encode-once broadcasts.

Every broadcast is encoded at most once per encoding some subscribed channel has
(``protocol.Encoding``: freqtrade JSON text, candlecast binary), in the thread that
produced it, then handed to the event loop, which appends the same bytes to every
subscribed channel's outbox. Each channel has its own writer task, so a slow socket
only delays itself. The hub never branches on an encoding: encoders come from
``protocol.ANALYZED_DF_ENCODERS``, and what a channel receives from
``Outgoing.payload_for(channel.encoding)``.

Slow-consumer policy (also in docs/producer-consumer.md): a channel is disconnected
with close code 1013 ("try again later") when its outbox holds more than
``max_queue_messages`` messages, or more than ``max_queue_bytes`` bytes besides the
message being sent, or when its oldest queued message has waited longer than
``send_timeout`` seconds. Nothing is ever
dropped silently from a live channel, so a connected consumer's copy stays exact;
a dropped consumer reconnects and resyncs. Producer memory per channel is bounded
by those limits.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import pandas as pd

from candlecast.clock import Clock, LiveClock
from candlecast.config.producer_consumer import ApiServerConfig
from candlecast.domain.analyzed import PairKey
from candlecast.domain.enums import CandleType
from candlecast.messaging import protocol as proto
from candlecast.messaging.protocol import Encoding, MessageType
from candlecast.util.tasks import TaskOwner

logger = logging.getLogger(__name__)

CLOSE_POLICY = 1008
CLOSE_TRY_AGAIN = 1013
_ENCODE_IN_THREAD_ROWS = 20
_JSON = Encoding.JSON  # looked up per channel and message (an enum attribute is slow)


class WebSocketLike(Protocol):
    """What a channel needs from a websocket connection."""

    async def send_text(self, data: str) -> None: ...

    async def send_bytes(self, data: bytes) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


class AnalyzedSource(Protocol):
    """Where replies come from: the producer's analyzed frames and whitelist."""

    timeframe: str
    candle_type: CandleType

    def current_whitelist(self) -> list[str]: ...

    def analyzed_entry(self, key: PairKey) -> tuple[pd.DataFrame, datetime] | None: ...


@dataclass(frozen=True)
class ChannelPolicy:
    """The slow-consumer limits (``api_server.ws_max_queue_*``/``ws_send_timeout``; their
    defaults are written once, in the config model)."""

    max_queue_messages: int
    max_queue_bytes: int
    send_timeout: float

    @classmethod
    def from_config(cls, api: ApiServerConfig | None = None) -> ChannelPolicy:
        """The limits of ``api`` (the config's defaults without one)."""
        if api is not None:
            return cls(api.ws_max_queue_messages, api.ws_max_queue_bytes, api.ws_send_timeout)
        fields = ApiServerConfig.model_fields
        return cls(
            fields["ws_max_queue_messages"].default,
            fields["ws_max_queue_bytes"].default,
            fields["ws_send_timeout"].default,
        )


@dataclass(frozen=True)
class Outgoing:
    """One message, already encoded: its websocket payload in each encoding it was made in."""

    type: MessageType
    payloads: Mapping[Encoding, str | bytes]

    @classmethod
    def json(cls, message_type: MessageType, text: str) -> Outgoing:
        """A message in JSON text only (every message but ``analyzed_df``: all peers read
        those as JSON)."""
        return cls(message_type, {_JSON: text})

    def payload_for(self, encoding: Encoding) -> str | bytes | None:
        """What a channel of ``encoding`` receives: the message in that encoding, or its
        JSON text when the encoding does not carry this type; None when it was not
        encoded for that channel (the channel subscribed while it was being encoded)."""
        payload = self.payloads.get(encoding)
        if payload is None and not encoding.carries(self.type):
            payload = self.payloads.get(_JSON)
        return payload


@dataclass
class _ReplyJob:
    keys: list[PairKey]
    limit: int | None


@dataclass
class ChannelStats:
    connected_at: float
    messages_sent: int = 0
    bytes_sent: int = 0


class Channel:
    """One connected consumer: subscriptions, a bounded outbox and its writer."""

    def __init__(
        self,
        ws: WebSocketLike,
        peer: str,
        encoding: Encoding,
        policy: ChannelPolicy,
        hub: MessageHub,
    ) -> None:
        self.ws = ws
        self.peer = peer
        self.encoding = encoding
        self.policy = policy
        self.hub = hub
        self._subscriptions: frozenset[str] = frozenset()
        self.stats = ChannelStats(hub.clock.timestamp())
        self._outbox: deque[tuple[str | bytes | _ReplyJob, float, int]] = deque()
        self._queued_bytes = 0
        self._wake = asyncio.Event()
        self._closed = False
        self.close_reason: str | None = None
        self._writer: asyncio.Task[None] | None = None

    @property
    def subscriptions(self) -> frozenset[str]:
        return self._subscriptions

    @subscriptions.setter
    def subscriptions(self, types: frozenset[str]) -> None:
        self._subscriptions = types
        self.hub.channels_changed()

    @property
    def queue_depth(self) -> int:
        return len(self._outbox)

    @property
    def closed(self) -> bool:
        return self._closed

    def start(self) -> None:
        self._writer = self.hub.tasks.spawn(self._write_loop(), name=f"ws-writer-{self.peer}")

    def enqueue(self, item: str | bytes | _ReplyJob) -> bool:
        """Queue ``item``; apply the slow-consumer policy. Return False if the channel was dropped."""
        if self._closed:
            return False
        size = len(item) if isinstance(item, str | bytes) else 0
        now = self.hub.clock.monotonic()
        self._outbox.append((item, now, size))
        self._queued_bytes += size
        self._wake.set()
        return self.check_policy(now)

    def check_policy(self, now: float | None = None) -> bool:
        if self._closed:
            return False
        now = self.hub.clock.monotonic() if now is None else now
        if len(self._outbox) > self.policy.max_queue_messages:
            self.drop(
                f"{len(self._outbox)} messages queued (limit {self.policy.max_queue_messages})"
            )
        elif (
            self._queued_bytes - (self._outbox[0][2] if self._outbox else 0)
            > self.policy.max_queue_bytes
        ):
            # the message being sent does not count: one message may always be in flight
            self.drop(f"{self._queued_bytes} bytes queued (limit {self.policy.max_queue_bytes})")
        elif self._outbox and now - self._outbox[0][1] > self.policy.send_timeout:
            self.drop(
                f"oldest message waited {now - self._outbox[0][1]:.1f} s (limit {self.policy.send_timeout} s)"
            )
        return not self._closed

    def drop(self, why: str) -> None:
        """Disconnect a consumer that fell too far behind (close code 1013)."""
        if self._closed:
            return
        logger.warning("Disconnecting slow consumer %s: %s", self.peer, why)
        self.hub.drops[self.peer.rsplit(":", 1)[0]] += 1  # for /metrics
        self.close_reason = why
        self._shutdown()
        if not self.hub.closing.closed:
            self.hub.closing.spawn(
                self._close_socket(CLOSE_TRY_AGAIN, "slow consumer"), name=f"ws-close-{self.peer}"
            )

    def _shutdown(self) -> None:
        self._closed = True
        self._outbox.clear()
        self._queued_bytes = 0
        self.hub.unregister(self)
        if self._writer is not None and self._writer is not asyncio.current_task():
            self._writer.cancel()
        self._wake.set()

    async def _close_socket(self, code: int, reason: str) -> None:
        try:
            async with asyncio.timeout(2.0):
                await self.ws.close(code=code, reason=reason)
        except Exception:
            pass  # the peer is gone or stuck; the server reaps the connection

    async def close(self, code: int, reason: str) -> None:
        """Close the connection with ``code`` and stop the writer (the server stops)."""
        await self._close_socket(code, reason)
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the writer (the connection ended or the server stops)."""
        if not self._closed:
            self._shutdown()
        if self._writer is not None:
            self._writer.cancel()
            try:
                await self._writer
            except (asyncio.CancelledError, Exception):
                pass

    async def _send(self, payload: str | bytes) -> None:
        if isinstance(payload, str):
            await self.ws.send_text(payload)
        else:
            await self.ws.send_bytes(payload)
        self.stats.messages_sent += 1
        self.stats.bytes_sent += len(payload)

    async def _write_loop(self) -> None:
        try:
            while not self._closed:
                if not self._outbox:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                item, _, size = self._outbox[0]
                if isinstance(item, _ReplyJob):
                    await self._send_reply(item)
                else:
                    await self._send(item)
                if self._outbox:
                    self._outbox.popleft()
                    self._queued_bytes -= size
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the socket broke: the reader side will notice and clean up
            logger.info("Cannot send to consumer %s: %s", self.peer, exc)
            self._shutdown()

    async def _send_reply(self, job: _ReplyJob) -> None:
        for key in job.keys:
            payload = await self.hub.encode_reply(key, job.limit, self.encoding)
            if payload is not None and not self._closed:
                await self._send(payload)

    # --- request handling (called by the server's read loop) --------------------------
    def handle_request(self, raw: str | bytes) -> None:
        """Apply one request frame; answer ``exception`` for an invalid one."""
        try:
            request = proto.parse_request(raw)
        except (proto.ProtocolViolation, ValueError, TypeError, RecursionError) as exc:
            logger.info("Invalid request from consumer %s: %s", self.peer, exc)
            self.enqueue(proto.encode_exception(str(exc)).decode())
            return
        if request is None:
            return
        if isinstance(request, proto.SubscribeRequest):
            self.subscriptions = request.types
        elif isinstance(request, proto.WhitelistRequest):
            self.enqueue(proto.encode_whitelist(self.hub.source.current_whitelist()).decode())
        elif isinstance(request, proto.AnalyzedDfRequest):
            self.enqueue(_ReplyJob(self.hub.reply_keys(request.pair), request.limit))


class _ReplyCache:
    """Encoded replies for the current analysis of each pair, shared by all channels."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self._entries: OrderedDict[tuple, bytes | str] = OrderedDict()
        self._bytes = 0
        self.max_bytes = max_bytes
        self.hits = 0

    def get(self, key: tuple) -> bytes | str | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
            self.hits += 1
        return value

    def put(self, key: tuple, value: bytes | str) -> None:
        if key in self._entries:
            return
        self._entries[key] = value
        self._bytes += len(value)
        while self._bytes > self.max_bytes and self._entries:
            _, old = self._entries.popitem(last=False)
            self._bytes -= len(old)


class MessageHub:
    """All channels of one producer; broadcasts and replies."""

    def __init__(
        self, source: AnalyzedSource, policy: ChannelPolicy, clock: Clock | None = None
    ) -> None:
        self.source = source
        self.policy = policy
        self.clock: Clock = clock or LiveClock()
        self.channels: set[Channel] = set()
        #: the sweeper and every channel's writer (cancelled on stop)
        self.tasks = TaskOwner("message hub")
        #: closing dropped consumers' sockets (each bounded by a timeout; awaited on stop)
        self.closing = TaskOwner("message hub closing")
        self.dropped_columns = proto.DroppedColumns()
        self.drops: Counter[str] = Counter()  # slow consumers dropped, by address
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cache = _ReplyCache()
        # the encodings each message type is sent in: rebuilt on the event loop when a
        # channel comes, goes or subscribes; replaced whole, so other threads read it safely
        self._needed: dict[str, frozenset[Encoding]] = {}
        #: replies being encoded, awaited by every channel that asks meanwhile
        self._encoding: dict[tuple[Any, ...], asyncio.Task[str | bytes]] = {}
        #: set by the server: compress a big text message for its deflating connections
        #: ahead of sending (called from the encoding thread), so it is compressed once
        self.precompress: Callable[[str | bytes], None] | None = None

    # --- lifecycle ----------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.tasks.spawn(self._sweep_loop(), name="ws-policy-sweep")

    async def stop(self) -> None:
        """Close every channel (1001), then cancel and await every task the hub started."""
        for channel in list(self.channels):
            await channel.close(1001, "producer shutting down")
        await self.tasks.aclose()
        await self.closing.join()
        await self.closing.aclose()

    async def _sweep_loop(self) -> None:
        # Catches stalled channels even when no new message arrives to trigger the check.
        while True:
            await asyncio.sleep(min(1.0, self.policy.send_timeout / 4))
            for channel in list(self.channels):
                channel.check_policy()

    def open_channel(self, ws: WebSocketLike, peer: str, encoding: Encoding) -> Channel:
        channel = Channel(ws, peer, encoding, self.policy, self)
        self.channels.add(channel)
        channel.start()
        return channel

    def unregister(self, channel: Channel) -> None:
        self.channels.discard(channel)
        self.channels_changed()

    def channels_changed(self) -> None:
        """Recompute which encodings each message type needs (event loop thread)."""
        needed: dict[str, set[Encoding]] = {}
        for channel in self.channels:
            encoding = channel.encoding
            for message_type in channel.subscriptions:
                sent_in = encoding if encoding.carries(message_type) else _JSON
                needed.setdefault(message_type, set()).add(sent_in)
        self._needed = {message_type: frozenset(e) for message_type, e in needed.items()}

    # --- broadcasting ----------------------------------------------------------------
    def encodings_needed(self, message_type: MessageType) -> frozenset[Encoding]:
        """The encodings a broadcast of ``message_type`` is sent in: those of the channels
        subscribed to it (any thread: reads the snapshot the event loop keeps, never the
        channels)."""
        return self._needed.get(message_type, frozenset())

    def publish(self, message: Outgoing) -> int:
        """Queue ``message`` on every subscribed channel (event loop thread). Return the count."""
        count = 0
        for channel in list(self.channels):
            if message.type in channel.subscriptions:
                payload = message.payload_for(channel.encoding)
                if payload is None:
                    continue
                channel.enqueue(payload)
                count += 1
        return count

    def publish_threadsafe(self, message: Outgoing) -> None:
        """Hand ``message`` to the event loop from any thread; the loop wakes at once."""
        if self._loop is None or self._loop.is_closed():
            return
        try:
            self._loop.call_soon_threadsafe(self.publish, message)
        except RuntimeError:
            pass  # the loop is shutting down

    def broadcast_whitelist(self, pairs: list[str]) -> Outgoing:
        return Outgoing.json(MessageType.WHITELIST, proto.encode_whitelist(pairs).decode())

    def build_analyzed(
        self, key: PairKey, frame: pd.DataFrame, analyzed_at: datetime, new_candle: bool
    ) -> list[Outgoing]:
        """Encode an analysis broadcast once per needed encoding (call from any thread)."""
        needed = self.encodings_needed(MessageType.ANALYZED_DF)
        out: list[Outgoing] = []
        if needed:
            # the precompressed (slowest) encodings first, so the send time the others'
            # frames carry (the binary ``ts``) is taken as close to publishing as can be
            payloads = {
                encoding: self._encode_frame(encoding, key, frame, analyzed_at)
                for encoding in sorted(needed, key=lambda e: not e.precompress)
            }
            out.append(Outgoing(MessageType.ANALYZED_DF, payloads))
        if new_candle:
            out.append(Outgoing.json(MessageType.NEW_CANDLE, proto.encode_new_candle(key).decode()))
        return out

    def _encode_frame(
        self, encoding: Encoding, key: PairKey, frame: pd.DataFrame, analyzed_at: datetime
    ) -> str | bytes:
        """``frame`` as an ``analyzed_df`` websocket payload in ``encoding``; a full frame of
        an encoding worth it is compressed here too, once, for the deflating consumers."""
        data = proto.encode_analyzed_df(
            encoding, key, frame, analyzed_at, self.dropped_columns, self.clock.timestamp()
        )
        if encoding.precompress and len(frame) > _ENCODE_IN_THREAD_ROWS:
            self._precompress(data)
        return encoding.frame(data)

    # --- replies -------------------------------------------------------------------
    def reply_keys(self, pair: str | None) -> list[PairKey]:
        pairs = [pair] if pair else self.source.current_whitelist()
        return [PairKey(p, self.source.timeframe, self.source.candle_type) for p in pairs]

    def _precompress(self, payload: str | bytes) -> None:
        if self.precompress is not None:
            try:
                self.precompress(payload)
            except Exception as exc:  # an optimisation only: sending compresses anyway
                logger.debug("Cannot precompress a message: %s", exc)

    async def encode_reply(
        self, key: PairKey, limit: int | None, encoding: Encoding
    ) -> str | bytes | None:
        """The reply for ``key``: encoded (and compressed) once per analysis, however many
        channels ask; a channel asking while it is encoded waits for that encoding."""
        entry = self.source.analyzed_entry(key)
        if entry is None:
            return None
        frame, analyzed_at = entry
        cache_key = (key, analyzed_at, limit, encoding)
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        rows = min(limit, len(frame)) if limit else len(frame)

        def encode() -> str | bytes:
            # sliced here, once: not by every channel that asks while it is encoded (a
            # tail of a strategy's unconsolidated frame copies every column)
            part = frame.tail(limit) if limit else frame
            return self._encode_frame(encoding, key, part, analyzed_at)

        if rows <= _ENCODE_IN_THREAD_ROWS:
            payload = encode()
            self._cache.put(cache_key, payload)
            return payload
        # big frames are encoded off the event loop, so other consumers keep being served;
        # the encoding is the hub's task (not the asking channel's): a channel that goes
        # away does not cancel it for the others waiting on it
        task = self._encoding.get(cache_key)
        if task is None:
            task = self.tasks.spawn(self._encode_once(cache_key, encode), name=f"encode-{key.pair}")
            self._encoding[cache_key] = task
        return await asyncio.shield(task)

    async def _encode_once(
        self, cache_key: tuple[Any, ...], encode: Callable[[], str | bytes]
    ) -> str | bytes:
        try:
            payload = await asyncio.to_thread(encode)
            self._cache.put(cache_key, payload)
            return payload
        finally:
            self._encoding.pop(cache_key, None)
