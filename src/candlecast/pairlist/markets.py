"""Which pairs the exchange trades, and how pair patterns expand against its markets.

Pure functions over a ccxt-style ``markets`` dict (symbol -> market); no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# What a pair name may look like when a pattern matched no market and is kept as written.
_PLAIN_PAIR = re.compile(r"[A-Za-z0-9:/-]+")


def dedupe(pairs: Iterable[str]) -> list[str]:
    """``pairs`` in order, each once."""
    return list(dict.fromkeys(pairs))


def is_tradable(market: Mapping[str, Any]) -> bool:
    """A spot market with a base and a quote currency (active or not)."""
    return (
        market.get("base") is not None
        and market.get("quote") is not None
        and market.get("spot") is not False
    )


def untradable_reason(
    pair: str, markets: Mapping[str, Any], stake_currency: str | None = None
) -> str | None:
    """Why ``pair`` cannot be traded on these markets, or None when it can."""
    market = markets.get(pair)
    if market is None:
        return "is not listed on the exchange"
    if market.get("spot") is False:
        return "is not a spot market"
    if not is_tradable(market):
        return "has no base or quote currency on the exchange"
    if stake_currency is not None and market.get("quote") != stake_currency:
        return f"is quoted in {market.get('quote')}, not the stake currency {stake_currency}"
    if market.get("active") is False:
        return "is not active on the exchange (trading halted or delisted)"
    return None


def compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """``pattern`` as a case-insensitive regular expression, or None if it is not one."""
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error:
        return None


def expand(
    patterns: Iterable[str], markets: Mapping[str, Any], keep_unmatched: bool = False
) -> list[str]:
    """Replace each pattern (a pair or a regular expression like ``.*/USDT``) by the
    tradable markets it matches in full, in market order.

    A pattern that matches nothing is dropped, or with ``keep_unmatched`` kept as written
    when it looks like a pair name (so that the caller can say why it is unusable). A
    pattern that is not a valid regular expression matches nothing.
    """
    available: list[str] | None = None
    result: list[str] = []
    for pattern in patterns:
        market = markets.get(pattern)
        if market is not None and is_tradable(market):
            result.append(pattern)  # a pair as listed (markets may not be enumerable)
            continue
        if available is None:
            available = [symbol for symbol, market in markets.items() if is_tradable(market)]
        compiled = compile_pattern(pattern)
        if compiled is None:
            matches = []
        else:
            matches = [symbol for symbol in available if compiled.fullmatch(symbol)]
        if matches:
            result += matches
        elif keep_unmatched and _PLAIN_PAIR.fullmatch(pattern):
            result.append(pattern)
    return result
