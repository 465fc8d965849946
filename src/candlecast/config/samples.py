"""Secrets left at a template's or a document's sample value (``CHANGE-ME-...``)."""

from __future__ import annotations

from candlecast.config.models import Config

SAMPLE_SECRETS = frozenset(
    {"secret", "sercet_ws_t0ken", "secret_ws_token", "changeme", "token", "password", "..."}
)


def is_sample_secret(value: str) -> bool:
    text = value.strip().lower()
    return text.startswith(("change-me", "changeme", "change_me")) or text in SAMPLE_SECRETS


def sample_secret_warnings(config: Config) -> list[str]:
    """One warning per secret the bot uses that is still a sample value."""
    found: list[str] = []
    api = config.api_server
    if api.enabled:
        found += [
            f"api_server.ws_token[{i}]" for i, t in enumerate(api.ws_token) if is_sample_secret(t)
        ]
        if is_sample_secret(api.password):
            found.append("api_server.password")
    if config.is_consumer:
        found += [
            f"external_message_consumer.producers[{i}].ws_token"
            for i, p in enumerate(config.external_message_consumer.producers)
            if is_sample_secret(p.ws_token)
        ]
    return [
        f"{key} is still a sample value: replace it with your own random secret "
        '(python -c "import secrets; print(secrets.token_urlsafe(32))")'
        for key in found
    ]
