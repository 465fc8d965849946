"""The trade repository on a real SQLite file: trades, their orders, and what a restart finds.

The crash-safety of each transaction is checked in tests/integration/test_repository_crash.py;
this file pins the bookkeeping: amounts, average rates, stakes, closing, live orders.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from candlecast.domain.orders import OrderState
from candlecast.domain.trades import Trade
from candlecast.persistence.models import CustomDataRow, TradeRow
from candlecast.persistence.repository import TradeRepository, default_db_url

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
FEE = 0.001


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "trades.sqlite"


@pytest.fixture
def repo(path: Path) -> Iterator[TradeRepository]:
    repository = TradeRepository(f"sqlite:///{path}")
    yield repository
    repository.close()


def new_trade(pair: str = "BTC/USDT", rate: float = 100.0, amount: float = 2.0) -> Trade:
    return Trade(
        id=None,
        pair=pair,
        is_open=True,
        open_date=T0,
        open_rate=rate,
        amount=amount,
        stake_amount=rate * amount * (1 + FEE),
        fee_open=FEE,
        fee_close=FEE,
        strategy="S",
        timeframe="5m",
        enter_tag="tag",
    )


def order(side: str, status: str, amount: float, filled: float, price: float, **kw) -> OrderState:
    return OrderState(
        kw.pop("id", f"{side}-{status}-{filled}"),
        "BTC/USDT",
        side,
        status,
        amount,
        filled,
        price,
        **kw,
    )


def test_the_database_file_is_named_for_the_mode_and_its_folder_created(path: Path):
    assert default_db_url("/u", dry_run=True) == "sqlite:////u/tradesv3.dryrun.sqlite"
    assert default_db_url("/u", dry_run=False) == "sqlite:////u/tradesv3.sqlite"
    TradeRepository(f"sqlite:///{path}").close()
    assert path.is_file()
    TradeRepository("sqlite:///:memory:").close()  # no folder for an in-memory database


def test_a_file_database_runs_in_wal_mode_with_full_sync(repo: TradeRepository, path: Path):
    with repo.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_an_open_trade_is_stored_with_its_filled_buy_and_found_after_a_restart(
    repo: TradeRepository, path: Path
):
    stored = repo.add_open_trade(new_trade(), T0)
    assert stored.id is not None and stored.is_open and stored.open_date == T0
    [buy] = repo.orders_for(stored.id)
    assert buy["side"] == buy["ft_order_side"] == "buy" and buy["status"] == "closed"
    assert (buy["price"], buy["amount"], buy["filled"]) == (100.0, 2.0, 2.0)
    assert buy["cost"] == 200.0 and buy["fee"] == pytest.approx(0.2)
    assert buy["created_at"] == T0 and buy["stop_price"] is None
    again = TradeRepository(f"sqlite:///{path}")
    assert again.open_trades() == [stored]
    again.close()


def test_queries_select_and_order_trades(repo: TradeRepository):
    first = repo.add_open_trade(new_trade("A/USDT"), T0)
    second = repo.add_open_trade(new_trade("B/USDT"), T0)
    third = repo.add_open_trade(new_trade("A/USDT"), T0)
    repo.close_trade(second.closed(110.0, T0 + timedelta(hours=1), "roi"))
    assert [t.id for t in repo.open_trades()] == [first.id, third.id]
    assert [t.id for t in repo.trades()] == [third.id, second.id, first.id]  # newest first
    assert [t.id for t in repo.trades(limit=2)] == [third.id, second.id]
    assert [t.id for t in repo.find_trades(pair="A/USDT")] == [first.id, third.id]
    assert [t.id for t in repo.find_trades(is_open=False)] == [second.id]
    assert [t.id for t in repo.find_trades(pair="A/USDT", is_open=False)] == []
    assert [t.id for t in repo.find_trades()] == [first.id, second.id, third.id]
    assert (repo.count(), repo.count(is_open=True), repo.count(is_open=False)) == (3, 2, 1)


def test_closing_a_trade_stores_the_sell_and_counts_its_profit(repo: TradeRepository):
    assert repo.closed_profit_abs() == 0.0 and repo.realized_profit() == 0.0
    trade = repo.add_open_trade(new_trade(), T0)
    repo.add_open_trade(new_trade(), T0)  # open: its profit does not count
    closed = repo.close_trade(trade.closed(110.0, T0 + timedelta(hours=1), "roi"))
    assert not closed.is_open and closed.exit_reason == "roi" and closed.close_rate == 110.0
    expected = trade.profit_abs(110.0)
    assert closed.close_profit_abs == pytest.approx(expected)
    assert repo.closed_profit_abs() == pytest.approx(expected)
    assert repo.realized_profit() == pytest.approx(expected)
    sell = repo.orders_for(trade.id)[-1]
    assert (sell["side"], sell["amount"], sell["price"], sell["reason"]) == (
        "sell",
        2.0,
        110.0,
        "roi",
    )
    assert sell["fee"] == pytest.approx(220.0 * FEE)
    with pytest.raises(ValueError, match="is not open"):
        repo.close_trade(closed)
    with pytest.raises(ValueError, match="has been closed"):
        repo.close_trade(trade)  # not closed()


def test_a_trade_closed_after_partial_exits_sells_the_rest_at_the_average(repo: TradeRepository):
    trade = repo.add_open_trade(new_trade(amount=3.0), T0)
    repo.add_exit_fill(trade.id, 120.0, 1.0, FEE, T0, "partial")
    assert repo.sold_amount(trade.id) == 1.0 and repo.open_trades()[0].amount == 3.0
    closed = repo.close_trade(trade.closed(90.0, T0 + timedelta(hours=2), "stop_loss"))
    sells = [o for o in repo.orders_for(trade.id) if o["side"] == "sell"]
    assert [s["amount"] for s in sells] == [1.0, 2.0]  # what was still held
    assert closed.close_rate == pytest.approx((120.0 + 2 * 90.0) / 3)
    assert closed.exit_reason == "stop_loss" and closed.amount == 3.0
    assert repo.sold_amount(trade.id) == 3.0


def test_an_added_entry_averages_the_open_rate_and_grows_the_stake(repo: TradeRepository):
    trade = repo.add_open_trade(new_trade(rate=100.0, amount=1.0), T0)
    grown = repo.add_entry_fill(trade.id, 130.0, 2.0, FEE, T0, "dca")
    assert grown.amount == 3.0
    assert grown.open_rate == pytest.approx(120.0)
    assert grown.stake_amount == pytest.approx(360.0 * (1 + FEE))
    assert repo.orders_for(trade.id)[-1]["reason"] == "dca"
    closed = repo.close_trade(grown.closed(120.0, T0, "exit"))
    with pytest.raises(ValueError, match="is not open"):
        repo.add_entry_fill(closed.id, 1.0, 1.0, FEE, T0, None)
    with pytest.raises(ValueError, match="is not open"):
        repo.add_exit_fill(12345, 1.0, 1.0, FEE, T0, "x")


def test_risk_state_is_stored_and_only_risk_fields_are_accepted(repo: TradeRepository):
    trade = repo.add_open_trade(new_trade(), T0)
    repo.update_risk(trade.id, {"stop_loss": 90.0, "max_rate": 105.0, "is_stop_loss_trailing": 1})
    [stored] = repo.open_trades()
    assert (stored.stop_loss, stored.max_rate) == (90.0, 105.0)
    assert stored.is_stop_loss_trailing is True
    with pytest.raises(ValueError, match=r"not risk fields: \['close_rate', 'pair'\]"):
        repo.update_risk(trade.id, {"pair": "X", "close_rate": 1.0, "stop_loss": 1.0})
    assert repo.open_trades()[0].stop_loss == 90.0
    repo.update_risk(98765, {"stop_loss": 1.0})  # a trade gone meanwhile: nothing to do


def test_custom_data_is_kept_per_trade_and_key_as_json(repo: TradeRepository):
    one = repo.add_open_trade(new_trade(), T0)
    two = repo.add_open_trade(new_trade(), T0)
    repo.set_custom_data(one.id, "levels", [1, 2.5, "x"])
    repo.set_custom_data(one.id, "note", {"a": None})
    repo.set_custom_data(two.id, "note", "other")
    repo.set_custom_data(one.id, "levels", 7)  # overwritten, not added
    assert repo.custom_data(one.id) == {"levels": 7, "note": {"a": None}}
    assert list(repo.custom_data(one.id)) == ["levels", "note"]  # in the order first set
    assert repo.custom_data(two.id) == {"note": "other"}
    assert repo.custom_data(999) == {}


def test_a_pending_entry_takes_its_fills_once_final(repo: TradeRepository):
    trade, record = repo.add_pending_entry(
        new_trade(amount=2.0), order("buy", "open", 2.0, 0.0, 100.0), T0
    )
    assert [r.id for r in repo.open_orders()] == [record.id]
    assert record.pair == "BTC/USDT" and record.side == "buy" and record.order_id == "buy-open-0.0"
    partly = repo.settle_entry(record, order("buy", "open", 2.0, 0.5, 100.0), T0)
    assert partly.amount == 2.0  # as ordered while the order is open
    done = repo.settle_entry(record, order("buy", "closed", 2.0, 1.5, 100.0, average=98.0), T0)
    assert done.amount == 1.5 and done.open_rate == 98.0
    assert done.stake_amount == pytest.approx(1.5 * 98.0 * (1 + FEE))
    assert repo.open_orders() == []
    [stored] = repo.orders_for(trade.id)
    assert (stored["status"], stored["filled"], stored["average"]) == ("closed", 1.5, 98.0)
    assert stored["cost"] == pytest.approx(147.0) and stored["updated_at"] == T0


def test_an_entry_filled_at_once_is_counted_in_the_same_step(repo: TradeRepository):
    trade, _ = repo.add_pending_entry(
        new_trade(amount=2.0), order("buy", "closed", 2.0, 1.0, 100.0, average=99.0), T0
    )
    assert trade.amount == 1.0 and trade.open_rate == 99.0


def test_an_entry_cancelled_without_a_fill_takes_the_trade_and_its_data_with_it(
    repo: TradeRepository,
):
    trade, record = repo.add_pending_entry(new_trade(), order("buy", "open", 2.0, 0.0, 100.0), T0)
    repo.set_custom_data(trade.id, "k", 1)
    assert repo.settle_entry(record, order("buy", "canceled", 2.0, 0.0, 100.0), T0) is None
    assert (
        repo.count() == 0 and repo.orders_for(trade.id) == [] and repo.custom_data(trade.id) == {}
    )
    assert repo.settle_entry(record, order("buy", "canceled", 2.0, 0.0, 100.0), T0) is None


def test_a_cancelled_added_entry_leaves_the_trade_as_it_was(repo: TradeRepository):
    trade = repo.add_open_trade(new_trade(amount=1.0), T0)
    record = repo.add_entry_order(trade, order("buy", "open", 1.0, 0.0, 90.0), T0, "dca")
    assert record.reason == "dca"
    kept = repo.settle_entry(record, order("buy", "canceled", 1.0, 0.0, 90.0), T0)
    assert kept is not None and (kept.amount, kept.open_rate) == (1.0, 100.0)
    filled_at_once = repo.add_entry_order(
        trade, order("buy", "closed", 1.0, 1.0, 80.0, id="b2"), T0
    )
    assert filled_at_once.order_id == "b2"
    assert repo.open_trades()[0].amount == 2.0 and repo.open_trades()[0].open_rate == 90.0


def test_a_live_exit_closes_the_trade_once_all_is_sold(repo: TradeRepository):
    trade, _ = repo.add_pending_entry(
        new_trade(amount=2.0), order("buy", "closed", 2.0, 2.0, 100.0), T0
    )
    sell, _ = repo.add_exit_order(trade, order("sell", "open", 2.0, 0.0, 110.0), "roi", T0)
    assert sell.reason == "roi" and [r.id for r in repo.open_orders()] == [sell.id]
    assert repo.settle_exit(sell, order("sell", "open", 2.0, 1.0, 110.0), T0) is None
    assert repo.open_trades()[0].is_open
    later = T0 + timedelta(minutes=5)
    closed = repo.settle_exit(sell, order("sell", "closed", 2.0, 2.0, 110.0, average=111.0), later)
    assert closed is not None and closed.close_rate == 111.0 and closed.exit_reason == "roi"
    assert closed.close_date == later and repo.count(is_open=True) == 0
    assert repo.settle_exit(sell, order("sell", "closed", 2.0, 2.0, 110.0), later) is None


def test_a_sell_or_stop_filled_as_placed_closes_the_trade_with_it(repo: TradeRepository):
    trade, _ = repo.add_pending_entry(
        new_trade(amount=2.0), order("buy", "closed", 2.0, 2.0, 100.0), T0
    )
    filled = order("sell", "closed", 2.0, 2.0, 110.0, average=110.0)
    _, closed = repo.add_exit_order(trade, filled, "roi", T0)
    assert closed is not None and closed.close_rate == 110.0 and closed.exit_reason == "roi"
    assert repo.count(is_open=True) == 0 and repo.open_orders() == []
    other, _ = repo.add_pending_entry(
        new_trade("ETH/USDT", amount=2.0), order("buy", "closed", 2.0, 2.0, 100.0, id="b2"), T0
    )
    stopped = order("sell", "closed", 2.0, 2.0, 90.0, id="s2", average=89.0)
    _, by_stop = repo.add_stop_order(other, stopped, 91.0, T0)
    assert by_stop is not None and by_stop.close_rate == 89.0
    assert by_stop.exit_reason == "stoploss_on_exchange"
    # a part filled at once keeps the trade open
    third, _ = repo.add_pending_entry(
        new_trade("SOL/USDT", amount=2.0), order("buy", "closed", 2.0, 2.0, 100.0, id="b3"), T0
    )
    part = order("sell", "canceled", 2.0, 1.0, 110.0, id="s3")
    assert repo.add_exit_order(third, part, "roi", T0)[1] is None
    assert [t.pair for t in repo.open_trades()] == ["SOL/USDT"]


def test_selling_almost_all_closes_and_dust_can_be_given_up(repo: TradeRepository):
    trade, _ = repo.add_pending_entry(
        new_trade(amount=2.0), order("buy", "closed", 2.0, 2.0, 100.0), T0
    )
    sell, _ = repo.add_exit_order(trade, order("sell", "open", 2.0, 0.0, 110.0), "exit_signal", T0)
    assert repo.settle_exit(sell, order("sell", "canceled", 2.0, 1.5, 110.0), T0) is None
    closed = repo.close_sold_part(trade, T0)
    assert closed is not None and closed.amount == 1.5 and closed.exit_reason == "exit_signal"
    assert repo.close_sold_part(trade, T0) is None  # already closed


def test_stop_orders_are_kept_apart_from_entry_and_exit_orders(repo: TradeRepository):
    trade = repo.add_open_trade(new_trade(), T0)
    stop, _ = repo.add_stop_order(trade, order("sell", "open", 2.0, 0.0, 90.0), 91.0, T0)
    assert stop.stop_price == 91.0 and stop.reason == "stoploss_on_exchange"
    assert repo.open_orders() == []
    assert [r.id for r in repo.open_stop_orders()] == [stop.id]
    stored = repo.orders_for(trade.id)[-1]
    assert stored["ft_order_side"] == "stoploss" and stored["side"] == "sell"


def test_a_replaced_unfilled_entry_is_swapped_for_the_new_order(repo: TradeRepository):
    trade, record = repo.add_pending_entry(
        new_trade(amount=2.0), order("buy", "open", 2.0, 0.0, 100.0), T0
    )
    new = repo.replace_order(
        record,
        order("buy", "canceled", 2.0, 0.0, 100.0),
        order("buy", "open", 1.9, 0.0, 101.0, id="n"),
        T0,
    )
    assert [o["order_id"] for o in repo.orders_for(trade.id)] == ["n"]
    [stored] = repo.open_trades()
    assert (stored.open_rate, stored.amount) == (101.0, 1.9)
    assert stored.stake_amount == pytest.approx(1.9 * 101.0 * (1 + FEE))
    assert new.order_id == "n" and [r.id for r in repo.open_orders()] == [new.id]


def test_a_replaced_partly_filled_entry_keeps_its_fill(repo: TradeRepository):
    trade, record = repo.add_pending_entry(
        new_trade(amount=2.0), order("buy", "open", 2.0, 0.0, 100.0), T0
    )
    repo.replace_order(
        record,
        order("buy", "canceled", 2.0, 0.5, 100.0),
        order("buy", "open", 1.5, 0.0, 99.0, id="n"),
        T0,
    )
    assert [o["order_id"] for o in repo.orders_for(trade.id)] == [record.order_id, "n"]
    [stored] = repo.open_trades()
    assert (stored.amount, stored.open_rate) == (0.5, 100.0)


def test_a_replaced_exit_keeps_the_trade_and_its_reason(repo: TradeRepository):
    trade = repo.add_open_trade(new_trade(), T0)
    sell, _ = repo.add_exit_order(trade, order("sell", "open", 2.0, 0.0, 110.0), "roi", T0)
    new = repo.replace_order(
        sell,
        order("sell", "canceled", 2.0, 0.0, 110.0),
        order("sell", "open", 2.0, 0.0, 108.0, id="s2"),
        T0,
    )
    assert new.reason == "roi" and len(repo.orders_for(trade.id)) == 3  # the cancelled sell stays
    assert repo.open_trades()[0].open_rate == 100.0
    gone = sell.__class__(**{**sell.__dict__, "id": 4242})
    with pytest.raises(ValueError, match="is not stored"):
        repo.replace_order(
            gone, order("sell", "canceled", 2.0, 0.0, 1.0), order("sell", "open", 2.0, 0.0, 1.0), T0
        )


def test_a_database_from_an_older_version_gains_the_new_columns(path: Path):
    TradeRepository(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE orders DROP COLUMN stop_price")
        conn.execute("ALTER TABLE orders DROP COLUMN ft_order_side")
    repo = TradeRepository(f"sqlite:///{path}")
    trade = repo.add_open_trade(new_trade(), T0)
    stop, _ = repo.add_stop_order(trade, order("sell", "open", 2.0, 0.0, 90.0), 91.0, T0)
    assert repo.open_stop_orders()[0].stop_price == 91.0 and stop.id is not None
    repo.close()


def test_trades_lists_the_500_newest_by_default(repo: TradeRepository):
    with Session(repo.engine) as session, session.begin():  # one transaction, not 501
        fields = {k: v for k, v in new_trade().__dict__.items() if k != "id"}
        session.add_all([TradeRow(**fields) for _ in range(501)])
    listed = repo.trades()
    assert len(listed) == 500 and listed[0].id == 501 and listed[-1].id == 2


def test_sold_amount_counts_the_fills_of_this_trades_sells_only(repo: TradeRepository):
    one = repo.add_open_trade(new_trade(amount=3.0), T0)
    two = repo.add_open_trade(new_trade(amount=3.0), T0)
    repo.add_exit_fill(one.id, 110.0, 1.0, FEE, T0, "partial")
    repo.add_exit_fill(two.id, 110.0, 2.0, FEE, T0, "partial")
    repo.add_exit_order(one, order("sell", "open", 2.0, 0.0, 120.0), "roi", T0)  # nothing filled
    assert repo.sold_amount(one.id) == 1.0 and repo.sold_amount(two.id) == 2.0


def test_an_added_entry_order_still_open_leaves_the_trade_until_final(repo: TradeRepository):
    trade = repo.add_open_trade(new_trade(amount=1.0), T0)
    record = repo.add_entry_order(trade, order("buy", "open", 1.0, 0.4, 80.0), T0)
    assert record.pair == "BTC/USDT" and record.trade_id == trade.id
    assert repo.open_trades()[0].amount == 1.0
    assert [r.id for r in repo.open_orders()] == [record.id]


def test_settling_an_exit_records_its_progress_and_ignores_orders_no_longer_stored(
    repo: TradeRepository,
):
    trade = repo.add_open_trade(new_trade(amount=2.0), T0)
    sell, _ = repo.add_exit_order(trade, order("sell", "open", 2.0, 0.0, 110.0), "roi", T0)
    later = T0 + timedelta(minutes=3)
    repo.settle_exit(sell, order("sell", "open", 2.0, 0.5, 110.0), later)
    stored = repo.orders_for(trade.id)[-1]
    assert (stored["filled"], stored["updated_at"]) == (0.5, later)
    gone = sell.__class__(**{**sell.__dict__, "id": 4242})
    assert repo.settle_exit(gone, order("sell", "closed", 2.0, 2.0, 110.0), later) is None
    assert repo.open_trades()[0].is_open


def test_giving_up_the_dust_closes_at_that_moment(repo: TradeRepository):
    trade = repo.add_open_trade(new_trade(amount=2.0), T0)
    repo.add_exit_fill(trade.id, 110.0, 1.99, FEE, T0, "exit_signal")
    later = T0 + timedelta(hours=1)
    closed = repo.close_sold_part(trade, later)
    assert closed is not None and closed.close_date == later and closed.amount == 1.99
    assert repo.find_trades(is_open=False)[0].close_date == later


def test_only_open_stop_orders_are_listed_as_stops_each_with_its_pair(repo: TradeRepository):
    one = repo.add_open_trade(new_trade("A/USDT"), T0)
    two = repo.add_open_trade(new_trade("B/USDT"), T0)
    repo.add_exit_order(one, order("sell", "open", 2.0, 0.0, 120.0), "roi", T0)
    filled, _ = repo.add_stop_order(one, order("sell", "open", 2.0, 0.0, 90.0, id="s1"), 91.0, T0)
    with Session(repo.engine) as session, session.begin():
        session.execute(text("UPDATE orders SET status = 'closed' WHERE id = :i"), {"i": filled.id})
    waiting, _ = repo.add_stop_order(two, order("sell", "open", 2.0, 0.0, 80.0, id="s2"), 81.0, T0)
    stops = repo.open_stop_orders()
    assert [(s.id, s.pair, s.order_id) for s in stops] == [(waiting.id, "B/USDT", "s2")]


def test_settling_an_entry_no_longer_stored_changes_nothing(repo: TradeRepository):
    _, record = repo.add_pending_entry(
        new_trade(amount=2.0), order("buy", "open", 2.0, 0.0, 100.0), T0
    )
    repo.replace_order(
        record,
        order("buy", "canceled", 2.0, 0.0, 100.0),
        order("buy", "open", 2.0, 0.0, 101.0, id="n"),
        T0,
    )
    assert repo.settle_entry(record, order("buy", "closed", 2.0, 2.0, 100.0), T0) is None
    assert repo.open_trades()[0].open_rate == 101.0


def test_an_entry_still_open_and_unfilled_keeps_its_trade(repo: TradeRepository):
    trade, record = repo.add_pending_entry(
        new_trade(amount=2.0), order("buy", "open", 2.0, 0.0, 100.0), T0
    )
    kept = repo.settle_entry(record, order("buy", "open", 2.0, 0.0, 100.0), T0)
    assert kept is not None and kept.id == trade.id and repo.count() == 1
    assert [r.id for r in repo.open_orders()] == [record.id]


def test_an_entry_cancelled_with_a_small_fill_keeps_that_fill(repo: TradeRepository):
    _, record = repo.add_pending_entry(
        new_trade(amount=2.0), order("buy", "open", 2.0, 0.0, 100.0), T0
    )
    kept = repo.settle_entry(record, order("buy", "canceled", 2.0, 0.25, 100.0), T0)
    assert kept is not None and kept.amount == 0.25 and kept.open_rate == 100.0


def test_a_small_trade_closes_on_its_own_sells_only(repo: TradeRepository):
    small = repo.add_open_trade(new_trade("A/USDT", amount=0.5), T0)
    other = repo.add_open_trade(new_trade("B/USDT", amount=3.0), T0)
    repo.add_exit_fill(other.id, 50.0, 2.0, FEE, T0, "partial")
    sell, _ = repo.add_exit_order(small, order("sell", "open", 0.5, 0.0, 110.0), "roi", T0)
    closed = repo.settle_exit(sell, order("sell", "closed", 0.5, 0.5, 110.0), T0)
    assert closed is not None and closed.close_rate == 110.0 and closed.amount == 0.5


def test_selling_all_but_a_billionth_closes_the_trade(repo: TradeRepository):
    trade = repo.add_open_trade(new_trade(amount=1.0), T0)
    sell, _ = repo.add_exit_order(trade, order("sell", "open", 1.0, 0.0, 110.0), "roi", T0)
    nearly = 1.0 * (1 - 1e-9)
    closed = repo.settle_exit(sell, order("sell", "closed", 1.0, nearly, 110.0), T0)
    assert closed is not None and closed.amount == nearly


def test_unfilled_sells_count_for_nothing_and_nothing_sold_closes_nothing(repo: TradeRepository):
    trade = repo.add_open_trade(new_trade(amount=2.0), T0)
    first, _ = repo.add_exit_order(trade, order("sell", "open", 2.0, 0.0, 110.0, id="a"), "roi", T0)
    repo.settle_exit(first, order("sell", "canceled", 2.0, 0.0, 110.0, id="a"), T0)
    assert repo.close_sold_part(trade, T0) is None and repo.count(is_open=True) == 1
    repo.add_exit_fill(trade.id, 100.0, 0.5, FEE, T0, "")  # a fill without a reason
    closed = repo.close_sold_part(trade, T0)
    assert closed is not None and closed.amount == 0.5 and closed.close_rate == 100.0
    assert closed.exit_reason == "roi"  # the last sell that gave one


def test_a_trade_closed_on_sells_without_any_reason_closes_as_exit(repo: TradeRepository):
    trade = repo.add_open_trade(new_trade(amount=2.0), T0)
    repo.add_exit_fill(trade.id, 100.0, 1.0, FEE, T0, "")
    closed = repo.close_sold_part(trade, T0)
    assert closed is not None and closed.exit_reason == "exit"


def test_closing_a_trade_ignores_the_sells_of_other_trades(repo: TradeRepository):
    trade = repo.add_open_trade(new_trade("A/USDT", amount=2.0), T0)
    other = repo.add_open_trade(new_trade("B/USDT", amount=3.0), T0)
    repo.add_exit_fill(other.id, 50.0, 1.0, FEE, T0, "partial")
    closed = repo.close_trade(trade.closed(110.0, T0, "roi"))
    assert closed.close_rate == 110.0 and repo.orders_for(trade.id)[-1]["amount"] == 2.0


def test_every_order_record_names_its_trades_pair_and_open_ones_come_oldest_first(
    repo: TradeRepository,
):
    a = repo.add_open_trade(new_trade("A/USDT"), T0)
    b = repo.add_open_trade(new_trade("B/USDT"), T0)
    first, _ = repo.add_exit_order(b, order("sell", "open", 2.0, 0.0, 120.0, id="o1"), "roi", T0)
    second = repo.add_entry_order(a, order("buy", "open", 1.0, 0.0, 90.0, id="o2"), T0)
    stop, _ = repo.add_stop_order(a, order("sell", "open", 2.0, 0.0, 80.0, id="o3"), 81.0, T0)
    later = T0 + timedelta(minutes=1)
    third = repo.replace_order(
        first,
        order("sell", "canceled", 2.0, 0.0, 120.0, id="o1"),
        order("sell", "open", 2.0, 0.0, 118.0, id="o4"),
        later,
    )
    assert [(r.pair, r.order_id) for r in (first, second, stop, third)] == [
        ("B/USDT", "o1"),
        ("A/USDT", "o2"),
        ("A/USDT", "o3"),
        ("B/USDT", "o4"),
    ]
    assert [(r.pair, r.order_id) for r in repo.open_orders()] == [
        ("A/USDT", "o2"),
        ("B/USDT", "o4"),
    ]
    cancelled = next(o for o in repo.orders_for(b.id) if o["order_id"] == "o1")
    assert (cancelled["status"], cancelled["updated_at"]) == ("canceled", later)


def test_the_average_open_rate_counts_this_trades_buys_only(repo: TradeRepository):
    trade = repo.add_open_trade(new_trade("A/USDT", rate=100.0, amount=1.0), T0)
    repo.add_open_trade(new_trade("B/USDT", rate=10.0, amount=5.0), T0)
    repo.add_exit_fill(trade.id, 500.0, 0.5, FEE, T0, "partial")
    grown = repo.add_entry_fill(trade.id, 130.0, 2.0, FEE, T0, None)
    assert grown.amount == 3.0 and grown.open_rate == pytest.approx(120.0)


def test_only_a_stored_trade_with_its_close_rate_and_date_can_be_closed(repo: TradeRepository):
    trade = repo.add_open_trade(new_trade(), T0)
    closed = trade.closed(110.0, T0, "roi")
    for half_closed in (replace(closed, close_date=None), replace(closed, close_rate=None)):
        with pytest.raises(ValueError, match="needs a stored trade that has been closed"):
            repo.close_trade(half_closed)
    with pytest.raises(ValueError, match="needs a stored trade that has been closed"):
        repo.close_trade(replace(closed, id=None))
    assert repo.count(is_open=True) == 1


def test_a_trade_closed_after_a_partial_exit_keeps_its_close_date(repo: TradeRepository):
    trade = repo.add_open_trade(new_trade(amount=2.0), T0)
    repo.add_exit_fill(trade.id, 120.0, 1.0, FEE, T0, "partial")
    later = T0 + timedelta(hours=3)
    closed = repo.close_trade(trade.closed(100.0, later, "roi"))
    assert closed.close_date == later and repo.find_trades(is_open=False)[0].close_date == later


def test_overwriting_custom_data_keeps_one_row_per_trade_and_key(repo: TradeRepository):
    trade = repo.add_open_trade(new_trade(), T0)
    for value in (1, 2, 3):
        repo.set_custom_data(trade.id, "k", value)
    with Session(repo.engine) as session:
        rows = session.scalar(select(func.count()).select_from(CustomDataRow))
    assert rows == 1 and repo.custom_data(trade.id) == {"k": 3}


def test_a_live_order_is_stored_as_the_exchange_reported_it(repo: TradeRepository):
    _, record = repo.add_pending_entry(
        new_trade(amount=2.0), order("buy", "open", 2.0, 0.5, 100.0, average=96.0), T0
    )
    assert (record.amount, record.created_at, record.order_id) == (2.0, T0, "buy-open-0.5")
    [stored] = repo.orders_for(record.trade_id)
    assert (stored["created_at"], stored["updated_at"]) == (T0, T0)
    assert stored["cost"] == 48.0 and stored["fee"] == 0.0  # filled times average; fees come later
    assert (stored["filled"], stored["average"], stored["order_id"]) == (0.5, 96.0, "buy-open-0.5")


def test_an_added_buy_still_open_counts_for_nothing_until_it_is_final(repo: TradeRepository):
    trade, _ = repo.add_pending_entry(
        new_trade(amount=2.0), order("buy", "closed", 2.0, 2.0, 100.0, id="b1"), T0
    )
    # a second buy rests half filled: the trade is still what the first buy filled
    resting = repo.add_entry_order(trade, order("buy", "open", 1.0, 0.5, 90.0, id="b2"), T0)
    (stored,) = repo.open_trades()
    assert (stored.amount, stored.open_rate) == (2.0, 100.0)
    # a third buy fills at once: the trade takes it, still not the resting one's half
    repo.add_entry_order(trade, order("buy", "closed", 1.0, 1.0, 110.0, id="b3"), T0)
    (stored,) = repo.open_trades()
    assert stored.amount == 3.0 and stored.open_rate == pytest.approx(310.0 / 3)
    # the resting buy ends half filled: now it counts, at its average
    settled = repo.settle_entry(resting, order("buy", "canceled", 1.0, 0.5, 90.0, id="b2"), T0)
    assert settled is not None and settled.amount == 3.5
    assert settled.open_rate == pytest.approx((200.0 + 110.0 + 45.0) / 3.5)
