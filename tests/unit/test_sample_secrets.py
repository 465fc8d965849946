"""Sample secrets (the template's ``CHANGE-ME-...``) are warned about at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from candlecast import cli
from candlecast.config import load_config, validate_config
from candlecast.config.samples import sample_secret_warnings


def api(token: str, password: str = "a-real-password-123") -> dict:
    return {
        "enabled": True,
        "listen_ip_address": "127.0.0.1",
        "listen_port": 8080,
        "username": "u",
        "password": password,
        "ws_token": token,
    }


@pytest.mark.parametrize("token", ["CHANGE-ME-to-32-random-characters", "changeme", "secret"])
def test_a_sample_ws_token_is_warned_about_even_on_loopback(token: str):
    warnings = sample_secret_warnings(validate_config({"api_server": api(token)}))
    assert len(warnings) == 1 and warnings[0].startswith("api_server.ws_token[0] is still a sample")


def test_a_consumer_with_the_templates_token_is_warned_about():
    config = validate_config(
        {
            "external_message_consumer": {
                "enabled": True,
                "producers": [{"name": "p", "host": "h", "ws_token": "CHANGE-ME-too"}],
            },
            "api_server": api("x" * 40, password="CHANGE-ME"),
        }
    )
    keys = [w.split(" ")[0] for w in sample_secret_warnings(config)]
    assert keys == ["api_server.password", "external_message_consumer.producers[0].ws_token"]


def test_generated_configs_use_no_sample_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    cli.main(["new-config", "p.json", "--producer"])
    cli.main(["new-config", "c.json", "--consumer", "127.0.0.1:8080", "--token-from", "p.json"])
    for name in ("p.json", "c.json"):
        assert sample_secret_warnings(load_config([name])) == []
