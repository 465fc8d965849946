"""The message_bus section and the NATS publishing/following rules (no I/O, no server)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from candlecast.bus.plan import (
    EPOCH,
    MSG_ID,
    SEQ_N,
    FollowState,
    Position,
    PublishPlanner,
    Subjects,
    Verdict,
    position,
    stream_configs,
    subject_token,
    token_text,
)
from candlecast.config import validate_config
from candlecast.config.loader import mask_secrets
from candlecast.config.message_bus import MessageBusConfig
from candlecast.config.producer_consumer import BusProducerConfig
from candlecast.domain.analyzed import MAX_CANDLE_LIMIT, PairKey
from candlecast.domain.enums import CandleType
from candlecast.exceptions import ConfigError
from candlecast.messaging import protocol as proto
from candlecast.messaging.protocol import Encoding
from candlecast.testing import make_ohlcv

URL = "nats://127.0.0.1:4222"
KEY = PairKey("BTC/USDT", "5m", CandleType.SPOT)


def problems(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    return info.value.problems


# ---------------------------------------------------------------------- config


def test_message_bus_defaults():
    bus = validate_config({"message_bus": {"url": URL}}).message_bus
    assert bus is not None
    assert bus.url == [URL]
    assert (bus.subject_prefix, bus.stream, bus.last_stream) == (
        "candlecast",
        "CANDLECAST",
        "CANDLECAST_LAST",
    )
    assert bus.replicas == 1


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({}, "message_bus.url: required key is missing"),
        ({"url": "http://h:1"}, "message_bus.url: expected URLs like nats://host:4222"),
        ({"url": "nats://h"}, "message_bus.url: expected URLs like nats://host:4222"),
        ({"url": []}, "message_bus.url: expected a NATS URL or a non-empty list"),
        ({"url": [URL, 4]}, "message_bus.url: expected a list of NATS URLs, item [1] is a number"),
        ({"url": URL, "subject_prefix": "a..b"}, "message_bus.subject_prefix: expected dot-sep"),
        ({"url": URL, "subject_prefix": "a.>"}, "message_bus.subject_prefix: expected dot-sep"),
        ({"url": URL, "stream": "A.B"}, "message_bus.stream: expected 1 to 32 letters"),
        ({"url": URL, "replicas": 7}, "message_bus.replicas: expected an integer from 1 to 5"),
        ({"url": URL, "token": ""}, "message_bus.token: expected a non-empty token"),
        (
            {"url": URL, "token": "t0ken-value", "credentials_file": "u.creds"},
            "message_bus: expected at most one of token, credentials_file, nkey_file",
        ),
    ],
    ids=[
        "no-url",
        "http-url",
        "no-port",
        "empty-list",
        "not-a-string",
        "empty-token",
        "wildcard",
        "dot-in-stream",
        "replicas",
        "empty-secret",
        "two-credentials",
    ],
)
def test_message_bus_errors_are_one_line_each(section: dict, expected: str):
    lines = problems({"message_bus": section})
    assert len(lines) == 1
    assert lines[0].startswith(expected), lines[0]


def test_a_password_in_the_url_is_refused_without_showing_it():
    lines = problems({"message_bus": {"url": "nats://user:hunter2pass@h:4222"}})
    assert len(lines) == 1 and "hunter2pass" not in lines[0]


def test_the_bus_token_is_masked_like_other_secrets():
    raw = {"message_bus": {"url": URL, "token": "s3cret-value"}}
    assert mask_secrets(raw)["message_bus"]["token"] == "***"


def test_a_producer_may_name_a_bus_instead_of_host_and_port():
    cfg = validate_config(
        {
            "external_message_consumer": {
                "enabled": True,
                "producers": [
                    {"name": "ws", "host": "127.0.0.1", "ws_token": "abc"},
                    {"name": "nats", "bus": {"url": URL, "subject_prefix": "cc.eu"}},
                ],
            }
        }
    )
    ws, nats = cfg.external_message_consumer.producers
    assert ws.bus is None
    assert isinstance(nats, BusProducerConfig) and nats.bus is not None
    assert nats.bus.subject_prefix == "cc.eu"


def test_a_bus_producer_errors_name_the_entry_and_a_ws_producer_still_needs_host():
    lines = problems(
        {
            "external_message_consumer": {
                "enabled": True,
                "producers": [{"name": "a", "bus": {"url": 3}}, {"name": "b"}],
            }
        }
    )
    assert lines[0].startswith("external_message_consumer.producers[0].bus.url: expected")
    assert "external_message_consumer.producers[1].host: required key is missing" in lines


# ---------------------------------------------------------------------- subjects


@pytest.mark.parametrize("pair", ["BTC/USDT", "BTC/USDT:USDT", "1000.X/US DT", "A*B>C%"])
def test_pair_names_round_trip_through_one_subject_token(pair: str):
    token = subject_token(pair)
    assert not set(token) & set(".*> ")
    assert token_text(token) == pair
    key = PairKey(pair, "1h", CandleType.FUTURES)
    subjects = Subjects("cc.eu")
    assert subjects.key_of(subjects.update(key)) == key
    assert subjects.key_of(subjects.snapshot(key)) == key


def test_other_subjects_have_no_key():
    subjects = Subjects("cc")
    assert subjects.key_of(subjects.whitelist) is None
    assert subjects.key_of(subjects.whitelist_update) is None
    assert subjects.key_of("cc.upd.BTC/USDT.5m.nonsense") is None


def test_snapshots_and_whitelist_keep_one_message_and_updates_keep_them_all():
    bus = MessageBusConfig(url=[URL], subject_prefix="cc", stream="S", replicas=3)
    updates, last = stream_configs(bus)
    assert updates["name"] == "S" and last["name"] == "S_LAST"
    assert updates["subjects"] == ["cc.upd.>", "cc.wl"]
    assert "max_msgs_per_subject" not in updates
    assert last["subjects"] == ["cc.snap.>", "cc.whitelist"]
    assert last["max_msgs_per_subject"] == 1
    assert updates["num_replicas"] == last["num_replicas"] == 3


# ---------------------------------------------------------------------- publishing


def test_a_broadcast_is_a_snapshot_then_the_update_in_the_binary_encoding():
    frame = make_ohlcv(MAX_CANDLE_LIMIT + 20, "5m")
    part = frame.tail(1)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    planner = PublishPlanner(Subjects("cc"))
    snap, upd = planner.analyzed(KEY, frame, part, at)
    assert snap.subject == "cc.snap.BTC/USDT.5m.spot"
    assert upd.subject == "cc.upd.BTC/USDT.5m.spot"
    snap_msg = proto.parse_message(snap.payload, Encoding.BINARY)
    upd_msg = proto.parse_message(upd.payload, Encoding.BINARY)
    assert isinstance(snap_msg, proto.AnalyzedDfMessage)
    assert isinstance(upd_msg, proto.AnalyzedDfMessage)
    assert snap_msg.frame.equals(frame.tail(MAX_CANDLE_LIMIT))
    assert upd_msg.frame.equals(part)
    assert position(snap.headers) == position(upd.headers) == Position(snap.headers[EPOCH], 1)
    assert snap.headers[MSG_ID] != upd.headers[MSG_ID]
    _, upd2 = planner.analyzed(KEY, frame, part, at)
    assert upd2.headers[SEQ_N] == "2" and upd2.headers[EPOCH] == upd.headers[EPOCH]


def test_a_lost_publish_starts_a_new_epoch_for_that_key_only():
    frame = make_ohlcv(30, "5m")
    other = PairKey("ETH/USDT", "5m", CandleType.SPOT)
    planner = PublishPlanner(Subjects("cc"))
    at = datetime(2026, 1, 1, tzinfo=UTC)
    first = position(planner.analyzed(KEY, frame, frame, at)[1].headers)
    kept = position(planner.analyzed(other, frame, frame, at)[1].headers)
    planner.failed(KEY)
    after = position(planner.analyzed(KEY, frame, frame, at)[1].headers)
    assert first is not None and after is not None and kept is not None
    assert after.epoch != first.epoch and after.n == 1
    assert position(planner.analyzed(other, frame, frame, at)[1].headers) == Position(kept.epoch, 2)


# ---------------------------------------------------------------------- following


def test_updates_apply_in_order_and_anything_else_is_a_gap_or_already_held():
    state = FollowState()
    assert state.judge(KEY, Position("e", 1)) is Verdict.GAP  # nothing held yet
    state.applied[KEY] = Position("e", 3)
    assert state.judge(KEY, Position("e", 4)) is Verdict.APPLY
    assert state.judge(KEY, Position("e", 3)) is Verdict.SKIP
    assert state.judge(KEY, Position("e", 2)) is Verdict.SKIP
    assert state.judge(KEY, Position("e", 5)) is Verdict.GAP
    assert state.judge(KEY, Position("f", 4)) is Verdict.GAP  # the producer restarted
    assert state.judge(KEY, None) is Verdict.GAP


def test_a_snapshot_covers_an_update_of_its_epoch_up_to_its_count():
    state = FollowState()
    assert state.snapshot_covers(Position("e", 5), Position("e", 5))
    assert not state.snapshot_covers(Position("e", 4), Position("e", 5))
    assert not state.snapshot_covers(Position("f", 9), Position("e", 5))
    assert not state.snapshot_covers(None, Position("e", 5))


def test_resume_starts_after_the_last_handled_sequence():
    state = FollowState()
    state.last_seq = 41
    assert state.resume_from() == 42


@pytest.mark.parametrize("headers", [None, {}, {EPOCH: "e"}, {EPOCH: "e", SEQ_N: "x"}])
def test_messages_without_a_valid_position_have_none(headers):
    assert position(headers) is None


def test_a_leader_renews_three_times_per_ttl_and_a_standby_polls_at_least_every_second():
    from candlecast.bus.lease import renew_interval

    assert renew_interval(9, held=True) == 3
    assert renew_interval(9, held=False) == 1
    assert renew_interval(1.5, held=False) == 0.5


@pytest.mark.parametrize("ttl", [1, 2, 4, 10, 30, 3600])
def test_a_holder_stands_down_before_its_key_can_expire_and_after_its_next_renewal(ttl):
    from candlecast.bus.lease import lead_deadline, renew_interval

    deadline = lead_deadline(100.0, ttl)
    assert deadline <= 100.0 + ttl - 0.25  # publishes in flight land before a takeover
    assert deadline <= 100.0 + ttl * 0.9
    # a renewal sent on schedule, even one slow round trip later, comes before the deadline
    assert 100.0 + 2 * renew_interval(ttl, held=True) < deadline


def test_lease_ttl_is_off_by_default_and_bounded():
    assert MessageBusConfig(url=[URL]).lease_ttl == 0
    lines = problems({"message_bus": {"url": URL, "lease_ttl": -1}})
    assert lines[0].startswith("message_bus.lease_ttl: expected an integer from 0 to 3600")


def test_relay_command_refuses_a_config_without_a_bus_producer_in_one_line(tmp_path, capsys):
    import json

    from candlecast.cli import main

    path = tmp_path / "relay.json"
    path.write_text(
        json.dumps(
            {
                "api_server": {
                    "enabled": True,
                    "listen_ip_address": "127.0.0.1",
                    "listen_port": 0,
                    "username": "u",
                    "password": "p",
                }
            }
        )
    )
    assert main(["relay", "-c", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "a relay follows exactly one producer with a bus" in err[0]
