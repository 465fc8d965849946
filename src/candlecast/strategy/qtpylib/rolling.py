"""Moving windows and moving averages, with qtpylib's numbers.

freqtrade's qtpylib picks its arithmetic by case, and the results differ in the last bits
(and in the Series name) between the two paths, so this module keeps the same choice:

- ``rolling_mean`` / ``rolling_std`` with ``min_periods == window`` on data longer than the
  window use a strided numpy window (``np.mean`` / ``np.std(ddof=1)`` over each row); the
  result is an unnamed Series (or an ndarray for ndarray input). Otherwise pandas' rolling
  mean / sample std, which keeps the input's name.
- ``rolling_weighted_mean`` (alias ``wma``, and the ``.ema()`` pandas method) is pandas'
  ``ewm(span=window, min_periods=...)`` with ``adjust=True``: an exponential, not a linearly
  weighted, average.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

RollingFunc = Callable[[np.ndarray, int], np.ndarray]


def _pandas(data: Any) -> Any:
    """``data`` itself when it is a pandas object, else a Series built from it."""
    return data if isinstance(data, pd.Series | pd.DataFrame) else pd.Series(data)


def nans(length: int = 1) -> np.ndarray:
    """A float64 array of ``length`` NaNs."""
    return np.full(length, np.nan)


def numpy_rolling_window(data: np.ndarray, window: int) -> np.ndarray:
    """A read-only view of ``data`` with one row per full window (``len - window + 1`` rows).

    Raises ValueError ("negative dimensions are not allowed") when ``data`` is shorter than
    ``window - 1``.
    """
    rows = data.shape[-1] - window + 1
    shape = (*data.shape[:-1], rows, window)
    strides = (*data.strides, data.strides[-1])
    return np.lib.stride_tricks.as_strided(data, shape=shape, strides=strides, writeable=False)


def numpy_rolling_series(func: RollingFunc) -> Callable[..., Any]:
    """Turn ``func(values, window) -> one value per full window`` into a rolling function.

    The returned function takes ``(data, window, as_source=False)`` and gives a float64 array
    as long as ``data`` with NaN before the first full window; with ``as_source=True`` and a
    Series input, an unnamed Series on the input's index instead.
    """

    def rolling(data: Any, window: int, as_source: bool = False) -> Any:
        values = data.to_numpy() if isinstance(data, pd.Series) else data
        out = nans(len(values))
        computed = func(values, window)
        out[len(values) - len(computed) :] = computed
        if as_source and isinstance(data, pd.Series):
            return pd.Series(out, index=data.index)
        return out

    rolling.__name__ = func.__name__
    rolling.__doc__ = func.__doc__
    return rolling


def _window_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of each full window."""
    result: np.ndarray = np.mean(numpy_rolling_window(values, window), axis=-1)
    return result


def _window_std(values: np.ndarray, window: int) -> np.ndarray:
    """Sample standard deviation (ddof=1) of each full window."""
    result: np.ndarray = np.std(numpy_rolling_window(values, window), axis=-1, ddof=1)
    return result


numpy_rolling_mean = numpy_rolling_series(_window_mean)
numpy_rolling_mean.__name__ = "numpy_rolling_mean"
numpy_rolling_std = numpy_rolling_series(_window_std)
numpy_rolling_std.__name__ = "numpy_rolling_std"


def _uses_numpy(series: Any, window: int, min_periods: int) -> bool:
    return min_periods == window and len(series) > window


def rolling_mean(series: Any, window: int = 200, min_periods: int | None = None) -> Any:
    """Simple moving average over ``window`` values (NaN until ``min_periods`` are seen)."""
    min_periods = window if min_periods is None else min_periods
    if _uses_numpy(series, window, min_periods):
        return numpy_rolling_mean(series, window, True)
    return _pandas(series).rolling(window=window, min_periods=min_periods).mean()


def rolling_std(series: Any, window: int = 200, min_periods: int | None = None) -> Any:
    """Moving sample standard deviation (ddof=1) over ``window`` values."""
    min_periods = window if min_periods is None else min_periods
    if _uses_numpy(series, window, min_periods):
        return numpy_rolling_std(series, window, True)
    return _pandas(series).rolling(window=window, min_periods=min_periods).std()


def rolling_min(series: Any, window: int = 14, min_periods: int | None = None) -> Any:
    """Lowest value of the last ``window`` values."""
    min_periods = window if min_periods is None else min_periods
    return _pandas(series).rolling(window=window, min_periods=min_periods).min()


def rolling_max(series: Any, window: int = 14, min_periods: int | None = None) -> Any:
    """Highest value of the last ``window`` values."""
    min_periods = window if min_periods is None else min_periods
    return _pandas(series).rolling(window=window, min_periods=min_periods).max()


def rolling_weighted_mean(series: Any, window: float = 200, min_periods: int | None = None) -> Any:
    """Exponential moving average: pandas ``ewm(span=window)`` with ``adjust=True``."""
    return (
        _pandas(series)
        .ewm(span=window, min_periods=window if min_periods is None else min_periods)
        .mean()
    )


def sma(series: Any, window: int = 200, min_periods: int | None = None) -> Any:
    """Alias of :func:`rolling_mean`."""
    return rolling_mean(series, window=window, min_periods=min_periods)


def wma(series: Any, window: float = 200, min_periods: int | None = None) -> Any:
    """Alias of :func:`rolling_weighted_mean` (exponential weights)."""
    return rolling_weighted_mean(series, window=window, min_periods=min_periods)


ema = wma


def hull_moving_average(series: Any, window: int = 200, min_periods: int | None = None) -> Any:
    """Hull moving average built from exponential averages of span window/2, window and
    sqrt(window)."""
    min_periods = window if min_periods is None else min_periods
    half = rolling_weighted_mean(series, window / 2, min_periods)
    full = rolling_weighted_mean(series, window, min_periods)
    return rolling_weighted_mean(2 * half - full, np.sqrt(window), min_periods)


def hma(series: Any, window: int = 200, min_periods: int | None = None) -> Any:
    """Alias of :func:`hull_moving_average`."""
    return hull_moving_average(series, window=window, min_periods=min_periods)


def zlma(series: Any, window: int = 20, min_periods: int | None = None, kind: str = "ema") -> Any:
    """Zero-lag moving average: the ``kind`` average (``"ema"``/``"ewm"``, ``"hma"``, anything
    else a simple average) of ``2 * series - series.shift(lag)`` over ``lag = (window-1)//2``.

    ``min_periods`` defaults to ``window`` (not ``lag``), so ``kind="sma"`` needs an explicit
    ``min_periods <= lag`` (pandas raises ValueError otherwise), as in freqtrade.
    """
    min_periods = window if min_periods is None else min_periods
    lag = (window - 1) // 2
    delagged = 2 * series - series.shift(lag)
    if kind in ("ewm", "ema"):
        return wma(delagged, lag, min_periods)
    if kind == "hma":
        return hma(delagged, lag, min_periods)
    return sma(delagged, lag, min_periods)


def zlema(series: Any, window: int, min_periods: int | None = None) -> Any:
    """:func:`zlma` with exponential averaging."""
    return zlma(series, window, min_periods, kind="ema")


def zlsma(series: Any, window: int, min_periods: int | None = None) -> Any:
    """:func:`zlma` with simple averaging."""
    return zlma(series, window, min_periods, kind="sma")


def zlhma(series: Any, window: int, min_periods: int | None = None) -> Any:
    """:func:`zlma` with Hull averaging."""
    return zlma(series, window, min_periods, kind="hma")
