"""A trade's open and its close are each one transaction: a crash between their two
writes leaves all of the change or none of it.

The crash is real: a child process writes to a real SQLite file and is killed
(``os._exit``) just before the change's second SQL write, the moment a split into two
transactions would have left the first write committed. No timing window is involved.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = r"""
import os, sys
from datetime import UTC, datetime
from sqlalchemy import event
from candlecast.domain.trades import Trade
from candlecast.persistence.repository import TradeRepository

db, step = sys.argv[1], sys.argv[2]
repo = TradeRepository(f"sqlite:///{db}")
when = datetime(2026, 6, 1, 12, tzinfo=UTC)
trade = Trade(id=None, pair="BTC/USDT", is_open=True, open_date=when, open_rate=100.0,
              amount=1.0, stake_amount=100.1, fee_open=0.001, fee_close=0.001,
              strategy="S", timeframe="1m")
writes = []

def crash_before_second_write(conn, cursor, statement, parameters, context, executemany):
    if statement.lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE"):
        writes.append(statement.split()[0] + " " + statement.split()[2 if statement.startswith("INSERT") else 1])
        if len(writes) == 2:
            print(" | ".join(writes), flush=True)
            os._exit(9)

if step == "open":
    event.listen(repo.engine, "before_cursor_execute", crash_before_second_write)
    repo.add_open_trade(trade, when)
else:
    stored = repo.add_open_trade(trade, when)
    event.listen(repo.engine, "before_cursor_execute", crash_before_second_write)
    repo.close_trade(stored.closed(101.0, when, "roi"))
print("finished without crashing", flush=True)
"""


def crash_during(step: str, db: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(db), step], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 9, done.stdout + done.stderr
    return done.stdout.strip()


def rows(db: Path, query: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query).fetchall()


@pytest.mark.parametrize("step", ["open", "close"])
def test_a_crash_between_the_two_writes_of_a_change_leaves_none_of_it(tmp_path: Path, step: str):
    db = tmp_path / "trades.sqlite"
    writes = crash_during(step, db)
    if step == "open":
        assert writes == "INSERT trades | INSERT orders"  # killed after the first write
        assert rows(db, "select * from trades") == []  # no trade without its buy order
        assert rows(db, "select * from orders") == []
    else:
        assert sorted(writes.split(" | ")) == ["INSERT orders", "UPDATE trades"]
        # still open, exactly as before the close; no sell order
        assert rows(db, "select is_open, close_rate, close_date, exit_reason from trades") == [
            (1, None, None, None)
        ]
        assert rows(db, "select side from orders") == [("buy",)]
