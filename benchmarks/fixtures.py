"""Synthetic analyzed frames shaped like a real producer's (dates, OHLCV, indicators, signals)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from candlecast.domain.candles import ms_to_dates


def analyzed_frame(
    rows: int,
    columns: int,
    seed: int = 0,
    start_ms: int = 1_767_225_600_000,
    step_ms: int = 300_000,
) -> pd.DataFrame:
    """``rows`` candles with ``columns`` columns in total: date, OHLCV, indicators, 2 signals."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {
        "date": ms_to_dates(start_ms + step_ms * np.arange(rows, dtype=np.int64))
    }
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, rows)))
    data["open"] = np.concatenate([[100.0], close[:-1]])
    data["high"] = close * 1.001
    data["low"] = close * 0.999
    data["close"] = close
    data["volume"] = rng.uniform(100, 50_000, rows)
    for i in range(max(0, columns - 8)):
        values = close * (1 + rng.normal(0, 0.01, rows))
        values[: min(rows, 20)] = np.nan  # warm-up NaNs, as real indicators have
        data[f"ind_{i}"] = values
    data["enter_long"] = (rng.random(rows) > 0.95).astype(np.int64)
    data["exit_long"] = np.zeros(rows, dtype=np.int64)
    return pd.DataFrame(data)
