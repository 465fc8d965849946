"""The main job, end to end: ``candlecast demo`` runs three real processes through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.timeout(330)
def test_demo_fleet_syncs_trades_and_shuts_down_cleanly(tmp_path: Path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "candlecast.cli",
            "demo",
            "--duration",
            "30",
            # Entries are rare events on the simulated market, and a consumer sees a 1 s
            # candle's signal only if a cycle of its runs while that candle is at most 3 s
            # old: on a loaded machine 45 s sometimes had none. Wait for the first trade.
            "--until-trades",
            "1",
            "--max-duration",
            "180",
            "--pairs",
            "6",
            "--workdir",
            str(tmp_path),
            "--plain",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=270,
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert summary["failure"] is None
    consumers = summary["consumers"]
    assert set(consumers) == {"consumer-1", "consumer-2"}
    for name, consumer in consumers.items():
        assert consumer["state"] == "connected", name
        assert consumer["encoding"] == "binary"
        # compared through the REST API: every pair's copy equals the producer's frame
        assert consumer["frames"] == {pair: "equal" for pair in summary["pairs"]}
    assert summary["frames_match"] is True
    assert sum(c["trades_opened"] for c in consumers.values()) >= 1
    assert 30 <= summary["duration_s"] < 185  # --duration, then until the first trade
    # the consumers traded on the producer's signals: their trades are in their own databases
    import sqlite3

    with sqlite3.connect(tmp_path / "consumer-1.sqlite") as conn:
        strategies = {row[0] for row in conn.execute("select strategy from trades")}
    assert strategies <= {"ConsumerStrategy"}
    # everything shut down cleanly
    assert summary["exit_codes"] == {"consumer-2": 0, "consumer-1": 0, "producer": 0}
    assert "Result: every consumer's copy equals the producer's frames" in result.stdout
