"""The owner of background tasks: every task it starts is referenced, reported and awaited."""

from __future__ import annotations

import asyncio
import logging

import pytest

from candlecast.util.tasks import TaskOwner


def test_aclose_cancels_the_running_tasks_and_returns_only_once_they_have_ended():
    ended: list[str] = []

    async def forever(name: str) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0)  # cleanup that itself awaits
            ended.append(name)

    async def scenario() -> None:
        owner = TaskOwner("test")
        tasks = [owner.spawn(forever(n), name=n) for n in ("a", "b")]
        await asyncio.sleep(0)
        assert len(owner) == 2
        await owner.aclose()
        assert sorted(ended) == ["a", "b"] and all(t.cancelled() for t in tasks)
        assert len(owner) == 0

    asyncio.run(scenario())


def test_a_finished_task_is_released_and_a_failed_one_is_logged(caplog):
    async def fails() -> None:
        raise ValueError("boom")

    async def scenario() -> None:
        owner = TaskOwner("test")
        done = owner.spawn(asyncio.sleep(0), name="quick")
        failed = owner.spawn(fails(), name="failing")
        await asyncio.wait([done, failed])
        await asyncio.sleep(0)
        assert len(owner) == 0
        await owner.aclose()

    with caplog.at_level(logging.ERROR, logger="candlecast.util.tasks"):
        asyncio.run(scenario())
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert "failing" in caplog.records[0].getMessage()


def test_a_closed_owner_refuses_new_tasks_without_leaking_the_coroutine():
    async def scenario() -> None:
        owner = TaskOwner("test")
        await owner.aclose()
        coro = asyncio.sleep(1)
        with pytest.raises(RuntimeError, match="closed"):
            owner.spawn(coro)
        assert coro.cr_frame is None  # closed, so no "never awaited" warning

    asyncio.run(scenario())


def test_join_waits_for_tasks_to_end_by_themselves_without_cancelling_them():
    async def scenario() -> None:
        owner = TaskOwner("test")
        gate = asyncio.Event()

        async def closing() -> str:
            await gate.wait()
            return "closed"

        task = owner.spawn(closing())
        asyncio.get_running_loop().call_later(0.01, gate.set)
        await owner.join()
        assert task.result() == "closed"

    asyncio.run(scenario())
