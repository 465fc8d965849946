"""The README's quick start, followed command by command in an empty directory.

Real processes on loopback. The only change to the README's commands: the ports 8080 and
8081 become free ports (the machine is shared), passed with ``--port`` / in the URL.
"""

from __future__ import annotations

import re
import shlex
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from candlecast.config.loader import parse_config_text
from candlecast.demo import free_port
from candlecast.testing import wait_until_sync
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Quick start") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "the README's quick start has no sh block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def localized(command: str, ports: dict[int, int]) -> list[str]:
    argv = shlex.split(command.split("#")[0])
    assert argv[0] == "candlecast", command
    argv = [sys.executable, "-m", "candlecast.cli", *argv[1:]]
    argv = [re.sub(r":(8080|8081)\b", lambda m: f":{ports[int(m.group(1))]}", a) for a in argv]
    if "--producer" in argv:
        argv += ["--port", str(ports[8080])]
    elif "--consumer" in argv:
        argv += ["--port", str(ports[8081])]
    return argv


def config(workdir: Path, name: str) -> dict[str, Any]:
    return parse_config_text((workdir / name).read_text(encoding="utf-8"))


def closed_or_open_trades(db: Path) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("select pair, open_date from trades").fetchall()
    except sqlite3.OperationalError:
        return []


def frame(api: str, auth: tuple[str, str], pair: str) -> dict[str, dict[int, Any]]:
    """The bot's analyzed frame of ``pair`` as {column: {date_ms: value}}."""
    body = httpx.get(f"{api}/api/v1/pair_candles", params={"pair": pair}, auth=auth).json()
    dates = [row[0] for row in body["data"]]
    return {
        col: dict(zip(dates, (row[i] for row in body["data"]), strict=True))
        for i, col in enumerate(body["columns"])
    }


# two bots start from scratch and must trade: at load 12 this took longer than the
# suite's default 120 s
@pytest.mark.timeout(300)
def test_readme_quick_start_makes_a_consumer_that_trades_on_the_producers_columns(
    tmp_path: Path,
):
    ports = {8080: free_port(), 8081: free_port()}
    bots: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for command in quickstart_commands():
            argv = localized(command, ports)
            if "trade" in argv:
                log = tmp_path / f"{len(bots)}.log"
                with open(log, "wb") as out:
                    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=out, stderr=out)
                bots.append((proc, log))
                continue
            done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, f"{command}: {done.stderr}"
        assert len(bots) == 2, "the quick start runs a producer and a consumer"

        consumer = config(tmp_path, "consumer.json")
        db = tmp_path / consumer["db_url"][len("sqlite:///") :]
        wait_until_sync(lambda: closed_or_open_trades(db), timeout=120, interval=0.5)
        pair = closed_or_open_trades(db)[0][0]

        auth_c = ("admin", consumer["api_server"]["password"])
        producer = config(tmp_path, "producer.json")
        auth_p = ("admin", producer["api_server"]["password"])
        ours = frame(f"http://127.0.0.1:{ports[8081]}", auth_c, pair)
        theirs = frame(f"http://127.0.0.1:{ports[8080]}", auth_p, pair)
    finally:
        for proc, _ in reversed(bots):
            proc.send_signal(signal.SIGTERM)
        for proc, _ in bots:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:  # reported by the exit-code assert below
                proc.kill()
                proc.wait()
    logs = "\n".join(log.read_text() for _, log in bots)
    assert all(proc.returncode == 0 for proc, _ in bots), logs

    # the consumer's own candles are the producer's candles (same simulated market) ...
    common = sorted(set(ours["date"]) & set(theirs["date"]))
    assert len(common) >= 20, logs
    assert [ours["close"][d] for d in common] == [theirs["close"][d] for d in common]
    # ... and its columns are the producer's indicators, merged by date (the oldest rows
    # of the consumer's copy may predate the producer's warm-up: NaN there). A consumer
    # candle newer than the producer's last one it had received holds that last one's
    # values, forward-filled (merge_informative_pair's rule): its date_default says so.
    # (rows older than the consumer's copy of the producer's frame have no date_default)
    same = [d for d in common if ours["date_default"][d] == d]
    filled = [d for d in common if ours["date_default"][d] not in (None, d)]
    assert len(filled) <= 3 and all(d > same[-1] for d in filled), filled
    recent = same[-10:]
    for column in ("rsi", "tema", "bb_middleband"):
        merged = {d: ours[f"{column}_default"][d] for d in same}
        assert all(merged[d] not in (None, 0) for d in recent), f"{column}_default is empty"
        assert {d: v for d, v in merged.items() if v is not None} == {
            d: theirs[column][d] for d in same if merged[d] is not None
        }, column
