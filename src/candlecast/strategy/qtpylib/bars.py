"""Indicators of OHLCV frames (``open``, ``high``, ``low``, ``close``, ``volume`` columns)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from candlecast.strategy.qtpylib.rolling import numpy_rolling_mean, numpy_rolling_std
from candlecast.strategy.qtpylib.rolling import rolling_mean as _rolling_mean
from candlecast.strategy.qtpylib.rolling import rolling_weighted_mean as _rolling_weighted_mean


def typical_price(bars: pd.DataFrame) -> pd.Series:
    """(high + low + close) / 3, unnamed."""
    return pd.Series((bars["high"] + bars["low"] + bars["close"]) / 3.0, index=bars.index)


def mid_price(bars: pd.DataFrame) -> pd.Series:
    """(high + low) / 2, unnamed."""
    return pd.Series((bars["high"] + bars["low"]) / 2.0, index=bars.index)


def ibs(bars: pd.DataFrame) -> pd.Series:
    """Internal bar strength: (close - low) / (high - low), rounded to 2 decimals."""
    strength = (bars["close"] - bars["low"]) / (bars["high"] - bars["low"])
    return pd.Series(strength.round(2), index=bars.index)


def true_range(bars: pd.DataFrame) -> pd.Series:
    """Largest of high - low, |high - previous close|, |low - previous close| (NaNs skipped,
    so the first row is high - low)."""
    prev_close = bars["close"].shift(1)
    ranges = pd.DataFrame(
        {
            "hl": bars["high"] - bars["low"],
            "hc": (bars["high"] - prev_close).abs(),
            "lc": (bars["low"] - prev_close).abs(),
        }
    )
    return ranges.max(axis=1)


def atr(bars: pd.DataFrame, window: int = 14, exp: bool = False) -> pd.Series:
    """Average true range: simple average of :func:`true_range` over ``window``, or with
    ``exp=True`` its exponential average (pandas ``ewm(span=window)``)."""
    tr = true_range(bars)
    if exp:
        return pd.Series(_rolling_weighted_mean(tr, window))
    return pd.Series(_rolling_mean(tr, window))


def heikinashi(bars: pd.DataFrame) -> pd.DataFrame:
    """Heikin-Ashi candles: columns ``open``, ``high``, ``low``, ``close`` on the input index.

    As in freqtrade, the first candle is looked up by the index label 0: a frame whose index
    does not hold 0 (a slice, a date index) raises ``KeyError(0)``; ``reset_index()`` first.
    """
    if 0 not in bars.index:
        raise KeyError(0)
    close = ((bars["open"] + bars["high"] + bars["low"] + bars["close"]) / 4).to_numpy("float64")
    previous = float((bars.at[0, "open"] + bars.at[0, "close"]) / 2)
    opens = [previous]
    for prev_close in close[:-1].tolist():
        previous = (previous + prev_close) / 2
        opens.append(previous)
    body = np.array([opens, close])
    high = np.vstack([bars["high"].to_numpy("float64"), body])
    low = np.vstack([bars["low"].to_numpy("float64"), body])
    return pd.DataFrame(
        {
            "open": body[0],
            "high": _skipna(np.max, high),
            "low": _skipna(np.min, low),
            "close": close,
        },
        index=bars.index,
    )


def _skipna(reduce: Any, rows: np.ndarray) -> np.ndarray:
    """``reduce`` down the rows of each column, ignoring NaN (NaN where all are NaN), as
    pandas' ``max(axis=1)`` / ``min(axis=1)``."""
    missing = np.isnan(rows)
    fill = -np.inf if reduce is np.max else np.inf
    result: np.ndarray = reduce(np.where(missing, fill, rows), axis=0)
    result[missing.all(axis=0)] = np.nan
    return result


def _hours_minutes(text: str) -> tuple[int, int]:
    hours, minutes = (int(part) for part in text.split(":"))
    return hours, minutes


def session(df: pd.DataFrame, start: str = "17:00", end: str = "16:00") -> pd.DataFrame:
    """Rows of the current trading session of a date-indexed frame (default: a 17:00-16:00
    globex day), as a copy; an empty frame is returned as is.

    Which day the session started on is decided exactly as freqtrade's qtpylib decides it
    (including its reading of the minutes), so the rows kept are the same as freqtrade's.
    """
    if df.empty:
        return df
    start_h, start_m = _hours_minutes(start)
    end_h, end_m = _hours_minutes(end)
    start_number = (start_h + start_m - 1 / 100) - 0.0001
    end_number = end_h + end_m / 100
    now_number = df.index[-1:].hour[0] + df.index[:1].minute[0] / 100
    day = df.index[-1].date()
    if now_number < start_number and not end_number > start_number:
        day -= timedelta(days=1)  # the session began yesterday
    return df[df.index >= f"{day:%Y-%m-%d} {start}"].copy()


def vwap(bars: pd.DataFrame) -> pd.Series:
    """Refused, as in freqtrade: a VWAP over the whole frame looks ahead. Use
    :func:`rolling_vwap`."""
    raise ValueError(
        "using `qtpylib.vwap` facilitates lookahead bias. Please use `qtpylib.rolling_vwap` "
        "instead, which calculates vwap in a rolling manner."
    )


def rolling_vwap(
    bars: pd.DataFrame, window: int = 200, min_periods: int | None = None
) -> pd.Series:
    """Volume-weighted typical price over the last ``window`` candles; a window without
    volume repeats the previous value."""
    min_periods = window if min_periods is None else min_periods
    typical = (bars["high"] + bars["low"] + bars["close"]) / 3
    volume = bars["volume"]
    weighted = (volume * typical).rolling(window=window, min_periods=min_periods).sum()
    total = volume.rolling(window=window, min_periods=min_periods).sum()
    result = pd.Series(weighted / total, index=bars.index)
    return result.replace([np.inf, -np.inf], np.nan).ffill()


def pvt(bars: pd.DataFrame) -> pd.Series:
    """Price volume trend: cumulative sum of relative close change times volume."""
    prev_close = bars["close"].shift(1)
    trend = ((bars["close"] - prev_close) / prev_close) * bars["volume"]
    return trend.cumsum()


def chopiness(bars: pd.DataFrame, window: int = 14) -> pd.Series:
    """Choppiness index: 100 * log10(sum of true range / (highest high - lowest low)) /
    log10(window)."""
    tr_sum = true_range(bars).rolling(window).sum()
    highs = bars["high"].rolling(window).max()
    lows = bars["low"].rolling(window).min()
    result: pd.Series = 100 * np.log10(tr_sum / (highs - lows)) / np.log10(window)
    return result


def keltner_channel(bars: pd.DataFrame, window: int = 14, atrs: float = 2) -> pd.DataFrame:
    """Columns ``upper``, ``mid``, ``lower``: the average typical price ± ``atrs`` ATRs."""
    mid = _rolling_mean(typical_price(bars), window)
    band = atr(bars, window) * atrs
    return pd.DataFrame(
        {
            "upper": (mid + band).to_numpy(),
            "mid": mid.to_numpy(),
            "lower": (mid - band).to_numpy(),
        },
        index=bars.index,
    )


def zscore(bars: pd.DataFrame, window: int = 20, stds: float = 1, col: str = "close") -> pd.Series:
    """(value - moving mean) / (moving sample std * ``stds``) of column ``col``."""
    values = bars[col]
    std = numpy_rolling_std(values, window)
    mean = numpy_rolling_mean(values, window)
    result: pd.Series = (values - mean) / (std * stds)
    return result


def awesome_oscillator(
    df: pd.DataFrame, weighted: bool = False, fast: int = 5, slow: int = 34
) -> pd.Series:
    """Fast minus slow average of the mid price: simple averages, or with ``weighted=True``
    pandas ``ewm(com=fast)`` / ``ewm(com=slow)`` averages."""
    mid = (df["high"] + df["low"]) / 2
    if weighted:
        values = (mid.ewm(com=fast).mean() - mid.ewm(com=slow).mean()).to_numpy()
    else:
        values = numpy_rolling_mean(mid, fast) - numpy_rolling_mean(mid, slow)
    return pd.Series(values, index=df.index)


def stoch(
    df: pd.DataFrame, window: int = 14, d: int = 3, k: int = 3, fast: bool = False
) -> pd.DataFrame:
    """Stochastic oscillator: columns ``slow_k``, ``slow_d`` (or ``fast_k``, ``fast_d`` with
    ``fast=True``)."""
    highest = df["high"].rolling(window).max()
    lowest = df["low"].rolling(window).min()
    fast_k = 100 * (df["close"] - lowest) / (highest - lowest)
    if fast:
        return pd.DataFrame({"fast_k": fast_k, "fast_d": fast_k.rolling(d).mean()}, index=df.index)
    slow_k = fast_k.rolling(k).mean()
    return pd.DataFrame({"slow_k": slow_k, "slow_d": slow_k.rolling(d).mean()}, index=df.index)


def cci(series: pd.DataFrame, window: int = 14) -> pd.Series:
    """Commodity channel index as freqtrade's qtpylib computes it: (typical price - its moving
    average) / (0.015 * population std of that moving average over the whole frame)."""
    price = typical_price(series)
    average = _rolling_mean(price, window)
    return pd.Series((price - average) / (0.015 * _population_std(average)), index=series.index)


def _population_std(series: pd.Series) -> float:
    """Population std of the non-NaN values, summed one after another in two passes.

    freqtrade runs with bottleneck installed, through which pandas computes ``Series.std``
    with plain sequential sums; numpy's pairwise sums differ in the last bits. ``np.cumsum``
    adds sequentially, so its last element is bottleneck's sum.
    """
    values = series.to_numpy(dtype="float64")
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return math.nan
    mean = np.cumsum(values)[-1] / len(values)
    deviations = values - mean
    result = math.sqrt(np.cumsum(deviations * deviations)[-1] / len(values))
    if math.isinf(result):  # pandas then recomputes without bottleneck
        return float(series.std(ddof=0))
    return result
