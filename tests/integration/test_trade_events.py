"""freqtrade's trade events from a whole bot on a scripted market (real SQLite, test clock):
an entry order that rests, then is cancelled after ``unfilledtimeout``, is announced as
``entry`` then ``entry_cancel``; one that fills as ``entry`` then ``entry_fill``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from candlecast.bot.runtime import Bot
from candlecast.clock import FixedClock
from candlecast.config import validate_config
from candlecast.testing import ScriptedExchange
from tests.integration.test_dry_orders import PAIR, START, BidsLow, at_step

pytestmark = pytest.mark.anyio


async def events_of(tmp_path: Path, prices: list[float], **config: Any) -> list[dict[str, Any]]:
    clock = FixedClock(at_step(0))
    raw = {
        "bot_name": "events",
        "stake_amount": 98,
        "max_open_trades": 1,
        "exchange": {"name": "simulated", "pair_whitelist": [PAIR]},
        "internals": {"process_throttle_secs": 3600},
        "db_url": f"sqlite:///{tmp_path / 'trades.sqlite'}",
        **config,
    }
    bot = Bot(
        validate_config(raw),
        BidsLow(),
        exchange=ScriptedExchange(clock, {PAIR: prices}, START),
        clock=clock,
    )
    seen: list[dict[str, Any]] = []
    bot.trading.notify = seen.append
    await bot.open()
    try:
        for _ in prices:
            await bot.cycle()
            clock.advance(60)
    finally:
        await bot.close()
    return seen


async def test_an_entry_cancelled_after_unfilledtimeout_is_announced(tmp_path: Path):
    seen = await events_of(
        tmp_path, [100, 100, 100], unfilledtimeout={"entry": 2, "exit": 2, "unit": "minutes"}
    )
    # minute 0: a buy at 98 rests; minute 2: cancelled unfilled, and a new one placed
    assert [m["type"] for m in seen] == ["entry", "entry_cancel", "entry"]
    cancelled = seen[1]
    assert cancelled["trade_id"] == seen[0]["trade_id"] and cancelled["pair"] == PAIR
    assert cancelled["limit"] == 98.0 and cancelled["reason"] == "cancelled due to timeout"


async def test_an_entry_that_fills_is_announced_placed_then_filled(tmp_path: Path):
    seen = await events_of(tmp_path, [100, 99, 97.5])
    assert [m["type"] for m in seen] == ["entry", "entry_fill"]
    assert seen[1]["open_rate"] == 98.0 and seen[1]["trade_id"] == seen[0]["trade_id"]
