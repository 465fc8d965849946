"""Hot standby: producers sharing a bus take turns through a lease in a JetStream KV bucket.

With ``message_bus.lease_ttl`` set, a producer publishes only while it holds the key
``leader`` of the bucket ``<stream>_LEASE``. The bucket's TTL is the lease: the holder
renews it every third of the TTL (a compare-and-set on its own revision); when it dies the
key expires and a standby's ``create`` (tried every second) succeeds, at the latest one TTL
and a second later. A cleanly stopped leader deletes the key, and a standby takes over
within a second. The new leader's messages start new epochs, so followers read each
pair's snapshot once and carry on with one stream.

A renewal that fails (NATS slow, a reply lost) does not end the lead at once: the server
wrote the key no earlier than the renewal was sent, so nobody else can take it before that
moment plus the TTL. The holder keeps publishing and retries until a safety margin before
then (:func:`lead_deadline`), and stands down on its own at that deadline even if NATS never
answers (a cut-off leader fences itself). A holder that finds the key still carrying its own
identity (a renewal that succeeded but whose reply was lost, or a reconnect within the TTL)
takes it back at the key's current revision instead of waiting for it to expire.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING

from candlecast.bus.connection import describe
from candlecast.config.message_bus import MessageBusConfig

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS
    from nats.js.kv import KeyValue

logger = logging.getLogger(__name__)

LEASE_KEY = "leader"
#: how soon a holder retries a failed renewal (seconds), while its deadline allows
RETRY_AFTER = 0.25


def renew_interval(ttl: float, held: bool) -> float:
    """How often the holder renews (three renewals per TTL survive one lost round trip),
    and how often a standby tries to take a free lease (at least every second)."""
    every = max(ttl / 3.0, 0.1)
    return every if held else min(every, 1.0)


def lead_deadline(sent_at: float, ttl: float) -> float:
    """Until when a holder whose last successful write was sent at ``sent_at`` may publish.

    The key cannot expire before ``sent_at + ttl`` (the server wrote it later than that
    send); the margin (a tenth of the TTL, at least 0.25 s) covers publishes still in flight
    when the holder stands down."""
    return sent_at + ttl - max(ttl / 10.0, 0.25)


class Lease:
    """One producer's side of the lease; ``held`` says whether it may publish."""

    def __init__(self, bus: MessageBusConfig, name: str) -> None:
        self.bus = bus
        self.name = name
        self.identity = f"{name}:{secrets.token_hex(4)}".encode()
        self.revision: int | None = None
        #: loop time until which the lead is certain (meaningful while held)
        self.deadline = 0.0
        self.on_change: Callable[[bool], None] | None = None

    @property
    def held(self) -> bool:
        return self.revision is not None

    @property
    def bucket(self) -> str:
        return f"{self.bus.stream}_LEASE"

    def _set(self, revision: int | None, sent_at: float | None = None) -> None:
        was = self.held
        self.revision = revision
        if revision is not None and sent_at is not None:
            self.deadline = lead_deadline(sent_at, float(self.bus.lease_ttl))
        if was != self.held:
            if self.held:
                logger.info("Producer %s leads: it publishes to NATS", self.name)
            else:
                logger.warning("Producer %s lost the lead: standing by", self.name)
            if self.on_change is not None:
                self.on_change(self.held)

    async def _bucket(self, nc: NATS) -> KeyValue:
        from nats.js.errors import BucketNotFoundError

        js = nc.jetstream(timeout=max(self.bus.lease_ttl / 3.0, 1.0))
        try:
            return await js.key_value(self.bucket)
        except BucketNotFoundError:
            return await js.create_key_value(
                bucket=self.bucket,
                ttl=float(self.bus.lease_ttl),
                history=1,
                replicas=self.bus.replicas,
            )

    async def _write(self, kv: KeyValue) -> int | None:
        """One create (free lease) or compare-and-set (held, or still carrying our identity);
        the new revision, or None when another producer holds the key."""
        from nats.js.errors import KeyWrongLastSequenceError, NotFoundError

        try:
            if self.revision is None:
                return await kv.create(LEASE_KEY, self.identity)
            return await kv.update(LEASE_KEY, self.identity, last=self.revision)
        except KeyWrongLastSequenceError:
            pass
        try:  # the key moved on: still ours (a lost reply, a reconnect), or another's?
            entry = await kv.get(LEASE_KEY)
        except NotFoundError:  # missing, deleted or purged
            return None  # expired or released just now: the next create decides
        if entry.value != self.identity or entry.revision is None:
            return None
        return await kv.update(LEASE_KEY, self.identity, last=entry.revision)

    async def keep(self, nc: NATS, lost: asyncio.Event) -> None:
        """Take the lease when free, renew it while held; until ``lost`` or cancelled."""
        loop = asyncio.get_running_loop()
        kv = await self._bucket(nc)
        try:
            while not lost.is_set():
                pause = await self._round(kv, loop)
                try:
                    async with asyncio.timeout(pause):
                        await lost.wait()
                except TimeoutError:
                    pass
        finally:
            self._set(None)

    async def _round(self, kv: KeyValue, loop: asyncio.AbstractEventLoop) -> float:
        """One take-or-renew attempt; returns how long to wait before the next one."""
        sent_at = loop.time()
        budget = max(self.bus.lease_ttl / 3.0, 1.0)
        if self.held:
            budget = min(budget, self.deadline - sent_at)
        try:
            if budget <= 0:
                raise TimeoutError("no renewal before the lead's deadline")
            async with asyncio.timeout(budget):
                revision = await self._write(kv)
        except Exception as exc:
            if not self.held:
                logger.debug("Lease of %s not taken: %s", self.name, describe(exc))
                return renew_interval(self.bus.lease_ttl, False)
            left = self.deadline - loop.time()
            if left <= 0:
                logger.debug("Lease of %s not renewed in time: %s", self.name, describe(exc))
                self._set(None)
                return renew_interval(self.bus.lease_ttl, False)
            logger.debug("Lease of %s not renewed (retrying): %s", self.name, describe(exc))
            return min(RETRY_AFTER, left)
        self._set(revision, sent_at)
        return renew_interval(self.bus.lease_ttl, self.held)

    async def release(self, nc: NATS) -> None:
        """Give the lease up at once (a clean stop), so a standby need not wait the TTL."""
        if self.revision is None:
            return
        try:
            kv = await nc.jetstream(timeout=2.0).key_value(self.bucket)
            await kv.delete(LEASE_KEY, last=self.revision)
        except Exception as exc:
            logger.debug("Lease of %s not released: %s", self.name, describe(exc))
        self._set(None)


__all__ = ["LEASE_KEY", "Lease", "lead_deadline", "renew_interval"]
