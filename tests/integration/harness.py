"""Real bots in this process, on 127.0.0.1 port 0, driven by a shared test clock."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from candlecast.bot.runtime import Bot
from candlecast.clock import FixedClock
from candlecast.config import validate_config
from candlecast.exchange import SimulatedExchange
from candlecast.strategy import IStrategy
from candlecast.strategy.loader import load_strategy
from candlecast.util.dicts import deep_merge
from tests.conftest import EXAMPLES

TOKEN = "integration-test-token-0123456789"
USER, PASSWORD = "tester", "test-password-xyz"
PAIRS = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]


def new_clock() -> FixedClock:
    # 30 s into a minute, so "now" is never on a candle boundary
    return FixedClock(datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC))


def producer_config(tmp_path: Path, name: str = "producer", **extra: Any) -> dict[str, Any]:
    base = {
        "bot_name": name,
        "timeframe": "1m",
        "stake_amount": 100,
        "exchange": {"name": "simulated", "pair_whitelist": list(PAIRS)},
        "internals": {"process_throttle_secs": 3600},
        "db_url": f"sqlite:///{tmp_path / (name + '.sqlite')}",
        "api_server": {
            "enabled": True,
            "listen_ip_address": "127.0.0.1",
            "listen_port": 0,
            "ws_token": [TOKEN],
            "username": USER,
            "password": PASSWORD,
        },
    }
    return deep_merge(base, extra)


def consumer_config(
    tmp_path: Path, ports: dict[str, int], name: str = "consumer", **extra: Any
) -> dict[str, Any]:
    base = {
        "bot_name": name,
        "timeframe": "1m",
        "stake_amount": 100,
        "exchange": {"name": "simulated"},
        "pairlists": [{"method": "ProducerPairList", "producer_name": next(iter(ports))}],
        "internals": {"process_throttle_secs": 3600},
        "db_url": f"sqlite:///{tmp_path / (name + '.sqlite')}",
        "api_server": {
            "enabled": True,
            "listen_ip_address": "127.0.0.1",
            "listen_port": 0,
            "username": USER,
            "password": PASSWORD,
        },
        "external_message_consumer": {
            "enabled": True,
            "producers": [
                {"name": n, "host": "127.0.0.1", "port": p, "ws_token": TOKEN}
                for n, p in ports.items()
            ],
            "sleep_time": 1,
            "wait_timeout": 5,
            "ping_timeout": 2,
        },
    }
    return deep_merge(base, extra)


class CraftedSignals(IStrategy):
    """Columns shaped so the seed's ConsumerStrategy enters on every odd candle."""

    timeframe = "1m"
    stoploss = -0.5
    process_only_new_candles = True

    def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        n = len(dataframe)
        minute = (dataframe["date"].astype("int64") // 60_000_000) % 2
        dataframe["rsi"] = np.where(minute == 0, 40.0, 50.0)  # crosses above 45 on odd minutes
        dataframe["tema"] = np.arange(n, dtype=float)  # always rising
        dataframe["bb_middleband"] = dataframe["tema"] + 1.0
        return dataframe

    def populate_entry_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        dataframe["enter_long"] = (dataframe["rsi"] > 45).astype(int)
        return dataframe


def make_bot(
    raw: dict[str, Any],
    strategy: str | IStrategy,
    clock: FixedClock,
    strategy_dir: Path = EXAMPLES / "strategies",
) -> Bot:
    config = validate_config(raw)
    strat = (
        strategy if isinstance(strategy, IStrategy) else load_strategy(strategy, strategy_dir, raw)
    )
    exchange = SimulatedExchange(
        seed=config.exchange.sim_seed,
        fee=config.exchange.sim_fee,
        volatility=config.exchange.sim_volatility,
        clock=clock,
    )
    return Bot(config, strat, exchange=exchange, clock=clock)


@contextlib.asynccontextmanager
async def opened(bot: Bot, first_cycle: bool = True) -> AsyncIterator[Bot]:
    """A producer-style bot: API up, one analysis done; cycles are driven by the test."""
    await bot.open()
    try:
        if first_cycle:
            await bot.cycle()
        yield bot
    finally:
        await bot.close()


@contextlib.asynccontextmanager
async def running(bot: Bot) -> AsyncIterator[Bot]:
    """A bot running its own loop (clients, analyze-on-update) in the background."""
    task = asyncio.create_task(bot.run(install_signals=False))
    try:
        while bot.api_server is None or not bot.api_server.server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield bot
    finally:
        bot.request_stop()
        await asyncio.wait_for(task, timeout=10)


async def advance(producer: Bot, clock: FixedClock, minutes: int = 1) -> None:
    for _ in range(minutes):
        clock.advance(60)
        await producer.cycle()


def ws_url(bot: Bot, token: str | None = TOKEN) -> str:
    url = f"ws://127.0.0.1:{bot.api_port}/api/v1/message/ws"
    return f"{url}?token={token}" if token is not None else url


def producer_frame(bot: Bot, pair: str) -> pd.DataFrame:
    frame, _ = bot.dp.get_analyzed_dataframe(pair)
    return frame


def consumer_copy(bot: Bot, pair: str, producer: str = "default") -> pd.DataFrame:
    frame, _ = bot.dp.get_producer_df(pair, producer_name=producer)
    return frame


def assert_copy_equals_producer(
    consumer: Bot, producer: Bot, pairs: list[str], name: str = "default", exact: bool = True
) -> None:
    for pair in pairs:
        theirs = producer_frame(producer, pair)
        ours = consumer_copy(consumer, pair, name)
        assert not ours.empty, f"consumer has no copy of {pair}"
        expected = theirs.tail(len(ours)).reset_index(drop=True)
        pd.testing.assert_frame_equal(
            ours,
            expected,
            check_exact=exact,
            rtol=1e-9,
            check_dtype=exact,
            check_index_type="equiv",
        )


def copies_match(
    consumer: Bot, producer: Bot, pairs: list[str], name: str = "default", exact: bool = True
) -> bool:
    try:
        assert_copy_equals_producer(consumer, producer, pairs, name, exact)
    except AssertionError:
        return False
    return True


@contextlib.contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Every log line of every logger, at DEBUG, formatted, while the block runs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in ("uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def write_trading_bot(directory: Path, strategy_source: str, throttle: float) -> Path:
    """A 1 s simulated-exchange bot whose strategy trades often; returns its config path."""
    (directory / "strategies").mkdir(exist_ok=True)
    (directory / "strategies" / "every_rise.py").write_text(strategy_source)
    config = {
        "bot_name": directory.name,
        "timeframe": "1s",
        "stake_amount": 100,
        "max_open_trades": 3,
        "exchange": {
            "name": "simulated",
            "sim_volatility": 20,
            "pair_whitelist": ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"],
        },
        "internals": {"process_throttle_secs": throttle},
        "strategy": "EveryRise",
        "strategy_path": str(directory / "strategies"),
        "db_url": f"sqlite:///{directory / 'trades.sqlite'}",
    }
    path = directory / "config.json"
    path.write_text(json.dumps(config))
    return path


def trade_command(config_path: Path) -> list[str]:
    return [sys.executable, "-m", "candlecast.cli", "trade", "-c", str(config_path)]


def start_trade(config_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """``candlecast trade`` as a real process, its output appended to ``log_path``."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            trade_command(config_path), cwd=config_path.parent, stdout=log, stderr=log
        )


def run_trade(config_path: Path) -> subprocess.CompletedProcess[str]:
    """``candlecast trade`` to completion (for start-up errors), output captured."""
    return subprocess.run(
        trade_command(config_path),
        cwd=config_path.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
