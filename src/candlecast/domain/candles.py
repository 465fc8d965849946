"""The candle contract: column names, the date dtype, conversions.

An OHLCV dataframe has the columns ``date, open, high, low, close, volume``; ``date``
is the candle's open time as ``DATE_DTYPE`` (microseconds, UTC), sorted ascending,
unique, with a default RangeIndex. Only closed candles are kept.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

OHLCV_COLUMNS = ("date", "open", "high", "low", "close", "volume")
SIGNAL_COLUMNS = ("enter_long", "exit_long", "enter_short", "exit_short")
TAG_COLUMNS = ("enter_tag", "exit_tag")
DATE_DTYPE = "datetime64[us, UTC]"


def ms_to_dates(ms: np.ndarray) -> pd.DatetimeIndex:
    """Turn epoch milliseconds (int64) into UTC dates of ``DATE_DTYPE``."""
    arr = np.asarray(ms, dtype=np.int64).astype("datetime64[ms]").astype("datetime64[us]")
    return pd.DatetimeIndex(arr).tz_localize("UTC")


def dates_to_ms(dates: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Turn UTC dates into epoch milliseconds (int64); NaT becomes the int64 minimum."""
    values = pd.DatetimeIndex(dates)
    if values.tz is not None:
        values = values.tz_convert("UTC").tz_localize(None)
    return values.as_unit("ms").asi8.copy()


def empty_ohlcv() -> pd.DataFrame:
    """Return an empty OHLCV frame with the contract's dtypes."""
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in OHLCV_COLUMNS})
    frame["date"] = pd.Series(dtype=DATE_DTYPE)
    return frame
