"""The consumer's side: follow one producer through NATS JetStream.

On the first connection the follower notes where the update stream ends, reads the
producer's whitelist and the last snapshot of every pair, then follows the updates from
that point. After a disconnect it resumes from the last update-stream sequence it handled:
no snapshot is read again unless a pair's chain (:mod:`candlecast.bus.plan`) shows a gap,
and then only that pair's. Frames land in the same :class:`ProducerStore`, through the same
merge rules, as a websocket producer's, so strategies (``get_producer_df``, ProducerPairList)
cannot tell the difference.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from candlecast.bus.connection import (
    backoff,
    close_quietly,
    describe,
    open_connection,
    raise_if_cancelled,
)
from candlecast.bus.plan import (
    BUS_ENCODING,
    FollowState,
    Position,
    Subjects,
    Verdict,
    position,
)
from candlecast.clock import Clock, LiveClock
from candlecast.config.message_bus import MessageBusConfig
from candlecast.config.models import ExternalMessageConsumerConfig, ProducerConfig
from candlecast.data.merge import merge_update, strip_signals
from candlecast.data.producer_store import ProducerStore
from candlecast.domain.analyzed import PairKey
from candlecast.exceptions import BusUnavailable, ProtocolViolation
from candlecast.messaging import protocol as proto
from candlecast.messaging.client import ConnectionStatus

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS
    from nats.aio.msg import Msg
    from nats.js import JetStreamContext

logger = logging.getLogger(__name__)

API_TIMEOUT = 5.0

# (key, the rows just applied, analyzed_at, whether they end on a new candle): a relay
# re-broadcasts exactly what arrived
FrameListener = Callable[[PairKey, pd.DataFrame, datetime, bool], None]
PairsListener = Callable[[tuple[str, ...]], None]


class BusFollower:
    """Follow one producer through a ``bus`` and keep its data in ``store``."""

    def __init__(
        self,
        producer: ProducerConfig,
        settings: ExternalMessageConsumerConfig,
        store: ProducerStore,
        clock: Clock | None = None,
    ) -> None:
        assert producer.bus is not None
        self.clock: Clock = clock or LiveClock()
        self.bus: MessageBusConfig = producer.bus
        self.settings = settings
        self.store = store
        self.name = producer.name
        self.subjects = Subjects(self.bus.subject_prefix)
        self.follow = FollowState()
        self.frames: dict[PairKey, pd.DataFrame] = {}
        self.status = ConnectionStatus(
            self.name, f"{', '.join(self.bus.url)} ({self.bus.subject_prefix})"
        )
        self.status.encoding = BUS_ENCODING
        self.synced = False
        self._connected_once = False
        self.snapshot_reads = 0  # snapshots read (all of them at start, then one per gap)
        self.gaps = 0
        self.on_frame: FrameListener | None = None
        self.on_pairs: PairsListener | None = None

    # --- connection loop ----------------------------------------------------------------
    async def run(self) -> None:
        """Connect, sync, follow; reconnect and resume after a loss; until cancelled."""
        attempt = 0
        last_reason: str | None = None
        while True:
            lost = asyncio.Event()

            async def on_lost(event: asyncio.Event = lost) -> None:
                event.set()

            self.status.state = "connecting"
            try:
                nc = await open_connection(self.bus, f"{self.name} follower", on_lost)
            except BusUnavailable as exc:
                reason = str(exc)
            else:
                try:
                    await self._follow(nc, lost)
                    reason = "connection to NATS lost"
                except asyncio.CancelledError:
                    self.status.state = "stopped"
                    await close_quietly(nc)
                    raise
                except BusUnavailable as exc:
                    reason = str(exc)
                except Exception as exc:
                    reason = (
                        "connection to NATS lost"
                        if lost.is_set() or not nc.is_connected
                        else f"following through NATS failed: {describe(exc)}"
                    )
                await close_quietly(nc)
                attempt = 0 if self.status.connected_since else attempt
            attempt += 1
            self.status.state = "disconnected"
            self.status.last_error = reason
            self.status.connected_since = None
            if reason != last_reason:
                logger.warning("Lost producer %s: %s; retrying", self.name, reason)
            last_reason = reason
            raise_if_cancelled()
            await asyncio.sleep(backoff(attempt))

    async def _follow(self, nc: NATS, lost: asyncio.Event) -> None:
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.api import ConsumerConfig, DeliverPolicy

        js = nc.jetstream(timeout=API_TIMEOUT)
        if not self.synced:
            await self._initial_sync(js)
        self.status.state = "connected"
        self.status.connected_since = self.clock.timestamp()
        if self._connected_once:
            self.status.reconnects += 1
        self._connected_once = True
        logger.info(
            "Following producer %s through NATS from update %d",
            self.name,
            self.follow.resume_from(),
        )
        sub = await js.subscribe(
            f"{self.bus.subject_prefix}.>",
            stream=self.bus.stream,
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=self.follow.resume_from(),
            ),
        )
        try:
            while not lost.is_set():
                try:
                    msg = await sub.next_msg(timeout=1.0)
                except NatsTimeout:
                    raise_if_cancelled()
                    continue
                await self._on_update(js, msg)
        finally:
            try:
                async with asyncio.timeout(2.0):
                    await sub.unsubscribe()
            except Exception:  # the connection may be gone already
                pass

    async def _initial_sync(self, js: JetStreamContext) -> None:
        """Note where the updates end, then read the whitelist and every snapshot."""
        from nats.js.errors import NotFoundError

        try:
            info = await js.stream_info(self.bus.stream)
            last = await js.stream_info(self.bus.last_stream, subjects_filter=">")
        except NotFoundError:
            raise BusUnavailable(
                f"stream {self.bus.stream} not found (has producer {self.name} published yet?)"
            ) from None
        start = info.state.last_seq
        subjects = sorted((last.state.subjects or {}).keys())
        if self.subjects.whitelist in subjects:
            raw = await js.get_last_msg(self.bus.last_stream, self.subjects.whitelist)
            if raw.data is not None:
                self._whitelist(raw.data)
        for subject in subjects:
            key = self.subjects.key_of(subject)
            if key is not None:
                await self._read_snapshot(js, key)
        self.follow.last_seq = start
        self.synced = True

    async def _read_snapshot(self, js: JetStreamContext, key: PairKey) -> Position | None:
        from nats.js.errors import NotFoundError

        try:
            raw = await js.get_last_msg(self.bus.last_stream, self.subjects.snapshot(key))
        except NotFoundError:
            return None
        self.snapshot_reads += 1
        at = position(raw.headers)
        if raw.data is None or at is None:
            return None
        message = self._decode(raw.data)
        if message is None:
            return None
        frame = message.frame
        limit = self.settings.initial_candle_limit
        if limit:
            frame = frame.tail(limit).reset_index(drop=True)
        self._store(key, frame, message)
        self.follow.applied[key] = at
        if self.on_frame is not None:
            self.on_frame(key, self.frames[key], message.analyzed_at, True)
        return at

    # --- one update ---------------------------------------------------------------------
    async def _on_update(self, js: JetStreamContext, msg: Msg) -> None:
        seq = msg.metadata.sequence.stream
        self.status.messages_received += 1
        self.status.bytes_received += len(msg.data)
        self.status.last_message_at = self.clock.timestamp()
        if msg.subject == self.subjects.whitelist_update:
            self._whitelist(msg.data)
        else:
            key = self.subjects.key_of(msg.subject)
            if key is not None:
                await self._on_analyzed(js, key, msg)
        self.follow.last_seq = max(self.follow.last_seq, seq)

    async def _on_analyzed(self, js: JetStreamContext, key: PairKey, msg: Msg) -> None:
        at = position(msg.headers)
        verdict = self.follow.judge(key, at)
        if verdict is Verdict.SKIP:
            return
        if verdict is Verdict.APPLY:
            message = self._decode(msg.data)
            if message is None:
                return
            if self._merge(key, message):
                assert at is not None
                self.follow.applied[key] = at
                return
        # a gap: this pair's snapshot, then this update if the snapshot predates it
        self.gaps += 1
        logger.info("Producer %s, %s: updates missing, reading its snapshot", self.name, key[0])
        snap = await self._read_snapshot(js, key)
        if self.follow.snapshot_covers(snap, at):
            return
        if snap is not None and at is not None and snap.epoch == at.epoch and snap.n == at.n - 1:
            message = self._decode(msg.data)
            if message is not None and self._merge(key, message):
                self.follow.applied[key] = at

    def _merge(self, key: PairKey, message: proto.AnalyzedDfMessage) -> bool:
        frame = message.frame
        if self.settings.remove_entry_exit_signals:
            frame = strip_signals(frame)
        before = self.frames.get(key)
        result = merge_update(before, frame, key.timeframe, requested=False)
        if result.frame is None:
            return False
        self._store(key, result.frame, message, stripped=True)
        if self.on_frame is not None:
            is_new = before is None or frame["date"].iloc[-1] > before["date"].iloc[-1]
            self.on_frame(key, frame, message.analyzed_at, bool(is_new))
        if len(message.frame) <= 2:
            origin = message.sent_at or message.analyzed_at.timestamp()
            self.status.latencies_ms.append((self.clock.timestamp() - origin) * 1000)
        return True

    def _store(
        self,
        key: PairKey,
        frame: pd.DataFrame,
        message: proto.AnalyzedDfMessage,
        stripped: bool = False,
    ) -> None:
        if self.settings.remove_entry_exit_signals and not stripped:
            frame = strip_signals(frame)
        self.frames[key] = frame
        self.store.put(self.name, key, frame, message.analyzed_at, self.clock.timestamp())

    def _decode(self, data: bytes) -> proto.AnalyzedDfMessage | None:
        try:
            message = proto.parse_message(data, BUS_ENCODING)
        except ProtocolViolation as exc:
            self.status.invalid_messages += 1
            logger.warning("Ignored invalid message from producer %s: %s", self.name, exc)
            return None
        return message if isinstance(message, proto.AnalyzedDfMessage) else None

    def _whitelist(self, data: bytes) -> None:
        try:
            message = proto.parse_message(data)
        except ProtocolViolation as exc:
            self.status.invalid_messages += 1
            logger.warning("Ignored invalid whitelist from producer %s: %s", self.name, exc)
            return
        if isinstance(message, proto.WhitelistMessage) and message.pairs:
            self.store.set_pairs(self.name, message.pairs)
            if self.on_pairs is not None:
                self.on_pairs(message.pairs)

    def status_dict(self) -> dict[str, Any]:
        return self.status.as_dict(self.store.pairs(self.name))


__all__ = ["BusFollower"]
