"""The hot-standby lease against a real ``nats-server``: what a holder does when NATS
stalls, when a renewal's reply is lost, and when it reconnects (candlecast.bus.lease)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from candlecast.bus.lease import LEASE_KEY, Lease
from candlecast.config.message_bus import MessageBusConfig
from candlecast.testing import wait_until
from tests.nats_servers import NatsServer, nats_server

pytestmark = pytest.mark.anyio


class Holder:
    """A Lease kept on its own connection, with the loop time of every change of lead."""

    def __init__(self, server: NatsServer, ttl: int) -> None:
        self.lease = Lease(MessageBusConfig(url=[server.url], lease_ttl=ttl), "p1")
        self.changes: list[tuple[float, bool]] = []
        self.lease.on_change = self._changed

    def _changed(self, held: bool) -> None:
        self.changes.append((asyncio.get_running_loop().time(), held))

    @property
    def stood_down(self) -> bool:
        return any(not held for _, held in self.changes)


@asynccontextmanager
async def kept(holder: Holder, server: NatsServer) -> AsyncIterator[asyncio.Event]:
    import nats

    nc = await nats.connect(server.url, allow_reconnect=False)
    lost = asyncio.Event()
    task = asyncio.create_task(holder.lease.keep(nc, lost))
    try:
        yield lost
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await nc.close()


async def renewed(holder: Holder, timeout: float) -> int:
    """Wait for the next successful write of the lease; its revision."""
    before = holder.lease.revision or 0
    await wait_until(lambda: (holder.lease.revision or 0) > before, timeout)
    assert holder.lease.revision is not None
    return holder.lease.revision


def frozen(server: NatsServer) -> None:
    assert server.proc is not None
    server.proc.send_signal(signal.SIGSTOP)


def thawed(server: NatsServer) -> None:
    assert server.proc is not None
    server.proc.send_signal(signal.SIGCONT)


async def test_a_leader_keeps_the_lead_through_a_nats_stall_shorter_than_its_ttl(
    tmp_path: Path,
):
    ttl = 10  # renewals every 3.3 s, each allowed 3.3 s: a 7.5 s stall outlasts one of them
    with nats_server(tmp_path) as server:
        holder = Holder(server, ttl)
        async with kept(holder, server):
            await renewed(holder, 10)
            await renewed(holder, ttl)  # just renewed: the deadline is as far as it gets
            loop = asyncio.get_running_loop()
            frozen(server)
            try:
                stalled = loop.time()
                await wait_until(lambda: loop.time() - stalled >= 7.5, 20)
            finally:
                thawed(server)
            await renewed(holder, ttl)
            assert holder.lease.held
            assert not holder.stood_down, holder.changes


async def test_a_cut_off_leader_stands_down_before_its_key_can_expire(tmp_path: Path):
    ttl = 6
    with nats_server(tmp_path) as server:
        holder = Holder(server, ttl)
        async with kept(holder, server):
            await renewed(holder, 10)
            await renewed(holder, ttl)
            deadline = holder.lease.deadline
            frozen(server)
            try:
                await wait_until(lambda: holder.stood_down, ttl * 3)
            finally:
                thawed(server)
            when = next(t for t, held in holder.changes if not held)
            # not at the first failed renewal, but on its own deadline, which comes before
            # the last renewal's send time plus the TTL (when a standby could take the key)
            assert when >= deadline
            assert when < deadline + max(ttl / 10, 0.25), (when, deadline)


async def test_a_renewal_whose_reply_was_lost_keeps_the_lead(tmp_path: Path):
    import nats

    with nats_server(tmp_path) as server:
        holder = Holder(server, 30)
        async with kept(holder, server):
            await renewed(holder, 10)
            # the key moves on with the holder's own identity, as when a renewal reached
            # the server but its reply did not reach the holder
            nc = await nats.connect(server.url)
            try:
                kv = await nc.jetstream().key_value(holder.lease.bucket)
                moved = await kv.put(LEASE_KEY, holder.lease.identity)
            finally:
                await nc.close()
            revision = await renewed(holder, 30)
            assert revision > moved
            assert not holder.stood_down, holder.changes


async def test_a_reconnected_leader_takes_its_own_key_back_without_waiting_for_the_ttl(
    tmp_path: Path,
):
    ttl = 60  # far longer than the test waits: only taking its own key back explains it
    with nats_server(tmp_path) as server:
        holder = Holder(server, ttl)
        async with kept(holder, server) as lost:
            await renewed(holder, 10)
            lost.set()  # the connection is lost: the holder stops publishing at once
            await wait_until(lambda: holder.stood_down, 5)
        async with kept(holder, server):
            await wait_until(lambda: holder.lease.held, 5)


async def test_another_producers_key_is_never_taken_before_it_expires(tmp_path: Path):
    with nats_server(tmp_path) as server:
        first, second = Holder(server, 6), Holder(server, 6)
        async with kept(first, server):
            await renewed(first, 10)
            async with kept(second, server):
                await renewed(first, 6)  # the second has tried at least a few times
                assert not second.lease.held
                assert first.lease.held
