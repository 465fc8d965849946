"""``candlecast relay``: follow a producer through NATS, serve its message websocket locally.

A relay holds what a consumer would (through :class:`BusFollower`) and serves it on the
same message websocket a producer serves (``/api/v1/message/ws``, freqtrade's JSON and our
binary encoding), so freqtrade and candlecast consumers in another region follow a
producer through their nearest relay. It re-broadcasts exactly the rows it received;
requests (whitelist, analyzed_df with a limit) are answered from its copy. It trades
nothing and runs no strategy.

Config: ``api_server`` (enabled, where consumers connect, their ``ws_token``) and
``external_message_consumer.producers`` with one entry that names a ``bus``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime

import pandas as pd

from candlecast.api.app import ApiContext, create_app
from candlecast.api.server import ApiServer, bind_socket
from candlecast.bus.follower import BusFollower
from candlecast.config.models import Config
from candlecast.data.dataprovider import DataProvider
from candlecast.data.producer_store import ProducerStore
from candlecast.domain.analyzed import PairKey
from candlecast.domain.enums import CandleType
from candlecast.exceptions import ConfigError
from candlecast.messaging.hub import ChannelPolicy, MessageHub
from candlecast.persistence.repository import TradeRepository

logger = logging.getLogger(__name__)

DEFAULT_TIMEFRAME = "5m"


class StoreSource:
    """The hub's view of the followed producer: its whitelist and frames, as stored."""

    candle_type = CandleType.SPOT

    def __init__(self, store: ProducerStore, producer: str, timeframe: str | None) -> None:
        self.store = store
        self.producer = producer
        self._timeframe = timeframe

    @property
    def timeframe(self) -> str:
        """The configured timeframe, else the one the producer publishes."""
        if self._timeframe:
            return self._timeframe
        keys = self.store.keys(self.producer)
        return keys[0].timeframe if keys else DEFAULT_TIMEFRAME

    @timeframe.setter
    def timeframe(self, value: str) -> None:
        self._timeframe = value

    def current_whitelist(self) -> list[str]:
        return self.store.pairs(self.producer)

    def analyzed_entry(self, key: PairKey) -> tuple[pd.DataFrame, datetime] | None:
        entry = self.store.get(self.producer, key)
        return None if entry is None else (entry.frame, entry.analyzed_at)


def relay_producer(config: Config) -> BusFollower:
    """Check the relay's config; the follower of its one bus producer."""
    if not config.api_server.enabled:
        raise ConfigError("api_server.enabled: a relay serves its consumers there; set it true")
    producers = [p for p in config.external_message_consumer.producers if p.bus is not None]
    if len(producers) != 1:
        raise ConfigError(
            "external_message_consumer.producers: a relay follows exactly one producer "
            f"with a bus ({{name, bus: {{url, ...}}}}), found {len(producers)}"
        )
    return BusFollower(producers[0], config.external_message_consumer, ProducerStore())


class Relay:
    """Follow one producer through NATS and serve it on a local message websocket."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.follower = relay_producer(config)
        self.store = self.follower.store
        self.source = StoreSource(self.store, self.follower.name, config.timeframe)
        api = config.api_server
        self.hub = MessageHub(
            self.source,
            ChannelPolicy.from_config(api),
        )
        self.follower.on_frame = self._on_frame
        self.follower.on_pairs = self._on_pairs
        self.api_server: ApiServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._repository: TradeRepository | None = None

    @property
    def port(self) -> int | None:
        return self.api_server.port if self.api_server else None

    def _on_frame(self, key: PairKey, rows: pd.DataFrame, analyzed_at: datetime, new: bool) -> None:
        for message in self.hub.build_analyzed(key, rows, analyzed_at, new):
            self.hub.publish(message)

    def _on_pairs(self, pairs: tuple[str, ...]) -> None:
        self.hub.publish(self.hub.broadcast_whitelist(list(pairs)))

    async def start(self) -> None:
        api = self.config.api_server
        sock = bind_socket(api.listen_ip_address, api.listen_port)
        await self.hub.start()
        self._repository = TradeRepository("sqlite:///:memory:")  # the API wants one; empty
        ctx = ApiContext(
            config=self.config,
            jwt_secret=api.jwt_secret_key or secrets.token_urlsafe(32),
            dataprovider=DataProvider(self.source.timeframe, CandleType.SPOT, self.store),
            repository=self._repository,
            hub=self.hub,
            producers_status=lambda: [self.follower.status_dict()],
        )
        self.api_server = ApiServer(create_app(ctx), api, sock)
        await self.api_server.start()
        self._task = asyncio.create_task(self.follower.run(), name="relay-follower")
        logger.info(
            "Relay serving producer %s (NATS %s) on port %d",
            self.follower.name,
            ", ".join(self.follower.bus.url),
            self.api_server.port,
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.hub.stop()
        if self.api_server is not None:
            await self.api_server.stop()
        if self._repository is not None:
            self._repository.close()

    async def run(self, duration: float | None = None) -> None:
        """Serve until cancelled (or for ``duration`` seconds)."""
        await self.start()
        try:
            if duration is None:
                await asyncio.Event().wait()
            else:
                await asyncio.sleep(duration)
        finally:
            await self.stop()


__all__ = ["Relay", "StoreSource", "relay_producer"]
