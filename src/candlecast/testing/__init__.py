"""Helpers shipped for tests of candlecast and of user strategies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from candlecast.clock import FixedClock
from candlecast.domain.candles import ms_to_dates
from candlecast.domain.timeframes import timeframe_to_msecs
from candlecast.testing.scripted import ScriptedExchange

__all__ = ["FixedClock", "ScriptedExchange", "make_ohlcv", "wait_until", "wait_until_sync"]


def make_ohlcv(
    n: int, timeframe: str = "5m", start: datetime | None = None, seed: int = 0
) -> pd.DataFrame:
    """A random but valid OHLCV frame of ``n`` candles."""
    rng = np.random.default_rng(seed)
    start = start or datetime(2026, 1, 1, tzinfo=UTC)
    start_ms = int(start.timestamp() * 1000)
    dates = ms_to_dates(start_ms + timeframe_to_msecs(timeframe) * np.arange(n, dtype=np.int64))
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]])[:n]
    spread = np.abs(rng.normal(0, 0.005, n)) * close
    return pd.DataFrame(
        {
            "date": dates,
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.uniform(100, 10_000, n),
        }
    )


async def wait_until(
    predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.01
) -> None:
    """Wait until ``predicate()`` is truthy.

    Raises:
        TimeoutError: it did not become true within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


def wait_until_sync(
    predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)


def stalled_websocket(
    port: int, token: str, subscribe: str = '{"type":"subscribe","data":["analyzed_df"]}'
) -> object:
    """A consumer that completes the handshake, subscribes, then never reads again.

    Returns the blocking socket (close it when done). Its receive buffer is kept small so
    that the producer's back-pressure shows quickly.
    """
    import base64
    import socket

    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(b"0123456789abcdef").decode()
    sock.sendall(
        f"GET /api/v1/message/ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:  # the server drops frames sent before its 101
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("the server closed the connection during the handshake")
        response += chunk
    if not response.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {response.splitlines()[0]!r}")
    payload = subscribe.encode()
    mask = b"\x01\x02\x03\x04"
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    return sock
