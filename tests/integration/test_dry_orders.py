"""Dry-run orders in a whole bot (real SQLite) on a scripted market and a test clock: a buy
limit below the market rests until the price reaches it, and is cancelled for real when
``unfilledtimeout`` passes first. One price per minute, one cycle per minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from candlecast.bot.runtime import Bot
from candlecast.clock import FixedClock
from candlecast.config import validate_config
from candlecast.strategy import IStrategy
from candlecast.testing import ScriptedExchange

pytestmark = pytest.mark.anyio

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PAIR = "BTC/USDT"


def at_step(i: int) -> datetime:
    return START + timedelta(minutes=i, seconds=30)


class BidsLow(IStrategy):
    """Enters on every candle with a buy limit 2 % under the proposed price."""

    timeframe = "1m"
    stoploss = -0.5
    minimal_roi = {"0": 10.0}
    process_only_new_candles = False

    def populate_indicators(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        return dataframe

    def populate_entry_trend(self, dataframe: pd.DataFrame, metadata: dict) -> pd.DataFrame:
        dataframe["enter_long"] = 1
        return dataframe

    def custom_entry_price(self, pair, trade, current_time, proposed_rate, entry_tag, side, **kw):
        return proposed_rate * 0.98


async def run(tmp_path: Path, prices: list[float], **config: Any) -> Bot:
    clock = FixedClock(at_step(0))
    raw = {
        "bot_name": "dry-orders",
        "stake_amount": 98,
        "max_open_trades": 1,
        "exchange": {"name": "simulated", "pair_whitelist": [PAIR]},
        "internals": {"process_throttle_secs": 3600},
        "db_url": f"sqlite:///{tmp_path / 'trades.sqlite'}",
        **config,
    }
    exchange = ScriptedExchange(clock, {PAIR: prices}, START)
    bot = Bot(validate_config(raw), BidsLow(), exchange=exchange, clock=clock)
    await bot.open()
    try:
        for _ in prices:
            await bot.cycle()
            clock.advance(60)
    finally:
        await bot.close()
    return bot


async def test_a_buy_limit_below_the_market_fills_at_its_limit_when_the_price_reaches_it(
    tmp_path: Path,
):
    bot = await run(tmp_path, [100, 99, 97.5, 97.5])
    (trade,) = bot.repository.trades()
    (buy,) = bot.repository.orders_for(trade.id or 0)
    # placed at 98 on minute 0; minute 1 (99) does not reach it, minute 2 (97.5) does
    assert (buy["price"], buy["average"], buy["status"], buy["filled"]) == (
        98.0,
        98.0,
        "closed",
        1.0,
    )
    assert buy["created_at"] == at_step(0) and buy["updated_at"] == at_step(2)
    assert (trade.open_rate, trade.amount, trade.is_open) == (98.0, 1.0, True)


async def test_an_unfilled_dry_run_buy_is_cancelled_after_unfilledtimeout(tmp_path: Path):
    bot = await run(
        tmp_path,
        [100, 100, 100, 100],
        unfilledtimeout={"entry": 2, "exit": 2, "unit": "minutes"},
    )
    # minute 0: a buy at 98 rests; minute 2: two minutes old, cancelled (the trade goes
    # with it); minute 2 places a new one right after; minute 3 leaves it open
    rows = bot.repository.trades()
    assert len(rows) == 1 and rows[0].open_date == at_step(2)
    (buy,) = bot.repository.orders_for(rows[0].id or 0)
    assert (buy["status"], buy["filled"]) == ("open", 0.0)
    assert bot.stats.entries == 2


async def test_a_market_entry_fills_at_once_at_the_market_whatever_the_custom_price(
    tmp_path: Path,
):
    order_types = {
        "entry": "market",
        "exit": "limit",
        "stoploss": "market",
        "stoploss_on_exchange": False,
    }
    bot = await run(tmp_path, [100, 99], order_types=order_types)
    (trade,) = bot.repository.trades()
    (buy,) = bot.repository.orders_for(trade.id or 0)
    assert (buy["status"], buy["average"], buy["updated_at"]) == ("closed", 100.0, at_step(0))
    assert trade.open_rate == 100.0
