"""Run the API under uvicorn inside the bot's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Generator

import uvicorn
from fastapi import FastAPI

from candlecast.api.wsprotocol import CACHE_BYTES, CandlecastWebSocketProtocol, CompressedCache
from candlecast.config.models import ApiServerConfig
from candlecast.exceptions import PortInUseError

logger = logging.getLogger(__name__)

CLIENT_MAX_FRAME = 16 * 1024 * 1024


class _EmbeddedServer(uvicorn.Server):
    # The bot owns signal handling; uvicorn must not install its own. uvicorn has no
    # option for that: overriding Server.capture_signals (a public method) is the way
    # to embed it in a program with its own event loop.
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind the listening socket now, so a taken port is reported before anything starts.

    Raises:
        PortInUseError: the address is taken or cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it Nagle's algorithm holds small messages for the peer's delayed ACK (~40 ms)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"api_server.listen_port: {host}:{port} is already in use; choose another port or stop the other process"
            ) from None
        raise PortInUseError(
            f"api_server.listen_ip_address: cannot listen on {host}:{port}: {exc.strerror}"
        ) from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class ApiServer:
    """uvicorn serving ``app`` on an already-bound socket.

    Owns the serve task (``stop`` awaits it) and the deflate cache its connections share.
    """

    def __init__(self, app: FastAPI, config: ApiServerConfig, sock: socket.socket) -> None:
        self.sock = sock
        self.port: int = sock.getsockname()[1]
        self.deflate_cache = CompressedCache(CACHE_BYTES)
        uv_config = uvicorn.Config(
            app,
            log_config=None,
            access_log=config.verbosity == "info",
            # uvicorn's sans-I/O protocol (its sends wait while the transport is paused, so
            # back-pressure reaches our outboxes) with compress-once deflate
            ws=CandlecastWebSocketProtocol.sharing(self.deflate_cache),
            ws_ping_interval=None,
            ws_max_size=CLIENT_MAX_FRAME,
            ws_per_message_deflate=True,
            lifespan="off",
            ssl_certfile=config.ssl_certfile,
            ssl_keyfile=config.ssl_keyfile,
            timeout_graceful_shutdown=1,
        )
        if config.verbosity == "info":
            # uvicorn turns the access log off process-wide (propagate = False) for a
            # server configured without it; a later server in the same process (tests,
            # a relay beside a bot) that wants it turns it back on
            logging.getLogger("uvicorn.access").propagate = True
        self.server = _EmbeddedServer(uv_config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self.server.serve(sockets=[self.sock]), name="api-server"
        )
        while not self.server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("API server stopped during startup")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Ask uvicorn to exit; cancel it after 3 s; return once its task has ended."""
        self.server.should_exit = True
        task, self._task = self._task, None
        if task is None:
            return
        try:
            async with asyncio.timeout(3):
                await asyncio.shield(task)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        except Exception as exc:
            logger.warning("API server stopped with an error: %s", exc)
