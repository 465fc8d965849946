"""The producer's side: publish every broadcast once to NATS JetStream.

The bot hands over each analysis (from its worker thread) and each whitelist change; the
messages are encoded there and queued; one task publishes them in order, waiting for each
acknowledgement. While NATS is unreachable the queue keeps the newest messages (up to
``MAX_QUEUED_BYTES``), and they go out, in order, once it is back: a follower that missed
dropped ones notices the gap and reads that pair's snapshot. A retried publish carries the
same message id, so JetStream stores it once.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
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
from candlecast.bus.lease import Lease
from candlecast.bus.plan import Publish, PublishPlanner, Subjects, stream_configs
from candlecast.config.message_bus import MessageBusConfig
from candlecast.domain.analyzed import PairKey
from candlecast.exceptions import BusUnavailable

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS

logger = logging.getLogger(__name__)

MAX_QUEUED_BYTES = 256 * 1024 * 1024
PUBLISH_TIMEOUT = 5.0
PIPELINE = 64  # messages in flight before waiting for their acknowledgements


async def ensure_streams(nc: NATS, bus: MessageBusConfig) -> None:
    """Create the producer's two streams, or bring their settings up to date."""
    from nats.js.api import StreamConfig
    from nats.js.errors import BadRequestError, NotFoundError

    js = nc.jetstream(timeout=PUBLISH_TIMEOUT)
    for params in stream_configs(bus):
        config = StreamConfig(**params)
        try:
            await js.stream_info(params["name"])
        except NotFoundError:
            await js.add_stream(config)
            continue
        try:
            await js.update_stream(config)
        except BadRequestError as exc:  # e.g. replicas cannot change: keep what is there
            logger.warning("Stream %s kept as it is: %s", params["name"], describe(exc))


class BusPublisher:
    """Publish a producer's broadcasts to one ``message_bus``."""

    def __init__(self, bus: MessageBusConfig, name: str) -> None:
        self.bus = bus
        self.name = name
        self.planner = PublishPlanner(Subjects(bus.subject_prefix))
        self._queue: deque[Publish] = deque()
        self._queued_bytes = 0
        self._ready = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.state = "starting"
        self.published = 0
        self.dropped = 0
        self.last_error: str | None = None
        self.last_seq = 0  # update-stream sequence of the last acknowledged update
        self.lease = Lease(bus, name) if bus.lease_ttl else None
        if self.lease is not None:
            self.lease.on_change = self._lead_changed
        self._whitelist: list[str] | None = None
        #: each key's last analysis, published whole when this producer takes the lead
        self._latest: dict[PairKey, tuple[pd.DataFrame, datetime]] = {}
        self._nc: NATS | None = None

    @property
    def leading(self) -> bool:
        """Whether this producer publishes (always, unless it shares a lease)."""
        return self.lease is None or self.lease.held

    def _lead_changed(self, held: bool) -> None:
        self._queue.clear()
        self._queued_bytes = 0
        if held:
            self.planner.reset()
            if self._whitelist is not None:
                self._enqueue(self.planner.whitelist(self._whitelist))
            # what was analysed before the lead (at start: before the lease was taken; a
            # standby: since it stood by) reaches followers now, not at the next candle
            for key, (frame, analyzed_at) in list(self._latest.items()):
                self._enqueue(self.planner.analyzed(key, frame, frame.tail(1), analyzed_at))

    # --- what the bot calls -------------------------------------------------------------
    def analyzed_threadsafe(
        self, key: PairKey, frame: pd.DataFrame, part: pd.DataFrame, analyzed_at: datetime
    ) -> None:
        """Queue a broadcast (call from any thread; encoding happens here)."""
        self._latest[key] = (frame, analyzed_at)
        if not self.leading:
            return  # a standby analyses but neither encodes nor publishes
        batch = self.planner.analyzed(key, frame, part, analyzed_at)
        self._hand_over(batch)

    def whitelist(self, pairs: list[str] | tuple[str, ...]) -> None:
        self._whitelist = list(pairs)
        self._hand_over(self.planner.whitelist(pairs))

    def _hand_over(self, batch: list[Publish]) -> None:
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is not None and running is not loop:
            loop.call_soon_threadsafe(self._enqueue, batch)
        else:
            self._enqueue(batch)

    def _enqueue(self, batch: list[Publish]) -> None:
        if not self.leading:
            return  # a standby analyses but does not publish
        for message in batch:
            self._queue.append(message)
            self._queued_bytes += len(message.payload)
        while self._queued_bytes > MAX_QUEUED_BYTES and len(self._queue) > 1:
            old = self._queue.popleft()
            self._queued_bytes -= len(old.payload)
            self.dropped += 1
            self.planner.failed(old.key)
        self._ready.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    # --- the task -----------------------------------------------------------------------
    async def run(self) -> None:
        """Connect, publish what is queued, reconnect after a loss; until cancelled."""
        self._loop = asyncio.get_running_loop()
        attempt = 0
        last_reason: str | None = None
        while True:
            lost = asyncio.Event()

            async def on_lost(event: asyncio.Event = lost) -> None:
                event.set()

            try:
                self.state = "connecting"
                nc = await open_connection(self.bus, f"{self.name} producer", on_lost)
            except BusUnavailable as exc:
                reason = str(exc)
            else:
                self._nc = nc
                lease_task = (
                    asyncio.create_task(self.lease.keep(nc, lost), name="bus-lease")
                    if self.lease is not None
                    else None
                )
                try:
                    await ensure_streams(nc, self.bus)
                    self.state = "connected"
                    if attempt:
                        logger.info("Publishing to NATS again (%s)", ", ".join(self.bus.url))
                    attempt, last_reason = 0, None
                    await self._publish_loop(nc, lost)
                    reason = "connection to NATS lost"
                except asyncio.CancelledError:
                    self._nc = None
                    await _stop(lease_task)
                    await close_quietly(nc)
                    raise
                except Exception as exc:
                    reason = (
                        "connection to NATS lost"
                        if lost.is_set() or not nc.is_connected
                        else f"NATS publish failed: {describe(exc)}"
                    )
                self._nc = None
                await _stop(lease_task)
                await close_quietly(nc)
            attempt += 1
            self.state = "disconnected"
            self.last_error = reason
            if reason != last_reason:
                logger.warning(
                    "Producer %s cannot publish to NATS: %s; %d messages wait, retrying",
                    self.name,
                    reason,
                    len(self._queue),
                )
            last_reason = reason
            raise_if_cancelled()
            await asyncio.sleep(backoff(attempt))

    async def _publish_loop(self, nc: NATS, lost: asyncio.Event) -> None:
        js = nc.jetstream(timeout=PUBLISH_TIMEOUT)
        while not lost.is_set():
            if not self._queue or not self.leading:
                self._ready.clear()
                waiter = asyncio.ensure_future(self._ready.wait())
                loser = asyncio.ensure_future(lost.wait())
                try:
                    await asyncio.wait({waiter, loser}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
                    loser.cancel()
                continue
            raise_if_cancelled()
            await self._publish_batch(js)

    async def _publish_batch(self, js: Any) -> None:
        """Publish the head of the queue (up to ``PIPELINE`` messages) without waiting for
        each acknowledgement: first the ``_LAST`` stream's messages (snapshots, whitelist),
        then the updates, so a snapshot is always stored before the update it precedes.
        A failure leaves the batch queued; the retry carries the same message ids, so
        JetStream stores each message once."""
        batch = list(itertools.islice(self._queue, PIPELINE))
        last_subjects = (self.planner.subjects.prefix + ".snap.", self.planner.subjects.whitelist)
        first = [m for m in batch if m.subject.startswith(last_subjects)]
        then = [m for m in batch if not m.subject.startswith(last_subjects)]
        for phase in (first, then):
            futures = [
                await js.publish_async(m.subject, m.payload, headers=dict(m.headers)) for m in phase
            ]
            async with asyncio.timeout(PUBLISH_TIMEOUT):
                acks = await asyncio.gather(*futures)
            for ack in acks:
                if ack.stream == self.bus.stream:
                    self.last_seq = max(self.last_seq, ack.seq)
        for message in batch:
            # the head may have been dropped meanwhile (queue full): only pop what we sent
            if self._queue and self._queue[0] is message:
                self._queue.popleft()
                self._queued_bytes -= len(message.payload)
            self.published += 1

    async def stop(self) -> None:
        """A clean stop: give up the lease at once, so a standby takes over now."""
        if self.lease is not None and self._nc is not None:
            await self.lease.release(self._nc)

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "published": self.published,
            "pending": len(self._queue),
            "dropped": self.dropped,
            "last_error": self.last_error,
            "checked_at": time.time(),
        }


async def _stop(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


__all__ = ["BusPublisher", "ensure_streams"]
