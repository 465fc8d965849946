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

__all__ = ["FixedClock", "make_ohlcv", "wait_until", "wait_until_sync"]


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
