"""Pair lists: where the bot's whitelist comes from, applied as a chain.

As in freqtrade, the first list of ``pairlists`` generates the whitelist, every later one
filters (or extends) it, and the blacklist is applied last. ``number_assets`` of a
ProducerPairList caps the whole list at that point (earlier lists' pairs count), before
the producer's patterns are expanded and unusable pairs removed.

Where candlecast differs: a list in a later position still removes pairs the exchange
cannot trade for this bot (freqtrade passes them through), see ``docs/compat.md``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from candlecast.config.models import Config, PairlistConfig
from candlecast.data.producer_store import ProducerStore
from candlecast.pairlist.markets import compile_pattern, dedupe, expand, untradable_reason

logger = logging.getLogger(__name__)

__all__ = ["PairListChain", "ProducerPairList", "StaticPairList", "untradable_reason"]


class _Warner:
    """Say each (pair, reason) once, not on every refresh."""

    def __init__(self, stake_currency: str) -> None:
        self.stake_currency = stake_currency
        self._said: set[tuple[str, str]] = set()

    def usable(self, pairs: Sequence[str], markets: Mapping[str, Any], source: str) -> list[str]:
        """The pairs of ``pairs`` this bot can trade, each once; warn about the others."""
        out: list[str] = []
        for pair in dedupe(pairs):
            reason = untradable_reason(pair, markets, self.stake_currency)
            if reason is None:
                self._said = {s for s in self._said if s[0] != pair}  # say it again if it recurs
                out.append(pair)
            elif (pair, reason) not in self._said:
                self._said.add((pair, reason))
                logger.warning("Pair %s %s; removed from the whitelist (%s)", pair, reason, source)
        return out


class StaticPairList:
    """The pairs (or patterns) of ``exchange.pair_whitelist``."""

    def __init__(self, config: Config, spec: PairlistConfig) -> None:
        self.pairs = list(config.exchange.pair_whitelist)
        self.allow_inactive = spec.allow_inactive
        for entry in self.pairs:
            if compile_pattern(entry) is None:
                logger.warning(
                    "Whitelist entry %r is not a valid pattern; it matches nothing", entry
                )
        self._warner = _Warner(config.stake_currency)

    def generate(self, markets: Mapping[str, Any]) -> list[str]:
        expanded = expand(self.pairs, markets, keep_unmatched=True)
        if self.allow_inactive:
            return dedupe(expanded)
        return self._warner.usable(expanded, markets, "exchange.pair_whitelist")

    def filter(self, pairs: list[str], markets: Mapping[str, Any]) -> list[str]:
        """``pairs``, then the whitelist's pairs not among them."""
        return dedupe([*pairs, *self.generate(markets)])


class ProducerPairList:
    """The pairs a producer announces (its whitelist message)."""

    def __init__(self, config: Config, spec: PairlistConfig, store: ProducerStore) -> None:
        self.producer = spec.producer_name
        self.number_assets = spec.number_assets
        self.store = store
        self._warner = _Warner(config.stake_currency)

    def _cap(self, pairs: list[str]) -> list[str]:
        return pairs[: self.number_assets] if self.number_assets else pairs

    def generate(self, markets: Mapping[str, Any]) -> list[str]:
        received = self._cap(dedupe(self.store.pairs(self.producer)))
        return self._warner.usable(expand(received, markets), markets, f"producer {self.producer}")

    def filter(self, pairs: list[str], markets: Mapping[str, Any]) -> list[str]:
        """``pairs``, then the producer's pairs not among them; at most ``number_assets``."""
        combined = self._cap(dedupe([*pairs, *self.store.pairs(self.producer)]))
        earlier = set(pairs)
        kept = [p for p in combined if p in earlier]
        new = expand([p for p in combined if p not in earlier], markets)
        added = self._warner.usable(new, markets, f"producer {self.producer}")
        return dedupe([*kept, *added])


class PairListChain:
    """Generate with the first pair list, filter with the others, then apply the blacklist."""

    def __init__(self, config: Config, store: ProducerStore) -> None:
        self.handlers: list[StaticPairList | ProducerPairList] = []
        for spec in config.pairlists:
            if spec.method == "StaticPairList":
                self.handlers.append(StaticPairList(config, spec))
            else:
                self.handlers.append(ProducerPairList(config, spec, store))
        self.blacklist: list[str] = []
        self._patterns: list[re.Pattern[str]] = []
        self.set_blacklist(list(config.exchange.pair_blacklist))

    def set_blacklist(self, entries: list[str]) -> list[str]:
        """Replace the blacklist (REST ``/blacklist``); applies from the next refresh.
        Returns the entries kept (all: an invalid pattern is matched as written)."""
        patterns = []
        for entry in entries:
            compiled = compile_pattern(entry)
            if compiled is None:
                logger.warning(
                    "Blacklist entry %r is not a valid pattern; matching it as written", entry
                )
                compiled = re.compile(re.escape(entry), re.IGNORECASE)
            patterns.append(compiled)
        self.blacklist, self._patterns = list(entries), patterns
        return list(entries)

    def blacklisted(self, pair: str) -> bool:
        return any(p.fullmatch(pair) for p in self._patterns)

    def refresh(self, markets: Mapping[str, Any]) -> list[str]:
        first, *rest = self.handlers
        pairs = first.generate(markets)
        for handler in rest:
            pairs = handler.filter(pairs, markets)
        return [p for p in pairs if not self.blacklisted(p)]

    @property
    def methods(self) -> Sequence[str]:
        return [type(h).__name__ for h in self.handlers]
