"""Tokens, TLS and authentication: nobody gets in without the right secret, and no secret is logged."""

from __future__ import annotations

import asyncio
import os
import random
import string
from pathlib import Path

import pytest

from candlecast.testing import wait_until
from tests.claims import count
from tests.integration.harness import (
    PAIRS,
    TOKEN,
    captured_logs,
    consumer_config,
    copies_match,
    make_bot,
    new_clock,
    opened,
    producer_config,
    running,
)
from tests.integration.tls import make_ca, make_server_cert

pytestmark = pytest.mark.anyio

ATTEMPTS = int(os.environ.get("CANDLECAST_TOKEN_ATTEMPTS", "10000"))


def bad_tokens(count: int) -> list[str]:
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + "-_"
    tokens = ["", " ", TOKEN.upper(), TOKEN[:-1], TOKEN + "x", "x" + TOKEN, TOKEN[1:], "A" * 8000]
    for i in range(len(TOKEN)):  # almost right: one character changed at every position
        tokens.append(TOKEN[:i] + ("a" if TOKEN[i] != "a" else "b") + TOKEN[i + 1 :])
    while len(tokens) < count:
        tokens.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 64))))
    return tokens[:count]


async def handshake_status(port: int, token: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            (
                f"GET /api/v1/message/ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        line = await reader.readline()
        return int(line.split()[1]) if line else 0
    finally:
        writer.close()


@pytest.mark.timeout(600)  # 10,000 handshakes: about 30 s idle, minutes on a loaded machine
async def test_wrong_tokens_are_never_accepted_nor_logged(tmp_path: Path):
    with captured_logs() as logs:
        raw = producer_config(tmp_path, api_server={"verbosity": "info"})
        async with opened(make_bot(raw, "ProducerStrategy", new_clock())) as bot:
            tokens = bad_tokens(ATTEMPTS)
            statuses: list[int] = []
            for start in range(0, len(tokens), 50):
                statuses += await asyncio.gather(
                    *(handshake_status(bot.api_port, t) for t in tokens[start : start + 50])
                )
            assert 101 not in statuses
            count("security test: wrong tokens tried", len(statuses))
            # a token that cannot stand raw in a request line (whitespace, 8000 characters)
            # may be refused by the HTTP parser before the token check; every other one is
            # refused by the token check
            for token, status in zip(tokens, statuses, strict=True):
                if any(c.isspace() for c in token) or len(token) > 4000:
                    assert status in (400, 403, 414), (token[:20], status)
                else:
                    assert status == 403, (token, status)
            assert not bot.hub.channels
            assert await handshake_status(bot.api_port, TOKEN) == 101  # the right one still works
    text = logs.getvalue()
    assert "Refused message websocket" in text
    assert [t for t in tokens if len(t) >= 6 and t in text] == []
    assert TOKEN not in text


async def test_wss_with_a_ca_file_and_a_certificate_that_does_not_verify(tmp_path: Path):
    ca_path, ca_cert, ca_key = make_ca(tmp_path, "fleet-ca")
    cert, key = make_server_cert(tmp_path, ca_cert, ca_key)
    other_ca, _, _ = make_ca(tmp_path, "other-ca")
    clock = new_clock()
    raw = producer_config(tmp_path, api_server={"ssl_certfile": str(cert), "ssl_keyfile": str(key)})
    async with opened(make_bot(raw, "ProducerStrategy", clock)) as producer:
        good = consumer_config(tmp_path, {"default": producer.api_port}, name="good")
        good["external_message_consumer"]["producers"][0].update(secure=True, ca_file=str(ca_path))
        async with running(make_bot(good, "ConsumerStrategy", clock)) as consumer:
            await wait_until(lambda: copies_match(consumer, producer, PAIRS), timeout=10)
            assert consumer.clients[0].status.url.startswith("wss://")

        bad = consumer_config(tmp_path, {"default": producer.api_port}, name="bad")
        bad["external_message_consumer"]["producers"][0].update(secure=True, ca_file=str(other_ca))
        async with running(make_bot(bad, "ConsumerStrategy", clock)) as consumer:
            client = consumer.clients[0]
            await wait_until(lambda: client.status.last_error is not None, timeout=10)
            assert client.status.last_error.startswith(
                "certificate of producer default does not verify"
            )
            assert consumer.producer_store.keys("default") == []

        plain = consumer_config(
            tmp_path, {"default": producer.api_port}, name="plain"
        )  # ws:// to a TLS port
        async with running(make_bot(plain, "ConsumerStrategy", clock)) as consumer:
            await wait_until(lambda: consumer.clients[0].status.last_error is not None, timeout=10)
            assert consumer.producer_store.keys("default") == []
