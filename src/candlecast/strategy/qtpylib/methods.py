"""The indicator methods freqtrade's qtpylib adds to pandas objects.

Importing ``candlecast.strategy.qtpylib`` (as importing freqtrade's) makes ``series.ema(20)``,
``series.rsi()``, ``dataframe.heikinashi()`` ... available on every Series and DataFrame: the
method is the module function called with the object as first argument. ``ema`` and
``zlwma`` exist only as methods (aliases of ``wma`` and ``zlema``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pandas.core.base import PandasObject

from candlecast.strategy.qtpylib import bars, rolling, series

METHODS: dict[str, Callable[..., Any]] = {
    "session": bars.session,
    "atr": bars.atr,
    "bollinger_bands": series.bollinger_bands,
    "cci": bars.cci,
    "crossed": series.crossed,
    "crossed_above": series.crossed_above,
    "crossed_below": series.crossed_below,
    "heikinashi": bars.heikinashi,
    "hull_moving_average": rolling.hull_moving_average,
    "ibs": bars.ibs,
    "implied_volatility": series.implied_volatility,
    "keltner_channel": bars.keltner_channel,
    "log_returns": series.log_returns,
    "macd": series.macd,
    "returns": series.returns,
    "roc": series.roc,
    "rolling_max": rolling.rolling_max,
    "rolling_min": rolling.rolling_min,
    "rolling_mean": rolling.rolling_mean,
    "rolling_std": rolling.rolling_std,
    "rsi": series.rsi,
    "stoch": bars.stoch,
    "zscore": bars.zscore,
    "pvt": bars.pvt,
    "chopiness": bars.chopiness,
    "tdi": series.tdi,
    "true_range": bars.true_range,
    "mid_price": bars.mid_price,
    "typical_price": bars.typical_price,
    "vwap": bars.vwap,
    "rolling_vwap": bars.rolling_vwap,
    "weighted_bollinger_bands": series.weighted_bollinger_bands,
    "rolling_weighted_mean": rolling.rolling_weighted_mean,
    "sma": rolling.sma,
    "wma": rolling.wma,
    "ema": rolling.wma,
    "hma": rolling.hma,
    "zlsma": rolling.zlsma,
    "zlwma": rolling.zlema,
    "zlema": rolling.zlema,
    "zlhma": rolling.zlhma,
    "zlma": rolling.zlma,
}


def attach() -> None:
    """Add :data:`METHODS` to pandas objects (idempotent)."""
    for name, function in METHODS.items():
        setattr(PandasObject, name, function)
