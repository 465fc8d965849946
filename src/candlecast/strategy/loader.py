"""Find and load a strategy class by name from a directory of ``.py`` files.

Files are first parsed (not executed) to find which one defines the class, so a
broken unrelated file does not stop the bot; only the file holding the class is
imported, with freqtrade's import names mapped to candlecast (``strategy.compat``).
"""

from __future__ import annotations

import ast
import importlib.util
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from candlecast.exceptions import StrategyError
from candlecast.strategy.compat import ROOT, pip_name, strategy_builtins
from candlecast.strategy.interface import LEGACY_METHODS, IStrategy, failing_line

logger = logging.getLogger(__name__)

REQUIRED_METHODS = ("populate_indicators", "populate_entry_trend")


@dataclass(frozen=True)
class StrategyFile:
    path: Path
    classes: tuple[str, ...]
    error: str | None = None


def scan_strategy_dir(directory: str | Path) -> list[StrategyFile]:
    """Parse every ``.py`` file of ``directory``; report classes or the syntax error."""
    root = Path(directory)
    if not root.is_dir():
        raise StrategyError(f"strategy path {str(root)!r} is not a directory")
    found: list[StrategyFile] = []
    for path in sorted(root.glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as exc:
            found.append(StrategyFile(path, (), f"syntax error at line {exc.lineno}: {exc.msg}"))
            continue
        classes = tuple(node.name for node in tree.body if isinstance(node, ast.ClassDef))
        found.append(StrategyFile(path, classes))
    return found


def load_strategy(
    name: str, directory: str | Path, config: dict[str, Any] | None = None
) -> IStrategy:
    """Import the class ``name`` from ``directory`` and instantiate it with ``config``.

    Raises:
        StrategyError: one line naming the file and what is wrong with it.
    """
    files = scan_strategy_dir(directory)
    holders = [f for f in files if name in f.classes]
    if not holders:
        broken = [f"{f.path.name} ({f.error})" for f in files if f.error]
        known = sorted({c for f in files for c in f.classes})
        hint = f"; files that could not be read: {', '.join(broken)}" if broken else ""
        raise StrategyError(
            f"strategy {name!r} not found in {str(directory)!r} (classes found: {', '.join(known) or 'none'}){hint}"
        )
    path = holders[0].path
    module = _import_file(path)
    klass = getattr(module, name, None)
    if not isinstance(klass, type) or not issubclass(klass, IStrategy):
        raise StrategyError(
            f"{name} in {str(path)!r} is not a subclass of IStrategy "
            "(from freqtrade.strategy or candlecast.strategy)"
        )
    missing = [m for m in REQUIRED_METHODS if not _defines(klass, m)]
    if missing:
        raise StrategyError(
            f"strategy {name} in {str(path)!r} does not define {', '.join(missing)}"
        )
    klass.__file__ = str(path)  # type: ignore[attr-defined]  # as freqtrade: the parameter file is found beside it
    try:
        return klass(config)
    except StrategyError as exc:
        raise StrategyError(f"cannot create strategy {name} from {str(path)!r}: {exc}") from None
    except Exception as exc:
        raise StrategyError(
            f"cannot create strategy {name} ({failing_line(exc, path)}): {type(exc).__name__}: {exc}"
        ) from None


def _defines(klass: type, method: str) -> bool:
    if getattr(klass, method, None) is not getattr(IStrategy, method):
        return True
    # freqtrade's interface-version-2 names stand in for the current ones
    legacy = LEGACY_METHODS.get(method)
    return legacy is not None and getattr(klass, legacy, None) is not getattr(
        IStrategy, legacy, None
    )


def _import_file(path: Path) -> ModuleType:
    """Execute a strategy file as its own module, with freqtrade's import names mapped."""
    module_name = f"candlecast_user_strategy_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise StrategyError(f"cannot import strategy file {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    module.__dict__["__builtins__"] = strategy_builtins()
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except ModuleNotFoundError as exc:
        sys.modules.pop(module_name, None)
        where = failing_line(exc, path)
        missing = exc.name or str(exc)
        if missing.split(".")[0] == ROOT:
            raise StrategyError(f"strategy file {where}: {exc}") from None
        raise StrategyError(
            f"strategy file {where} imports {missing!r}, which is not installed: "
            f"pip install {pip_name(missing)}"
        ) from None
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise StrategyError(
            f"cannot import strategy file {failing_line(exc, path)}: {type(exc).__name__}: {exc}"
        ) from None
    return module
