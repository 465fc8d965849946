"""``GET /metrics``: Prometheus metrics of a running bot (``metrics.enabled``, off by default).

Everything is read from the bot's own state when Prometheus scrapes (a custom collector
on a per-bot registry), so the message and trading paths carry no extra work. Metric
names are listed in docs/metrics.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from fastapi import Depends, FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from candlecast.messaging.hub import MessageHub
from candlecast.persistence.repository import TradeRepository

PREFIX = "candlecast_"


class TradingStats(Protocol):
    @property
    def entries(self) -> int: ...
    @property
    def exits(self) -> int: ...
    @property
    def analysis(self) -> Mapping[str, tuple[int, float, float]]:
        """pair -> (analyses, total seconds, last seconds)"""


class BotCollector(Collector):
    """Builds every metric family from the bot's live state at scrape time."""

    def __init__(
        self,
        bot_name: str,
        producers: Callable[[], list[dict[str, Any]]],
        hub: MessageHub | None,
        stats: TradingStats | None,
        repository: TradeRepository,
    ) -> None:
        self.bot = bot_name
        self.producers = producers
        self.hub = hub
        self.stats = stats
        self.repository = repository

    def collect(self) -> Iterator[Metric]:
        yield from self._producer_metrics()
        yield from self._channel_metrics()
        yield from self._trading_metrics()

    def _producer_metrics(self) -> Iterator[Metric]:
        labels = ["producer"]
        connected = GaugeMetricFamily(
            PREFIX + "producer_connected", "1 while connected to the producer", labels=labels
        )
        lag = GaugeMetricFamily(
            PREFIX + "producer_lag_seconds",
            "seconds from the producer's analysis to our copy, median of recent updates",
            labels=labels,
        )
        silence = GaugeMetricFamily(
            PREFIX + "producer_last_message_age_seconds",
            "seconds since the last message from the producer",
            labels=labels,
        )
        counters = {
            key: CounterMetricFamily(PREFIX + f"producer_{name}", text, labels=labels)
            for key, name, text in (
                ("messages_received", "messages", "messages received"),
                ("bytes_received", "received_bytes", "bytes received"),
                ("reconnects", "reconnects", "reconnections after the first connection"),
                ("invalid_messages", "invalid_messages", "messages ignored as invalid"),
            )
        }
        now = time.time()
        for status in self.producers():
            name = [str(status["name"])]
            connected.add_metric(name, 1.0 if status["state"] == "connected" else 0.0)
            if status.get("latency_ms_p50") is not None:
                lag.add_metric(name, float(status["latency_ms_p50"]) / 1000)
            if status.get("last_message_at") is not None:
                silence.add_metric(name, max(0.0, now - float(status["last_message_at"])))
            for key, family in counters.items():
                family.add_metric(name, float(status[key]))
        yield from (connected, lag, silence, *counters.values())

    def _channel_metrics(self) -> Iterator[Metric]:
        if self.hub is None:
            return
        labels = ["consumer"]
        depth = GaugeMetricFamily(
            PREFIX + "consumer_queue_depth",
            "messages queued for a connected consumer",
            labels=labels,
        )
        sent = CounterMetricFamily(
            PREFIX + "consumer_sent_messages", "messages sent to a consumer", labels=labels
        )
        for channel in list(self.hub.channels):
            depth.add_metric([channel.peer], float(channel.queue_depth))
            sent.add_metric([channel.peer], float(channel.stats.messages_sent))
        drops = CounterMetricFamily(
            PREFIX + "consumer_drops",
            "consumers disconnected by the slow-consumer policy, by address",
            labels=["address"],
        )
        for address, count in sorted(getattr(self.hub, "drops", {}).items()):
            drops.add_metric([address], float(count))
        yield from (
            GaugeMetricFamily(
                PREFIX + "consumers_connected", "connected consumers", value=len(self.hub.channels)
            ),
            depth,
            sent,
            drops,
        )

    def _trading_metrics(self) -> Iterator[Metric]:
        if self.stats is not None:
            analysis = SummaryMetricFamily(
                PREFIX + "analysis_seconds", "strategy analysis time per pair", labels=["pair"]
            )
            last = GaugeMetricFamily(
                PREFIX + "analysis_last_seconds",
                "the last analysis time per pair",
                labels=["pair"],
            )
            for pair, (count, total, latest) in sorted(self.stats.analysis.items()):
                analysis.add_metric([pair], count_value=count, sum_value=total)
                last.add_metric([pair], latest)
            yield from (analysis, last)
            yield CounterMetricFamily(
                PREFIX + "trades_opened", "trades opened since start", value=self.stats.entries
            )
            yield CounterMetricFamily(
                PREFIX + "trades_closed", "trades closed since start", value=self.stats.exits
            )
        yield GaugeMetricFamily(
            PREFIX + "open_trades", "open trades", value=self.repository.count(is_open=True)
        )
        yield GaugeMetricFamily(
            PREFIX + "closed_profit",
            "profit of all closed trades, in the stake currency",
            value=self.repository.closed_profit_abs(),
        )


def mount_metrics(app: FastAPI, collector: BotCollector, require_auth: Callable[..., str]) -> None:
    """Serve ``GET /metrics`` (behind the API's basic auth / JWT)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)

    @app.get("/metrics", include_in_schema=False)
    def metrics(_: str = Depends(require_auth)) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
