"""A short ``make soak`` inside ``make test``: a producer and three consumers for 60 s."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.claims import count
from tests.conftest import ROOT

SECONDS = 60


@pytest.mark.slow
@pytest.mark.timeout(SECONDS + 180)
def test_a_60_second_soak_stays_flat_and_exact():
    # benchmarks/soak.py: memory grows < 10 % after warm-up, descriptors do not grow, all
    # three consumers stay connected and their frames equal the producer's at the end
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", "--minutes", str(SECONDS / 60)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SECONDS + 150,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Result: flat and exact" in done.stdout
    count("soak in make test: seconds", SECONDS)
