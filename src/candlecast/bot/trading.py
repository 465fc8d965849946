"""Trade management of one cycle: settle live orders, exits, then entries.

The decisions themselves are pure functions in ``trader``; this module fetches the
prices they need, carries them out (dry-run fills at once, live places orders) and
stores the result.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from candlecast.bot import callbacks, events, exits, trader
from candlecast.bot.orders import OrderManager
from candlecast.bot.ordertypes import OrderPlan
from candlecast.bot.protections import ProtectionManager
from candlecast.bot.stoporders import StopOrderManager
from candlecast.clock import Clock
from candlecast.config.models import Config
from candlecast.data.dataprovider import DataProvider
from candlecast.domain.orders import OrderState
from candlecast.domain.timeframes import timeframe_to_seconds
from candlecast.domain.trades import OrderRecord, Trade
from candlecast.exceptions import ExchangeError, InvalidOrderError
from candlecast.exchange import Exchange, Ticker
from candlecast.persistence.repository import TradeRepository
from candlecast.persistence.trade import Trade as CallbackTrade
from candlecast.strategy.interface import IStrategy

logger = logging.getLogger(__name__)


@dataclass
class BotStats:
    cycles: int = 0
    strategy_errors: int = 0
    entries: int = 0
    exits: int = 0
    # per pair: (analyses, total seconds, last seconds), for /metrics
    analysis: dict[str, tuple[int, float, float]] = field(default_factory=dict)

    def record_analysis(self, pair: str, seconds: float) -> None:
        count, total, _ = self.analysis.get(pair, (0, 0.0, 0.0))
        self.analysis[pair] = (count + 1, total + seconds, seconds)


class TradeManager:
    """Exits and entries for the pairs of one cycle."""

    def __init__(
        self,
        config: Config,
        strategy: IStrategy,
        exchange: Exchange,
        repository: TradeRepository,
        orders: OrderManager | None,
        dp: DataProvider,
        clock: Clock,
        timeframe: str,
        stats: BotStats,
        protections: ProtectionManager | None = None,
        order_plan: OrderPlan | None = None,
        stops: StopOrderManager | None = None,
    ) -> None:
        self.config = config
        self.strategy = strategy
        self.exchange = exchange
        self.repository = repository
        self.orders = orders
        self.dp = dp
        self.clock = clock
        self.timeframe = timeframe
        self.stats = stats
        self.protections = protections
        self.order_plan = order_plan or OrderPlan()
        #: stop orders on the exchange (``order_types.stoploss_on_exchange``), or None
        self.stops = stops
        if orders is not None:
            orders.on_entry_fill = self._after_entry_fill
            orders.on_entry_placed = lambda t: self._event(events.entry, "entry", t, t.open_rate)
            orders.on_cancel = self._on_cancel
            orders.ask_timeout = self._check_timeout
            orders.on_order_filled = self._order_filled
            orders.ask_price = self._adjust_order_price
        if stops is not None:
            stops.on_order_filled = self._order_filled
        #: where freqtrade's event messages go (``bot/events.py``); the bot publishes them
        self.notify: Callable[[dict[str, Any]], None] = lambda message: None
        #: the last ``warning`` event sent per trade (the same problem is announced once)
        self._warned: dict[int, str] = {}
        #: False while the bot is paused through the REST API (exits still run)
        self.entries_allowed: Callable[[], bool] = lambda: True
        # the consumer's guards (docs/producer-consumer.md): staleness and market
        producers = config.external_message_consumer.producers
        dp.configure_guards(
            {p.name: p.max_age_candles for p in producers},
            {p.name: p.market_tolerance for p in producers},
            clock.now,
        )

    async def manage(self, pairs: list[str]) -> None:
        """Settle live orders, exit what should exit, then enter what should enter."""
        pending: set[int | None] = set()
        if self.orders is not None:
            closed_by_orders = await self.orders.update()
            self.stats.exits += len(closed_by_orders)
            for done in closed_by_orders:
                self._event(events.exit, "exit_fill", done, done.close_rate or done.open_rate)
            await self._protect(closed_by_orders)
            pending = set(self.orders.pending_trades)
        if self.stops is not None:
            closed_by_stops = await self.stops.update()
            self.stats.exits += len(closed_by_stops)
            for done in closed_by_stops:
                self._event(events.exit, "exit_fill", done, done.close_rate or done.open_rate)
            await self._protect(closed_by_stops)
        open_trades = await asyncio.to_thread(self.repository.open_trades)
        await self.exit_trades([t for t in open_trades if t.pair in pairs and t.id not in pending])
        if self.strategy.position_adjustment_enable:
            if self.orders is not None:  # exits placed just now are pending too
                pending = set(self.orders.pending_trades)
            open_trades = await asyncio.to_thread(self.repository.open_trades)
            await self.adjust_positions(
                [t for t in open_trades if t.pair in pairs and t.id not in pending]
            )
        if self.entries_allowed():
            await self.enter_trades(pairs, await asyncio.to_thread(self.repository.open_trades))

    def _event(
        self, build: Callable[..., dict[str, Any]], kind: str, trade: Trade, rate: float
    ) -> None:
        try:
            self.notify(
                build(kind, trade, self.config.exchange.name, self.config.stake_currency, rate)
            )
        except Exception:  # a listener's failure never stops trading
            logger.exception("Event %s not sent", kind)

    def _on_cancel(self, record: OrderRecord, order: OrderState) -> None:
        kind = "entry_cancel" if record.side == "buy" else "exit_cancel"
        cfg = self.config
        try:
            self.notify(
                events.cancel(
                    kind,
                    record.trade_id,
                    record.pair,
                    record.amount,
                    order.price,
                    cfg.exchange.name,
                    cfg.stake_currency,
                )
            )
        except Exception:  # a listener's failure never stops trading
            logger.exception("Event %s not sent", kind)

    async def force_enter(
        self, pair: str, price: float | None, stake: float | None, tag: str | None
    ) -> Trade | None:
        """Open a trade for ``pair`` now, as a signal would (REST ``forceenter``); the
        price is the strategy's entry price (``price`` is not used: candlecast places the
        entry at its usual price). None when no trade was opened."""
        open_trades = await asyncio.to_thread(self.repository.open_trades)
        if any(t.pair == pair for t in open_trades):
            return None
        available = await self._available_stake(open_trades)
        if stake is None:
            stake = trader.stake_for_new_trade(self.config, available, len(open_trades))
        if not stake or stake <= 0:
            return None
        if await self._enter(trader.EntryPlan(pair, tag), min(stake, available), available) is None:
            return None
        self.stats.entries += 1
        found = [t for t in await asyncio.to_thread(self.repository.find_trades, pair) if t.id]
        return max(found, key=lambda t: t.id or 0) if found else None

    async def force_exit(self, trade_id: int, amount: float | None = None) -> bool:
        """Exit an open trade now at the bid (REST ``forceexit``); False when not possible."""
        found = [
            t for t in await asyncio.to_thread(self.repository.open_trades) if t.id == trade_id
        ]
        if not found:
            return False
        ticker = await self._ticker(found[0].pair)
        if ticker is None:
            return False
        trade = await asyncio.to_thread(CallbackTrade.load, found[0], self.repository)
        check = exits.ExitCheck("force_exit", "force_exit")
        await self._execute_exit(trade, check, ticker.bid, amount)
        return True

    async def _trade_and_order(self, record: OrderRecord) -> tuple[CallbackTrade, Any] | None:
        """The callback ``Trade`` and ``Order`` of a stored order (None: gone)."""
        found = await asyncio.to_thread(self.repository.find_trades, record.pair)
        value = next((t for t in found if t.id == record.trade_id), None)
        if value is None:
            return None
        trade = await asyncio.to_thread(CallbackTrade.load, value, self.repository)
        order = next((o for o in trade.orders if o.order_id == record.order_id), None)
        return None if order is None else (trade, order)

    async def _order_filled(self, record: OrderRecord) -> None:
        """The strategy's order_filled, once an order is final with a fill."""
        if not callbacks.overrides(self.strategy, "order_filled"):
            return
        found = await self._trade_and_order(record)
        if found is not None:
            trade, order = found
            callbacks.call(
                self.strategy,
                "order_filled",
                None,
                pair=record.pair,
                trade=trade,
                order=order,
                current_time=self.clock.now(),
            )

    async def _adjust_order_price(self, record: OrderRecord, placed: OrderState) -> float | None:
        """The strategy's adjust_order_price (adjust_entry_price / adjust_exit_price) for an
        open order, once a candle closed after it was placed; its own price: keep it."""
        if not any(
            callbacks.overrides(self.strategy, n)
            for n in ("adjust_order_price", "adjust_entry_price", "adjust_exit_price")
        ):
            return placed.price
        frame, _ = self.dp.get_analyzed_dataframe(record.pair)
        if frame.empty:
            return placed.price
        closed_at = frame["date"].iloc[-1].to_pydatetime() + timedelta(
            seconds=timeframe_to_seconds(self.timeframe)
        )
        if closed_at <= record.created_at:
            return placed.price  # no new candle since it was placed
        ticker = await self._ticker(record.pair)
        found = await self._trade_and_order(record)
        if ticker is None or found is None:
            return placed.price
        trade, order = found
        is_entry = record.side == "buy"
        answer = callbacks.call(
            self.strategy,
            "adjust_order_price",
            placed.price,
            trade=trade,
            order=order,
            pair=record.pair,
            current_time=self.clock.now(),
            proposed_rate=ticker.ask if is_entry else ticker.bid,
            current_order_rate=placed.price,
            entry_tag=trade.enter_tag,
            side="long",
            is_entry=is_entry,
        )
        if answer is None:
            return None
        if not isinstance(answer, int | float) or not math.isfinite(answer) or answer < 0:
            return placed.price
        return float(answer) or None

    async def _check_timeout(self, record: OrderRecord) -> bool:
        """The strategy's check_entry_timeout / check_exit_timeout for an open order."""
        name = "check_entry_timeout" if record.side == "buy" else "check_exit_timeout"
        if not callbacks.overrides(self.strategy, name):
            return False
        found = await self._trade_and_order(record)
        if found is None:
            return False
        trade, order = found
        answer = callbacks.call(
            self.strategy,
            name,
            False,
            pair=record.pair,
            trade=trade,
            order=order,
            current_time=self.clock.now(),
        )
        return answer is True

    async def _ticker(self, pair: str) -> Ticker | None:
        try:
            return await self.exchange.fetch_ticker(pair)
        except ExchangeError as exc:
            logger.warning("No price for %s this pass: %s", pair, exc)
            return None

    # --- exits ----------------------------------------------------------------------
    async def exit_trades(self, trades: list[Trade]) -> set[int | None]:
        """Check each trade for an exit; return the ids of the trades closed."""
        closed: set[int | None] = set()
        for trade in trades:
            if await self._check_exit(trade):
                closed.add(trade.id)
        return closed

    async def _check_exit(self, value: Trade) -> bool:
        ticker = await self._ticker(value.pair)
        if ticker is None:
            return False
        now = self.clock.now()
        frame, _ = self.dp.get_analyzed_dataframe(value.pair)
        signals = exits.latest_signals(frame, now, self.timeframe)
        trade = await asyncio.to_thread(CallbackTrade.load, value, self.repository)
        checks = exits.should_exit(
            self.strategy, trade, ticker.bid, now, signals, self._local_stop(value)
        )
        await self._store_risk(trade, value)
        if self._exit_timed_out_too_often(trade):
            checks.insert(0, exits.ExitCheck(exits.EMERGENCY_EXIT, exits.EMERGENCY_EXIT))
        for check in checks:
            if await self._execute_exit(trade, check, ticker.bid):
                return True
        if self.stops is not None:
            return await self._maintain_stop(trade, ticker.bid)
        return False

    def _exit_timed_out_too_often(self, trade: CallbackTrade) -> bool:
        """``unfilledtimeout.exit_timeout_count`` exit orders were cancelled (0: never):
        the trade leaves with an emergency exit, as freqtrade."""
        limit = self.config.unfilledtimeout.exit_timeout_count
        if limit <= 0:
            return False
        cancelled = [
            o for o in trade.orders if o.ft_order_side == "sell" and o.status == "canceled"
        ]
        if len(cancelled) < limit:
            return False
        self._warn(
            trade.value,
            f"Emergency exit of {trade.pair}: its exit order was cancelled {len(cancelled)} times",
        )
        return True

    def _warn(self, trade: Trade, text: str) -> None:
        """Log a problem with a trade and announce it as freqtrade's ``warning`` event,
        once per trade while the same problem repeats."""
        logger.warning("%s", text)
        if trade.id is not None and self._warned.get(trade.id) == text:
            return
        if trade.id is not None:
            self._warned[trade.id] = text
        self.notify(events.status("warning", text))

    def _local_stop(self, value: Trade) -> bool:
        """Whether the bot exits at the stop itself: always without stoploss_on_exchange
        and in dry-run (as freqtrade); live, while no stop order of the trade is open on
        the exchange (a safety net while it cannot be placed)."""
        if self.stops is None or self.config.dry_run:
            return True
        return self.stops.open_stop(value.id) is None

    async def _maintain_stop(self, trade: CallbackTrade, rate: float, force: bool = False) -> bool:
        """Place or move the trade's stop order; True when that closed the trade. A stop
        order the exchange refuses makes the trade exit at once (emergency exit)."""
        assert self.stops is not None
        try:
            closed = await self.stops.maintain(trade.value, force)
        except InvalidOrderError as exc:
            self._warn(
                trade.value, f"Stop order of {trade.pair} refused ({exc}); exiting the trade"
            )
            check = exits.ExitCheck(exits.EMERGENCY_EXIT, exits.EMERGENCY_EXIT)
            return await self._execute_exit(trade, check, rate)
        if closed is None:
            return False
        self.stats.exits += 1
        await self._protect([closed])
        return True

    async def _store_risk(self, trade: CallbackTrade, before: Trade) -> None:
        state = trade.risk_state()
        changed = {k: v for k, v in state.items() if getattr(before, k) != v}
        if changed and trade.id is not None:
            await asyncio.to_thread(self.repository.update_risk, trade.id, changed)

    async def _cancel_stop_order(self, trade_id: int, pair: str, reason: str) -> bool | None:
        """Before another exit: cancel the trade's stop order on the exchange (it holds the
        amount). None: freed (or none), go on; True: the stop order filled meanwhile and
        closed the trade; False: not freed yet, the exit waits."""
        if self.stops is None:
            return None
        cancelled = await self.stops.cancel(trade_id)
        if cancelled.closed is not None:
            self.stats.exits += 1
            await self._protect([cancelled.closed])
            return True
        if not cancelled.freed:
            logger.warning("Exit of %s (%s) waits for its stop order", pair, reason)
            return False
        return None

    async def _execute_exit(
        self,
        trade: CallbackTrade,
        check: exits.ExitCheck,
        rate: float,
        amount: float | None = None,
    ) -> bool:
        """Exit ``trade`` (or ``amount`` of it: a partial exit) near ``rate``; True when
        the trade closed."""
        now = self.clock.now()
        price = callbacks.valid_price(
            callbacks.call(
                self.strategy,
                "custom_exit_price",
                rate,
                pair=trade.pair,
                trade=trade,
                current_time=now,
                proposed_rate=rate,
                current_profit=trade.calc_profit_ratio(rate),
                exit_tag=check.reason,
            ),
            rate,
            self.config.custom_price_max_distance_ratio,
        )
        partial = amount is not None and amount < trade.amount
        if not partial and not callbacks.call(
            self.strategy,
            "confirm_trade_exit",
            True,
            pair=trade.pair,
            trade=trade,
            order_type=self.order_plan.for_exit(check.exit_type),
            amount=trade.amount,
            rate=price,
            time_in_force=self.order_plan.exit_time_in_force,
            exit_reason=check.reason,
            sell_reason=check.reason,
            current_time=now,
        ):
            logger.info("Exit of %s (%s) refused by the strategy", trade.pair, check.reason)
            return False
        value = trade.value
        assert value.id is not None
        blocked = await self._cancel_stop_order(value.id, trade.pair, check.reason)
        if blocked is not None:
            return blocked
        self._event(events.exit, "exit", replace(value, exit_reason=check.reason), price)
        if self.orders is not None:
            try:
                done = await self.orders.exit(
                    value,
                    price,
                    check.reason,
                    amount if partial else None,
                    self.order_plan.for_exit(check.exit_type),
                    self.order_plan.exit_time_in_force,
                )
                if done:
                    self.stats.exits += 1
                    self._event(events.exit, "exit_fill", done, done.close_rate or price)
                    await self._protect([done])
            except ExchangeError as exc:
                self._warn(value, f"Exit of {trade.pair} not placed: {exc}")
                return False
            return True  # placed: it closes the trade when the sell fills
        if partial:
            assert amount is not None
            await asyncio.to_thread(
                self.repository.add_exit_fill,
                value.id,
                price,
                amount,
                value.fee_close,
                now,
                check.reason,
            )
            logger.info("Sold %.8g of %s (%s) at %.8g", amount, trade.pair, check.reason, price)
            return False
        closed = await asyncio.to_thread(
            self.repository.close_trade, value.closed(price, now, check.reason)
        )
        self.stats.exits += 1
        self._event(events.exit, "exit_fill", closed, price)
        await self._protect([closed])
        logger.info(
            "Exited %s (%s) at %.8g: profit %.2f%% (%.4f %s)",
            closed.pair,
            closed.exit_reason,
            price,
            (closed.close_profit or 0) * 100,
            closed.close_profit_abs or 0,
            self.config.stake_currency,
        )
        return True

    # --- position adjustment --------------------------------------------------------
    async def adjust_positions(self, trades: list[Trade]) -> None:
        """Ask ``adjust_trade_position`` of each trade: add to it or take part of it out."""
        available: float | None = None
        for value in trades:
            ticker = await self._ticker(value.pair)
            if ticker is None:
                continue
            if available is None:
                open_trades = await asyncio.to_thread(self.repository.open_trades)
                available = await self._available_stake(open_trades)
            trade = await asyncio.to_thread(CallbackTrade.load, value, self.repository)
            spent = await self._adjust(trade, ticker, available)
            available -= spent

    async def _adjust(self, trade: CallbackTrade, ticker: Ticker, available: float) -> float:
        now = self.clock.now()
        entry_profit = trade.calc_profit_ratio(ticker.ask)
        exit_profit = trade.calc_profit_ratio(ticker.bid)
        answer = callbacks.call(
            self.strategy,
            "adjust_trade_position",
            None,
            trade=trade,
            current_time=now,
            current_rate=ticker.ask,
            current_profit=entry_profit,
            min_stake=None,
            max_stake=max(available, 0.0),
            current_entry_rate=ticker.ask,
            current_exit_rate=ticker.bid,
            current_entry_profit=entry_profit,
            current_exit_profit=exit_profit,
        )
        stake, tag = answer if isinstance(answer, tuple) else (answer, None)
        if not isinstance(stake, int | float) or not stake:
            return 0.0
        if stake < 0:
            amount = min(trade.amount, -stake * trade.amount / trade.stake_amount)
            reason = tag or exits.PARTIAL_EXIT
            await self._execute_exit(
                trade, exits.ExitCheck(exits.PARTIAL_EXIT, reason), ticker.bid, amount
            )
            return 0.0
        limit = self.strategy.max_entry_position_adjustment
        if limit > -1 and trade.nr_of_successful_entries > limit:
            return 0.0
        stake = min(float(stake), available)
        if stake <= 0:
            return 0.0
        price = self._entry_price(trade.pair, trade, ticker.ask, tag, now)
        fee = self.exchange.fee(trade.pair)
        amount = stake / (price * (1 + fee))
        value = trade.value
        assert value.id is not None
        if self.orders is not None:
            try:
                await self.orders.add_entry(
                    value,
                    amount,
                    price,
                    tag,
                    self.order_plan.entry,
                    self.order_plan.entry_time_in_force,
                )
            except ExchangeError as exc:
                logger.warning("Added entry of %s not placed: %s", trade.pair, exc)
                return 0.0
            return stake
        stored = await asyncio.to_thread(
            self.repository.add_entry_fill, value.id, price, amount, fee, now, tag
        )
        logger.info(
            "Added %.8g %s @ %.8g: average open rate %.8g",
            amount,
            trade.pair,
            price,
            stored.open_rate,
        )
        await self._after_entry_fill(stored)
        return stake

    async def _after_entry_fill(self, stored: Trade) -> None:
        """As freqtrade after an entry fills: the stop follows a higher average open rate,
        and custom_stoploss is asked with ``after_fill=True``."""
        self._event(events.entry, "entry_fill", stored, stored.open_rate)
        trade = await asyncio.to_thread(CallbackTrade.load, stored, self.repository)
        if trade.stop_loss_pct is not None:
            trade.adjust_stop_loss(trade.open_rate, trade.stop_loss_pct)
        ticker = None
        if callbacks.stop_uses_after_fill(self.strategy):
            ticker = await self._ticker(trade.pair)
        if ticker is not None:
            profit = trade.calc_profit_ratio(ticker.bid)
            exits.adjust_stoploss(
                self.strategy, trade, ticker.bid, self.clock.now(), profit, after_fill=True
            )
        await self._store_risk(trade, stored)
        if self.stops is not None:
            if trade.stop_loss is None:  # freqtrade sets the stop as the entry fills
                stoploss = float(self.strategy.stoploss or -1.0)
                trade.adjust_stop_loss(trade.open_rate, stoploss, initial=True)
                await self._store_risk(trade, stored)
            rate = ticker.bid if ticker is not None else trade.open_rate
            await self._maintain_stop(trade, rate, force=True)

    # --- entries --------------------------------------------------------------------
    async def enter_trades(self, pairs: list[str], open_trades: list[Trade]) -> None:
        now = self.clock.now()
        self.dp.check_markets(pairs)  # the market guard: warns, does not block
        stale = self.dp.stale_pairs(pairs)  # the staleness guard: no new trades on these
        pairs = [p for p in pairs if p not in stale]
        frames = {p: self.dp.get_analyzed_dataframe(p)[0] for p in pairs}
        plans = trader.plan_entries(
            pairs,
            {t.pair for t in open_trades},
            frames,
            now,
            self.timeframe,
            self.strategy.ignore_buying_expired_candle_after,
        )
        plans = await asyncio.to_thread(self._unlocked, plans, frames, now)
        if not plans:
            return
        available = await self._available_stake(open_trades)
        open_count = len(open_trades)
        for plan in plans:
            stake = trader.stake_for_new_trade(self.config, available, open_count)
            if stake is None:
                continue
            spent = await self._enter(plan, stake, available)
            if spent is not None:
                available -= spent
                open_count += 1
                self.stats.entries += 1

    def _entry_price(
        self, pair: str, trade: CallbackTrade | None, rate: float, tag: str | None, now: datetime
    ) -> float:
        custom = callbacks.call(
            self.strategy,
            "custom_entry_price",
            rate,
            pair=pair,
            trade=trade,
            current_time=now,
            proposed_rate=rate,
            entry_tag=tag,
            side="long",
        )
        return callbacks.valid_price(custom, rate, self.config.custom_price_max_distance_ratio)

    async def _enter(self, plan: trader.EntryPlan, stake: float, available: float) -> float | None:
        """Open a trade for ``plan`` with ``stake``; return the stake spent (None: no trade)."""
        ticker = await self._ticker(plan.pair)
        if ticker is None:
            return None
        now = self.clock.now()
        rate = self._entry_price(plan.pair, None, ticker.ask, plan.enter_tag, now)
        custom_stake = callbacks.call(
            self.strategy,
            "custom_stake_amount",
            stake,
            pair=plan.pair,
            current_time=now,
            current_rate=rate,
            proposed_stake=stake,
            min_stake=None,
            max_stake=available,
            leverage=1.0,
            entry_tag=plan.enter_tag,
            side="long",
        )
        if not isinstance(custom_stake, int | float) or not custom_stake > 0:
            logger.info("No entry for %s: custom_stake_amount gave %r", plan.pair, custom_stake)
            return None
        stake = min(float(custom_stake), available)
        fee = self.exchange.fee(plan.pair)
        amount = stake / (rate * (1 + fee))
        if not callbacks.call(
            self.strategy,
            "confirm_trade_entry",
            True,
            pair=plan.pair,
            order_type=self.order_plan.entry,
            amount=amount,
            rate=rate,
            time_in_force=self.order_plan.entry_time_in_force,
            current_time=now,
            entry_tag=plan.enter_tag,
            side="long",
        ):
            logger.info("Entry of %s refused by the strategy", plan.pair)
            return None
        trade = Trade(
            id=None,
            pair=plan.pair,
            is_open=True,
            open_date=now,
            open_rate=rate,
            amount=amount,
            stake_amount=stake,
            fee_open=fee,
            fee_close=fee,
            strategy=type(self.strategy).__name__,
            timeframe=self.timeframe,
            enter_tag=plan.enter_tag,
            max_rate=rate,
            min_rate=rate,
        )
        if self.orders is not None:
            try:
                stored = await self.orders.enter(
                    trade, rate, self.order_plan.entry, self.order_plan.entry_time_in_force
                )
            except ExchangeError as exc:
                logger.warning("Entry of %s not placed: %s", plan.pair, exc)
                return None
            return stored.stake_amount
        stored = await asyncio.to_thread(self.repository.add_open_trade, trade, now)
        self._event(events.entry, "entry", stored, rate)
        logger.info(
            "Entered %s: %.8g @ %.8g (stake %.2f %s)",
            plan.pair,
            amount,
            rate,
            stake,
            self.config.stake_currency,
        )
        await self._after_entry_fill(stored)
        return stake

    # --- protections ----------------------------------------------------------------
    async def _protect(self, closed: list[Trade]) -> None:
        """After trades closed: the auto lock and the protections (freqtrade's order)."""
        if self.protections is None or not closed:
            return
        balance = await self._starting_balance() if self.protections.needs_balance else 0.0
        for trade in closed:
            made = await asyncio.to_thread(
                self.protections.handle_close, trade.pair, self.clock.now(), "long", balance
            )
            for lock in made[1:]:  # the first is the auto lock, which freqtrade does not announce
                try:
                    self.notify(events.protection_trigger(lock.to_json(), lock.pair))
                except Exception:
                    logger.exception("Event protection_trigger not sent")

    async def _starting_balance(self) -> float:
        """The wallet before any closed trade: dry-run the dry_run_wallet; live the free
        balance plus open stakes minus the realized profit."""
        if self.config.dry_run:
            return self.config.dry_run_wallet
        free = await self.exchange.free_balance(self.config.stake_currency)
        open_trades = await asyncio.to_thread(self.repository.open_trades)
        realized = await asyncio.to_thread(self.repository.realized_profit)
        return free + sum(t.stake_amount for t in open_trades) - realized

    def _unlocked(
        self, plans: list[trader.EntryPlan], frames: dict, now: datetime
    ) -> list[trader.EntryPlan]:
        """The plans whose pair no lock keeps from entering now (reads SQLite: run it in
        a worker thread)."""
        if self.protections is None:
            return plans
        glob = self.protections.global_lock(now)
        if glob is not None:
            self.protections.log_once(
                glob.id,
                "Global pairlock active until %s; no new trades: %s",
                glob.lock_end_time.isoformat(),
                glob.reason,
            )
            return []
        kept = []
        for plan in plans:
            frame = frames.get(plan.pair)
            candle = (
                frame["date"].iloc[-1].to_pydatetime() if frame is not None and len(frame) else None
            )
            lock = self.protections.entry_lock(plan.pair, candle, now)
            if lock is None:
                kept.append(plan)
            else:
                self.protections.log_once(
                    (lock.id, plan.pair),
                    "Pair %s is locked until %s: %s",
                    plan.pair,
                    lock.lock_end_time.isoformat(),
                    lock.reason,
                )
        return kept

    async def _available_stake(self, open_trades: list[Trade]) -> float:
        """What new trades may spend: the free balance live, the wallet minus stakes dry."""
        if self.orders is not None:
            return await self.exchange.free_balance(self.config.stake_currency)
        realized = await asyncio.to_thread(self.repository.realized_profit)
        return self.config.dry_run_wallet + realized - sum(t.stake_amount for t in open_trades)
