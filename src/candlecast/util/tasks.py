"""An owner for background tasks that outlive the call that starts them.

Tasks started from a callback or a request handler (a channel's writer, closing a
dropped consumer's socket, the hub's sweeper) cannot be children of the bot's
TaskGroup, which only its own task may extend. They are started here instead: the
owner keeps a reference to each one until it ends, logs a failure instead of losing
it, and ``aclose()`` cancels what is left and awaits every task before returning.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class TaskOwner:
    """Background tasks with one owner: started by ``spawn``, ended by ``aclose``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def __len__(self) -> int:
        return len(self._tasks)

    @property
    def closed(self) -> bool:
        return self._closed

    def spawn(self, coro: Coroutine[Any, Any, T], name: str | None = None) -> asyncio.Task[T]:
        """Start ``coro`` as a task owned here (from the event loop thread).

        Raises:
            RuntimeError: the owner was closed (the coroutine is closed, not leaked).
        """
        if self._closed:
            coro.close()
            raise RuntimeError(f"{self.name}: closed, cannot start {name or 'a task'}")
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.error(
                "%s: task %s failed: %s: %s", self.name, task.get_name(), type(exc).__name__, exc
            )

    async def join(self) -> None:
        """Wait until every task has ended by itself (for tasks bounded by their own timeout)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel every task still running and wait until all have ended."""
        self._closed = True
        while self._tasks:
            pending = list(self._tasks)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            self._tasks.difference_update(pending)
