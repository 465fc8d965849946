"""Indicators of one price series: crossings, RSI, MACD, bands, returns."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from candlecast.strategy.qtpylib.rolling import (
    nans,
    numpy_rolling_std,
    rolling_mean,
    rolling_std,
    rolling_weighted_mean,
    sma,
)

_SCALARS = (float, int, np.ndarray, np.integer, np.floating)
DIRECTIONS = (None, "above", "below")


def crossed(series1: Any, series2: Any, direction: str | None = None) -> pd.Series:
    """True where ``series1`` crosses ``series2`` (a Series, array or number): ``"above"``
    (from at-or-below to above), ``"below"`` (from at-or-above to below), or either (None).

    A comparison with NaN is False, so a NaN on either candle is no crossing. Two Series must
    carry the same index labels (pandas raises ValueError otherwise).
    """
    if direction not in DIRECTIONS:
        # freqtrade fails here with an UnboundLocalError; say what is wrong instead
        raise ValueError(f"crossed: direction must be None, 'above' or 'below', got {direction!r}")
    if isinstance(series1, np.ndarray):
        series1 = pd.Series(series1)
    if isinstance(series2, _SCALARS):
        series2 = pd.Series(series2, index=series1.index)
    prev1, prev2 = series1.shift(1), series2.shift(1)
    if direction == "above":
        return pd.Series((series1 > series2) & (prev1 <= prev2))
    if direction == "below":
        return pd.Series((series1 < series2) & (prev1 >= prev2))
    above = pd.Series((series1 > series2) & (prev1 <= prev2))
    below = pd.Series((series1 < series2) & (prev1 >= prev2))
    return above | below


def crossed_above(series1: Any, series2: Any) -> pd.Series:
    """True on the candle where ``series1`` moves from at-or-below to above ``series2``."""
    return crossed(series1, series2, "above")


def crossed_below(series1: Any, series2: Any) -> pd.Series:
    """True on the candle where ``series1`` moves from at-or-above to below ``series2``."""
    return crossed(series1, series2, "below")


def _strength(ups: float, downs: float) -> float:
    """100 - 100 / (1 + ups / downs) with numpy's float rules (x / 0 is inf, 0 / 0 NaN)."""
    if downs == 0.0:
        return 100.0 if ups > 0.0 else math.nan
    return 100.0 - 100.0 / (1.0 + ups / downs)


def rsi(series: pd.Series, window: int = 14) -> pd.Series:
    """Relative strength index with qtpylib's seeding (not TA-Lib's).

    The first averages are the sums of the gains and of the losses among the first
    ``window + 1`` changes, divided by ``window``; the first ``window`` rows all hold the RSI
    of that seed; later rows use Wilder's smoothing. A Series is required (an ndarray raises
    AttributeError, as in freqtrade).
    """
    values = np.asarray(series, dtype="float64")
    deltas = np.diff(values)
    seed = deltas[: window + 1]
    ups = float(seed[seed > 0].sum()) / window
    downs = -float(seed[seed < 0].sum()) / window
    out = np.zeros(len(values))
    out[:window] = _strength(ups, downs)
    for i, delta in enumerate(deltas[window - 1 :].tolist(), start=window):
        gain, loss = (delta, 0.0) if delta > 0 else (0.0, -delta)
        ups = (ups * (window - 1) + gain) / window
        downs = (downs * (window - 1) + loss) / window
        out[i] = _strength(ups, downs)
    return pd.Series(out, index=series.index)


def macd(series: pd.Series, fast: int = 3, slow: int = 10, smooth: int = 16) -> pd.DataFrame:
    """Columns ``macd`` (fast minus slow exponential average), ``signal`` (its exponential
    average over ``smooth``) and ``histogram`` (macd - signal)."""
    line = rolling_weighted_mean(series, window=fast) - rolling_weighted_mean(series, window=slow)
    signal = rolling_weighted_mean(line, window=smooth)
    return pd.DataFrame(
        {
            "macd": line.to_numpy(),
            "signal": signal.to_numpy(),
            "histogram": (line - signal).to_numpy(),
        },
        index=series.index,
    )


def roc(series: pd.Series, window: int = 14) -> pd.Series:
    """Rate of change: (value - value ``window`` rows ago) / value ``window`` rows ago."""
    before = series.shift(window)
    return pd.Series((series - before) / before, index=series.index)


def bollinger_bands(series: pd.Series, window: int = 20, stds: float = 2) -> pd.DataFrame:
    """Columns ``upper``, ``mid``, ``lower``: the moving average ± ``stds`` moving sample
    standard deviations, from the first row on (``min_periods=1``: ``mid`` starts at row 0,
    the bands at row 1)."""
    mid = rolling_mean(series, window=window, min_periods=1)
    std = rolling_std(series, window=window, min_periods=1)
    return pd.DataFrame(
        {"upper": mid + std * stds, "mid": mid, "lower": mid - std * stds}, index=series.index
    )


def weighted_bollinger_bands(series: pd.Series, window: int = 20, stds: float = 2) -> pd.DataFrame:
    """Like :func:`bollinger_bands` around the exponential average (NaN until ``window``
    values are seen)."""
    mid = rolling_weighted_mean(series, window=window)
    std = rolling_std(series, window=window)
    return pd.DataFrame(
        {
            "upper": (mid + std * stds).to_numpy(),
            "mid": mid.to_numpy(),
            "lower": (mid - std * stds).to_numpy(),
        },
        index=series.index,
    )


def tdi(
    series: pd.Series,
    rsi_lookback: int = 13,
    rsi_smooth_len: int = 2,
    rsi_signal_len: int = 7,
    bb_lookback: int = 34,
    bb_std: float = 1.6185,
) -> pd.DataFrame:
    """Traders dynamic index: columns ``rsi``, ``rsi_signal``, ``rsi_smooth``,
    ``rsi_bb_upper``, ``rsi_bb_lower``, ``rsi_bb_mid``."""
    strength = rsi(series, rsi_lookback)
    bands = bollinger_bands(strength, bb_lookback, bb_std)
    return pd.DataFrame(
        {
            "rsi": strength,
            "rsi_signal": sma(strength, rsi_signal_len),
            "rsi_smooth": sma(strength, rsi_smooth_len),
            "rsi_bb_upper": bands["upper"],
            "rsi_bb_lower": bands["lower"],
            "rsi_bb_mid": bands["mid"],
        },
        index=series.index,
    )


def _log_change(series: pd.Series) -> pd.Series:
    result: pd.Series = np.log(series / series.shift(1)).replace([np.inf, -np.inf], np.nan)
    return result


def returns(series: pd.Series) -> pd.Series:
    """value / previous value - 1 (infinities become NaN)."""
    change = (series / series.shift(1) - 1).replace([np.inf, -np.inf], np.nan)
    return pd.Series(change, index=series.index)


def log_returns(series: pd.Series) -> pd.Series:
    """log(value / previous value) (infinities become NaN)."""
    return pd.Series(_log_change(series), index=series.index)


def implied_volatility(series: pd.Series, window: int = 252) -> pd.Series:
    """Moving sample std of the log returns over ``window``, times sqrt(window); all NaN when
    the series is too short for one window."""
    try:
        values = numpy_rolling_std(_log_change(series), window) * np.sqrt(window)
    except ValueError:
        values = nans(len(series))
    return pd.Series(values, index=series.index)
