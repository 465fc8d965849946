"""``candlecast.persistence.Trade``: freqtrade's Trade as callbacks see it, on real SQLite."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from candlecast.domain.trades import Trade as TradeValue
from candlecast.persistence import Trade
from candlecast.persistence.repository import TradeRepository

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def value(pair: str = "BTC/USDT", rate: float = 100.0, amount: float = 1.0) -> TradeValue:
    return TradeValue(
        id=None,
        pair=pair,
        is_open=True,
        open_date=NOW,
        open_rate=rate,
        amount=amount,
        stake_amount=rate * amount,
        fee_open=0.0,
        fee_close=0.0,
        strategy="S",
        timeframe="5m",
    )


@pytest.fixture
def repo(tmp_path: Path):
    repository = TradeRepository(f"sqlite:///{tmp_path / 'trades.sqlite'}")
    Trade.bind(repository)
    yield repository
    Trade.bind(None)
    repository.close()


def test_stop_loss_only_moves_up_unless_refreshed_after_a_fill():
    trade = Trade(value())
    trade.adjust_stop_loss(100, -0.05, initial=True)
    assert (trade.stop_loss, trade.initial_stop_loss, trade.stop_loss_pct) == (95, 95, -0.05)
    trade.adjust_stop_loss(100, -0.10, initial=True)  # already set: no change
    trade.adjust_stop_loss(90, -0.05)  # 85.5 is lower: kept at 95
    assert trade.stop_loss == 95 and not trade.is_stop_loss_trailing
    trade.adjust_stop_loss(110, -0.05)
    assert trade.stop_loss == pytest.approx(104.5) and trade.is_stop_loss_trailing
    trade.adjust_stop_loss(100, -0.10, allow_refresh=True)
    assert trade.stop_loss == 90 and trade.stop_loss_pct == -0.10
    assert trade.initial_stop_loss == 95


def test_profit_ratio_counts_both_fees():
    trade = Trade(TradeValue(**{**value().__dict__, "fee_open": 0.001, "fee_close": 0.001}))
    assert trade.calc_profit_ratio(100.0) == pytest.approx((99.9 - 100.1) / 100.1, rel=1e-12)
    assert trade.calc_profit(110.0) == pytest.approx(110 * 0.999 - 100.1)


def test_orders_entries_and_what_is_held_after_a_partial_exit(repo: TradeRepository):
    stored = repo.add_open_trade(value(), NOW)
    assert stored.id is not None
    repo.add_entry_fill(stored.id, 80.0, 1.0, 0.0, NOW + timedelta(minutes=5), "dip")
    repo.add_exit_fill(stored.id, 95.0, 0.5, 0.0, NOW + timedelta(minutes=6), "trim")
    (trade,) = Trade.get_trades_proxy(pair="BTC/USDT", is_open=True)
    assert trade.open_rate == 90.0  # (100 * 1 + 80 * 1) / 2
    assert trade.amount == 1.5  # 2 bought, 0.5 sold
    assert trade.nr_of_successful_entries == 2 and trade.nr_of_successful_exits == 1
    assert [o.safe_price for o in trade.select_filled_orders("buy")] == [100.0, 80.0]
    assert trade.select_order("sell").ft_order_tag == "trim"  # type: ignore[union-attr]
    assert Trade.get_trades_proxy(pair="ETH/USDT") == []
    assert Trade.get_trades_proxy(is_open=False) == []
    assert Trade.get_open_trade_count() == 1


def test_custom_data_is_stored_at_once_and_read_back(repo: TradeRepository):
    stored = repo.add_open_trade(value(), NOW)
    trade = Trade.load(stored)
    trade.set_custom_data("levels", [1, 2.5, "x"])
    trade.set_custom_data("levels", {"a": 1})
    again = Trade.load(stored)
    assert again.get_custom_data("levels") == {"a": 1}
    assert again.get_custom_data("missing", 7) == 7


def test_an_older_database_gains_the_new_columns_and_keeps_its_trades(tmp_path: Path):
    path = tmp_path / "old.sqlite"
    TradeRepository(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:  # a database from before the risk columns
        for column in ("max_rate", "stop_loss", "is_stop_loss_trailing"):
            conn.execute(f"ALTER TABLE trades DROP COLUMN {column}")
        conn.execute("DROP TABLE trade_custom_data")
        conn.execute(
            "INSERT INTO trades (pair, is_open, open_date, open_rate, amount, stake_amount, "
            "fee_open, fee_close, strategy, timeframe) "
            "VALUES ('BTC/USDT', 1, '2026-01-01 12:00:00', 100, 1, 100, 0, 0, 'S', '5m')"
        )
    repository = TradeRepository(f"sqlite:///{path}")
    try:
        (trade,) = repository.open_trades()
        assert (trade.stop_loss, trade.max_rate, trade.is_stop_loss_trailing) == (None, None, False)
        assert trade.id is not None
        repository.update_risk(trade.id, {"stop_loss": 95.0, "is_stop_loss_trailing": True})
        repository.set_custom_data(trade.id, "k", 1)
        (trade,) = repository.open_trades()
        assert (trade.stop_loss, trade.is_stop_loss_trailing) == (95.0, True)
    finally:
        repository.close()


def test_a_stop_order_on_the_exchange_is_a_stoploss_order_not_an_open_order(repo):
    from candlecast.domain.orders import OrderState

    stored = repo.add_open_trade(value(), NOW)
    stop = OrderState("s-1", "BTC/USDT", "sell", "open", 1.0, 0.0, 94.05)
    repo.add_stop_order(stored, stop, 95.0, NOW + timedelta(minutes=1))
    trade = Trade.load(stored)
    assert not trade.has_open_orders and trade.open_orders == []
    assert trade.has_open_sl_orders
    (order,) = trade.open_sl_orders
    assert (order.ft_order_side, order.order_id, order.price) == ("stoploss", "s-1", 94.05)
    assert trade.stoploss_last_update == NOW + timedelta(minutes=1)
    assert [r.order_id for r in repo.open_orders()] == []  # not polled as an entry/exit
    assert [(r.order_id, r.stop_price) for r in repo.open_stop_orders()] == [("s-1", 95.0)]
