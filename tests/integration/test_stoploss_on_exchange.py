"""``order_types.stoploss_on_exchange``: the stop as an order on the (dry-run) exchange.

A whole bot with a real SQLite file on a scripted market and a test clock (one price
per minute, one cycle per minute 30 s into it; stake 100, no fees, so the trade holds
1.0 at 100). The stop order's fills, moves and restarts are asserted on the orders the
bot stored and on the trade it closed.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from candlecast.bot.runtime import Bot
from candlecast.clock import FixedClock
from candlecast.config import validate_config
from candlecast.exceptions import ConfigError
from candlecast.testing import ScriptedExchange, wait_until_sync
from tests.integration.harness import start_trade, write_trading_bot
from tests.integration.test_protections import db_rows
from tests.integration.test_risk import PAIR, START, Pyramid, Scripted, at_step, run

pytestmark = pytest.mark.anyio

ON_EXCHANGE = {
    "entry": "limit",
    "exit": "limit",
    "stoploss": "limit",
    "stoploss_on_exchange": True,
}


def stop_orders(orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in orders if o["ft_order_side"] == "stoploss"]


async def test_a_stop_order_is_placed_as_the_entry_fills_and_its_fill_exits_the_trade(
    tmp_path: Path,
):
    strategy = Scripted()
    strategy.stoploss = -0.05  # stop at 95, limit 95 * 0.99
    result = await run(
        strategy, [100, 97, 95.5, 94.9, 90], tmp_path, until_closed=True, order_types=ON_EXCHANGE
    )
    trade = result.trade
    assert (trade.exit_reason, trade.close_rate, trade.close_date) == (
        "stoploss_on_exchange",
        94.9,
        at_step(3),
    )
    (stop,) = stop_orders(result.orders[trade.id or 0])
    assert stop["created_at"] == at_step(0)  # with the entry's fill
    assert (stop["stop_price"], stop["price"]) == (pytest.approx(95.0), pytest.approx(94.05))
    assert (stop["status"], stop["filled"], stop["average"]) == ("closed", 1.0, 94.9)
    assert stop["reason"] == "stoploss_on_exchange"


async def test_a_trailing_stop_replaces_the_order_at_each_higher_stop(tmp_path: Path):
    strategy = Scripted()
    strategy.stoploss = -0.05
    strategy.trailing_stop = True
    # stop: 95, 98.8, 104.5 (5 % below the high of 110), kept at 108 and 104.6
    prices = [100, 104, 110, 108, 104.6, 104.4, 99]
    result = await run(strategy, prices, tmp_path, until_closed=True, order_types=ON_EXCHANGE)
    trade = result.trade
    assert (trade.exit_reason, trade.close_rate, trade.close_date) == (
        "stoploss_on_exchange",
        104.4,
        at_step(5),
    )
    stops = stop_orders(result.orders[trade.id or 0])
    assert [o["stop_price"] for o in stops] == [
        pytest.approx(95.0),
        pytest.approx(98.8),
        pytest.approx(104.5),
    ]
    assert [o["created_at"] for o in stops] == [at_step(0), at_step(1), at_step(2)]
    assert [o["status"] for o in stops] == ["canceled", "canceled", "closed"]


async def test_the_stop_order_moves_no_more_often_than_the_interval(tmp_path: Path):
    strategy = Scripted()
    strategy.stoploss = -0.05
    strategy.trailing_stop = True
    prices = [100, 101, 102, 103, 104, 105, 106]  # the stop rises every minute
    order_types = {**ON_EXCHANGE, "stoploss_on_exchange_interval": 150}
    result = await run(strategy, prices, tmp_path, order_types=order_types)
    trade = result.trade
    assert trade.is_open and trade.stop_loss == pytest.approx(106 * 0.95)  # the bot's stop
    stops = stop_orders(result.orders[trade.id or 0])
    # placed at minute 0, then moved only once 150 s had passed: minutes 3 and 6
    assert [o["created_at"] for o in stops] == [at_step(0), at_step(3), at_step(6)]
    assert [o["stop_price"] for o in stops] == [
        pytest.approx(95.0),
        pytest.approx(103 * 0.95),
        pytest.approx(106 * 0.95),
    ]
    assert [o["status"] for o in stops] == ["canceled", "canceled", "open"]


async def test_another_exit_cancels_the_stop_order_first(tmp_path: Path):
    strategy = Scripted()
    strategy.stoploss = -0.05
    result = await run(
        strategy,
        [100, 101, 102, 103],
        tmp_path,
        exit_at=[2],
        until_closed=True,
        order_types=ON_EXCHANGE,
    )
    trade = result.trade
    assert (trade.exit_reason, trade.close_rate) == ("exit_signal", 102)
    orders = result.orders[trade.id or 0]
    assert [(o["ft_order_side"], o["status"]) for o in orders] == [
        ("buy", "closed"),
        ("stoploss", "canceled"),
        ("sell", "closed"),
    ]
    assert orders[1]["updated_at"] <= orders[2]["created_at"]


async def test_an_added_entry_and_a_partial_exit_give_the_stop_order_the_new_amount(
    tmp_path: Path,
):
    strategy = Pyramid()
    strategy.seen = []
    strategy.stoploss = -0.05

    def halve_at_2(i: int, bot: Bot) -> None:
        strategy.take_half = i == 2

    order_types = {**ON_EXCHANGE, "stoploss_on_exchange_interval": 600}
    # 110: +10 %, adds 100 at 110; minute 2 sells half; minute 3 holds the rest
    result = await run(
        strategy, [100, 110, 110, 110], tmp_path, before=halve_at_2, order_types=order_types
    )
    trade = result.trade
    held = 1 + 100 / 110
    average = 2200 / 21
    stops = stop_orders(result.orders[trade.id or 0])
    # replaced at once after the added entry (the interval is for moves of the stop), cancelled
    # before the partial sell, placed again for what is left after it
    assert [(o["created_at"], o["status"]) for o in stops] == [
        (at_step(0), "canceled"),
        (at_step(1), "canceled"),
        (at_step(3), "open"),
    ]
    assert [o["amount"] for o in stops] == [
        1.0,
        pytest.approx(held, rel=1e-12),
        pytest.approx(held / 2, rel=1e-12),
    ]
    assert [o["stop_price"] for o in stops] == [
        pytest.approx(95.0),
        pytest.approx(average * 0.95),
        pytest.approx(average * 0.95),
    ]


async def test_a_restarted_bot_reads_its_open_stop_order_from_the_exchange(tmp_path: Path):
    """The first bot enters and places its stop; it stops. While it is down the price
    falls through the stop; the second bot (same database, a fresh dry-run book) finds
    the stop order filled and closes the trade, placing no second stop order."""
    prices = [100, 100, 100, 94.5, 94.5, 93]
    clock = FixedClock(at_step(0))
    exchange = ScriptedExchange(clock, {PAIR: prices}, START)
    raw = {
        "bot_name": "stop-restart",
        "stake_amount": 100,
        "max_open_trades": 1,
        "dry_run_wallet": 1000,
        "exchange": {"name": "simulated", "pair_whitelist": [PAIR]},
        "internals": {"process_throttle_secs": 3600},
        "db_url": f"sqlite:///{tmp_path / 'trades.sqlite'}",
        "order_types": ON_EXCHANGE,
    }
    strategy = Scripted()
    strategy.stoploss = -0.05
    strategy.enter = True
    first = Bot(validate_config(raw), strategy, exchange=exchange, clock=clock)
    await first.open()
    try:
        for _ in range(2):
            await first.cycle()
            clock.advance(60)
        (trade,) = first.repository.open_trades()
        (stop,) = first.repository.open_stop_orders()
    finally:
        await first.close()
    clock.advance(3 * 60)  # minute 5: minute 3 traded at 94.5, through the stop of 95
    strategy.enter = False
    second = Bot(validate_config(raw), strategy, exchange=exchange, clock=clock)
    await second.open()
    try:
        await second.cycle()
        closed = second.repository.trades()[0]
        orders = second.repository.orders_for(trade.id or 0)
    finally:
        await second.close()
    assert (closed.id, closed.exit_reason, closed.close_rate) == (
        trade.id,
        "stoploss_on_exchange",
        94.5,
    )
    assert [o["order_id"] for o in stop_orders(orders)] == [stop.order_id]


async def test_an_exchange_without_stop_orders_is_refused_at_start_in_one_line(tmp_path: Path):
    from candlecast.exchange.base import Exchange

    class NoStops(ScriptedExchange):
        stop_order_problem = Exchange.stop_order_problem

    clock = FixedClock(at_step(0))
    raw = {
        "exchange": {"name": "simulated", "pair_whitelist": [PAIR]},
        "db_url": f"sqlite:///{tmp_path / 'trades.sqlite'}",
        "order_types": ON_EXCHANGE,
    }
    exchange = NoStops(clock, {PAIR: [100.0]}, START)
    with pytest.raises(ConfigError) as info:
        Bot(validate_config(raw), Scripted(), exchange=exchange, clock=clock)
    message = str(info.value)
    assert message.startswith("order_types.stoploss_on_exchange: exchange scripted does not")
    assert "\n" not in message


# --- a real process, kill -9 ------------------------------------------------------------------
HOLDING_STRATEGY = """
from pathlib import Path
from candlecast.strategy import IStrategy

class EveryRise(IStrategy):
    timeframe = "1s"
    minimal_roi = {"0": 10.0}
    stoploss = -0.5
    process_only_new_candles = False
    order_types = {"entry": "limit", "exit": "limit", "stoploss": "limit",
                   "stoploss_on_exchange": True, "stoploss_on_exchange_interval": 1}

    def bot_loop_start(self, current_time, **kwargs):
        with open(Path(__file__).parent / "cycles.txt", "a") as out:
            out.write("cycle\\n")

    def populate_indicators(self, dataframe, metadata):
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        dataframe["enter_long"] = 1
        return dataframe
"""
STOPS = "select trade_id, order_id, status, stop_price from orders where ft_order_side = 'stoploss'"


def test_a_stop_order_survives_kill_9_and_the_restarted_bot_places_no_second_one(
    tmp_path: Path,
):
    config = write_trading_bot(tmp_path, HOLDING_STRATEGY, throttle=0.2)
    raw = json.loads(config.read_text())
    raw.update(max_open_trades=1)
    raw["exchange"]["pair_whitelist"] = [PAIR]
    config.write_text(json.dumps(raw))
    cycles = tmp_path / "strategies" / "cycles.txt"
    proc = start_trade(config, tmp_path / "bot.log")
    try:
        wait_until_sync(lambda: db_rows(tmp_path, STOPS), timeout=60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    before = db_rows(tmp_path, STOPS)
    assert [status for _, _, status, _ in before] == ["open"]
    cycles.write_text("")
    proc = start_trade(config, tmp_path / "restarted.log")
    try:
        # cycles that each re-read the stop order and would place one if it were missing
        wait_until_sync(lambda: len(cycles.read_text().split()) >= 5, timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert db_rows(tmp_path, STOPS) == before  # the same order, still open, no other
    assert db_rows(tmp_path, "select count(*) from trades") == [(1,)]
    assert "Traceback" not in (tmp_path / "restarted.log").read_text()
