"""The composition root: builds every component from the config and runs the bot.

One asyncio event loop owns everything (API server, producer clients, the trading
loop) in a TaskGroup; strategy analysis runs in a worker thread so the loop keeps
serving websockets while indicators compute.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import pandas as pd

from candlecast import __version__
from candlecast.api.app import create_app
from candlecast.api.context import ApiContext, BotControl
from candlecast.api.metrics import BotCollector
from candlecast.api.server import ApiServer, bind_socket
from candlecast.bot import callbacks, events
from candlecast.bot.analysis_pool import (
    AnalysisPool,
    StrategySpec,
    ThreadAnalysis,
    let_writers_run,
)
from candlecast.bot.orders import POLL_INTERVAL, OrderManager
from candlecast.bot.ordertypes import OrderPlan, resolve_order_plan
from candlecast.bot.protections import ProtectionManager, parse_protections
from candlecast.bot.protections.manager import StrategyLocks
from candlecast.bot.stoporders import StopOrderManager
from candlecast.bot.trading import BotStats, TradeManager
from candlecast.bus import BusFollower, BusPublisher
from candlecast.clock import Clock, LiveClock
from candlecast.config.loader import mask_secrets
from candlecast.config.models import SECRET_KEYS, Config
from candlecast.config.samples import sample_secret_warnings
from candlecast.data.dataprovider import DataProvider
from candlecast.data.producer_store import ProducerStore
from candlecast.domain.analyzed import MAX_CANDLE_LIMIT, PairKey
from candlecast.domain.enums import CandleType, RunMode
from candlecast.domain.timeframes import timeframe_to_msecs
from candlecast.domain.trades import Trade
from candlecast.exceptions import (
    ConfigError,
    ExchangeError,
    StrategyError,
    TemporaryExchangeError,
)
from candlecast.exchange import Exchange, create_exchange
from candlecast.exchange.dryrun import DryRunBook
from candlecast.messaging.broadcast import plan_broadcast
from candlecast.messaging.client import ProducerClient
from candlecast.messaging.hub import ChannelPolicy, MessageHub, Outgoing
from candlecast.messaging.protocol import MessageType
from candlecast.pairlist import PairListChain
from candlecast.persistence.locks import LockRepository
from candlecast.persistence.repository import TradeRepository, default_db_url
from candlecast.persistence.trade import Trade as CallbackTrade
from candlecast.strategy.interface import IStrategy, StrategyRunError
from candlecast.strategy.support import check_supported
from candlecast.util.logfilter import SecretRedactor

logger = logging.getLogger(__name__)
# strategy tracebacks: shown with -v (cli sets this logger to DEBUG)
TRACEBACK_LOG = logging.getLogger("candlecast.strategy.traceback")

HISTORY_TARGET = MAX_CANDLE_LIMIT  # candles a producer can serve (freqtrade consumers ask for 1500)
CANDLE_FETCH_CONCURRENCY = 8  # pairs whose candles are fetched at once (ccxt paces requests)
MARKETS_RETRY_MAX_WAIT = 60.0  # seconds between attempts to load markets at start


def apply_strategy_overrides(config: Config, strategy: IStrategy) -> None:
    """Config values win over the strategy's class attributes, as in freqtrade
    (``Config.strategy_overrides`` says which); then the required ones must be set."""
    for name, value in config.strategy_overrides().items():
        setattr(strategy, name, value)
    if strategy.stoploss is None:
        raise ConfigError("stoploss: required in the strategy or the config (e.g. -0.10)")
    if not strategy.timeframe:
        raise ConfigError('timeframe: required in the strategy or the config (e.g. "5m")')


def startup_warnings(config: Config, strategy: IStrategy) -> list[str]:
    """The config's own warnings (sample secrets first), and those that depend on the
    strategy too."""
    warnings = sample_secret_warnings(config) + config.startup_warnings()
    if config.is_consumer and strategy.process_only_new_candles:
        warnings.append(
            f"strategy {type(strategy).__name__} has process_only_new_candles = True: as a consumer it "
            "would not see producer data that arrives after its own candle closed; set it to False"
        )
    return warnings


def strategy_config(config: Config, runmode: RunMode) -> dict[str, Any]:
    """The config as a strategy reads it (``self.config``): freqtrade's keys, every secret
    (exchange keys, passwords, tokens) masked as ``***``, and ``runmode`` as an enum
    (freqtrade strategies read ``config["runmode"].value``)."""
    data: dict[str, Any] = mask_secrets(config.model_dump(mode="json"))
    data["runmode"] = runmode
    return data


def protection_settings(config: Config, strategy: IStrategy) -> object:
    """The config's ``protections`` when given, else the strategy's (as freqtrade)."""
    if config.protections is not None:
        return config.protections
    return getattr(strategy, "protections", None)


def producer_clients(
    config: Config, store: ProducerStore, clock: Clock
) -> list[ProducerClient | BusFollower]:
    """One task per followed producer: a websocket client, or a NATS follower (``bus``)."""
    settings = config.external_message_consumer
    return [
        BusFollower(p, settings, store, clock)
        if p.bus is not None
        else ProducerClient(p, settings, store, clock)
        for p in (settings.producers if config.is_consumer else [])
    ]


class Bot:
    """One trading bot: producer, consumer, both or neither."""

    def __init__(
        self,
        config: Config,
        strategy: IStrategy,
        exchange: Exchange | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.strategy = strategy
        self.clock = clock or LiveClock()
        apply_strategy_overrides(config, strategy)
        check_supported(strategy)  # anything it asks for that candlecast does not do stops here
        self.timeframe = strategy.timeframe
        self.exchange = exchange or create_exchange(
            config.exchange, self.clock, live=not config.dry_run
        )
        if not config.dry_run and not self.exchange.can_trade_live:
            raise ConfigError(
                f"dry_run: false, but exchange {self.exchange.name} cannot trade live"
            )
        order_plan = self._order_plan()  # checked before anything is created
        self.producer_store = ProducerStore()
        self.dp = DataProvider(
            self.timeframe,
            CandleType.SPOT,
            self.producer_store,
            RunMode.DRY_RUN if config.dry_run else RunMode.LIVE,
        )
        strategy.dp = self.dp
        strategy.config = strategy_config(config, self.dp.runmode)
        self.repository = TradeRepository(
            config.db_url or default_db_url(config.user_data_dir, config.dry_run)
        )
        CallbackTrade.bind(self.repository)  # Trade.get_trades_proxy in strategies
        # dry-run orders: a simulated book on the exchange's prices (limits wait, time out)
        self.trading_exchange: Exchange = (
            DryRunBook(self.exchange, self.timeframe, self._dry_run_balance)
            if config.dry_run
            else self.exchange
        )
        self.orders = OrderManager(
            self.trading_exchange,
            self.repository,
            config.unfilledtimeout,
            self.clock,
            poll_interval=0.0 if config.dry_run else POLL_INTERVAL,
        )
        self.pairlists = PairListChain(config, self.producer_store)
        self.hub: MessageHub | None = None
        self.api_server: ApiServer | None = None
        self.bus = BusPublisher(config.message_bus, config.bot_name) if config.message_bus else None
        self._bus_task: asyncio.Task[None] | None = None
        self.clients = producer_clients(config, self.producer_store, self.clock)
        self.stats = BotStats()
        self.locks = LockRepository.beside(self.repository)
        self.protections = ProtectionManager(
            parse_protections(protection_settings(config, strategy), self.timeframe),
            self.timeframe,
            self.locks,
            self.locks.closed_trades,
        )
        strategy.pair_locks = StrategyLocks(self.protections, self.locks, self.clock)
        self._thread_analysis = ThreadAnalysis(strategy)
        self.pool: AnalysisPool | None = None
        self._pool_spec = self._workers_spec()
        self.trading = TradeManager(
            config,
            strategy,
            self.trading_exchange,
            self.repository,
            self.orders,
            self.dp,
            self.clock,
            self.timeframe,
            self.stats,
            protections=self.protections,
            order_plan=order_plan,
            stops=self._stop_orders(order_plan),
        )
        self.control = self._wire_control()
        self.whitelist: list[str] = []
        self._markets: Any = {}
        self._history = max(HISTORY_TARGET, strategy.startup_candle_count + 100)
        self._last_analyzed_candle: dict[str, pd.Timestamp] = {}
        self._first_date: dict[str, pd.Timestamp] = {}
        self._dirty: set[str] = set()
        self._full_cycle_due = False
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = asyncio.Event()
        self._stopped = asyncio.Event()
        self.jwt_secret = config.api_server.jwt_secret_key or secrets.token_urlsafe(32)
        # installed from open() to close(): secrets never reach a log line while it runs
        self.redactor = SecretRedactor(self._secrets())
        if self.clients:
            self.producer_store.add_listener(self._on_producer_update)

    def _wire_control(self) -> BotControl:
        """REST switches (start/stop/pause, forced trades) and freqtrade's event messages."""
        control = BotControl(started_at=self.clock.now())
        control.force_enter = self.trading.force_enter
        control.force_exit = self.trading.force_exit
        control.set_blacklist = self.pairlists.set_blacklist
        control.on_state = lambda state: self.notify(events.status("status", state))
        self.trading.entries_allowed = lambda: control.entries_allowed
        self.trading.notify = self.notify
        self.dp.message_sink = lambda text: self.notify(events.strategy_msg(text))
        return control

    def _workers_spec(self) -> StrategySpec | None:
        """What analysis workers load (``internals.analysis_workers``), checked now: a
        strategy they cannot load stops the start in one line."""
        if not self.config.internals.analysis_workers:
            return None
        overrides = self.config.strategy_overrides()
        return StrategySpec.of(self.strategy, self.dp.runmode, overrides)

    def _order_plan(self) -> OrderPlan:
        """The config's (else the strategy's) order types; stoploss_on_exchange on an
        exchange that cannot hold stop orders stops the start."""
        config, strategy = self.config, self.strategy
        plan = resolve_order_plan(
            config.order_types
            if config.order_types is not None
            else getattr(strategy, "order_types", None),
            config.order_time_in_force
            if config.order_time_in_force is not None
            else getattr(strategy, "order_time_in_force", None),
        )
        if plan.stoploss_on_exchange:
            # dry-run too, as freqtrade: the dry-run book simulates the exchange's orders
            problem = self.exchange.stop_order_problem(plan.stoploss)
            if problem is not None:
                raise ConfigError(
                    f"order_types.stoploss_on_exchange: {problem}; set it to false "
                    "(the bot then watches the stop itself)"
                )
        return plan

    def _stop_orders(self, plan: OrderPlan) -> StopOrderManager | None:
        """Stop orders on the exchange when ``stoploss_on_exchange`` asks for them."""
        if not plan.stoploss_on_exchange:
            return None
        return StopOrderManager(self.trading_exchange, self.repository, self.clock, plan)

    def _dry_run_balance(self, currency: str) -> float:
        """The dry-run wallet: ``dry_run_wallet`` plus realized profit minus open stakes."""
        open_stakes = sum(t.stake_amount for t in self.repository.open_trades())
        return self.config.dry_run_wallet + self.repository.realized_profit() - open_stakes

    def _secrets(self) -> list[str]:
        cfg = self.config
        values = [
            *cfg.api_server.ws_token,
            cfg.api_server.password,
            cfg.api_server.jwt_secret_key,
            cfg.exchange.key,
            cfg.exchange.secret,
            cfg.exchange.password,
        ]
        values += [p.ws_token for p in cfg.external_message_consumer.producers]
        buses = [cfg.message_bus, *(p.bus for p in cfg.external_message_consumer.producers)]
        values += [b.token for b in buses if b is not None and b.token]
        for extra in (cfg.exchange.ccxt_config, cfg.exchange.ccxt_async_config):
            # credentials given to ccxt directly ("apiKey", "secret", ...)
            values += [v for k, v in extra.items() if k in SECRET_KEYS and isinstance(v, str)]
        return [v for v in values if v and len(v) >= 4]

    # --- lifecycle ----------------------------------------------------------------
    @property
    def api_port(self) -> int | None:
        return self.api_server.port if self.api_server else None

    async def start_api(self) -> None:
        """Bind and start the API server (before the first cycle, so the port is known)."""
        api = self.config.api_server
        if not api.enabled:
            return
        sock = bind_socket(api.listen_ip_address, api.listen_port)
        self.hub = MessageHub(self.dp, ChannelPolicy.from_config(api), self.clock)
        await self.hub.start()
        ctx = ApiContext(
            config=self.config,
            jwt_secret=self.jwt_secret,
            dataprovider=self.dp,
            repository=self.repository,
            hub=self.hub,
            producers_status=self.producers_status,
            locks=self.locks,
            clock=self.clock,
            timeframe=self.timeframe,
            control=self.control,
            strategy=self.strategy,
            order_types=self.trading.order_plan.as_order_types(),
            blacklist=lambda: list(self.pairlists.blacklist),
            pairlist_methods=lambda: list(self.pairlists.methods),
            metrics=BotCollector(
                self.config.bot_name, self.producers_status, self.hub, self.stats, self.repository
            )
            if self.config.metrics.enabled
            else None,
        )
        logging.getLogger().addHandler(self.control.logs)
        self.api_server = ApiServer(create_app(ctx), api, sock)
        self.hub.precompress = self.api_server.deflate_cache.precompress
        await self.api_server.start()

    def notify(self, message: dict[str, Any]) -> None:
        """Send one of freqtrade's event messages (``bot/events.py``) to subscribers."""
        if self.hub is not None:
            text = orjson.dumps(message).decode()
            self.hub.publish_threadsafe(Outgoing.json(MessageType(message["type"]), text))

    def producers_status(self) -> list[dict[str, Any]]:
        return [
            {
                **c.status.as_dict(self.producer_store.pairs(c.name)),
                "market_mismatch": self.dp.market_mismatches(c.name),
            }
            for c in self.clients
        ]

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def open(self) -> None:
        """Start the API server, load markets, greet: everything before the first cycle."""
        self.redactor.install()
        self._loop = asyncio.get_running_loop()
        if self.api_server is None:
            await self.start_api()
        if self.bus is not None and self._bus_task is None:
            self._bus_task = asyncio.create_task(self.bus.run(), name="bus-publisher")
        await self._load_markets()
        if not self.config.dry_run:
            # live: a refused key must stop the start, not fail every order later
            balance = await self.exchange.free_balance(self.config.stake_currency)
            logger.info("Live trading: %.8g %s free", balance, self.config.stake_currency)
        callbacks.call(self.strategy, "bot_start", None)
        # as freqtrade: protections are read after bot_start (parameters are loaded then)
        self.protections.protections = parse_protections(
            protection_settings(self.config, self.strategy), self.timeframe
        )
        for line in self.protections.short_desc():
            logger.info("Protection: %s", line)
        if self._pool_spec is not None and self.pool is None:
            pool = AnalysisPool(self.config.internals.analysis_workers, self._pool_spec)
            await asyncio.to_thread(pool.start)
            self.pool = pool
            logger.info("Strategy analysis in %d worker processes", pool.size)
        self._log_startup(await asyncio.to_thread(self.repository.open_trades))
        self.notify(events.status("startup", f"candlecast {__version__} started"))
        self.notify(events.status("status", self.control.state.value))

    async def _load_markets(self) -> None:
        """Load markets, waiting out temporary failures (a bot started during an outage
        starts when the exchange is back); a permanent failure stops the start."""
        wait = 1.0
        while True:
            try:
                self._markets = await self.exchange.load_markets()
                return
            except TemporaryExchangeError as exc:
                logger.warning("Cannot load markets yet: %s; trying again in %.0f s", exc, wait)
            try:
                async with asyncio.timeout(wait):
                    await self._stop.wait()
                raise _Shutdown
            except TimeoutError:
                wait = min(wait * 2, MARKETS_RETRY_MAX_WAIT)

    async def run(self, duration: float | None = None, install_signals: bool = True) -> None:
        """Run until stopped (signal, ``request_stop`` or ``duration`` seconds)."""
        loop = asyncio.get_running_loop()
        if install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, self.request_stop)
                except (NotImplementedError, RuntimeError):
                    pass
        try:
            await self.open()
            async with asyncio.TaskGroup() as tasks:
                for client in self.clients:
                    tasks.create_task(client.run(), name=f"producer-{client.name}")
                tasks.create_task(self._main_loop(), name="trading-loop")
                if duration is not None:
                    tasks.create_task(self._stop_after(duration))
                await self._stop.wait()
                raise _Shutdown  # leaving the group cancels every remaining task
        except* _Shutdown:
            pass
        finally:
            await self.close()

    async def _stop_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.request_stop()

    async def close(self) -> None:
        """Stop serving and release everything (idempotent)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        logging.getLogger().removeHandler(self.control.logs)
        try:
            if self._bus_task is not None:
                assert self.bus is not None
                await self.bus.stop()
                self._bus_task.cancel()
                await asyncio.wait({self._bus_task}, timeout=5)
            if self.hub is not None:
                await self.hub.stop()
            if self.api_server is not None:
                await self.api_server.stop()
            if self.pool is not None:
                await asyncio.to_thread(self.pool.close)
            await self.exchange.close()
            self.repository.close()
            logger.info(
                "Bot %s stopped: %d cycles, %d entries, %d exits",
                self.config.bot_name,
                self.stats.cycles,
                self.stats.entries,
                self.stats.exits,
            )
        finally:
            self.redactor.uninstall()

    def _log_startup(self, open_trades: list[Trade]) -> None:
        cfg = self.config
        roles = []
        if cfg.is_producer:
            role = "producer" if cfg.api_server.ws_token else "API"  # no token: no websocket
            roles.append(f"{role} on {cfg.api_server.listen_ip_address}:{self.api_port}")
        if cfg.is_consumer:
            roles.append(
                "consumer of "
                + ", ".join(
                    f"{p.name} ({p.host}:{p.port})" for p in cfg.external_message_consumer.producers
                )
            )
        logger.info(
            "candlecast %s starting bot %s: strategy %s, timeframe %s, exchange %s, %s, stake %s %s, max %s trades%s",
            __version__,
            cfg.bot_name,
            type(self.strategy).__name__,
            self.timeframe,
            self.exchange.name,
            "dry-run" if cfg.dry_run else "LIVE",
            cfg.stake_amount,
            cfg.stake_currency,
            cfg.max_open_trades,
            ("; " + "; ".join(roles)) if roles else "",
        )
        for warning in startup_warnings(cfg, self.strategy):
            logger.warning("%s", warning)
        if open_trades:
            logger.info(
                "Resuming %d open trades: %s",
                len(open_trades),
                ", ".join(t.pair for t in open_trades),
            )

    # --- the loop -------------------------------------------------------------------
    def _on_producer_update(self, producer: str, key: PairKey | None) -> None:
        # Called on the event loop by a producer client: a new whitelist means a full
        # cycle now; a new frame means analyzing that pair now.
        if key is None:
            self._full_cycle_due = True
            self._wake.set()
        elif (
            key.timeframe == self.timeframe
            and self.config.external_message_consumer.analyze_on_update
        ):
            self._dirty.add(key.pair)
            self._wake.set()

    async def _main_loop(self) -> None:
        throttle = self.config.internals.process_throttle_secs
        next_full = 0.0
        while not self._stop.is_set():
            now = self.clock.monotonic()
            if now >= next_full or self._full_cycle_due:
                self._full_cycle_due = False
                next_full = now + throttle
                self._dirty.clear()
                await self.cycle()
            elif self._dirty:
                pairs = [p for p in self.whitelist if p in self._dirty]
                self._dirty.clear()
                if pairs:
                    await self.cycle(pairs)
            self._wake.clear()
            if self._dirty:
                continue
            try:
                async with asyncio.timeout(max(0.0, next_full - self.clock.monotonic())):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def cycle(self, only: list[str] | None = None) -> None:
        """One pass: whitelist, candles, analysis, exits, entries (``only``: just those pairs)."""
        try:
            self.stats.cycles += 1
            if only is None:
                await self._refresh_markets()
                await self._refresh_whitelist()
            pairs = only or list(self.whitelist)
            await self._refresh_candles(pairs)
            if only is None:  # as freqtrade: after the candles, before the analysis
                callbacks.call(self.strategy, "bot_loop_start", None, current_time=self.clock.now())
            analysis = await asyncio.to_thread(
                self._analyze, pairs, dict(self._last_analyzed_candle), dict(self._first_date)
            )
            self._last_analyzed_candle.update(analysis.last_candle)
            self._first_date.update(analysis.first_date)
            self.stats.strategy_errors += analysis.errors
            if self.control.trading_allowed:
                await self.trading.manage(pairs)
            self.control.last_process = self.clock.now()
        except asyncio.CancelledError:
            raise
        except (StrategyError, ExchangeError) as exc:
            logger.error("%s", exc)
        except Exception:
            logger.exception("Cycle failed; the bot carries on")

    async def _refresh_markets(self) -> None:
        try:
            markets = await self.exchange.refresh_markets()
        except ExchangeError as exc:
            logger.warning("Keeping the markets loaded earlier: %s", exc)
            return
        if markets is not None:
            self._markets = markets

    async def _refresh_whitelist(self) -> None:
        pairs = self.pairlists.refresh(self._markets)
        for trade in await asyncio.to_thread(self.repository.open_trades):
            if trade.pair not in pairs:
                pairs.append(trade.pair)  # keep managing open trades
        if pairs != self.whitelist:
            logger.info("Whitelist: %s", ", ".join(pairs) if pairs else "(empty)")
            self.whitelist = pairs
            self.dp.set_whitelist(pairs)
            if self.hub is not None:
                self.hub.publish(self.hub.broadcast_whitelist(pairs))
            if self.bus is not None:
                self.bus.whitelist(pairs)

    async def _refresh_candles(self, pairs: list[str]) -> None:
        wanted = [(p, self.timeframe) for p in pairs]
        for pair, tf in self.strategy.gather_informative_pairs(self.whitelist or pairs):
            if (pair, tf) not in wanted:
                wanted.append((pair, tf))
        limit = asyncio.Semaphore(CANDLE_FETCH_CONCURRENCY)

        async def refresh(pair: str, tf: str) -> None:
            async with limit:
                try:
                    await self._refresh_pair(pair, tf)
                except ExchangeError as exc:
                    # this pair keeps its previous candles; the others go on
                    logger.warning("Candles of %s %s not refreshed: %s", pair, tf, exc)

        await asyncio.gather(*(refresh(pair, tf) for pair, tf in wanted))

    async def _refresh_pair(self, pair: str, timeframe: str) -> None:
        """Append newly closed candles; the history only grows, so older analysed rows stay
        identical (consumers' copies stay exact). It is trimmed in one step when it
        reaches twice the target, and the next broadcast then carries the full frame."""
        current = self.dp.ohlcv(pair, timeframe, copy=False)
        step = timeframe_to_msecs(timeframe)
        target = self._history
        if not current.empty:
            last = int(current["date"].iloc[-1].value // 1_000_000)  # Timestamp.value is ns
            missing = (self.exchange.last_closed_open_ms(timeframe) - last) // step
            if missing <= 0:
                return
            if missing < target:
                new = await self.exchange.fetch_ohlcv(pair, timeframe, missing)
                new = new[new["date"] > current["date"].iloc[-1]]
                merged = pd.concat([current, new], ignore_index=True)
                if len(merged) >= 2 * target:
                    merged = merged.iloc[-target:].reset_index(drop=True)
                self.dp.set_ohlcv(pair, timeframe, merged)
                return
        frame = await self.exchange.fetch_ohlcv(pair, timeframe, target)
        self.dp.set_ohlcv(pair, timeframe, frame)

    def _analyze(
        self,
        pairs: list[str],
        last_analyzed: dict[str, pd.Timestamp],
        first_dates: dict[str, pd.Timestamp],
    ) -> _Analysis:
        """Analyze ``pairs`` (worker thread) and broadcast each result at once.

        The strategy runs here (``internals.analysis_workers: 0``) or in the worker
        processes, which this thread waits on without holding the GIL. Reads the bot's
        per-pair state from the copies given and returns the new state, which the event
        loop applies: nothing of the bot is changed from this thread. A strategy error
        skips that pair this cycle with one line; the same fault on other pairs is
        folded into one "... N more times this cycle" line.
        """
        result = _Analysis()
        errors: dict[str, list[str]] = {}
        frames = self.dp.ohlcv_frames()
        todo: dict[str, tuple[pd.DataFrame, pd.Timestamp | None, bool]] = {}
        for pair in pairs:
            ohlcv = frames.get((pair, self.timeframe))
            if ohlcv is None or ohlcv.empty:
                continue
            previous = last_analyzed.get(pair)
            is_new = previous is None or ohlcv["date"].iloc[-1] > previous
            if self.strategy.process_only_new_candles and not is_new:
                continue
            todo[pair] = (ohlcv, previous, is_new)
        analysis = self.pool or self._thread_analysis
        for outcome in analysis.analyze(list(todo), frames, self.dp.current_whitelist()):
            pair = outcome.pair
            for text, always in outcome.messages:
                self.dp.send_msg(text, always_send=always)
            if outcome.error is not None or outcome.frame is None:
                exc = outcome.error or StrategyError(f"{pair}: no analysis")
                result.errors += 1
                key = exc.fold_key if isinstance(exc, StrategyRunError) else str(exc)
                if key not in errors:
                    logger.error("Skipping %s this cycle: %s", pair, exc)
                    TRACEBACK_LOG.debug("Strategy traceback", exc_info=exc.__cause__ or exc)
                errors.setdefault(key, []).append(pair)
                continue
            ohlcv, previous, is_new = todo[pair]
            self.stats.record_analysis(pair, outcome.seconds)
            analyzed_at = self.clock.now()
            self.dp.set_analyzed(pair, outcome.frame, analyzed_at)
            first = ohlcv["date"].iloc[0]
            window_moved = first_dates.get(pair) not in (None, first)
            result.first_date[pair] = first
            result.last_candle[pair] = ohlcv["date"].iloc[-1]
            if self.hub is not None or self.bus is not None:
                self._broadcast(pair, outcome.frame, analyzed_at, previous, is_new, window_moved)
                self._let_writers_run()
        for failed in errors.values():
            if len(failed) > 1:
                logger.error(
                    "... the same strategy error %d more times this cycle (%s)",
                    len(failed) - 1,
                    ", ".join(failed[1:]),
                )
        return result

    def _let_writers_run(self) -> None:
        """From the analysis thread: wait until the event loop has written the broadcast
        (or a slow socket stops it), so the next pair's analysis does not hold the GIL
        while the loop writes to each consumer (docs/performance.md: the convoy)."""
        hub, loop = self.hub, self._loop
        if hub is None or loop is None or not hub.channels:
            return
        try:
            asyncio.get_running_loop()
            return  # on the event loop itself (not the bot's way): nothing to wait for
        except RuntimeError:
            pass
        waited = asyncio.run_coroutine_threadsafe(let_writers_run(lambda: list(hub.channels)), loop)
        try:
            waited.result(timeout=1.0)
        except Exception:  # the loop is closing, or busy beyond reason: analysis goes on
            waited.cancel()

    def _broadcast(
        self,
        pair: str,
        frame: pd.DataFrame,
        analyzed_at: datetime,
        previous: pd.Timestamp | None,
        is_new: bool,
        window_moved: bool,
    ) -> None:
        part = plan_broadcast(frame, previous, is_new, window_moved)
        key = PairKey(pair, self.timeframe, CandleType.SPOT)
        if self.bus is not None:
            self.bus.analyzed_threadsafe(key, frame, part, analyzed_at)
        if self.hub is None:
            return
        for message in self.hub.build_analyzed(key, part, analyzed_at, is_new):
            self.hub.publish_threadsafe(message)


@dataclass
class _Analysis:
    """What one analysis pass found, applied to the bot's state on the event loop."""

    last_candle: dict[str, pd.Timestamp] = field(default_factory=dict)
    first_date: dict[str, pd.Timestamp] = field(default_factory=dict)
    errors: int = 0


class _Shutdown(Exception):
    pass
