"""``@informative``: indicators computed on another timeframe (or pair) and merged in.

As freqtrade documents it::

    @informative("1h")                     # this pair, 1h: columns rsi_1h, date_1h, ...
    @informative("1h", "BTC/{stake}")      # BTC/<stake currency>, 1h: btc_usdt_rsi_1h, ...
    @informative("1h", "{base}/BTC", "{column}_{base}_btc", ffill=False)
    def populate_indicators_1h(self, dataframe, metadata): ...

Before ``populate_indicators`` runs, each decorated method is called on the informative
candles, its columns are renamed with ``fmt`` (default ``{column}_{timeframe}`` for the
current pair, ``{base}_{quote}_{column}_{timeframe}`` for another asset) and the result is
merged onto the strategy's candles with ``merge_informative_pair`` (no look-ahead).
``fmt`` may use ``{asset}``, ``{base}``, ``{BASE}``, ``{quote}``, ``{QUOTE}``, ``{column}``,
``{timeframe}``, or be a callable taking those as keyword arguments. ``asset`` may use
``{stake}`` (``{stake_currency}``) and ``{base}``/``{quote}`` of the current pair.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from candlecast.domain.enums import CandleType
from candlecast.domain.timeframes import timeframe_to_seconds
from candlecast.strategy.informative_pair import merge_informative_pair

PopulateIndicators = Callable[[Any, pd.DataFrame, dict], pd.DataFrame]
MARKER = "_ft_informative"  # the attribute freqtrade's decorator sets, kept for familiarity


@dataclass(frozen=True)
class InformativeData:
    asset: str
    timeframe: str
    fmt: str | Callable[..., str] | None
    ffill: bool
    candle_type: CandleType | str | None


def informative(
    timeframe: str,
    asset: str = "",
    fmt: str | Callable[..., str] | None = None,
    *,
    candle_type: CandleType | str | None = None,
    ffill: bool = True,
) -> Callable[[PopulateIndicators], PopulateIndicators]:
    """Mark ``populate_indicators_*`` as computing indicators on ``timeframe`` (and ``asset``).

    Raises:
        ValueError: ``timeframe`` is not a valid timeframe.
    """
    timeframe_to_seconds(timeframe)
    data = InformativeData(asset, timeframe, fmt, ffill, candle_type)

    def decorator(fn: PopulateIndicators) -> PopulateIndicators:
        marks = list(getattr(fn, MARKER, []))
        marks.append(data)
        setattr(fn, MARKER, marks)
        return fn

    return decorator


def split_pair(pair: str) -> tuple[str, str]:
    """``"ETH/USDT:USDT"`` -> ``("ETH", "USDT")``."""
    base, _, quote = pair.partition("/")
    return base, quote.split(":")[0]


def format_pair_name(asset: str, stake_currency: str, current_pair: str | None = None) -> str:
    """Fill ``{stake}``/``{stake_currency}`` (and ``{base}``/``{quote}`` of ``current_pair``)."""
    base, quote = split_pair(current_pair) if current_pair else ("", "")
    return asset.format(
        stake=stake_currency,
        stake_currency=stake_currency,
        base=base,
        BASE=base,
        quote=quote,
        QUOTE=quote,
    ).upper()


def collect(strategy_class: type) -> list[tuple[InformativeData, PopulateIndicators]]:
    """Every ``(informative data, method)`` declared on ``strategy_class``, in name order."""
    found: list[tuple[InformativeData, PopulateIndicators]] = []
    for name in dir(strategy_class):
        method = getattr(strategy_class, name, None)
        marks = getattr(method, MARKER, None) if callable(method) else None
        if isinstance(marks, list):
            found.extend((data, method) for data in marks)  # type: ignore[misc]
    return found


def informative_asset(data: InformativeData, stake_currency: str, pair: str) -> str:
    """The pair an informative method reads for the strategy's ``pair``."""
    if not data.asset:
        return pair
    return format_pair_name(data.asset, stake_currency, pair)


def merge_informative(
    strategy: Any,
    dataframe: pd.DataFrame,
    metadata: dict,
    data: InformativeData,
    method: PopulateIndicators,
    stake_currency: str,
) -> pd.DataFrame:
    """Run ``method`` on the informative candles and merge its columns onto ``dataframe``.

    Raises:
        ValueError: the formatted date column already exists in ``dataframe``.
    """
    asset = informative_asset(data, stake_currency, metadata["pair"])
    fmt = data.fmt or (
        "{base}_{quote}_{column}_{timeframe}" if data.asset else "{column}_{timeframe}"
    )
    base, quote = split_pair(asset)
    inf = strategy.dp.get_pair_dataframe(asset, data.timeframe)
    inf = method(strategy, inf, {"pair": asset, "timeframe": data.timeframe})
    formatter = fmt if callable(fmt) else fmt.format
    args = {
        "BASE": base.upper(),
        "QUOTE": quote.upper(),
        "base": base.lower(),
        "quote": quote.lower(),
        "asset": asset,
        "timeframe": data.timeframe,
    }
    inf = inf.rename(columns=lambda column: formatter(column=column, **args))
    date_column = formatter(column="date", **args)
    if date_column in dataframe.columns:
        raise ValueError(
            f"informative column {date_column!r} already exists: give each @informative a "
            "distinct fmt so column names stay unique"
        )
    return merge_informative_pair(
        dataframe,
        inf,
        strategy.timeframe,
        data.timeframe,
        ffill=data.ffill,
        append_timeframe=False,
        date_column=date_column,
    )
