"""Trade management of one cycle: settle live orders, exits, then entries.

The decisions themselves are pure functions in ``trader``; this module fetches the
prices they need, carries them out (dry-run fills at once, live places orders) and
stores the result.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

from candlecast.bot import callbacks, exits, trader
from candlecast.bot.orders import OrderManager
from candlecast.bot.ordertypes import OrderPlan
from candlecast.bot.protections import ProtectionManager
from candlecast.clock import Clock
from candlecast.config.models import Config
from candlecast.data.dataprovider import DataProvider
from candlecast.domain.trades import Trade
from candlecast.exceptions import ExchangeError
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
        if orders is not None:
            orders.on_entry_fill = self._after_entry_fill
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
            await self._protect(closed_by_orders)
            pending = set(self.orders.pending_trades)
        open_trades = await asyncio.to_thread(self.repository.open_trades)
        await self.exit_trades([t for t in open_trades if t.pair in pairs and t.id not in pending])
        if self.strategy.position_adjustment_enable:
            if self.orders is not None:  # exits placed just now are pending too
                pending = set(self.orders.pending_trades)
            open_trades = await asyncio.to_thread(self.repository.open_trades)
            await self.adjust_positions(
                [t for t in open_trades if t.pair in pairs and t.id not in pending]
            )
        await self.enter_trades(pairs, await asyncio.to_thread(self.repository.open_trades))

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
        checks = exits.should_exit(self.strategy, trade, ticker.bid, now, signals)
        await self._store_risk(trade, value)
        for check in checks:
            if await self._execute_exit(trade, check, ticker.bid):
                return True
        return False

    async def _store_risk(self, trade: CallbackTrade, before: Trade) -> None:
        state = trade.risk_state()
        changed = {k: v for k, v in state.items() if getattr(before, k) != v}
        if changed and trade.id is not None:
            await asyncio.to_thread(self.repository.update_risk, trade.id, changed)

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
                    await self._protect([done])
            except ExchangeError as exc:
                logger.warning("Exit of %s not placed: %s", trade.pair, exc)
            return False  # closes when the sell fills
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
            await asyncio.to_thread(
                self.protections.handle_close, trade.pair, self.clock.now(), "long", balance
            )

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
