"""Typed configuration: one frozen model per section, defaults in one place.

Keys follow freqtrade's names wherever the two overlap, so a freqtrade config works
as a starting point. Defaults that depart from freqtrade's documentation are
explained in ``docs/configuration.md``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from candlecast.config import checks
from candlecast.config.message_bus import MessageBusConfig
from candlecast.config.producer_consumer import (
    ApiServerConfig,
    ExternalMessageConsumerConfig,
    ProducerConfig,
    is_valid_host,
)
from candlecast.domain.timeframes import validate_timeframe

__all__ = [
    "SECRET_KEYS",
    "ApiServerConfig",
    "Config",
    "ExchangeConfig",
    "ExternalMessageConsumerConfig",
    "InternalsConfig",
    "MessageBusConfig",
    "PairlistConfig",
    "ProducerConfig",
    "UnfilledTimeoutConfig",
    "is_valid_host",
]

SECRET_KEYS = frozenset(
    {
        "ws_token",
        "password",
        "jwt_secret_key",
        "key",
        "secret",
        "apiKey",
        "privateKey",
        "uid",
        "token",
    }
)


#: Config keys that override the strategy attribute of the same name when given.
STRATEGY_OVERRIDES = (
    "trailing_stop",
    "trailing_stop_positive",
    "trailing_stop_positive_offset",
    "trailing_only_offset_is_reached",
    "use_exit_signal",
    "exit_profit_only",
    "exit_profit_offset",
    "ignore_roi_if_entry_signal",
    "ignore_buying_expired_candle_after",
    "position_adjustment_enable",
    "max_entry_position_adjustment",
)


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


PositiveFloat = Annotated[float, Field(gt=0)]


class ExchangeConfig(_Section):
    name: str = "simulated"
    pair_whitelist: list[str] = Field(default_factory=list)
    pair_blacklist: list[str] = Field(default_factory=list)
    key: str = ""
    secret: str = ""
    password: str = ""
    ccxt_config: dict[str, Any] = Field(default_factory=dict)
    ccxt_async_config: dict[str, Any] = Field(default_factory=dict)
    # ccxt exchanges: reload the markets (new listings, delistings) every N minutes.
    markets_refresh_interval: int = Field(default=60, ge=1)
    # Simulated exchange only: the seed of the market. Bots with the same seed see
    # the same candles for the same pair and time.
    sim_seed: int = 42
    sim_fee: float = Field(default=0.001, ge=0, lt=0.1)
    sim_volatility: float = Field(default=1.0, gt=0, le=100)

    @field_validator("pair_whitelist", "pair_blacklist")
    @classmethod
    def _pairs_look_like_pairs(cls, pairs: list[str]) -> list[str]:
        for pair in pairs:
            if "/" not in pair or pair.startswith("/") or pair.endswith("/"):
                raise ValueError(f"expected pairs like 'BTC/USDT', got {pair!r}")
        return pairs


class PairlistConfig(_Section):
    method: Literal["StaticPairList", "ProducerPairList"]
    # ProducerPairList: cap the whitelist at this many pairs (0 = no cap); its producer
    number_assets: int = Field(default=0, ge=0)
    producer_name: str = "default"
    # StaticPairList: keep whitelist pairs whose market is inactive
    allow_inactive: bool = False


class UnfilledTimeoutConfig(_Section):
    """Cancel an order still open after this long (dry-run orders too)."""

    entry: float = Field(default=10, gt=0)
    exit: float = Field(default=10, gt=0)
    unit: Literal["seconds", "minutes"] = "minutes"
    # after this many cancelled exit orders the trade exits with an emergency exit (0: never)
    exit_timeout_count: int = Field(default=0, ge=0)

    def seconds(self, side: str) -> float:
        value = self.entry if side == "entry" else self.exit
        return value * (60 if self.unit == "minutes" else 1)


class InternalsConfig(_Section):
    process_throttle_secs: PositiveFloat = 5.0
    heartbeat_interval: float = Field(default=60.0, ge=0)
    # 0: the strategy analyses in a thread of the bot; N: in N worker processes
    # (docs/configuration.md: what a strategy can then keep on ``self``)
    analysis_workers: int = Field(default=0, ge=0, le=64)


class MetricsConfig(_Section):
    """Prometheus metrics at ``GET /metrics`` on the REST API (docs/metrics.md)."""

    enabled: bool = False


class Config(_Section):
    bot_name: str = "candlecast"
    dry_run: bool = True
    dry_run_wallet: float = Field(default=1000.0, gt=0)
    stake_currency: str = "USDT"
    stake_amount: float | Literal["unlimited"] = "unlimited"
    max_open_trades: int = Field(default=3, ge=-1)
    timeframe: str | None = None
    minimal_roi: dict[str, float] | None = None
    stoploss: float | None = Field(default=None, lt=0, ge=-1)
    exchange: ExchangeConfig = Field(default_factory=ExchangeConfig)
    pairlists: list[PairlistConfig] = Field(
        default_factory=lambda: [PairlistConfig(method="StaticPairList")]
    )
    internals: InternalsConfig = Field(default_factory=InternalsConfig)
    unfilledtimeout: UnfilledTimeoutConfig = Field(default_factory=UnfilledTimeoutConfig)
    db_url: str | None = None
    strategy: str | None = None
    strategy_path: str | None = None
    user_data_dir: str = "user_data"
    api_server: ApiServerConfig = Field(default_factory=ApiServerConfig.absent)
    external_message_consumer: ExternalMessageConsumerConfig = Field(
        default_factory=ExternalMessageConsumerConfig.absent
    )
    # publish every broadcast to NATS JetStream too (docs/scale-out.md)
    message_bus: MessageBusConfig | None = None
    # Exit and risk settings: when given, they override the strategy's (as in freqtrade).
    trailing_stop: bool | None = None
    trailing_stop_positive: float | None = Field(default=None, gt=0, lt=1)
    trailing_stop_positive_offset: float | None = Field(default=None, ge=0, lt=1)
    trailing_only_offset_is_reached: bool | None = None
    use_exit_signal: bool | None = None
    exit_profit_only: bool | None = None
    exit_profit_offset: float | None = None
    ignore_roi_if_entry_signal: bool | None = None
    ignore_buying_expired_candle_after: int | None = Field(default=None, ge=0)
    position_adjustment_enable: bool | None = None
    max_entry_position_adjustment: int | None = Field(default=None, ge=-1)
    # the strategy's order_types / order_time_in_force, replaced whole when given
    order_types: dict[str, Any] | None = None
    order_time_in_force: dict[str, Any] | None = None
    # the strategy's protections, replaced by this list when given (freqtrade's deprecated
    # config route); each entry is checked when the bot starts
    protections: list[dict[str, Any]] | None = None
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    # custom_entry_price / custom_exit_price may move the price at most this far
    custom_price_max_distance_ratio: float = Field(default=0.02, gt=0)

    @field_validator("timeframe")
    @classmethod
    def _timeframe(cls, value: str | None) -> str | None:
        return None if value is None else validate_timeframe(value)

    @field_validator("stake_amount", mode="before")
    @classmethod
    def _stake(cls, value: Any) -> Any:
        # one message for both forms (not one per branch of the union)
        if value == "unlimited" and isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return value
        raise ValueError(f'expected a positive number or "unlimited", got {checks.shown(value)}')

    @field_validator("minimal_roi")
    @classmethod
    def _roi_keys(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None:
            for key in value:
                try:
                    if float(key) < 0:
                        raise ValueError
                except ValueError:
                    raise ValueError(
                        f'expected minutes (e.g. "0", "30") as keys, got {key!r}'
                    ) from None
        return value

    @field_validator("pairlists")
    @classmethod
    def _pairlists(cls, value: list[PairlistConfig]) -> list[PairlistConfig]:
        if not value:
            raise ValueError("expected at least one pairlist")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        uses_producer = any(p.method == "ProducerPairList" for p in self.pairlists)
        if uses_producer and not self.external_message_consumer.enabled:
            raise ValueError(
                "pairlists: ProducerPairList requires external_message_consumer.enabled = true"
            )
        if uses_producer:
            names = {p.name for p in self.external_message_consumer.producers}
            for plist in self.pairlists:
                if plist.method == "ProducerPairList" and plist.producer_name not in names:
                    raise ValueError(
                        f"pairlists: ProducerPairList.producer_name {plist.producer_name!r} "
                        f"is not one of the producers {sorted(names)}"
                    )
        return self

    @model_validator(mode="after")
    def _workers_not_for_consumers(self) -> Config:
        if self.internals.analysis_workers and self.external_message_consumer.enabled:
            raise ValueError(
                "internals.analysis_workers: a consumer's strategy reads producer data "
                "(dp.get_producer_df) that lives in the bot's process; set it to 0"
            )
        return self

    @model_validator(mode="after")
    def _metrics_need_the_api(self) -> Config:
        if self.metrics.enabled and not self.api_server.enabled:
            raise ValueError(
                "metrics.enabled: /metrics is served by the REST API; enable api_server"
            )
        return self

    @model_validator(mode="after")
    def _live_trading(self) -> Config:
        if not self.dry_run:
            if self.exchange.name == "simulated":
                raise ValueError(
                    "dry_run: false needs a real exchange; the simulated exchange only "
                    "trades dry-run (set exchange.name to a ccxt exchange id)"
                )
            missing = [k for k in ("key", "secret") if not getattr(self.exchange, k)]
            if missing:
                raise ValueError(
                    f"exchange.{missing[0]}: live trading (dry_run: false) needs "
                    "exchange.key and exchange.secret; none may be empty"
                )
        return self

    def strategy_overrides(self) -> dict[str, Any]:
        """The strategy attributes this config sets, by name (config values win, as in
        freqtrade). ``max_open_trades`` set in the config clears the strategy's own (None)."""
        values: dict[str, Any] = {}
        if self.timeframe:
            values["timeframe"] = self.timeframe
        if self.minimal_roi is not None:
            values["minimal_roi"] = dict(self.minimal_roi)
        if self.stoploss is not None:
            values["stoploss"] = self.stoploss
        for name in STRATEGY_OVERRIDES:
            value = getattr(self, name)
            if value is not None:
                values[name] = value
        if "max_open_trades" in self.model_fields_set:
            values["max_open_trades"] = None
        return values

    def startup_warnings(self) -> list[str]:
        """Settings that work but expose the bot (shown when it starts)."""
        return self.api_server.exposure_warnings() if self.api_server.enabled else []

    @property
    def is_producer(self) -> bool:
        return self.api_server.enabled

    @property
    def is_consumer(self) -> bool:
        return self.external_message_consumer.enabled
