"""Strategy analysis in worker processes (``internals.analysis_workers``): the same frames
as the bot's own thread, bit for bit; a killed worker is replaced; nothing is left behind."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from candlecast.bot.analysis_pool import (
    AnalysisPool,
    Outcome,
    StrategySpec,
    ThreadAnalysis,
    let_writers_run,
)
from candlecast.bot.runtime import Bot
from candlecast.config import validate_config
from candlecast.data.dataprovider import DataProvider
from candlecast.domain.enums import RunMode
from candlecast.exceptions import ConfigError, StrategyError
from candlecast.strategy import IStrategy
from candlecast.strategy.loader import load_strategy
from candlecast.testing import make_ohlcv, wait_until_sync
from tests import golden
from tests.conftest import EXAMPLES

PAIRS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"]
# self.config as the bot gives it: runmode an enum, secrets masked
CONFIG = {"stake_currency": "USDT", "runmode": RunMode.DRY_RUN, "exchange": {"secret": "***"}}

INFORMATIVE_STRATEGY = '''
import talib.abstract as ta
from candlecast.strategy import IStrategy, informative


class WithInformative(IStrategy):
    """@informative on this pair and on BTC, informative_pairs, dp reads, and state on self."""

    timeframe = "5m"
    stoploss = -0.1
    startup_candle_count = 50

    def informative_pairs(self):
        return [("ETH/USDT", "1h")]

    @informative("1h")
    def populate_indicators_1h(self, dataframe, metadata):
        dataframe["rsi"] = ta.RSI(dataframe, timeperiod=14)
        return dataframe

    @informative("1h", "BTC/{stake}")
    def populate_indicators_btc_1h(self, dataframe, metadata):
        dataframe["ema"] = ta.EMA(dataframe, timeperiod=10)
        return dataframe

    def populate_indicators(self, dataframe, metadata):
        eth = self.dp.get_pair_dataframe("ETH/USDT", "1h")
        dataframe["eth_close_1h_last"] = float(eth["close"].iloc[-1])
        dataframe["whitelist_size"] = len(self.dp.current_whitelist())
        dataframe["runmode"] = self.config["runmode"].value
        dataframe["secret"] = self.config["exchange"]["secret"]
        dataframe["rsi_fast"] = ta.RSI(dataframe, timeperiod=4)
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        dataframe["enter_long"] = (dataframe["rsi_fast"] < 30).astype("int64")
        return dataframe

    def populate_exit_trend(self, dataframe, metadata):
        dataframe["exit_long"] = (dataframe["rsi_fast"] > 70).astype("int64")
        return dataframe
'''

SLOW_STRATEGY = '''
import os
import time
from pathlib import Path
from candlecast.strategy import IStrategy


class Slow(IStrategy):
    """Writes its pid into the marker directory, then takes its time on the pair "SLOW/USDT"."""

    timeframe = "5m"
    stoploss = -0.1

    def populate_indicators(self, dataframe, metadata):
        if metadata["pair"] == "SLOW/USDT":
            marker = Path(self.config["marker_dir"]) / str(os.getpid())
            first = not marker.exists()
            marker.write_text(metadata["pair"])
            if first:
                time.sleep(30)  # killed before it wakes
        dataframe["x"] = dataframe["close"] * 2
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        dataframe["enter_long"] = 0
        return dataframe
'''


def candles(pairs: list[str], timeframe: str, rows: int) -> dict[tuple[str, str], pd.DataFrame]:
    return {
        (pair, timeframe): make_ohlcv(rows, timeframe=timeframe, seed=i)
        for i, pair in enumerate(pairs)
    }


@pytest.fixture
def strategy_dir(tmp_path: Path) -> Path:
    (tmp_path / "WithInformative.py").write_text(INFORMATIVE_STRATEGY)
    (tmp_path / "Slow.py").write_text(SLOW_STRATEGY)
    return tmp_path


@pytest.fixture
def started() -> Iterator[list[AnalysisPool]]:
    """Pools the test starts; every one is closed (and its processes gone) after it."""
    pools: list[AnalysisPool] = []
    yield pools
    for pool in pools:
        pool.close()


def start(pools: list[AnalysisPool], strategy: IStrategy, size: int = 2) -> AnalysisPool:
    pool = AnalysisPool(size, StrategySpec.of(strategy, RunMode.DRY_RUN, {}))
    pools.append(pool)
    pool.start()
    return pool


def by_pair(outcomes: Iterator[Outcome]) -> dict[str, Outcome]:
    return {o.pair: o for o in outcomes}


def assert_same_frames(workers: dict[str, Outcome], thread: dict[str, Outcome]) -> None:
    assert sorted(workers) == sorted(thread)
    for pair, outcome in thread.items():
        assert outcome.error is None and workers[pair].error is None, workers[pair].error
        golden.assert_exact(workers[pair].frame, outcome.frame, pair)


def test_worker_frames_equal_the_thread_frames_for_the_seed_producer_strategy(started):
    strategy = load_strategy("ProducerStrategy", EXAMPLES / "strategies", {})
    frames = candles(PAIRS, strategy.timeframe, 600)
    pool = start(started, strategy)
    workers = by_pair(pool.analyze(PAIRS, frames, PAIRS))
    thread = by_pair(ThreadAnalysis(strategy).analyze(PAIRS, frames, PAIRS))
    assert_same_frames(workers, thread)
    assert all(o.seconds > 0 for o in workers.values())


def test_a_strategy_with_informative_pairs_sees_the_same_data_in_a_worker(started, strategy_dir):
    strategy = load_strategy("WithInformative", strategy_dir, CONFIG)
    whitelist = ["ETH/USDT", "SOL/USDT", "ADA/USDT"]
    frames = candles(whitelist, "5m", 800)
    frames |= candles(["BTC/USDT", "ETH/USDT", "SOL/USDT", "ADA/USDT"], "1h", 200)
    assert {(p, tf) for p, tf in strategy.gather_informative_pairs(whitelist)} <= set(frames)
    strategy.dp = bot_dp(frames, whitelist)
    pool = start(started, strategy)
    workers = by_pair(pool.analyze(whitelist, frames, whitelist))
    thread = by_pair(ThreadAnalysis(strategy).analyze(whitelist, frames, whitelist))
    assert_same_frames(workers, thread)
    frame = workers["SOL/USDT"].frame
    assert frame is not None
    assert {"rsi_1h", "btc_usdt_ema_1h"} <= set(frame.columns)
    assert frame["whitelist_size"].iloc[-1] == 3
    assert frame["runmode"].iloc[-1] == "dry_run" and frame["secret"].iloc[-1] == "***"

    # a new candle for one pair: only what changed is shipped, and the answer follows it
    grown = pd.concat(
        [frames[("SOL/USDT", "5m")], make_ohlcv(801, timeframe="5m", seed=1).tail(1)],
        ignore_index=True,
    )
    grown.loc[len(grown) - 1, "date"] = grown["date"].iloc[-2] + pd.Timedelta(minutes=5)
    frames[("SOL/USDT", "5m")] = grown
    strategy.dp = bot_dp(frames, whitelist)
    again = by_pair(pool.analyze(["SOL/USDT"], frames, whitelist))
    assert_same_frames(again, by_pair(ThreadAnalysis(strategy).analyze(["SOL/USDT"], frames, [])))


def bot_dp(frames: dict[tuple[str, str], pd.DataFrame], whitelist: list[str]) -> DataProvider:
    """The bot's DataProvider as the thread-mode strategy sees it (the same frames)."""
    dp = DataProvider("5m", runmode=RunMode.DRY_RUN)
    for (pair, tf), frame in frames.items():
        dp.set_ohlcv(pair, tf, frame)
    dp.set_whitelist(whitelist)
    return dp


def test_a_strategy_error_in_a_worker_is_that_pairs_error_with_its_line(started, strategy_dir):
    strategy = load_strategy("WithInformative", strategy_dir, CONFIG)
    frames = candles(["SOL/USDT"], "5m", 300)  # no 1h candles: the informative step fails
    pool = start(started, strategy, size=1)
    outcome = by_pair(pool.analyze(["SOL/USDT"], frames, ["SOL/USDT"]))["SOL/USDT"]
    assert outcome.frame is None and isinstance(outcome.error, StrategyError)
    assert "SOL/USDT" in str(outcome.error) and "WithInformative.py" in str(outcome.error)
    assert "Traceback" in str(outcome.error.__cause__)
    # the worker lives on and analyses the next pair
    frames |= candles(["SOL/USDT", "BTC/USDT", "ETH/USDT"], "1h", 100)
    assert by_pair(pool.analyze(["SOL/USDT"], frames, ["SOL/USDT"]))["SOL/USDT"].error is None


def test_a_worker_killed_mid_analysis_is_replaced_and_the_pair_analysed_again(
    started, strategy_dir, tmp_path
):
    marker_dir = tmp_path / "markers"
    marker_dir.mkdir()
    strategy = load_strategy("Slow", strategy_dir, {"marker_dir": str(marker_dir)})
    pairs = ["SLOW/USDT", "A/USDT", "B/USDT"]
    frames = candles(pairs, "5m", 100)
    pool = start(started, strategy)
    first_pids = set(pool.pids())
    outcomes: list[Outcome] = []
    runner = threading.Thread(target=lambda: outcomes.extend(pool.analyze(pairs, frames, pairs)))
    runner.start()
    wait_until_sync(lambda: any(marker_dir.iterdir()), timeout=60)
    victim = int(next(marker_dir.iterdir()).name)
    assert victim in first_pids
    os.kill(victim, signal.SIGKILL)
    runner.join(timeout=60)
    assert not runner.is_alive()
    assert sorted(o.pair for o in outcomes) == sorted(pairs)
    assert all(o.error is None for o in outcomes), [o.error for o in outcomes]
    assert pool.replaced == 1
    assert victim not in pool.pids() and len(pool.pids()) == 2


def test_a_pass_left_early_does_not_leak_its_results_into_the_next(started):
    strategy = load_strategy("ProducerStrategy", EXAMPLES / "strategies", {})
    frames = candles(PAIRS, strategy.timeframe, 300)
    pool = start(started, strategy)
    first = pool.analyze(PAIRS, frames, PAIRS)
    next(first)  # the other worker is still busy with a pair of this pass
    first.close()
    outcomes = list(pool.analyze(["XRP/USDT"], frames, PAIRS))
    assert [o.pair for o in outcomes] == ["XRP/USDT"] and outcomes[0].error is None


def test_close_leaves_no_worker_process(strategy_dir):
    strategy = load_strategy("Slow", strategy_dir, {"marker_dir": "."})
    pool = AnalysisPool(2, StrategySpec.of(strategy, RunMode.DRY_RUN, {}))
    pool.start()
    processes = [w.process for w in pool.workers]
    assert all(p.is_alive() for p in processes)
    pool.close()
    assert not any(p.is_alive() for p in processes)
    assert all(p.exitcode == 0 for p in processes)  # asked to stop, not killed


def test_a_strategy_the_workers_cannot_load_stops_the_start_in_one_line():
    class Local(IStrategy):
        timeframe = "5m"
        stoploss = -0.1

        def populate_indicators(self, dataframe, metadata):
            return dataframe

        def populate_entry_trend(self, dataframe, metadata):
            return dataframe

    with pytest.raises(StrategyError) as caught:
        StrategySpec.of(Local({}), RunMode.DRY_RUN, {})
    assert str(caught.value).startswith("internals.analysis_workers: strategy Local")
    raw = {"exchange": {"name": "simulated"}, "internals": {"analysis_workers": 2}}
    with pytest.raises(StrategyError):
        Bot(validate_config(raw), Local({}))


def test_a_worker_that_cannot_load_the_strategy_stops_the_start(strategy_dir):
    strategy = load_strategy("Slow", strategy_dir, {})
    spec = StrategySpec.of(strategy, RunMode.DRY_RUN, {})
    (strategy_dir / "Slow.py").write_text("this is not python\n")  # changed after the bot loaded it
    pool = AnalysisPool(1, spec)
    with pytest.raises(StrategyError) as caught:
        pool.start()
    assert "analysis worker" in str(caught.value) and "\n" not in str(caught.value)
    assert pool.workers == []


def problems(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate_config(raw)
    return caught.value.problems


@pytest.mark.parametrize(
    ("value", "line"),
    [
        (-1, "internals.analysis_workers: expected greater than or equal to 0, got -1"),
        ("two", 'internals.analysis_workers: expected an integer, got "two"'),
        (1000, "internals.analysis_workers: expected less than or equal to 64, got 1000"),
    ],
)
def test_a_bad_analysis_workers_value_is_one_line(value, line):
    assert problems({"internals": {"analysis_workers": value}}) == [line]


def test_analysis_workers_default_to_the_bots_thread():
    assert validate_config({}).internals.analysis_workers == 0


def test_a_consumer_cannot_analyse_in_workers():
    raw = {
        "internals": {"analysis_workers": 2},
        "external_message_consumer": {
            "enabled": True,
            "producers": [{"name": "p", "host": "127.0.0.1", "port": 8080, "ws_token": "t" * 20}],
        },
    }
    (line,) = problems(raw)
    assert line.startswith("internals.analysis_workers: a consumer's strategy reads producer data")


class Outbox:
    """A channel's outbox as ``let_writers_run`` sees it: sends one message per loop turn
    unless ``stalled`` (a consumer that stopped reading)."""

    def __init__(self, queued: int, stalled: bool = False) -> None:
        self.queue_depth = queued
        self.stalled = stalled

    async def writer(self) -> None:
        while self.queue_depth and not self.stalled:
            await asyncio.sleep(0)
            self.queue_depth -= 1


@pytest.mark.anyio
async def test_the_analysis_thread_waits_until_the_writers_have_sent():
    boxes = [Outbox(3), Outbox(5), Outbox(1)]
    writers = [asyncio.create_task(b.writer()) for b in boxes]
    await let_writers_run(lambda: boxes, budget=5.0)
    assert [b.queue_depth for b in boxes] == [0, 0, 0]
    await asyncio.gather(*writers)


@pytest.mark.anyio
async def test_a_stalled_consumer_does_not_hold_the_analysis_up():
    boxes = [Outbox(2), Outbox(4, stalled=True)]
    writers = [asyncio.create_task(b.writer()) for b in boxes]
    loop = asyncio.get_running_loop()
    started = loop.time()
    await let_writers_run(lambda: boxes, budget=5.0)
    assert loop.time() - started < 1.0  # gave up once the queue stopped shrinking
    assert boxes[0].queue_depth == 0 and boxes[1].queue_depth == 4
    await asyncio.gather(*writers)
