from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
CAPTURE = ROOT.parent / "shared" / "wire" / "freqtrade-2026.9-capture.json"
VECTORS = ROOT / "tests" / "vectors" / "freqtrade-2026.9-capture.json"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def strategy_dir(tmp_path: Path) -> Path:
    target = tmp_path / "strategies"
    shutil.copytree(EXAMPLES / "strategies", target)
    return target
