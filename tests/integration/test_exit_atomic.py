"""A sell order that fills as it is placed is stored together with the trade's close: one
transaction, so a kill between two writes can never leave an open trade whose coins are
already sold (found by the 10-kill test: such a trade was never settled after restart,
since its sell order no longer counted as open). Real SQLite file, the dry-run book."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from candlecast.bot.orders import OrderManager
from candlecast.bot.ordertypes import OrderPlan
from candlecast.bot.stoporders import StopOrderManager
from candlecast.clock import FixedClock
from candlecast.config.models import UnfilledTimeoutConfig
from candlecast.domain.trades import Trade
from candlecast.exchange.dryrun import DryRunBook
from candlecast.persistence.repository import TradeRepository
from candlecast.testing import ScriptedExchange
from tests.integration.test_dry_orders import PAIR, START, at_step

pytestmark = pytest.mark.anyio


def transactions_of(repo: TradeRepository) -> list[list[str]]:
    """Each committed transaction's writes, as "VERB table", in order."""
    done: list[list[str]] = []
    current: list[str] = []

    def write(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        words = statement.split()
        verb = words[0].upper()
        if verb in ("INSERT", "UPDATE", "DELETE"):
            current.append(f"{verb} {words[2] if verb in ('INSERT', 'DELETE') else words[1]}")

    def commit(conn: Any) -> None:
        if current:
            done.append(list(current))
            current.clear()

    event.listen(repo.engine, "before_cursor_execute", write)
    event.listen(repo.engine, "commit", commit)
    return done


def a_trade() -> Trade:
    return Trade(
        id=None,
        pair=PAIR,
        is_open=True,
        open_date=at_step(0),
        open_rate=95.0,
        amount=1.0,
        stake_amount=95.0,
        fee_open=0.001,
        fee_close=0.001,
        strategy="S",
        timeframe="1m",
    )


@pytest.mark.parametrize("order_type", ["market", "limit"])
async def test_a_sell_filled_as_it_is_placed_closes_its_trade_in_the_same_transaction(
    tmp_path: Path, order_type: str
):
    clock = FixedClock(at_step(0))
    repo = TradeRepository(f"sqlite:///{tmp_path / 'trades.sqlite'}")
    book = DryRunBook(
        ScriptedExchange(clock, {PAIR: [100.0, 100.0]}, START), "1m", lambda currency: 1e6
    )
    orders = OrderManager(book, repo, UnfilledTimeoutConfig(), clock)
    stored = repo.add_open_trade(a_trade(), at_step(0))
    writes = transactions_of(repo)
    # a limit far below the bid crosses it: filled at once, like a market order
    closed = await orders.exit(stored, 1.0, "roi", order_type=order_type)
    assert closed is not None and not closed.is_open and closed.exit_reason == "roi"
    (sell_and_close,) = [tx for tx in writes if "INSERT orders" in tx]
    assert "UPDATE trades" in sell_and_close, writes
    (stored_trade,) = repo.trades()
    assert not stored_trade.is_open
    sells = [o for o in repo.orders_for(stored.id or 0) if o["side"] == "sell"]
    assert [o["status"] for o in sells] == ["closed"]
    repo.close()


async def test_a_stop_order_filled_as_it_is_placed_closes_its_trade_in_the_same_transaction(
    tmp_path: Path,
):
    clock = FixedClock(at_step(0))
    repo = TradeRepository(f"sqlite:///{tmp_path / 'trades.sqlite'}")
    book = DryRunBook(
        ScriptedExchange(clock, {PAIR: [100.0, 100.0]}, START), "1m", lambda currency: 1e6
    )
    stops = StopOrderManager(
        book, repo, clock, OrderPlan(stoploss="market", stoploss_on_exchange=True)
    )
    stored = repo.add_open_trade(a_trade(), at_step(0))
    stored = replace(stored, stop_loss=150.0)  # the bid is already below the stop
    writes = transactions_of(repo)
    closed = await stops.place(stored)
    assert closed is not None and not closed.is_open
    (stop_and_close,) = [tx for tx in writes if "INSERT orders" in tx]
    assert "UPDATE trades" in stop_and_close, writes
    assert not repo.trades()[0].is_open
    repo.close()
