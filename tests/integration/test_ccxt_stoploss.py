"""``stoploss_on_exchange`` live through ccxt, on the Binance look-alike (127.0.0.1): the
stop is a real STOP_LOSS_LIMIT order, its fill closes the trade, other exits cancel it
first, a restarted bot re-reads it, and a refused one makes the trade exit at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from candlecast.bot.runtime import Bot
from candlecast.config import validate_config
from candlecast.exceptions import ConfigError
from candlecast.exchange.ccxt_exchange import CcxtExchange
from tests.integration.fake_binance import FakeBinance
from tests.integration.test_ccxt_bot import ORDER, Switchable, live_config, make_bot

pytestmark = pytest.mark.anyio

ON_EXCHANGE = {"entry": "limit", "exit": "limit", "stoploss": "limit", "stoploss_on_exchange": True}


class Stopped(Switchable):
    stoploss = -0.05


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    async with FakeBinance().serve() as server:
        yield server


def config(fake: FakeBinance, tmp_path: Path) -> dict[str, Any]:
    return live_config(fake, tmp_path, order_types=ON_EXCHANGE)


def stops(fake: FakeBinance) -> list[dict[str, Any]]:
    return [o for o in fake.orders.values() if o["type"] == "STOP_LOSS_LIMIT"]


def order_requests(fake: FakeBinance) -> list[tuple[str, str]]:
    """(method, the placed order's type or the cancelled order's id), in request order."""
    placed = iter(fake.orders[i]["type"] for i in sorted(fake.orders))
    return [
        (method, next(placed) if method == "POST" else params.get("orderId", ""))
        for method, path, params, _ in fake.requests
        if path == ORDER and method in ("POST", "DELETE")
    ]


async def test_the_stop_is_a_stop_limit_order_whose_fill_closes_the_trade(
    fake: FakeBinance, tmp_path: Path
):
    strategy = Stopped()
    bot = make_bot(config(fake, tmp_path), strategy)
    await bot.open()
    try:
        await bot.cycle()  # the buy fills at once; the stop follows it
        (trade,) = bot.repository.open_trades()
        (stop,) = stops(fake)
        assert stop["side"] == "SELL" and float(stop["origQty"]) == pytest.approx(trade.amount)
        assert float(stop["stopPrice"]) == pytest.approx(trade.open_rate * 0.95, abs=0.01)
        assert float(stop["price"]) == pytest.approx(trade.open_rate * 0.95 * 0.99, abs=0.01)
        strategy.mode = "idle"
        await bot.cycle()
        assert len(stops(fake)) == 1 and bot.repository.count(is_open=True) == 1

        fake.trigger_stops(float(stop["stopPrice"]))  # the market fell through it
        await bot.cycle()
        (closed,) = bot.repository.trades()
        assert not closed.is_open and closed.exit_reason == "stoploss_on_exchange"
        assert closed.close_rate == pytest.approx(float(stop["price"]))
        assert [m for m, _ in order_requests(fake)] == ["POST", "POST"]  # buy, stop: no sell
    finally:
        await bot.close()


async def test_an_exit_signal_cancels_the_stop_order_before_selling(
    fake: FakeBinance, tmp_path: Path
):
    strategy = Stopped()
    bot = make_bot(config(fake, tmp_path), strategy)
    await bot.open()
    try:
        await bot.cycle()
        (stop,) = stops(fake)
        strategy.mode = "exit"
        await bot.cycle()
        (closed,) = bot.repository.trades()
        assert closed.exit_reason == "exit_signal"
        assert stop["status"] == "CANCELED"
        assert order_requests(fake) == [
            ("POST", "LIMIT"),
            ("POST", "STOP_LOSS_LIMIT"),
            ("DELETE", str(stop["orderId"])),
            ("POST", "LIMIT"),
        ]
    finally:
        await bot.close()


async def test_a_restarted_bot_keeps_its_stop_order_and_sees_it_fill(
    fake: FakeBinance, tmp_path: Path
):
    raw = config(fake, tmp_path)
    strategy = Stopped()
    bot = make_bot(raw, strategy)
    await bot.open()
    await bot.cycle()
    await bot.close()
    (stop,) = stops(fake)

    strategy.mode = "idle"
    again = make_bot(raw, strategy)
    await again.open()
    try:
        await again.cycle()
        assert len(stops(fake)) == 1  # re-read, not placed twice
        fetched = [p for m, path, p, _ in fake.requests if path == ORDER and m == "GET"]
        assert str(stop["orderId"]) in {p.get("orderId") for p in fetched}
        fake.trigger_stops(float(stop["stopPrice"]))
        await again.cycle()
        (closed,) = again.repository.trades()
        assert closed.exit_reason == "stoploss_on_exchange"
        orders = again.repository.orders_for(closed.id or 0)
        assert [(o["ft_order_side"], o["order_id"]) for o in orders] == [
            ("buy", orders[0]["order_id"]),
            ("stoploss", str(stop["orderId"])),
        ]
    finally:
        await again.close()


async def test_a_stop_order_the_exchange_refuses_makes_the_trade_exit_at_once(
    fake: FakeBinance, tmp_path: Path
):
    fake.reject_stops = True
    bot = make_bot(config(fake, tmp_path), Stopped())
    await bot.open()
    try:
        await bot.cycle()
        (closed,) = bot.repository.trades()
        assert not closed.is_open and closed.exit_reason == "emergency_exit"
        # the buy, the refused stop (no order), the emergency exit: a market sell
        assert len([m for m, path, _, _ in fake.requests if path == ORDER and m == "POST"]) == 3
        assert [(o["side"], o["type"]) for o in fake.orders.values()] == [
            ("BUY", "LIMIT"),
            ("SELL", "MARKET"),
        ]
        assert float(fake.orders[max(fake.orders)]["origQty"]) == pytest.approx(closed.amount)
    finally:
        await bot.close()


def test_an_exchange_without_stop_orders_is_refused_at_start_in_one_line(tmp_path: Path):
    raw = {
        "exchange": {"name": "bitstamp", "pair_whitelist": ["BTC/USD"]},
        "stake_currency": "USD",
        "db_url": f"sqlite:///{tmp_path / 'trades.sqlite'}",
        "order_types": ON_EXCHANGE,
    }
    cfg = validate_config(raw)
    with pytest.raises(ConfigError) as info:
        Bot(cfg, Stopped(), exchange=CcxtExchange(cfg.exchange))
    message = str(info.value)
    assert message == (
        "order_types.stoploss_on_exchange: ccxt's bitstamp cannot place stop-loss orders "
        "on spot markets; set it to false (the bot then watches the stop itself)"
    )
    assert not (tmp_path / "trades.sqlite").exists()


class Tightens(Stopped):
    """A custom stoploss that tightens to 1 % below the price when told to."""

    use_custom_stoploss = True
    tight = False

    def custom_stoploss(self, pair, trade, current_time, current_rate, current_profit, **kwargs):
        return -0.01 if self.tight else None


async def test_a_stop_that_moves_up_replaces_the_stop_order_on_the_exchange(
    fake: FakeBinance, tmp_path: Path
):
    strategy = Tightens()
    raw = live_config(
        fake, tmp_path, order_types={**ON_EXCHANGE, "stoploss_on_exchange_interval": 0.01}
    )
    bot = make_bot(raw, strategy)
    await bot.open()
    try:
        await bot.cycle()
        (first,) = stops(fake)
        strategy.mode, strategy.tight = "idle", True
        await bot.cycle()
        (trade,) = bot.repository.open_trades()
        old, new = stops(fake)
        assert old is first and old["status"] == "CANCELED" and new["status"] == "NEW"
        assert float(new["stopPrice"]) == pytest.approx(trade.stop_loss, abs=0.01)
        assert float(new["stopPrice"]) > float(old["stopPrice"])
        assert float(new["origQty"]) == pytest.approx(trade.amount)
        assert order_requests(fake)[-2:] == [
            ("DELETE", str(old["orderId"])),
            ("POST", "STOP_LOSS_LIMIT"),
        ]
        stored = [
            (o["order_id"], o["status"])
            for o in bot.repository.orders_for(trade.id or 0)
            if o["ft_order_side"] == "stoploss"
        ]
        assert stored == [(str(old["orderId"]), "canceled"), (str(new["orderId"]), "open")]
    finally:
        await bot.close()
