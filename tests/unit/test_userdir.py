"""``create-userdir`` and ``new-config``: configs that validate and strategies that load."""

from __future__ import annotations

from pathlib import Path

import pytest

from candlecast import cli
from candlecast.config import load_config
from candlecast.config.loader import parse_config_text
from candlecast.strategy.loader import load_strategy


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    return tmp_path


def raw(path: Path) -> dict:
    return parse_config_text(path.read_text(encoding="utf-8"))


def test_create_userdir_writes_strategies_that_load(workdir: Path):
    assert cli.main(["create-userdir"]) == 0
    for sub in ("strategies", "data", "logs"):
        assert (workdir / "user_data" / sub).is_dir()
    for name in ("SampleStrategy", "ProducerStrategy", "ConsumerStrategy"):
        strategy = load_strategy(name, workdir / "user_data" / "strategies", {})
        assert type(strategy).__name__ == name


def test_create_userdir_keeps_edited_strategies_unless_forced(workdir: Path):
    cli.main(["create-userdir"])
    edited = workdir / "user_data" / "strategies" / "SampleStrategy.py"
    edited.write_text("# mine\n")
    cli.main(["create-userdir"])
    assert edited.read_text() == "# mine\n"
    cli.main(["create-userdir", "--force"])
    assert "class SampleStrategy" in edited.read_text()


def test_new_config_producer_is_a_producer_with_a_fresh_token(workdir: Path):
    assert cli.main(["new-config", "a.json", "--producer", "--port", "9000"]) == 0
    assert cli.main(["new-config", "b.json", "--producer"]) == 0
    config = load_config(["a.json"])
    assert config.is_producer and not config.is_consumer
    assert config.api_server.listen_port == 9000 and config.strategy == "ProducerStrategy"
    tokens = [raw(workdir / f)["api_server"]["ws_token"] for f in ("a.json", "b.json")]
    assert tokens[0] != tokens[1] and all(len(t) >= 32 for t in tokens)


def test_new_config_consumer_follows_the_producer_on_the_same_market(workdir: Path):
    cli.main(["new-config", "producer.json", "--producer"])
    code = cli.main(
        [
            "new-config",
            "consumer.json",
            "--consumer",
            "ws://10.0.0.5:9001",
            "--token-from",
            "producer.json",
        ]
    )
    assert code == 0
    producer, consumer = load_config(["producer.json"]), load_config(["consumer.json"])
    assert consumer.is_consumer and consumer.strategy == "ConsumerStrategy"
    (entry,) = consumer.external_message_consumer.producers
    assert (entry.host, entry.port, entry.secure) == ("10.0.0.5", 9001, False)
    assert [entry.ws_token] == producer.api_server.ws_token
    for key in ("name", "sim_seed", "sim_volatility"):
        assert getattr(consumer.exchange, key) == getattr(producer.exchange, key)
    assert consumer.timeframe == producer.timeframe
    assert consumer.db_url != producer.db_url  # two bots in one directory keep apart


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("wss://prod.example.com", ("prod.example.com", 443, True)),
        ("127.0.0.1:8090", ("127.0.0.1", 8090, False)),
        ("http://[::1]:8080", ("::1", 8080, False)),
    ],
)
def test_new_config_consumer_accepts_the_usual_address_forms(workdir: Path, url, address):
    assert cli.main(["new-config", "c.json", "--consumer", url, "--token", "t" * 40]) == 0
    (entry,) = load_config(["c.json"]).external_message_consumer.producers
    assert (entry.host, entry.port, entry.secure) == address


@pytest.mark.parametrize(
    "argv",
    [
        ["new-config", "c.json", "--consumer", "ws://127.0.0.1:8080"],  # no token
        ["new-config", "c.json", "--consumer", "ftp://127.0.0.1", "--token", "x"],
        ["new-config", "c.json", "--consumer", "ws://127.0.0.1:99999", "--token", "x"],
    ],
)
def test_new_config_refuses_incomplete_consumers_in_one_line(workdir: Path, argv, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("candlecast: config error: --")
    assert not (workdir / "c.json").exists()


def test_standalone_new_config_runs_after_create_userdir(workdir: Path):
    cli.main(["create-userdir"])
    assert cli.main(["new-config"]) == 0
    config = load_config(["config.json"])
    strategy = load_strategy(config.strategy or "", config.strategy_path or "", {})
    assert type(strategy).__name__ == "SampleStrategy"


def test_new_config_asks_on_a_terminal(workdir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    answers = iter(["consumer", "ws://127.0.0.1:8085", "secret-token-from-the-producer"])
    monkeypatch.setattr("builtins.input", lambda _prompt: next(answers))
    assert cli.main(["new-config", "c.json"]) == 0
    (entry,) = load_config(["c.json"]).external_message_consumer.producers
    assert (entry.port, entry.ws_token) == (8085, "secret-token-from-the-producer")
