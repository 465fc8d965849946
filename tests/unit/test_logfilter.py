"""Secrets never reach a log line: the redaction itself, not only through one caller."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from candlecast.util.logfilter import SecretRedactor


@pytest.fixture
def redactor() -> Iterator[SecretRedactor]:
    redactor = SecretRedactor()
    redactor.install()
    try:
        yield redactor
    finally:
        redactor.uninstall()


@pytest.fixture
def log(redactor: SecretRedactor) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("candlecast.test.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def test_a_registered_secret_value_is_replaced_wherever_it_appears(log, redactor):
    logger, stream = log
    secret = "exchange-secret-7f3a9c1e"
    redactor.add([secret])
    logger.info("key %s rejected", secret)  # in the arguments
    logger.info(f"calling with {secret}!")  # in the message itself
    logger.info("nested %r", {"apiSecret": secret})
    text = stream.getvalue()
    assert secret not in text
    assert text.splitlines() == [
        "key *** rejected",
        "calling with ***!",
        "nested {'apiSecret': '***'}",
    ]


def test_a_longer_secret_containing_a_shorter_one_is_redacted_whole(log, redactor):
    logger, stream = log
    short, long = "pw-4411", "pw-4411-and-more"
    redactor.add([short, long])
    logger.info("a %s b %s", long, short)
    assert stream.getvalue().strip() == "a *** b ***"


@pytest.mark.parametrize("name", ["token", "ws_token", "password", "secret", "TOKEN"])
def test_secret_query_parameters_are_redacted_without_being_registered(log, name: str):
    logger, stream = log
    logger.info('"GET /api/v1/message/ws?%s=never-registered-9d2&pair=BTC HTTP/1.1" 403', name)
    assert stream.getvalue().strip() == f'"GET /api/v1/message/ws?{name}=***&pair=BTC HTTP/1.1" 403'


def test_lines_without_secrets_are_left_as_they_are(log, redactor):
    logger, stream = log
    redactor.add(["unrelated-secret-55aa"])
    logger.info("%d candles for %s (%.1f ms)", 3, "BTC/USDT", 1.25)
    assert stream.getvalue().strip() == "3 candles for BTC/USDT (1.2 ms)"


def test_empty_secrets_are_ignored_and_installing_twice_redacts_once(log, redactor):
    logger, stream = log
    redactor.add(["", "twice-secret-0c0c"])
    redactor.install()
    redactor.add(["twice-secret-0c0c"])
    assert "" not in redactor.secrets
    logger.info("x twice-secret-0c0c y")
    assert stream.getvalue().strip() == "x *** y"


def test_a_record_whose_arguments_do_not_format_is_still_created(redactor):
    redactor.add(["fmt-secret-31"])
    record = logging.getLogRecordFactory()(
        "x", logging.INFO, __file__, 1, "%d items", ("not a number",), None
    )
    assert record.msg == "%d items"  # left alone: the handler reports the formatting error


def test_a_longer_secret_is_replaced_before_a_shorter_one_inside_it_whatever_their_order():
    redactor = SecretRedactor()
    redactor.add(["zsecret1"])
    redactor.add(["a-zsecret1-x"])  # sorts before "zsecret1", but is longer
    assert redactor.redact("key a-zsecret1-x") == "key ***"
    assert redactor.secrets == ["a-zsecret1-x", "zsecret1"]


def test_installing_wraps_the_record_factory_once():
    previous = logging.getLogRecordFactory()
    redactor = SecretRedactor()
    redactor.add(["fresh-secret-9911"])
    try:
        redactor.install()
        installed = logging.getLogRecordFactory()
        assert installed is not previous
        redactor.install()  # a second call changes nothing
        assert logging.getLogRecordFactory() is installed
        record = installed("x", logging.INFO, __file__, 1, "a %s b", ("fresh-secret-9911",), None)
        assert (record.msg, record.args, record.getMessage()) == ("a *** b", None, "a *** b")
        plain = installed("x", logging.INFO, __file__, 1, "a %s b", ("c",), None)
        assert (plain.msg, plain.args) == ("a %s b", ("c",))  # untouched: formatted lazily
    finally:
        logging.setLogRecordFactory(previous)


def test_uninstalling_restores_the_previous_factory_and_stops_redacting():
    previous = logging.getLogRecordFactory()
    redactor = SecretRedactor(["owned-secret-5151"])
    redactor.install()
    redactor.uninstall()
    assert logging.getLogRecordFactory() is previous
    record = previous("x", logging.INFO, __file__, 1, "a %s", ("owned-secret-5151",), None)
    assert record.getMessage() == "a owned-secret-5151"


def test_two_owners_uninstalled_out_of_order_each_stop_redacting_their_own_secrets():
    previous = logging.getLogRecordFactory()
    first, second = SecretRedactor(["first-secret-11"]), SecretRedactor(["second-secret-22"])
    first.install()
    second.install()
    try:
        first.uninstall()  # wrapped by the second: stays in the chain, passes records on
        factory = logging.getLogRecordFactory()
        record = factory(
            "x", logging.INFO, __file__, 1, "%s %s", ("first-secret-11", "second-secret-22"), None
        )
        assert record.getMessage() == "first-secret-11 ***"
        second.uninstall()
        record = logging.getLogRecordFactory()(
            "x", logging.INFO, __file__, 1, "%s", ("second-secret-22",), None
        )
        assert record.getMessage() == "second-secret-22"
    finally:
        logging.setLogRecordFactory(previous)
