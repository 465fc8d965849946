"""What the API may read from, and ask of, the running bot."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from candlecast.api.metrics import BotCollector
from candlecast.clock import Clock, LiveClock
from candlecast.config.models import Config
from candlecast.data.dataprovider import DataProvider
from candlecast.domain.trades import Trade
from candlecast.messaging.hub import MessageHub
from candlecast.persistence.locks import LockRepository
from candlecast.persistence.repository import TradeRepository


class BotState(StrEnum):
    """freqtrade's bot states, as ``show_config.state`` and ``/start``/``/stop`` use them."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class LogBuffer(logging.Handler):
    """The last ``capacity`` log records, for ``GET /api/v1/logs`` (freqtrade keeps 1000)."""

    def __init__(self, capacity: int = 1000) -> None:
        super().__init__(logging.INFO)
        self.records: deque[logging.LogRecord] = deque(maxlen=capacity)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class BotControl:
    """The switches REST clients (FreqUI) flip: state, and what forced trades run through.

    ``state`` is read by the bot each cycle: ``stopped`` skips trading, ``paused`` skips
    new entries (exits still run). ``force_enter``/``force_exit``/``reload`` are set by
    the bot; None answers freqtrade's "not available" error.
    """

    state: BotState = BotState.RUNNING
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_process: datetime | None = None
    force_enter: (
        Callable[[str, float | None, float | None, str | None], Awaitable[Trade | None]] | None
    ) = None
    force_exit: Callable[[int, float | None], Awaitable[bool]] | None = None
    reload: Callable[[], None] | None = None
    set_blacklist: Callable[[list[str]], list[str]] | None = None
    on_state: Callable[[str], None] | None = None
    logs: LogBuffer = field(default_factory=LogBuffer)

    @property
    def entries_allowed(self) -> bool:
        return self.state == BotState.RUNNING

    @property
    def trading_allowed(self) -> bool:
        return self.state != BotState.STOPPED


@dataclass
class ApiContext:
    """What the API may read from the running bot."""

    config: Config
    jwt_secret: str
    dataprovider: DataProvider
    repository: TradeRepository
    hub: MessageHub | None
    producers_status: Callable[[], list[dict[str, Any]]] = list
    locks: LockRepository | None = None
    clock: Clock | None = None
    timeframe: str | None = None
    control: BotControl = field(default_factory=BotControl)
    strategy: Any = None
    blacklist: Callable[[], list[str]] | None = None
    pairlist_methods: Callable[[], list[str]] | None = None
    available_pairs: Callable[[], list[str]] | None = None
    metrics: BotCollector | None = None  # GET /metrics when the config enables it
    #: the order types the bot places (config, else strategy, else defaults)
    order_types: dict[str, Any] | None = None

    def now(self) -> datetime:
        return (self.clock or LiveClock()).now()
