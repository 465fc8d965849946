from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
VECTORS = ROOT / "tests" / "vectors" / "freqtrade-2026.9-capture.json"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def strategy_dir(tmp_path: Path) -> Path:
    target = tmp_path / "strategies"
    shutil.copytree(EXAMPLES / "strategies", target)
    return target


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any name lookup other than loopback, so no test can reach the network
    (a ccxt exchange's real URL, say). Subprocesses are not covered."""
    real = socket.getaddrinfo

    def guarded(host: object, *args: object, **kwargs: object) -> object:
        if host not in ("127.0.0.1", "localhost", "::1", b"127.0.0.1", b"localhost"):
            raise OSError(f"test tried to reach {host!r}; only loopback is allowed")
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.claims import COUNTS

    if COUNTS:
        terminalreporter.section("figures measured by this run")
        for figure, n in sorted(COUNTS.items()):
            terminalreporter.write_line(f"{figure}: {n:,}")
