"""``candlecast listen``: follow a producer like a consumer, print what arrives.

The first thing to run when a consumer shows nothing: it tells whether the producer
is reachable, accepts the token, and which pairs, timeframes and candles it sends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from typing import Any

import orjson
from pydantic import ValidationError

from candlecast.config.loader import format_validation_error
from candlecast.config.models import ExternalMessageConsumerConfig, ProducerConfig
from candlecast.data.producer_store import ProducerStore
from candlecast.domain.analyzed import PairKey
from candlecast.exceptions import ConfigError
from candlecast.messaging.client import ProducerClient


def describe(store: ProducerStore, key: PairKey, name: str = "default") -> dict[str, Any]:
    entry = store.get(name, key)
    if entry is None:
        return {}
    frame = entry.frame
    return {
        "rows": len(frame),
        "columns": [str(c) for c in frame.columns],
        "first": frame["date"].iloc[0].isoformat() if len(frame) else None,
        "last": frame["date"].iloc[-1].isoformat() if len(frame) else None,
        "analyzed_at": entry.analyzed_at.isoformat(),
    }


async def listen(args: argparse.Namespace) -> int:
    try:
        producer = ProducerConfig(
            name="default",
            host=args.host,
            port=args.port,
            ws_token=args.token,
            secure=args.secure,
            ca_file=args.ca_file,
        )
        settings = ExternalMessageConsumerConfig(
            enabled=True, producers=[producer], sleep_time=1, binary=not args.no_binary
        )
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
    store = ProducerStore()
    client = ProducerClient(producer, settings, store)
    quiet = args.json

    def on_update(name: str, key: PairKey | None) -> None:
        if quiet:
            return
        if key is None:
            print(f"whitelist: {', '.join(store.pairs(name)) or '(empty)'}", flush=True)
            return
        info = describe(store, key)
        entry = store.get(name, key)
        # from the producer's analysis to now (for a pair's first frame, the answer to our
        # request, this includes the time since that analysis)
        latency = (time.time() - entry.analyzed_at.timestamp()) * 1000 if entry else None
        lat = f", latency {latency:.1f} ms" if latency is not None else ""
        print(
            f"{key.pair} {key.timeframe} {key.candle_type}: {info['rows']} rows x {len(info['columns'])} columns, "
            f"{info['first']} .. {info['last']}, analyzed {info['analyzed_at']}{lat}",
            flush=True,
        )

    store.add_listener(on_update)
    # the client's own retry warnings would repeat the error printed once at the end
    client_log = logging.getLogger("candlecast.messaging.client")
    client_log.setLevel(logging.ERROR)
    task = asyncio.create_task(client.run())
    started = time.monotonic()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(args.seconds):
            await asyncio.shield(task)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    status = client.status
    frames = {f"{k[0]}|{k[1]}|{k[2]}": describe(store, k) for k in store.keys("default")}
    if args.json:
        doc = {
            "producer_pairs": store.pairs("default"),
            "frames": frames,
            "connection": status.as_dict(store.pairs("default")),
        }
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(
            f"after {time.monotonic() - started:.1f} s: {status.messages_received} messages, "
            f"{status.bytes_received} bytes, {len(frames)} frames, encoding {status.encoding or '-'}"
            + (
                f"; last error: {status.last_error}"
                if status.last_error and status.messages_received
                else ""
            ),
            flush=True,
        )
    if status.messages_received == 0:
        print(
            f"candlecast: error: nothing received from {status.url}: {status.last_error or 'no message'}",
            file=sys.stderr,
        )
        return 1
    return 0
