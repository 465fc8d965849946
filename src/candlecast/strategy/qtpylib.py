"""Indicator helpers in the style of qtpylib, written for candlecast.

Import as ``from candlecast.strategy import qtpylib``; every function takes pandas
Series/DataFrames and returns Series/DataFrames aligned with the input index.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _series(data: pd.Series | float | int, like: pd.Series) -> pd.Series:
    if isinstance(data, pd.Series):
        return data
    return pd.Series(data, index=like.index, dtype="float64")


def crossed(
    series1: pd.Series, series2: pd.Series | float, direction: str | None = None
) -> pd.Series:
    """True where ``series1`` crosses ``series2`` (``"above"``, ``"below"`` or either)."""
    other = _series(series2, series1)
    above = (series1 > other) & (series1.shift(1) <= other.shift(1))
    below = (series1 < other) & (series1.shift(1) >= other.shift(1))
    if direction == "above":
        return above
    if direction == "below":
        return below
    return above | below


def crossed_above(series1: pd.Series, series2: pd.Series | float) -> pd.Series:
    """True on the candle where ``series1`` moves from at-or-below to above ``series2``."""
    return crossed(series1, series2, "above")


def crossed_below(series1: pd.Series, series2: pd.Series | float) -> pd.Series:
    """True on the candle where ``series1`` moves from at-or-above to below ``series2``."""
    return crossed(series1, series2, "below")


def typical_price(bars: pd.DataFrame) -> pd.Series:
    """(high + low + close) / 3."""
    return (bars["high"] + bars["low"] + bars["close"]) / 3


def mid_price(bars: pd.DataFrame) -> pd.Series:
    """(high + low) / 2."""
    return (bars["high"] + bars["low"]) / 2


def rolling_mean(series: pd.Series, window: int = 200, min_periods: int | None = None) -> pd.Series:
    return series.rolling(
        window=window, min_periods=window if min_periods is None else min_periods
    ).mean()


def rolling_std(series: pd.Series, window: int = 200, min_periods: int | None = None) -> pd.Series:
    # population standard deviation, as qtpylib's bollinger bands use
    return series.rolling(
        window=window, min_periods=window if min_periods is None else min_periods
    ).std(ddof=0)


def sma(series: pd.Series, window: int = 200, min_periods: int | None = None) -> pd.Series:
    return rolling_mean(series, window, min_periods)


def ema(series: pd.Series, window: int = 200, min_periods: int | None = None) -> pd.Series:
    return series.ewm(
        span=window, min_periods=window if min_periods is None else min_periods, adjust=False
    ).mean()


def bollinger_bands(series: pd.Series, window: int = 20, stds: float = 2) -> pd.DataFrame:
    """Middle band = rolling mean; upper/lower = mean ± ``stds`` population std devs.

    Returns a DataFrame with columns ``upper``, ``mid``, ``lower``.
    """
    mid = rolling_mean(series, window)
    std = rolling_std(series, window)
    return pd.DataFrame({"upper": mid + std * stds, "mid": mid, "lower": mid - std * stds})


def weighted_bollinger_bands(series: pd.Series, window: int = 20, stds: float = 2) -> pd.DataFrame:
    weights = np.arange(1, window + 1, dtype="float64")
    mid = series.rolling(window).apply(lambda x: np.dot(x, weights) / weights.sum(), raw=True)
    std = rolling_std(series, window)
    return pd.DataFrame({"upper": mid + std * stds, "mid": mid, "lower": mid - std * stds})


def true_range(bars: pd.DataFrame) -> pd.Series:
    prev_close = bars["close"].shift(1)
    ranges = pd.concat(
        [
            bars["high"] - bars["low"],
            (bars["high"] - prev_close).abs(),
            (bars["low"] - prev_close).abs(),
        ],
        axis=1,
    )
    return ranges.max(axis=1, skipna=False).where(prev_close.notna(), bars["high"] - bars["low"])


def atr(bars: pd.DataFrame, window: int = 14, exp: bool = False) -> pd.Series:
    tr = true_range(bars)
    return ema(tr, window) if exp else rolling_mean(tr, window)


def rsi(series: pd.Series, window: int = 14) -> pd.Series:
    """Wilder's RSI, seeded with the simple average of the first ``window`` changes (as TA-Lib)."""
    values = series.to_numpy(dtype="float64")
    out = np.full(len(values), np.nan)
    if len(values) <= window:
        return pd.Series(out, index=series.index)
    delta = np.diff(values)
    gains = np.clip(delta, 0, None)
    losses = np.clip(-delta, 0, None)
    avg_gain = gains[:window].mean()
    avg_loss = losses[:window].mean()
    for i in range(window, len(values)):
        if i > window:
            avg_gain = (avg_gain * (window - 1) + gains[i - 1]) / window
            avg_loss = (avg_loss * (window - 1) + losses[i - 1]) / window
        total = avg_gain + avg_loss
        out[i] = 100 * avg_gain / total if total else 0.0
    return pd.Series(out, index=series.index)


def vwap(bars: pd.DataFrame) -> pd.Series:
    price = typical_price(bars)
    return (price * bars["volume"]).cumsum() / bars["volume"].cumsum()


def heikinashi(bars: pd.DataFrame) -> pd.DataFrame:
    close = (bars["open"] + bars["high"] + bars["low"] + bars["close"]) / 4
    opens = np.empty(len(bars))
    if len(bars):
        opens[0] = (bars["open"].iloc[0] + bars["close"].iloc[0]) / 2
        c = close.to_numpy()
        for i in range(1, len(bars)):
            opens[i] = (opens[i - 1] + c[i - 1]) / 2
    out = pd.DataFrame(index=bars.index)
    out["open"] = opens
    out["close"] = close
    out["high"] = pd.concat([bars["high"], out["open"], out["close"]], axis=1).max(axis=1)
    out["low"] = pd.concat([bars["low"], out["open"], out["close"]], axis=1).min(axis=1)
    return out
