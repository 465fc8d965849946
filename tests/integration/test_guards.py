"""The consumer's guards against trading on the wrong data: stale data, another market."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from candlecast.strategy import IStrategy
from candlecast.testing import wait_until
from tests.integration.harness import (
    PAIRS,
    PASSWORD,
    USER,
    CraftedSignals,
    advance,
    captured_logs,
    consumer_config,
    copies_match,
    make_bot,
    new_clock,
    opened,
    producer_config,
    running,
)

pytestmark = pytest.mark.anyio


class EntersOnAnyProducerData(IStrategy):
    """Enters whenever the producer has data for the pair, and records the staleness flag."""

    timeframe = "1m"
    stoploss = -0.5
    process_only_new_candles = False

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.seen_stale: dict[str, bool] = {}
        # no entries until the test arms it: the consumer's own loop runs meanwhile
        self.armed = False

    def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        producer, _ = self.dp.get_producer_df(metadata["pair"])
        self.seen_stale[metadata["pair"]] = producer.attrs["producer_stale"]
        dataframe["has_producer_data"] = int(not producer.empty)
        return dataframe

    def populate_entry_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        dataframe["enter_long"] = dataframe["has_producer_data"] if self.armed else 0
        return dataframe


async def _frozen_producer_then_resumed(tmp_path: Path, max_age: int) -> tuple[int, int, dict]:
    """Trades opened while the producer's data is 5 candles old, then after it resumes."""
    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), CraftedSignals(), clock)) as producer:
        raw = consumer_config(tmp_path, {"default": producer.api_port})
        raw["external_message_consumer"]["producers"][0]["max_age_candles"] = max_age
        strategy = EntersOnAnyProducerData()
        async with running(make_bot(raw, strategy, clock)) as consumer:
            await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)
            clock.advance(5 * 60)  # the producer analyzes nothing for five candles
            strategy.armed = True  # no await since the advance: no cycle saw fresh data armed
            await consumer.cycle()
            while_stale = consumer.repository.count(is_open=True)
            flags = dict(strategy.seen_stale)
            await advance(producer, clock)
            await wait_until(lambda: not consumer.dp.producer_data_stale("BTC/USDT"), timeout=10)
            await consumer.cycle()
            return while_stale, consumer.repository.count(is_open=True), flags


async def test_no_new_trades_on_producer_data_older_than_max_age_candles(tmp_path: Path):
    while_stale, after, flags = await _frozen_producer_then_resumed(tmp_path, max_age=2)
    assert while_stale == 0
    assert flags == dict.fromkeys(PAIRS, True)  # the strategy could read it
    assert after >= 1  # trades resume once the producer's data is current again


async def test_without_max_age_candles_stale_producer_data_still_trades(tmp_path: Path):
    while_stale, _, flags = await _frozen_producer_then_resumed(tmp_path, max_age=0)
    assert while_stale >= 1
    assert flags == dict.fromkeys(PAIRS, False)


async def _producers_status(consumer_port: int) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        response = await http.get(
            f"http://127.0.0.1:{consumer_port}/api/v1/producers", auth=(USER, PASSWORD)
        )
    return response.json()


async def test_a_consumer_on_another_market_warns_once_per_pair_and_reports_it(tmp_path: Path):
    # the case: the producer's simulated market at sim_volatility 10, the consumer's at 1
    clock = new_clock()
    raw_p = producer_config(tmp_path, exchange={"sim_volatility": 10})
    async with opened(make_bot(raw_p, CraftedSignals(), clock)) as producer:
        raw = consumer_config(tmp_path, {"default": producer.api_port})
        with captured_logs() as logs:
            async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
                await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)
                for _ in range(3):
                    await consumer.cycle()
                status = await _producers_status(consumer.api_port)
    found = status[0]["market_mismatch"]
    assert sorted(found) == PAIRS
    for pair, item in found.items():
        ours = consumer.dp.ohlcv(pair).set_index("date")[item["column"]]
        theirs = producer.dp.ohlcv(pair).set_index("date")[item["column"]]
        date = pd.Timestamp(item["date"])
        assert (item["own_price"], item["producer_price"]) == (ours[date], theirs[date])
        assert item["difference"] > item["tolerance"] == 0.01
    warnings = [line for line in logs.getvalue().splitlines() if "Market mismatch" in line]
    assert sorted(line.split(" on ")[1].split(":")[0] for line in warnings) == PAIRS


async def test_a_consumer_on_the_producers_market_reports_no_mismatch(tmp_path: Path):
    clock = new_clock()
    async with opened(make_bot(producer_config(tmp_path), CraftedSignals(), clock)) as producer:
        raw = consumer_config(tmp_path, {"default": producer.api_port})
        async with running(make_bot(raw, "ConsumerStrategy", clock)) as consumer:
            await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)
            await consumer.cycle()
            status = await _producers_status(consumer.api_port)
    assert status[0]["market_mismatch"] == {}
