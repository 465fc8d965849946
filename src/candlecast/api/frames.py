"""Analyzed frames as JSON: candlecast's exact payload and freqtrade's ``PairHistory``."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from candlecast.domain.candles import dates_to_ms
from candlecast.domain.locks import DATETIME_PRINT_FORMAT
from candlecast.domain.timeframes import timeframe_to_msecs

#: freqtrade's marker columns: (signal column, marker column, count field)
_SIGNALS = (
    ("enter_long", "_enter_long_signal_close", "enter_long_signals"),
    ("exit_long", "_exit_long_signal_close", "exit_long_signals"),
    ("enter_short", "_enter_short_signal_close", "enter_short_signals"),
    ("exit_short", "_exit_short_signal_close", "exit_short_signals"),
)


def frame_payload(frame: pd.DataFrame) -> dict[str, Any]:
    """Columns and rows of ``frame`` at full precision (dates as epoch ms, NaN as null)."""
    columns: list[list[Any]] = []
    for name in frame.columns:
        series = frame[name]
        kind = series.dtype.kind
        if kind == "M":
            values = dates_to_ms(series).tolist()
        elif kind in "fiub":
            values = series.to_numpy().tolist()
        else:
            values = [
                None if (v is None or (isinstance(v, float) and math.isnan(v))) else v
                for v in series.tolist()
            ]
        columns.append(values)
    rows = [list(r) for r in zip(*columns, strict=True)] if columns else []
    return {
        "columns": [str(c) for c in frame.columns],
        "data": rows,
        "dtypes": [str(t) for t in frame.dtypes],
    }


def _signal_count(frame: pd.DataFrame, column: str) -> int:
    if column not in frame.columns:
        return 0
    return int((frame[column] == 1).sum())


def _cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is pd.NaT:
        return None
    return value


def pair_history(
    frame: pd.DataFrame,
    pair: str,
    timeframe: str,
    strategy: str,
    analyzed_at: datetime,
    columns: list[str] | None = None,
) -> dict[str, Any]:
    """``frame`` as freqtrade's ``PairHistory`` (what FreqUI charts).

    Rows are lists in ``columns`` order; ``date`` is an ISO string and ``__date_ts`` its
    epoch ms; ``_<signal>_signal_close`` holds the close where a signal column is 1 (the
    chart's markers); infinities and NaN are null. ``columns`` (POST) narrows the columns
    sent, as freqtrade's ``columns`` field does; ``all_columns`` lists every column.
    """
    frame = frame.copy()
    all_columns = [str(c) for c in frame.columns]
    counts = {field: _signal_count(frame, col) for col, _, field in _SIGNALS}
    if "close" in frame.columns:
        for col, marker, _ in _SIGNALS:
            if col in frame.columns:
                frame[marker] = frame["close"].where(frame[col] == 1, np.nan)
    if "enter_long" in frame.columns and "close" in frame.columns:
        frame["_buy_signal_close"] = frame["_enter_long_signal_close"]
    if "exit_long" in frame.columns and "close" in frame.columns:
        frame["_sell_signal_close"] = frame["_exit_long_signal_close"]
    if "date" in frame.columns:
        frame["__date_ts"] = dates_to_ms(frame["date"])
    if columns:
        keep = ["date", "__date_ts", *[c for c in columns if c in frame.columns]]
        keep += [c for c in frame.columns if str(c).startswith("_") and c not in keep]
        frame = frame[[c for c in dict.fromkeys(keep) if c in frame.columns]]
    rows = [[_cell(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    has_dates = "date" in frame.columns and len(frame)
    start = frame["date"].iloc[0] if has_dates else None
    stop = frame["date"].iloc[-1] if has_dates else None
    return {
        "strategy": strategy,
        "pair": pair,
        "timeframe": timeframe,
        "timeframe_ms": timeframe_to_msecs(timeframe),
        "columns": [str(c) for c in frame.columns],
        "all_columns": all_columns,
        "data": rows,
        "length": len(rows),
        "buy_signals": counts["enter_long_signals"],
        "sell_signals": counts["exit_long_signals"],
        **counts,
        "last_analyzed": analyzed_at.isoformat(),
        "last_analyzed_ts": int(analyzed_at.timestamp()),
        "data_start": "" if start is None else start.strftime(DATETIME_PRINT_FORMAT),
        "data_start_ts": 0 if start is None else int(start.timestamp() * 1000),
        "data_stop": "" if stop is None else stop.strftime(DATETIME_PRINT_FORMAT),
        "data_stop_ts": 0 if stop is None else int(stop.timestamp() * 1000),
        "annotations": [],
    }
