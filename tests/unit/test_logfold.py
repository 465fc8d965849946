"""Repeated identical warnings are folded into one line per interval with a count."""

from __future__ import annotations

import io
import logging

from candlecast.util.logfold import RepeatFolder


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def logger_with_folder(clock: Clock) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RepeatFolder(interval=60, clock=clock))
    log = logging.getLogger(f"test.logfold.{id(stream)}")
    log.propagate = False
    log.handlers = [handler]
    log.setLevel(logging.DEBUG)
    return log, stream


def test_a_warning_repeated_within_the_interval_is_logged_once_then_counted():
    clock = Clock()
    log, stream = logger_with_folder(clock)
    for port in range(50000, 50010):  # one refusal every 6 s, each from a new port
        log.warning("Refused message websocket from 127.0.0.1:%d: wrong token", port)
        clock.now += 6
    log.warning("Refused message websocket from 127.0.0.1:50011: wrong token")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0] == "Refused message websocket from 127.0.0.1:50000: wrong token"
    assert lines[1].endswith("(repeated 9 more times in the last 60 s)")


def test_different_warnings_and_info_lines_are_not_folded():
    clock = Clock()
    log, stream = logger_with_folder(clock)
    for _ in range(3):
        log.warning("Lost producer a")
        log.warning("Lost producer b")
        log.info("Entered BTC/USDT")
    lines = stream.getvalue().splitlines()
    assert lines.count("Lost producer a") == 1 and lines.count("Lost producer b") == 1
    assert lines.count("Entered BTC/USDT") == 3


def test_a_warning_after_a_quiet_interval_is_logged_plainly():
    clock = Clock()
    log, stream = logger_with_folder(clock)
    log.warning("x")
    clock.now += 120
    log.warning("x")
    assert stream.getvalue().splitlines() == ["x", "x"]
