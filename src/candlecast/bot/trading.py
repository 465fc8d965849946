"""Trade management of one cycle: settle live orders, exits, then entries.

The decisions themselves are pure functions in ``trader``; this module fetches the
prices they need, carries them out (dry-run fills at once, live places orders) and
stores the result.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from candlecast.bot import trader
from candlecast.bot.orders import OrderManager
from candlecast.clock import Clock
from candlecast.config.models import Config
from candlecast.data.dataprovider import DataProvider
from candlecast.domain.trades import Trade
from candlecast.exceptions import ExchangeError
from candlecast.exchange import Exchange, Ticker
from candlecast.persistence.repository import TradeRepository
from candlecast.strategy.interface import IStrategy

logger = logging.getLogger(__name__)


@dataclass
class BotStats:
    cycles: int = 0
    strategy_errors: int = 0
    entries: int = 0
    exits: int = 0


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

    async def manage(self, pairs: list[str]) -> None:
        """Settle live orders, exit what should exit, then enter what should enter."""
        pending: set[int | None] = set()
        if self.orders is not None:
            closed_by_orders = await self.orders.update()
            self.stats.exits += len(closed_by_orders)
            pending = set(self.orders.pending_trades)
        open_trades = self.repository.open_trades()
        closed = await self.exit_trades(
            [t for t in open_trades if t.pair in pairs and t.id not in pending]
        )
        await self.enter_trades(pairs, [t for t in open_trades if t.id not in closed])

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

    async def _check_exit(self, trade: Trade) -> bool:
        now = self.clock.now()
        frame, _ = self.dp.get_analyzed_dataframe(trade.pair)
        signal_exit = self.strategy.use_exit_signal and trader.last_signal(
            frame, "exit_long", now, self.timeframe
        )
        ticker = await self._ticker(trade.pair)
        if ticker is None:
            return False
        decision = trader.exit_decision(
            trade,
            ticker.bid,
            now,
            self.strategy.minimal_roi,
            float(self.strategy.stoploss or -1),
            signal_exit,
        )
        if decision is None:
            return False
        return await self._execute_exit(trade, decision)

    async def _execute_exit(self, trade: Trade, decision: trader.ExitDecision) -> bool:
        if self.orders is not None:
            try:
                if await self.orders.exit(trade, decision.rate, decision.reason):
                    self.stats.exits += 1
            except ExchangeError as exc:
                logger.warning("Exit of %s not placed: %s", trade.pair, exc)
            return False  # closes when the sell fills
        now = self.clock.now()
        closed = await asyncio.to_thread(
            self.repository.close_trade, trade.closed(decision.rate, now, decision.reason)
        )
        self.stats.exits += 1
        logger.info(
            "Exited %s (%s) at %.8g: profit %.2f%% (%.4f %s)",
            closed.pair,
            closed.exit_reason,
            decision.rate,
            (closed.close_profit or 0) * 100,
            closed.close_profit_abs or 0,
            self.config.stake_currency,
        )
        return True

    # --- entries --------------------------------------------------------------------
    async def enter_trades(self, pairs: list[str], open_trades: list[Trade]) -> None:
        now = self.clock.now()
        frames = {p: self.dp.get_analyzed_dataframe(p)[0] for p in pairs}
        plans = trader.plan_entries(
            pairs, {t.pair for t in open_trades}, frames, now, self.timeframe
        )
        if not plans:
            return
        available = await self._available_stake(open_trades)
        open_count = len(open_trades)
        for plan in plans:
            stake = trader.stake_for_new_trade(self.config, available, open_count)
            if stake is None:
                continue
            spent = await self._enter(plan, stake)
            if spent is not None:
                available -= spent
                open_count += 1
                self.stats.entries += 1

    async def _enter(self, plan: trader.EntryPlan, stake: float) -> float | None:
        """Open a trade for ``plan`` with ``stake``; return the stake spent (None: no trade)."""
        ticker = await self._ticker(plan.pair)
        if ticker is None:
            return None
        now = self.clock.now()
        fee = self.exchange.fee(plan.pair)
        rate = ticker.ask
        amount = stake / (rate * (1 + fee))
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
        )
        if self.orders is not None:
            try:
                stored = await self.orders.enter(trade, rate)
            except ExchangeError as exc:
                logger.warning("Entry of %s not placed: %s", plan.pair, exc)
                return None
            return stored.stake_amount
        await asyncio.to_thread(self.repository.add_open_trade, trade, now)
        logger.info(
            "Entered %s: %.8g @ %.8g (stake %.2f %s)",
            plan.pair,
            amount,
            rate,
            stake,
            self.config.stake_currency,
        )
        return stake

    async def _available_stake(self, open_trades: list[Trade]) -> float:
        """What new trades may spend: the free balance live, the wallet minus stakes dry."""
        if self.orders is not None:
            return await self.exchange.free_balance(self.config.stake_currency)
        realized = self.repository.realized_profit()
        return self.config.dry_run_wallet + realized - sum(t.stake_amount for t in open_trades)
