from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from candlecast.config import (
    load_config,
    mask_secrets,
    parse_config_text,
    unknown_keys,
    validate_config,
)
from candlecast.config.loader import env_overrides, load_raw_config
from candlecast.exceptions import ConfigError
from tests.conftest import EXAMPLES

PRODUCER = {"name": "default", "host": "127.0.0.1", "port": 8080, "ws_token": "t0ken"}
API = {
    "enabled": True,
    "listen_ip_address": "127.0.0.1",
    "listen_port": 8080,
    "username": "u",
    "password": "p",
}


def api_server(**keys: object) -> dict:
    return {"api_server": {**API, **keys}}


def consumer(**section: object) -> dict:
    return {
        "external_message_consumer": {"enabled": True, "producers": [dict(PRODUCER)], **section}
    }


def problems(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    return info.value.problems


def test_comments_and_trailing_commas_are_accepted():
    text = """{
        // a line comment
        "bot_name": "x", /* a block
        comment */ "max_open_trades": 2,
        "exchange": {"pair_whitelist": ["BTC/USDT", "ETH/USDT",],},
        "url": "http://not-a-comment//here",
    }"""
    data = parse_config_text(text)
    assert data["bot_name"] == "x"
    assert data["exchange"]["pair_whitelist"] == ["BTC/USDT", "ETH/USDT"]
    assert data["url"] == "http://not-a-comment//here"


def test_invalid_json_names_line_and_column():
    with pytest.raises(ConfigError, match=r"line 3"):
        parse_config_text('{\n "a": 1,\n "b" 2\n}', "my.json")


def test_files_merge_left_to_right_and_env_overrides(tmp_path: Path):
    a = tmp_path / "a.json"
    b = tmp_path / "b.json"
    a.write_text(
        '{"max_open_trades": 1, "exchange": {"pair_whitelist": ["BTC/USDT"], "sim_seed": 1}}'
    )
    b.write_text('{"max_open_trades": 5, "exchange": {"sim_seed": 2}}')
    env = {"CANDLECAST__EXCHANGE__SIM_SEED": "7", "CANDLECAST__DRY_RUN_WALLET": "500", "OTHER": "x"}
    config = load_config([a, b], environ=env)
    assert config.max_open_trades == 5
    assert config.exchange.pair_whitelist == ["BTC/USDT"]
    assert config.exchange.sim_seed == 7
    assert config.dry_run_wallet == 500


def test_env_values_that_are_not_json_are_strings():
    assert env_overrides({"CANDLECAST__API_SERVER__WS_TOKEN": "abc-def"}) == {
        "api_server": {"ws_token": "abc-def"}
    }


def test_producer_port_error_names_path_value_and_expectation():
    raw = consumer()
    raw["external_message_consumer"]["producers"].append({**PRODUCER, "name": "b", "port": "80a"})
    (line,) = problems(raw)
    assert (
        line
        == 'external_message_consumer.producers[1].port: expected an integer from 0 to 65535, got "80a"'
    )


def test_numeric_string_port_is_refused_as_freqtrade_does():
    raw = consumer()
    raw["external_message_consumer"]["producers"][0]["port"] = "8081"
    (line,) = problems(raw)
    assert line == (
        "external_message_consumer.producers[0].port: "
        'expected an integer from 0 to 65535, got "8081" (a string)'
    )


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"producers": []}, "producers"),
        ({"message_size_limit": 0}, "message_size_limit"),
        ({"message_size_limit": 100}, "message_size_limit"),
        ({"message_size_limit": 2.5}, "message_size_limit"),
        ({"initial_candle_limit": 2000}, "initial_candle_limit"),
        ({"wait_timeout": 2.5}, "wait_timeout"),
        ({"ping_timeout": -1}, "ping_timeout"),
    ],
)
def test_consumer_section_validation(section: dict, key: str):
    (line,) = problems(consumer(**section))
    assert line.startswith(f"external_message_consumer.{key}: expected ")


def test_duplicate_producer_names_are_refused():
    raw = consumer()
    raw["external_message_consumer"]["producers"].append(dict(PRODUCER))
    assert any("unique" in line and "default" in line for line in problems(raw))


def test_empty_producer_token_and_host_are_refused():
    raw = consumer()
    raw["external_message_consumer"]["producers"][0].update(ws_token="", host=" ")
    lines = problems(raw)
    assert any(line.startswith("external_message_consumer.producers[0].ws_token") for line in lines)
    assert any(line.startswith("external_message_consumer.producers[0].host") for line in lines)


def test_disabled_consumer_section_is_still_validated_as_freqtrade_does():
    lines = problems({"external_message_consumer": {"enabled": False, "producers": "garbage"}})
    assert [line.split(":")[0] for line in lines] == ["external_message_consumer.producers"]
    config = validate_config({"external_message_consumer": {"enabled": False, "producers": []}})
    assert config.external_message_consumer.enabled is False


def test_all_errors_of_a_file_are_reported_at_once():
    lines = problems(
        {"max_open_trades": "many", "stake_amount": -5, "timeframe": "7x", "dry_run_wallet": 0}
    )
    joined = "\n".join(lines)
    assert len(lines) >= 4
    for key in ("max_open_trades", "stake_amount", "timeframe", "dry_run_wallet"):
        assert key in joined


def test_ws_token_accepts_string_or_list_but_not_empty():
    assert validate_config(api_server(ws_token="abc")).api_server.ws_token == ["abc"]
    assert validate_config(api_server(ws_token=["a", "b"])).api_server.ws_token == ["a", "b"]
    assert any(
        line.startswith("api_server.ws_token:")
        for line in problems(api_server(ws_token=["ok", ""]))
    )


def test_api_server_section_requires_freqtrades_keys():
    lines = problems({"api_server": {"enabled": False}})
    assert lines == [
        f"api_server.{key}: required key is missing"
        for key in ("listen_ip_address", "listen_port", "username", "password")
    ]
    assert validate_config({}).api_server.enabled is False  # no section: disabled


def test_secret_env_values_stay_strings():
    env = {
        "CANDLECAST__API_SERVER__WS_TOKEN": "123456",
        "CANDLECAST__API_SERVER__LISTEN_PORT": "9000",
    }
    assert env_overrides(env) == {"api_server": {"ws_token": "123456", "listen_port": 9000}}


def test_producer_pairlist_requires_consumer():
    lines = problems({"pairlists": [{"method": "ProducerPairList"}]})
    assert any(
        "ProducerPairList requires external_message_consumer.enabled" in line for line in lines
    )


def test_unknown_keys_are_reported_with_the_closest_known_key():
    warnings = unknown_keys(
        {"max_open_trade": 3, "api_server": {"listen_prot": 1}, "exchange": {"name": "x"}}
    )
    assert any("'max_open_trade'" in w and "max_open_trades" in w for w in warnings)
    assert any("api_server.listen_prot" in w and "api_server.listen_port" in w for w in warnings)
    assert len(warnings) == 2


def test_unknown_keys_are_logged_as_warnings(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    path = tmp_path / "c.json"
    path.write_text('{"stak_amount": 10}')
    with caplog.at_level(logging.WARNING):
        config = load_config([path], environ={})
    assert config.stake_amount == "unlimited"
    assert [r.levelno for r in caplog.records if "stak_amount" in r.getMessage()] == [
        logging.WARNING
    ]


def test_secrets_are_masked():
    raw = {
        "api_server": {"ws_token": ["a", "b"], "password": "p", "username": "u"},
        "exchange": {"secret": "s"},
    }
    masked = mask_secrets(raw)
    assert masked["api_server"] == {"ws_token": ["***", "***"], "password": "***", "username": "u"}
    assert masked["exchange"]["secret"] == "***"


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "candlecast.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )


def test_cli_config_error_is_one_line_exit_2_no_traceback(tmp_path: Path):
    path = tmp_path / "bad.json"
    path.write_text(
        '{"external_message_consumer": {"enabled": true, "producers": [{"host": "h", "port": "80a", "ws_token": "t"}]}}'
    )
    result = run_cli("show-config", "-c", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (
        "external_message_consumer.producers[0].port: expected an integer from 0 to 65535"
        in result.stderr
    )


def test_cli_new_config_writes_a_loadable_commented_file(tmp_path: Path):
    assert run_cli("new-config", "c.json", cwd=tmp_path).returncode == 0
    text = (tmp_path / "c.json").read_text()
    assert "//" in text
    config = load_config([tmp_path / "c.json"], environ={})
    assert config.exchange.name == "simulated"
    assert run_cli("new-config", "c.json", cwd=tmp_path).returncode == 2  # no silent overwrite


def test_cli_show_config_masks_secrets(tmp_path: Path):
    path = tmp_path / "c.json"
    section = {**API, "ws_token": "very-secret-token", "password": "pw-secret"}
    path.write_text(json.dumps({"api_server": section}))
    result = run_cli("show-config", "-c", str(path), cwd=tmp_path)
    assert result.returncode == 0
    assert "very-secret-token" not in result.stdout and "pw-secret" not in result.stdout
    assert '"***"' in result.stdout


@pytest.mark.parametrize(
    "host", ["no such host", "host/with/path", "ws://127.0.0.1", "[::1", "a..b"]
)
def test_producer_host_must_be_a_hostname_or_ip(host: str):
    raw = consumer()
    raw["external_message_consumer"]["producers"][0]["host"] = host
    assert any(
        line.startswith(
            "external_message_consumer.producers[0].host: expected a hostname or IP address"
        )
        for line in problems(raw)
    )


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "::1", "[::1]", "localhost", "bots.example.com", "my_producer"]
)
def test_valid_producer_hosts(host: str):
    raw = consumer()
    raw["external_message_consumer"]["producers"][0]["host"] = host
    assert validate_config(raw).external_message_consumer.producers[0].host == host


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_example_configs_are_valid_and_use_only_known_keys(path: Path):
    raw = load_raw_config([path], environ={})
    assert unknown_keys(raw) == []
    config = validate_config(raw)
    assert config.strategy in ("ProducerStrategy", "ConsumerStrategy")


def test_live_trading_needs_a_real_exchange_and_its_keys():
    assert problems({"dry_run": False}) == [
        "dry_run: false needs a real exchange; the simulated exchange only trades dry-run "
        "(set exchange.name to a ccxt exchange id)"
    ]
    (line,) = problems({"dry_run": False, "exchange": {"name": "binance", "key": "abc"}})
    assert line.startswith("exchange.secret:")
    live = {"dry_run": False, "exchange": {"name": "binance", "key": "k", "secret": "s"}}
    assert validate_config(live).dry_run is False


def test_unfilled_timeouts_convert_to_seconds():
    config = validate_config({"unfilledtimeout": {"entry": 2, "exit": 30, "unit": "seconds"}})
    assert config.unfilledtimeout.seconds("entry") == 2
    assert validate_config({}).unfilledtimeout.seconds("exit") == 600
    (line,) = problems({"unfilledtimeout": {"unit": "hours"}})
    assert line.startswith("unfilledtimeout.unit:")


def test_the_config_lists_the_strategy_attributes_it_overrides_and_no_others():
    assert validate_config({}).strategy_overrides() == {}
    config = validate_config(
        {"timeframe": "5m", "stoploss": -0.2, "minimal_roi": {"0": 0.1}, "trailing_stop": False}
    )
    assert config.strategy_overrides() == {
        "timeframe": "5m",
        "stoploss": -0.2,
        "minimal_roi": {"0": 0.1},
        "trailing_stop": False,  # a given false overrides too
    }
    # max_open_trades given in the config clears the strategy's own value
    assert validate_config({"max_open_trades": 2}).strategy_overrides() == {"max_open_trades": None}


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"listen_ip_address": "127.0.0.1", "ws_token": "short"}, []),
        (
            {
                "listen_ip_address": "0.0.0.0",
                "ws_token": "a" * 32,
                "ssl_certfile": "c.pem",
                "ssl_keyfile": "k.pem",
            },
            [],
        ),
        (
            {
                "listen_ip_address": "0.0.0.0",
                "ws_token": "secret",
                "ssl_certfile": "c.pem",
                "ssl_keyfile": "k.pem",
            },
            ["ws_token"],
        ),
        ({"listen_ip_address": "0.0.0.0", "ws_token": "a" * 32}, ["TLS"]),
        ({"listen_ip_address": "0.0.0.0", "ws_token": "abc"}, ["ws_token", "TLS"]),
    ],
    ids=["loopback", "public-strong-tls", "public-sample-token", "public-no-tls", "public-both"],
)
def test_a_public_listener_with_a_weak_token_or_without_tls_is_warned_about_at_validation(
    keys: dict, expected: list[str]
):
    warnings = validate_config(api_server(**keys)).startup_warnings()
    assert [("ws_token" if "ws_token" in w else "TLS") for w in warnings] == expected
