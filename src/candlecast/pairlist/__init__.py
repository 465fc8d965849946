"""Pair lists: where the bot's whitelist comes from, applied as a chain."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from candlecast.config.models import Config, PairlistConfig
from candlecast.data.producer_store import ProducerStore

logger = logging.getLogger(__name__)


def untradable_reason(pair: str, markets: Mapping[str, Any]) -> str | None:
    """Why ``pair`` cannot be traded on these markets, or None when it can."""
    market = markets.get(pair)
    if market is None:
        return "is not listed on the exchange"
    if market.get("active") is False:
        return "is not active on the exchange (trading halted or delisted)"
    if market.get("spot") is False:
        return "is not a spot market"
    return None


class _Warner:
    """Say each (pair, reason) once, not on every refresh."""

    def __init__(self) -> None:
        self._said: set[tuple[str, str]] = set()

    def check(self, pair: str, markets: Mapping[str, Any], source: str) -> bool:
        reason = untradable_reason(pair, markets)
        if reason is None:
            self._said = {s for s in self._said if s[0] != pair}  # say it again if it recurs
            return True
        if (pair, reason) not in self._said:
            self._said.add((pair, reason))
            logger.warning("Pair %s %s; removed from the whitelist (%s)", pair, reason, source)
        return False


class StaticPairList:
    """The pairs of ``exchange.pair_whitelist`` that the exchange lists and trades."""

    def __init__(self, config: Config, spec: PairlistConfig) -> None:
        self.pairs = list(config.exchange.pair_whitelist)
        self._warner = _Warner()

    def apply(self, pairs: list[str], markets: Mapping[str, Any]) -> list[str]:
        out = list(pairs)
        for pair in self.pairs:
            if self._warner.check(pair, markets, "exchange.pair_whitelist") and pair not in out:
                out.append(pair)
        return out


class ProducerPairList:
    """The pairs a producer announces, after earlier lists' pairs, de-duplicated."""

    def __init__(self, config: Config, spec: PairlistConfig, store: ProducerStore) -> None:
        self.producer = spec.producer_name
        self.number_assets = spec.number_assets
        self.store = store
        self._warner = _Warner()

    def apply(self, pairs: list[str], markets: Mapping[str, Any]) -> list[str]:
        out = list(pairs)
        added = 0
        for pair in self.store.pairs(self.producer):
            if self.number_assets and added >= self.number_assets:
                break
            if pair in out:
                continue
            if not self._warner.check(pair, markets, f"producer {self.producer}"):
                continue
            out.append(pair)
            added += 1
        return out


class PairListChain:
    """Apply every configured pair list in order, then the blacklist."""

    def __init__(self, config: Config, store: ProducerStore) -> None:
        self.handlers: list[StaticPairList | ProducerPairList] = []
        for spec in config.pairlists:
            if spec.method == "StaticPairList":
                self.handlers.append(StaticPairList(config, spec))
            else:
                self.handlers.append(ProducerPairList(config, spec, store))
        self.blacklist = set(config.exchange.pair_blacklist)

    def refresh(self, markets: Mapping[str, Any]) -> list[str]:
        pairs: list[str] = []
        for handler in self.handlers:
            pairs = handler.apply(pairs, markets)
        return [p for p in pairs if p not in self.blacklist]

    @property
    def methods(self) -> Sequence[str]:
        return [type(h).__name__ for h in self.handlers]
