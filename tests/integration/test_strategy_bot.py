"""freqtrade strategy files in a real bot: informative candles fetched, errors folded, refusals."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from candlecast.exceptions import StrategyError
from tests.integration.harness import (
    PAIRS,
    TOKEN,
    make_bot,
    new_clock,
    opened,
    producer_config,
)

pytestmark = pytest.mark.anyio

INFORMATIVE = """
import talib.abstract as ta
from pandas import DataFrame
from freqtrade.strategy import IStrategy, IntParameter, informative


class InfBot(IStrategy):
    timeframe = "1m"
    stoploss = -0.1
    process_only_new_candles = False
    buy_rsi = IntParameter(10, 90, default=30)
    buy_params = {"buy_rsi": 60}

    def informative_pairs(self):
        return [("DOGE/USDT", "15m")]

    @informative("5m")
    def populate_indicators_5m(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["rsi"] = ta.RSI(dataframe, timeperiod=14)
        return dataframe

    @informative("1h", "LTC/{stake}")
    def populate_indicators_ltc_1h(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["rsi"] = ta.RSI(dataframe, timeperiod=14)
        return dataframe

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[dataframe["rsi_5m"] < self.buy_rsi.value, "enter_long"] = 1
        return dataframe
"""


def config(tmp_path: Path) -> dict:
    return producer_config(
        tmp_path, api_server={"enabled": False}, stake_currency="USDT", dry_run_wallet=1000
    )


async def test_the_bot_fetches_the_pairs_and_timeframes_the_strategy_asks_for(tmp_path: Path):
    (tmp_path / "InfBot.py").write_text(INFORMATIVE)
    clock = new_clock()
    bot = make_bot(config(tmp_path), "InfBot", clock, strategy_dir=tmp_path)
    async with opened(bot):
        for pair in PAIRS:
            assert not bot.dp.ohlcv(pair, "5m").empty
            frame, _ = bot.dp.get_analyzed_dataframe(pair)
            assert {"rsi_5m", "date_5m", "ltc_usdt_rsi_1h", "ltc_usdt_date_1h"} <= set(
                frame.columns
            )
            assert frame["rsi_5m"].notna().any() and frame["ltc_usdt_rsi_1h"].notna().any()
            assert frame["enter_long"].sum() == (frame["rsi_5m"] < 60).sum()
        assert not bot.dp.ohlcv("LTC/USDT", "1h").empty
        assert not bot.dp.ohlcv("DOGE/USDT", "15m").empty
        assert bot.stats.strategy_errors == 0
        assert bot.strategy.config["runmode"].value == "dry_run"  # as freqtrade's config


def test_the_strategy_reads_the_config_with_every_secret_masked(tmp_path: Path):
    raw = producer_config(
        tmp_path,
        exchange={
            "name": "simulated",
            "pair_whitelist": list(PAIRS),
            "key": "k-9f8e7d",
            "secret": "s-1a2b3c",
        },
    )
    bot = make_bot(raw, "ProducerStrategy", new_clock())
    seen = bot.strategy.config
    assert (seen["exchange"]["key"], seen["exchange"]["secret"]) == ("***", "***")
    assert seen["api_server"]["password"] == "***"
    assert seen["api_server"]["ws_token"] == ["***"]
    assert seen["exchange"]["pair_whitelist"] == list(PAIRS)  # the rest as given
    assert seen["stake_amount"] == 100
    # the bot itself still has the real values
    assert bot.config.exchange.key == "k-9f8e7d" and bot.config.api_server.ws_token == [TOKEN]
    bot.repository.close()


FAILING = """
from freqtrade.strategy import IStrategy


class Failing(IStrategy):
    timeframe = "1m"
    stoploss = -0.1
    process_only_new_candles = False

    def populate_indicators(self, dataframe, metadata):
        dataframe["x"] = dataframe["close"] / 0
        return dataframe["missing_column"]

    def populate_entry_trend(self, dataframe, metadata):
        return dataframe
"""


async def test_the_same_strategy_error_on_every_pair_is_one_line_and_a_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    (tmp_path / "Failing.py").write_text(FAILING)
    clock = new_clock()
    bot = make_bot(config(tmp_path), "Failing", clock, strategy_dir=tmp_path)
    caplog.set_level(logging.DEBUG, logger="candlecast.strategy.traceback")
    async with opened(bot):
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert bot.stats.strategy_errors == len(PAIRS)
        first, folded = errors[0].getMessage(), errors[1].getMessage()
        assert len(errors) == 2
        assert f"{tmp_path / 'Failing.py'}:12" in first and "KeyError" in first
        assert f"{len(PAIRS) - 1} more times this cycle" in folded
        tracebacks = [r for r in caplog.records if r.name == "candlecast.strategy.traceback"]
        assert len(tracebacks) == 1 and tracebacks[0].exc_info is not None


async def test_a_strategy_asking_for_short_trades_does_not_start(tmp_path: Path):
    # (trailing_stop was the example here until issue 15 honoured it)
    (tmp_path / "Shorts.py").write_text(
        FAILING.replace("class Failing", "class Shorts").replace(
            "    stoploss = -0.1\n", "    stoploss = -0.1\n    can_short = True\n"
        )
    )
    with pytest.raises(StrategyError, match=r"Shorts .*Shorts\.py.*can_short"):
        make_bot(config(tmp_path), "Shorts", new_clock(), strategy_dir=tmp_path)
