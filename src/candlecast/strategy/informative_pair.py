"""``merge_informative_pair``: join a slower (or equal) timeframe onto a base frame."""

from __future__ import annotations

import pandas as pd

from candlecast.domain.timeframes import timeframe_to_seconds


def _merge_key(dates: pd.Series, timeframe: str, timeframe_inf: str) -> pd.Series:
    """When each informative candle becomes visible on the base timeframe.

    An informative candle opening at ``t`` closes at ``t + timeframe_inf``; it may only
    be used by the base candle that closes at that moment, i.e. the one opening at
    ``t + timeframe_inf - timeframe``. Months use calendar months.
    """
    base = pd.Timedelta(seconds=timeframe_to_seconds(timeframe))
    if timeframe_inf.endswith("M"):
        months = int(timeframe_inf[:-1])
        return dates + pd.DateOffset(months=months) - base
    return dates + pd.Timedelta(seconds=timeframe_to_seconds(timeframe_inf)) - base


def merge_informative_pair(
    dataframe: pd.DataFrame,
    informative: pd.DataFrame,
    timeframe: str,
    timeframe_inf: str,
    ffill: bool = True,
    append_timeframe: bool = True,
    date_column: str = "date",
    suffix: str | None = None,
) -> pd.DataFrame:
    """Merge ``informative`` (timeframe ``timeframe_inf``) onto ``dataframe`` without look-ahead.

    Informative columns are renamed ``<col>_<timeframe_inf>`` (``append_timeframe``) or
    ``<col>_<suffix>``; the informative ``date`` becomes ``date_<...>``. On equal
    timeframes rows merge 1:1 by date. With ``ffill`` the informative columns are
    forward-filled so every base candle sees the last closed informative candle.

    Raises:
        ValueError: ``timeframe_inf`` is faster than ``timeframe``, or both
            ``append_timeframe`` and ``suffix`` are given.
    """
    seconds = timeframe_to_seconds(timeframe)
    seconds_inf = timeframe_to_seconds(timeframe_inf)
    if seconds_inf < seconds:
        raise ValueError(
            f"cannot merge a faster informative timeframe ({timeframe_inf}) onto {timeframe}: "
            "it would create new rows"
        )
    if append_timeframe and suffix:
        raise ValueError("give either append_timeframe=True or a suffix, not both")
    label = timeframe_inf if append_timeframe else suffix
    if not label:
        raise ValueError("expected append_timeframe=True or a suffix to name the merged columns")

    inf = informative.copy()
    if date_column not in inf.columns:
        inf[date_column] = pd.Series(dtype=dataframe[date_column].dtype)
    inf_dates = inf[date_column]
    if seconds_inf == seconds:
        merge_dates = inf_dates
    else:
        merge_dates = _merge_key(inf_dates, timeframe, timeframe_inf)
    merge_col = f"date_merge_{label}"
    inf.columns = [f"{col}_{label}" for col in inf.columns]
    base_dtype = dataframe[date_column].dtype
    inf[merge_col] = merge_dates.astype(base_dtype) if len(inf) else pd.Series(dtype=base_dtype)
    merged = pd.merge(dataframe, inf, left_on=date_column, right_on=merge_col, how="left")
    merged = merged.drop(columns=[merge_col])
    if ffill:
        new_cols = [c for c in inf.columns if c != merge_col]
        merged[new_cols] = merged[new_cols].ffill()
    merged.index = dataframe.index
    return merged
