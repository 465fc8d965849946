"""``show-config``: the values the bot runs with, where each came from, all documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from candlecast import cli
from tests.conftest import ROOT


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    for name in list(__import__("os").environ):
        if name.startswith("CANDLECAST__"):
            monkeypatch.delenv(name)
    cli.main(["create-userdir"])
    cli.main(["new-config", "producer.json", "--producer"])
    cli.main(
        [
            "new-config",
            "consumer.json",
            "--consumer",
            "ws://127.0.0.1:8080",
            "--token-from",
            "producer.json",
        ]
    )
    cli.main(["new-config", "config.json"])
    return tmp_path


def show(capsys, *argv: str) -> str:
    capsys.readouterr()
    assert cli.main(["show-config", *argv]) == 0
    return capsys.readouterr().out


def sourced(text: str) -> dict[str, tuple[str, str]]:
    out = {}
    for line in text.splitlines():
        key, rest = line.split(" = ", 1)
        value, source = re.fullmatch(r"(.*)  \((.*)\)", rest).groups()
        out[key] = (value, source)
    return out


def test_show_config_prints_what_runs_not_nulls(workdir: Path, capsys):
    data = json.loads(show(capsys, "-c", "config.json"))
    # the standalone config sets no stoploss: SampleStrategy's is what runs
    assert data["stoploss"] == -0.05 and data["minimal_roi"] == {"0": 0.02, "30": 0.01}
    assert data["db_url"] == "sqlite:///user_data/tradesv3.dryrun.sqlite"
    assert data["api_server"]["jwt_secret_key"] == "random per run"
    assert data["api_server"]["ws_token"] == ["***"]  # secrets stay masked


def test_sources_name_the_file_env_command_line_strategy_and_default(
    workdir: Path, capsys, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("CANDLECAST__EXCHANGE__SIM_SEED", "7")
    lines = sourced(show(capsys, "-c", "config.json", "--sources", "--db-url", "sqlite:///x.db"))
    assert lines["timeframe"] == ('"5m"', "file config.json")
    assert lines["exchange.sim_seed"] == ("7", "env CANDLECAST__EXCHANGE__SIM_SEED")
    assert lines["db_url"] == ('"sqlite:///x.db"', "command line")
    assert lines["stoploss"] == ("-0.05", "strategy SampleStrategy")
    assert lines["exchange.sim_fee"] == ("0.001", "default")


def test_the_later_file_is_the_source_of_a_value_both_set(workdir: Path, capsys):
    (workdir / "more.json").write_text('{"stake_amount": 50}')
    lines = sourced(show(capsys, "-c", "producer.json", "-c", "more.json", "--sources"))
    assert lines["stake_amount"] == ("50.0", "file more.json")
    assert lines["bot_name"] == ('"producer"', "file producer.json")


def test_a_consumer_shows_its_producers(workdir: Path, capsys):
    lines = sourced(show(capsys, "-c", "consumer.json", "--sources"))
    producer = "external_message_consumer.producers[0]"
    assert lines[f"{producer}.host"] == ('"127.0.0.1"', "file consumer.json")
    assert lines[f"{producer}.ws_token"][0] == '"***"'


def test_every_key_show_config_prints_is_documented(workdir: Path, capsys):
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    keys: set[str] = set()
    for config in ("config.json", "producer.json", "consumer.json"):
        keys |= set(sourced(show(capsys, "-c", config, "--sources")))
    undocumented = []
    for key in sorted(keys):
        leaf = [p for p in re.split(r"[.\[\]]+", key) if p and not p.isdigit()][-1]
        if f"`{leaf}`" not in doc and f".{leaf}`" not in doc:
            undocumented.append(key)
    assert undocumented == []
