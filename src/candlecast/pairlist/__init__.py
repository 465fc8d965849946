"""Pair lists: where the bot's whitelist comes from, applied as a chain."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from candlecast.config.models import Config, PairlistConfig
from candlecast.data.producer_store import ProducerStore

logger = logging.getLogger(__name__)


class StaticPairList:
    """The pairs of ``exchange.pair_whitelist`` that the exchange lists."""

    def __init__(self, config: Config, spec: PairlistConfig) -> None:
        self.pairs = list(config.exchange.pair_whitelist)

    def apply(self, pairs: list[str], markets: object) -> list[str]:
        out = list(pairs)
        for pair in self.pairs:
            if pair not in markets:  # type: ignore[operator]
                logger.warning("Pair %s is not on the exchange; removed from the whitelist", pair)
            elif pair not in out:
                out.append(pair)
        return out


class ProducerPairList:
    """The pairs a producer announces, after earlier lists' pairs, de-duplicated."""

    def __init__(self, config: Config, spec: PairlistConfig, store: ProducerStore) -> None:
        self.producer = spec.producer_name
        self.number_assets = spec.number_assets
        self.store = store

    def apply(self, pairs: list[str], markets: object) -> list[str]:
        out = list(pairs)
        added = 0
        for pair in self.store.pairs(self.producer):
            if self.number_assets and added >= self.number_assets:
                break
            if pair in out:
                continue
            if pair not in markets:  # type: ignore[operator]
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

    def refresh(self, markets: object) -> list[str]:
        pairs: list[str] = []
        for handler in self.handlers:
            pairs = handler.apply(pairs, markets)
        return [p for p in pairs if p not in self.blacklist]

    @property
    def methods(self) -> Sequence[str]:
        return [type(h).__name__ for h in self.handlers]
