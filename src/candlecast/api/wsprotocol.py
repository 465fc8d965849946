"""permessage-deflate that compresses each broadcast once, for every subscriber.

uvicorn gives every connection its own compressor with context takeover, so the same
broadcast is compressed once per subscriber (freqtrade's consumers all offer
deflate). Here the server always negotiates ``server_no_context_takeover``: each
message is then compressed from a fresh state, so equal payloads compress to equal
bytes, and a small cache shared by all connections of one server lets every subscriber
after the first reuse the result. The cache is keyed by content (length and hash,
checked for equality on a hit) because uvicorn hands each connection its own copy of
the bytes. Each ``ApiServer`` owns its cache: ``CandlecastWebSocketProtocol.sharing``
gives uvicorn a protocol class bound to it.

uvicorn has no public hook for a websocket protocol's extensions, so this subclasses
its sans-I/O implementation (``uvicorn.protocols.websockets.websockets_sansio_impl``,
importable but not documented API) and replaces the ``conn`` it builds; uvicorn's
version is pinned in pyproject.toml, and ``tests/integration/test_producer.py`` checks
that deflating consumers get the shared compressed bytes.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections import OrderedDict
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import CTRL_OPCODES, Frame, Opcode
from websockets.server import ServerProtocol

MIN_SHARED_BYTES = 1024
CACHE_BYTES = 64 * 1024 * 1024
#: the server's window (it always negotiates server_max_window_bits=12) and zlib memory
WINDOW_BITS = 12
MEM_LEVEL = 5
#: messages this big (full frames: replies, first broadcasts) use zlib's fastest level:
#: about 3x faster than the default level for ~10 % more bytes on a 1500-row frame
BIG_MESSAGE = 64 * 1024
FAST_LEVEL = 1


def deflate_message(data: bytes, window_bits: int, mem_level: int = MEM_LEVEL) -> bytes:
    """One permessage-deflate message compressed from a fresh state (no context takeover),
    the trailing empty block removed (RFC 7692 7.2.1); zlib's fastest level when big."""
    level = FAST_LEVEL if len(data) >= BIG_MESSAGE else zlib.Z_DEFAULT_COMPRESSION
    encoder = zlib.compressobj(level, zlib.DEFLATED, -window_bits, mem_level)
    out = encoder.compress(data) + encoder.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4] if out.endswith(b"\x00\x00\xff\xff") else out


def cache_key(data: bytes, window_bits: int, mem_level: int) -> tuple[Any, ...]:
    """Length and samples of the content (its start, middle and end), not a hash of all
    of it: each connection brings its own copy of a message, and hashing a full frame
    for every subscriber cost more than the socket write. A hit is still checked for
    equality, so two messages with the same key are never confused."""
    size, mid = len(data), len(data) // 2
    return (size, data[:128], data[mid : mid + 128], data[-128:], window_bits, mem_level)


class CompressedCache:
    """Compressed messages by content, shared by the connections of one server (thread-safe)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[Any, ...], tuple[bytes, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[Any, ...], data: bytes) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != data:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: tuple[Any, ...], data: bytes, compressed: bytes) -> None:
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = (data, compressed)
            self._bytes += len(data) + len(compressed)
            while self._bytes > self.max_bytes and self._entries:
                _, (old_data, old_compressed) = self._entries.popitem(last=False)
                self._bytes -= len(old_data) + len(old_compressed)

    def precompress(self, message: str | bytes) -> None:
        """Compress ``message`` now (any thread; zlib runs without the GIL), so the
        connections that send it find it here instead of compressing on the event loop.
        Uses the settings the server negotiates unless a client asked for a smaller window."""
        data = message.encode() if isinstance(message, str) else message
        if len(data) < MIN_SHARED_BYTES:
            return
        key = cache_key(data, WINDOW_BITS, MEM_LEVEL)
        with self._lock:
            if key in self._entries:
                return
        self.put(key, data, deflate_message(data, WINDOW_BITS, MEM_LEVEL))


class SharedDeflate(PerMessageDeflate):
    """PerMessageDeflate whose single-frame messages are compressed once per content."""

    def __init__(self, cache: CompressedCache, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache = cache

    def encode(self, frame: Frame) -> Frame:
        if (
            frame.opcode in CTRL_OPCODES
            or frame.opcode is Opcode.CONT
            or not frame.fin
            or not self.local_no_context_takeover
            or len(frame.data) < MIN_SHARED_BYTES
        ):
            return super().encode(frame)
        data = bytes(frame.data)
        mem_level = int(self.compress_settings.get("memLevel", 8))
        window_bits = self.local_max_window_bits or 15
        key = cache_key(data, window_bits, mem_level)
        compressed = self.cache.get(key, data)
        if compressed is None:
            compressed = deflate_message(data, window_bits, mem_level)
            self.cache.put(key, data, compressed)
        return Frame(frame.opcode, compressed, True, True, frame.rsv2, frame.rsv3)


class SharedDeflateFactory(ServerPerMessageDeflateFactory):
    """websockets' negotiation, answered with a :class:`SharedDeflate` using ``cache``."""

    def __init__(self, cache: CompressedCache, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cache = cache

    def process_request_params(self, params: Any, accepted_extensions: Any) -> Any:
        response, negotiated = super().process_request_params(params, accepted_extensions)
        # the same negotiated settings, through PerMessageDeflate's public constructor
        extension = SharedDeflate(
            self.cache,
            negotiated.remote_no_context_takeover,
            negotiated.local_no_context_takeover,
            negotiated.remote_max_window_bits,
            negotiated.local_max_window_bits,
            self.compress_settings,
        )
        return response, extension


class CandlecastWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O websocket protocol with compress-once permessage-deflate."""

    cache: CompressedCache | None = None

    @classmethod
    def sharing(cls, cache: CompressedCache) -> type[CandlecastWebSocketProtocol]:
        """This protocol class for one server, whose connections share ``cache``."""
        return type(cls.__name__, (cls,), {"cache": cache})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.config.ws_per_message_deflate:
            self.conn = ServerProtocol(
                extensions=[
                    SharedDeflateFactory(
                        self.cache or CompressedCache(CACHE_BYTES),
                        server_no_context_takeover=True,
                        server_max_window_bits=WINDOW_BITS,
                        client_max_window_bits=WINDOW_BITS,
                        compress_settings={"memLevel": MEM_LEVEL},
                    )
                ],
                max_size=self.config.ws_max_size,
                logger=logging.getLogger("uvicorn.error"),
            )
