"""Hot standby: producers sharing a bus take turns through a lease in a JetStream KV bucket.

With ``message_bus.lease_ttl`` set, a producer publishes only while it holds the key
``leader`` of the bucket ``<stream>_LEASE``. The bucket's TTL is the lease: the holder
renews it every third of the TTL (a compare-and-set on its own revision); when it dies the
key expires and a standby's ``create`` (tried every second) succeeds, at the latest one TTL
and a second later. A cleanly stopped leader deletes the key, and a standby takes over
within a second. The new leader's messages start new epochs, so followers read each
pair's snapshot once and carry on with one stream.
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

logger = logging.getLogger(__name__)

LEASE_KEY = "leader"


def renew_interval(ttl: float, held: bool) -> float:
    """How often the holder renews (three renewals per TTL survive one lost round trip),
    and how often a standby tries to take a free lease (at least every second)."""
    every = max(ttl / 3.0, 0.1)
    return every if held else min(every, 1.0)


class Lease:
    """One producer's side of the lease; ``held`` says whether it may publish."""

    def __init__(self, bus: MessageBusConfig, name: str) -> None:
        self.bus = bus
        self.name = name
        self.identity = f"{name}:{secrets.token_hex(4)}".encode()
        self.revision: int | None = None
        self.on_change: Callable[[bool], None] | None = None

    @property
    def held(self) -> bool:
        return self.revision is not None

    @property
    def bucket(self) -> str:
        return f"{self.bus.stream}_LEASE"

    def _set(self, revision: int | None) -> None:
        was = self.held
        self.revision = revision
        if was != self.held:
            if self.held:
                logger.info("Producer %s leads: it publishes to NATS", self.name)
            else:
                logger.warning("Producer %s lost the lead: standing by", self.name)
            if self.on_change is not None:
                self.on_change(self.held)

    async def keep(self, nc: NATS, lost: asyncio.Event) -> None:
        """Take the lease when free, renew it while held; until ``lost`` or cancelled."""
        from nats.js.errors import BucketNotFoundError, KeyWrongLastSequenceError

        js = nc.jetstream(timeout=max(self.bus.lease_ttl / 3.0, 1.0))
        try:
            kv = await js.key_value(self.bucket)
        except BucketNotFoundError:
            kv = await js.create_key_value(
                bucket=self.bucket,
                ttl=float(self.bus.lease_ttl),
                history=1,
                replicas=self.bus.replicas,
            )
        try:
            while not lost.is_set():
                try:
                    if self.revision is None:
                        self._set(await kv.create(LEASE_KEY, self.identity))
                    else:
                        self._set(await kv.update(LEASE_KEY, self.identity, last=self.revision))
                except KeyWrongLastSequenceError:
                    self._set(None)  # another producer holds it
                except Exception as exc:
                    logger.debug("Lease of %s not renewed: %s", self.name, describe(exc))
                    self._set(None)
                try:
                    async with asyncio.timeout(renew_interval(self.bus.lease_ttl, self.held)):
                        await lost.wait()
                except TimeoutError:
                    pass
        finally:
            self._set(None)

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


__all__ = ["LEASE_KEY", "Lease", "renew_interval"]
