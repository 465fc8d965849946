"""``merge_informative_pair``: join a slower (or equal) timeframe onto a base frame.

The rules, as freqtrade 2026.9 applies them:

- An informative candle opening at ``t`` closes at ``t + timeframe_inf``; it is first seen
  by the base candle that closes at the same moment, i.e. the one opening at
  ``t + timeframe_inf - timeframe`` (its *merge key*). Equal timeframes merge 1:1 by date.
- With ``ffill`` each base row carries the informative row it last matched exactly (a whole
  row: a NaN inside that informative row stays NaN). Base rows before the first exact match
  get the last informative candle whose merge key is before the first base candle, provided
  some base row matches at all.
- Columns are renamed ``<col>_<timeframe_inf>`` or ``<col>_<suffix>``; with neither, names
  the base also has get pandas' ``_x`` / ``_y`` suffixes (and those informative columns are
  not filled before the first match).
- Integer and bool informative columns become float64 / object whenever some base row has
  no exact match (pandas' missing-value rules); the result has a fresh 0..n-1 index and is
  ordered by date.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from candlecast.domain.timeframes import timeframe_to_seconds

_FASTER_MESSAGE = (
    "Tried to merge a faster timeframe to a slower timeframe."
    "This would create new rows, and can throw off your regular indicators."
)
_BOTH_NAMINGS_MESSAGE = "You can not specify `append_timeframe` as True and a `suffix`."


def _calendar_offset(timeframe_inf: str) -> pd.DateOffset | None:
    """Month and year candles last calendar months / years, not 30 / 365 days."""
    amount, unit = int(timeframe_inf[:-1]), timeframe_inf[-1]
    if unit == "M":
        return pd.offsets.MonthBegin(amount)
    if unit == "y":
        return pd.offsets.YearBegin(amount)
    return None


def _merge_key(
    informative: pd.DataFrame, timeframe: str, timeframe_inf: str, date_column: str
) -> pd.Series:
    """When each informative candle becomes visible on the base timeframe (see module doc).

    Raises:
        ValueError: ``timeframe_inf`` is faster than ``timeframe``.
        KeyError: ``informative`` has no ``date_column``.
    """
    seconds = timeframe_to_seconds(timeframe)
    seconds_inf = timeframe_to_seconds(timeframe_inf)
    if seconds_inf < seconds:
        raise ValueError(_FASTER_MESSAGE)
    dates: pd.Series = informative[date_column]
    if seconds_inf == seconds or dates.empty:
        return dates
    base_length = pd.Timedelta(seconds=seconds)
    offset = _calendar_offset(timeframe_inf)
    if offset is not None:
        return (dates + offset) - base_length
    return dates + pd.Timedelta(seconds=seconds_inf) - base_length


def _with_leading_candle(
    dataframe: pd.DataFrame, right: pd.DataFrame, merge_col: str
) -> pd.DataFrame:
    """``right``, plus (when base rows precede the first exact match and an informative candle
    closed before the first base candle) a copy of that candle keyed to the first base date,
    so the ordered merge carries it over those leading rows.

    The copy leaves NaN in the columns whose names the base also has (they come out ``_y``),
    and, as the leading rows had no match, every column takes the dtype it would have with
    missing values (int -> float64, bool -> object).
    """
    if dataframe.empty or right.empty:
        return right
    dates = dataframe["date"]
    keys = right[merge_col]
    matched = dates.isin(keys)
    if not matched.any():
        return right
    first_date = dates.min()
    if dates[matched].min() == first_date:
        return right
    earlier = np.flatnonzero((keys < first_date).to_numpy())
    if not len(earlier):
        return right
    source = earlier[keys.iloc[earlier].to_numpy().argmax()]
    promoted = right.iloc[:0].reindex([0]).dtypes
    if not promoted.equals(right.dtypes):
        right = right.astype(promoted.to_dict())
    extra = right.iloc[[source]].copy()
    renamed_by_merge = [name for name in right.columns if name in dataframe.columns]
    if renamed_by_merge:
        extra[renamed_by_merge] = right[renamed_by_merge].iloc[:0].reindex(extra.index)
    extra[merge_col] = first_date
    return pd.concat([extra, right], ignore_index=True)


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
    """Merge ``informative`` (timeframe ``timeframe_inf``) onto ``dataframe`` (timeframe
    ``timeframe``, dates in its ``date`` column) without look-ahead; the rules are in the
    module docstring. ``date_column`` names the informative frame's date column. Neither
    input is modified.

    Raises:
        ValueError: ``timeframe_inf`` is faster than ``timeframe``, or both
            ``append_timeframe`` and a ``suffix`` are given.
        KeyError: ``informative`` has no ``date_column`` (or ``dataframe`` no ``date``).
    """
    key = _merge_key(informative, timeframe, timeframe_inf, date_column)
    if suffix and append_timeframe:
        raise ValueError(_BOTH_NAMINGS_MESSAGE)
    right = informative.copy(deep=False)
    right["date_merge"] = key
    label = timeframe_inf if append_timeframe else suffix
    merge_col = "date_merge"
    if label:
        merge_col = f"date_merge_{label}"
        right.columns = [f"{col}_{label}" for col in right.columns]
    if ffill:
        right = _with_leading_candle(dataframe, right, merge_col)
        merged = pd.merge_ordered(
            dataframe, right, fill_method="ffill", left_on="date", right_on=merge_col, how="left"
        )
    else:
        merged = pd.merge(dataframe, right, left_on="date", right_on=merge_col, how="left")
    return merged.drop(columns=merge_col)
