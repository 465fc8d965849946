"""ProducerPairList (alone or after StaticPairList) makes freqtrade 2026.9's whitelist.

Each case of ``helpers.json`` ``producer_pairlist`` is one refresh of freqtrade's
PairListManager: config pairlists, exchange.pair_whitelist / pair_blacklist, stake currency
USDT, producers 'default' and 'second' configured, the whitelists received from producers,
and a stub exchange whose markets are ``markets``. We build the same config, put the
received whitelists in a real ProducerStore and refresh a real PairListChain.
"""

from __future__ import annotations

from typing import Any

import pytest

from candlecast.config import validate_config
from candlecast.data.producer_store import ProducerStore
from candlecast.exceptions import ConfigError
from candlecast.pairlist import PairListChain
from tests import golden

HELPERS = golden.load("helpers")
MARKETS: dict[str, Any] = HELPERS["markets"]
CASES = HELPERS["producer_pairlist"]

# case id -> (what candlecast gives instead, why)
DELIBERATE: dict[str, tuple[list[str] | str, str]] = {
    "StaticPairList [X] then ProducerPairList, producer sends unknown/inactive/other-quote pairs": (
        ["X/USDT", "A/USDT"],
        "in a later position freqtrade passes the producer's pairs through unchecked, so a pair "
        "the exchange does not list (E/USDT), a halted one (I/USDT) and one in another quote "
        "currency (F/BTC) would be traded; candlecast removes them in every position",
    ),
    "ProducerPairList producer_name not configured": (
        "refused: pairlists names no configured producer",
        "freqtrade silently keeps an empty whitelist forever; candlecast refuses the config at "
        "startup, naming the producer, since the name can only be a typo",
    ),
}


def raw_config(case: dict[str, Any]) -> dict[str, Any]:
    producers = [
        {"name": name, "host": "127.0.0.1", "port": 8080 + i, "ws_token": f"token-{name}"}
        for i, name in enumerate(("default", "second"))
    ]
    return {
        "stake_currency": "USDT",
        "exchange": {
            "pair_whitelist": case["pair_whitelist"],
            "pair_blacklist": case["pair_blacklist"],
        },
        "pairlists": case["pairlists"],
        "external_message_consumer": {
            "enabled": case["external_message_consumer_enabled"],
            "producers": producers,
        },
    }


def whitelist(case: dict[str, Any]) -> list[str]:
    config = validate_config(raw_config(case))
    store = ProducerStore()
    for name, pairs in case["producer_pairs"].items():
        store.set_pairs(name, tuple(pairs))
    return PairListChain(config, store).refresh(MARKETS)


def test_every_case_is_covered():
    assert len(CASES) == 21
    assert set(DELIBERATE) <= {c["id"] for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_whitelist_matches_freqtrade(case: dict[str, Any]):
    if case["id"] in DELIBERATE:
        assert_deliberate_difference(case)
    elif "raises" in case:
        # freqtrade: OperationalException when the chain is built; candlecast: at config load
        with pytest.raises(ConfigError) as info:
            whitelist(case)
        (line,) = info.value.problems
        assert line.startswith("pairlists:")
        assert "external_message_consumer" in line
    else:
        assert whitelist(case) == case["result"]


def assert_deliberate_difference(case: dict[str, Any]) -> None:
    ours, _reason = DELIBERATE[case["id"]]
    if isinstance(ours, list):
        assert case["result"] != ours
        assert whitelist(case) == ours
        return
    with pytest.raises(ConfigError) as info:
        whitelist(case)
    (line,) = info.value.problems
    assert line.startswith("pairlists:")
    assert "'nobody'" in line


def test_number_assets_caps_the_whole_list_before_unusable_pairs_are_removed():
    case = {
        "pairlists": [
            {"method": "StaticPairList"},
            {"method": "ProducerPairList", "number_assets": 3},
        ],
        "pair_whitelist": ["X/USDT"],
        "pair_blacklist": [],
        "producer_pairs": {"default": ["E/USDT", "A/USDT", "B/USDT"]},
        "external_message_consumer_enabled": True,
    }
    # X plus the first two received (E is unknown and removed): 3 entries, 2 usable
    assert whitelist(case) == ["X/USDT", "A/USDT"]


def test_blacklist_patterns_match_whole_pairs_case_insensitively():
    case = {
        "pairlists": [{"method": "ProducerPairList"}],
        "pair_whitelist": [],
        "pair_blacklist": ["[ab]/usdt", "C/US"],
        "producer_pairs": {"default": ["A/USDT", "B/USDT", "C/USDT", "D/USDT"]},
        "external_message_consumer_enabled": True,
    }
    assert whitelist(case) == ["C/USDT", "D/USDT"]


def test_static_pairlist_allow_inactive_keeps_halted_markets():
    case = {
        "pairlists": [{"method": "StaticPairList", "allow_inactive": True}],
        "pair_whitelist": ["I/USDT", "A/USDT"],
        "pair_blacklist": [],
        "producer_pairs": {},
        "external_message_consumer_enabled": True,
    }
    assert whitelist(case) == ["I/USDT", "A/USDT"]
    case["pairlists"] = [{"method": "StaticPairList"}]
    assert whitelist(case) == ["A/USDT"]
