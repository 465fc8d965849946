"""``merge_informative_pair``: join a slower (or equal) timeframe onto a base frame.

The rules, as freqtrade 2026.9 applies them:

- An informative candle opening at ``t`` closes at ``t + timeframe_inf``; it is first seen
  by the base candle that closes at the same moment, i.e. the one opening at
  ``t + timeframe_inf - timeframe`` (its *merge key*). Equal timeframes merge 1:1 by date.
- With ``ffill`` each base row carries the informative row it last matched exactly (a whole
  row: a NaN inside that informative row stays NaN). Base rows before the first exact match
  each get the last informative candle visible by then (merge key <= their date), provided
  some base row matches at all. (freqtrade gives them all the candle before the first match,
  which a gap in the base can make a candle that has not closed yet: see docs/compat.md.)
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


def _leading_sources(dates: pd.Series, keys: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """For the base dates before the first exact match (ascending), the position in ``keys``
    of the last informative candle visible by then (merge key <= date), or -1.

    Empty when no base date matches a key at all, or the first one does.
    """
    none = np.empty(0, dtype=np.intp)
    matched = dates.isin(keys)
    if not matched.any():
        return none, none
    leading = dates[dates < dates[matched].min()].sort_values(kind="stable")
    if leading.empty:
        return none, none
    known = keys.dropna().sort_values(kind="stable")
    found = known.searchsorted(leading, side="right") - 1
    positions = np.asarray(keys.index.get_indexer(known.index), dtype=np.intp)
    sources = np.where(found >= 0, positions[np.maximum(found, 0)], -1)
    return leading.to_numpy(), sources


def _with_leading_candles(
    dataframe: pd.DataFrame, right: pd.DataFrame, merge_col: str
) -> pd.DataFrame:
    """``right`` plus, for the base rows before the first exact match, copies of the candles
    they may see, keyed to the base date where each becomes visible, so that the ordered
    merge carries them over those rows.

    The copies leave NaN in the columns whose names the base also has (they come out
    ``_y``), and, as the leading rows had no match, every column takes the dtype it would
    have with missing values (int -> float64, bool -> object).
    """
    if dataframe.empty or right.empty:
        return right
    plain = right.reset_index(drop=True)
    lead_dates, sources = _leading_sources(dataframe["date"], plain[merge_col])
    changes = (sources >= 0) & (np.diff(sources, prepend=-1) != 0)
    if not changes.any():
        return right
    promoted = plain.iloc[:0].reindex([0]).dtypes
    if not promoted.equals(plain.dtypes):
        plain = plain.astype(promoted.to_dict())
    extra = plain.iloc[sources[changes]].copy()
    renamed_by_merge = [name for name in plain.columns if name in dataframe.columns]
    if renamed_by_merge:
        extra[renamed_by_merge] = plain[renamed_by_merge].iloc[:0].reindex(extra.index)
    extra[merge_col] = lead_dates[changes]
    return pd.concat([extra, plain], ignore_index=True)


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
        right = _with_leading_candles(dataframe, right, merge_col)
        merged = pd.merge_ordered(
            dataframe, right, fill_method="ffill", left_on="date", right_on=merge_col, how="left"
        )
    else:
        merged = pd.merge(dataframe, right, left_on="date", right_on=merge_col, how="left")
    return merged.drop(columns=merge_col)
