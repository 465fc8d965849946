"""Configuration: typed sections, a loader for commented JSON, validation at the edge."""

from candlecast.config.loader import (
    load_config,
    load_raw_config,
    mask_secrets,
    parse_config_text,
    unknown_keys,
    validate_config,
)
from candlecast.config.models import (
    ApiServerConfig,
    Config,
    ExchangeConfig,
    ExternalMessageConsumerConfig,
    PairlistConfig,
    ProducerConfig,
)

__all__ = [
    "ApiServerConfig",
    "Config",
    "ExchangeConfig",
    "ExternalMessageConsumerConfig",
    "PairlistConfig",
    "ProducerConfig",
    "load_config",
    "load_raw_config",
    "mask_secrets",
    "parse_config_text",
    "unknown_keys",
    "validate_config",
]
