"""The ``candlecast`` command: parse arguments, load the config, call the runtime.

User mistakes (config, strategy, port) end with one line on stderr and exit code 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from candlecast import __version__
from candlecast.exceptions import CandlecastError, ConfigError

logger = logging.getLogger("candlecast")

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def setup_logging(verbosity: int) -> None:
    level = logging.DEBUG if verbosity >= 2 else logging.INFO
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr, force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # -v: a strategy error's traceback follows its one-line message
    logging.getLogger("candlecast.strategy.traceback").setLevel(
        logging.DEBUG if verbosity >= 1 else logging.INFO
    )
    for noisy in ("uvicorn.error", "uvicorn.access", "websockets"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbosity >= 1 else logging.WARNING)


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="config file (repeat to merge several, left to right)",
    )
    parser.add_argument("-s", "--strategy", help="strategy class name (overrides the config)")
    parser.add_argument(
        "--strategy-path", help="directory of strategy files (default user_data/strategies)"
    )
    parser.add_argument("--db-url", help="database URL (default sqlite under user_data/)")
    parser.add_argument("-v", "--verbose", action="count", default=0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="candlecast", description="Compute once, trade many.")
    parser.add_argument("--version", action="version", version=f"candlecast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    trade = sub.add_parser("trade", help="run a bot (producer, consumer or both, per the config)")
    _add_config_args(trade)
    trade.add_argument("--duration", type=float, help="stop after this many seconds")

    show = sub.add_parser("show-config", help="print the effective config with secrets masked")
    _add_config_args(show)

    new = sub.add_parser("new-config", help="write a commented starter config")
    new.add_argument("path", nargs="?", default="config.json")
    new.add_argument("--force", action="store_true", help="overwrite an existing file")

    lst = sub.add_parser("list-strategies", help="list the strategies found in a directory")
    lst.add_argument("--strategy-path", default=None)
    lst.add_argument("-c", "--config", action="append", default=[])

    sub.add_parser("list-exchanges", help="list the exchange names exchange.name accepts")

    listen = sub.add_parser(
        "listen", help="connect to a producer as a consumer and print what arrives"
    )
    listen.add_argument("--host", required=True)
    listen.add_argument("--port", required=True, type=int)
    listen.add_argument("--token", required=True)
    listen.add_argument("--secure", action="store_true", help="use wss://")
    listen.add_argument("--ca-file", help="CA bundle to verify the producer's certificate")
    listen.add_argument(
        "--seconds", type=float, default=10.0, help="how long to listen (default 10)"
    )
    listen.add_argument("--json", action="store_true", help="print one JSON document at the end")
    listen.add_argument(
        "--no-binary", action="store_true", help="do not offer candlecast's binary encoding"
    )

    relay = sub.add_parser(
        "relay",
        help="follow a producer through NATS and serve its message websocket to local consumers",
    )
    _add_config_args(relay)
    relay.add_argument("--duration", type=float, help="stop after this many seconds")

    demo = sub.add_parser("demo", help="run a producer and two consumers on the simulated exchange")
    demo.add_argument("--duration", type=float, default=60.0)
    demo.add_argument("--timeframe", default="1s")
    demo.add_argument("--pairs", type=int, default=6)
    demo.add_argument(
        "--workdir", default=None, help="where the bots keep their files (default: a temp dir)"
    )
    demo.add_argument("--plain", action="store_true", help="plain status lines even on a terminal")
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if getattr(args, "strategy", None):
        out["strategy"] = args.strategy
    if getattr(args, "strategy_path", None):
        out["strategy_path"] = args.strategy_path
    if getattr(args, "db_url", None):
        out["db_url"] = args.db_url
    return out


def _load(args: argparse.Namespace) -> Any:
    from candlecast.config import load_config

    if not args.config:
        raise ConfigError(
            "no config file given: pass -c config.json (create one with 'candlecast new-config')"
        )
    return load_config(args.config, overrides=_overrides(args))


def cmd_trade(args: argparse.Namespace) -> int:
    from candlecast.bot.runtime import Bot
    from candlecast.strategy.loader import load_strategy

    config = _load(args)
    if not config.strategy:
        raise ConfigError('strategy: required (set "strategy" in the config or pass -s NAME)')
    strategy = load_strategy(
        config.strategy,
        config.strategy_path or "user_data/strategies",
        config.model_dump(mode="json"),
    )
    bot = Bot(config, strategy)

    async def main() -> None:
        await bot.start_api()
        await bot.run(duration=args.duration)

    asyncio.run(main())
    return 0


def cmd_show_config(args: argparse.Namespace) -> int:
    import orjson

    from candlecast.config import mask_secrets

    config = _load(args)
    sys.stdout.write(
        orjson.dumps(
            mask_secrets(config.model_dump(mode="json")), option=orjson.OPT_INDENT_2
        ).decode()
        + "\n"
    )
    return 0


def cmd_new_config(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.exists() and not args.force:
        raise ConfigError(f"{path} already exists; pass --force to overwrite it")
    text = (
        resources.files("candlecast").joinpath("templates/config.json").read_text(encoding="utf-8")
    )
    path.write_text(text, encoding="utf-8")
    print(f"Wrote {path}. Edit it, then run: candlecast trade -c {path}")
    return 0


def cmd_list_strategies(args: argparse.Namespace) -> int:
    from candlecast.strategy.loader import scan_strategy_dir

    directory = args.strategy_path
    if directory is None and args.config:
        directory = _load(args).strategy_path
    directory = directory or "user_data/strategies"
    files = scan_strategy_dir(directory)
    if not files:
        print(f"No strategy files in {directory}")
    for f in files:
        if f.error:
            print(f"{f.path.name}: ERROR {f.error}")
        else:
            print(f"{f.path.name}: {', '.join(f.classes) or '(no classes)'}")
    return 0


def cmd_list_exchanges(args: argparse.Namespace) -> int:
    from candlecast.exchange.ccxt_exchange import ccxt_exchange_ids

    ids = ccxt_exchange_ids()
    print("simulated (embedded, dry-run only)")
    print(f"ccxt exchanges ({len(ids)}): " + ", ".join(ids))
    return 0


def cmd_listen(args: argparse.Namespace) -> int:
    from candlecast.listen import listen

    return asyncio.run(listen(args))


def cmd_relay(args: argparse.Namespace) -> int:
    from candlecast.bus.relay import Relay

    relay = Relay(_load(args))
    try:
        asyncio.run(relay.run(duration=args.duration))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from candlecast.demo import run_demo

    return run_demo(args)


COMMANDS = {
    "trade": cmd_trade,
    "show-config": cmd_show_config,
    "new-config": cmd_new_config,
    "list-strategies": cmd_list_strategies,
    "list-exchanges": cmd_list_exchanges,
    "listen": cmd_listen,
    "demo": cmd_demo,
    "relay": cmd_relay,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(getattr(args, "verbose", 0))
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        for line in exc.problems:
            print(f"candlecast: config error: {line}", file=sys.stderr)
        return 2
    except CandlecastError as exc:
        print(f"candlecast: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
