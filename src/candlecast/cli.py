"""The ``candlecast`` command: parse arguments, load the config, call the runtime.

User mistakes (config, strategy, port) end with one line on stderr and exit code 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from candlecast import __version__
from candlecast.exceptions import CandlecastError, ConfigError

logger = logging.getLogger("candlecast")

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def setup_logging(verbosity: int) -> None:
    level = logging.DEBUG if verbosity >= 2 else logging.INFO
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr, force=True)
    from candlecast.util.logfold import RepeatFolder

    folder = RepeatFolder()  # repeated identical warnings: one line a minute with a count
    for handler in logging.getLogger().handlers:
        handler.addFilter(folder)
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

    show = sub.add_parser("show-config", help="print the values the bot runs with (secrets masked)")
    _add_config_args(show)
    show.add_argument(
        "--sources", action="store_true", help="one line per key with where its value came from"
    )

    new = sub.add_parser(
        "new-config", help="write a working config: a producer, a consumer or a standalone bot"
    )
    new.add_argument("path", nargs="?", default="config.json")
    new.add_argument("--force", action="store_true", help="overwrite an existing file")
    role = new.add_mutually_exclusive_group()
    role.add_argument("--producer", action="store_true", help="a producer serving its candles")
    role.add_argument(
        "--consumer", metavar="URL", help="a consumer following the producer at ws://HOST:PORT"
    )
    new.add_argument("--token", help="the producer's ws_token (--consumer)")
    new.add_argument(
        "--token-from", metavar="FILE", help="take the ws_token from the producer's config file"
    )
    new.add_argument("--port", type=int, help="this bot's API port (8080 producer, 8081 consumer)")
    new.add_argument("--name", help="bot_name (default: the file name without .json)")
    new.add_argument("--timeframe", default="1s", help="candle timeframe (default 1s)")
    new.add_argument(
        "--userdir", default="user_data", help="the user directory (default user_data)"
    )

    mk = sub.add_parser(
        "create-userdir", help="create user_data/ with sample strategies (producer, consumer)"
    )
    mk.add_argument("--userdir", default="user_data", help="directory (default user_data)")
    mk.add_argument("--force", action="store_true", help="overwrite the sample strategies")

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
    demo.add_argument(
        "--until-trades",
        type=int,
        default=0,
        help="after --duration, keep running until the consumers have opened this many trades",
    )
    demo.add_argument(
        "--max-duration",
        type=float,
        default=None,
        help="with --until-trades: stop at this many seconds whatever (default 4 x --duration)",
    )
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
    from candlecast.showconfig import show_config
    from candlecast.strategy.loader import load_strategy

    config = _load(args)
    strategy = None
    if config.strategy:
        try:
            strategy = load_strategy(
                config.strategy,
                config.strategy_path or "user_data/strategies",
                config.model_dump(mode="json"),
            )
        except CandlecastError as exc:
            print(
                f"candlecast: strategy not loaded, its values are not shown: {exc}",
                file=sys.stderr,
            )
    sys.stdout.write(show_config(args.config, _overrides(args), config, strategy, args.sources))
    return 0


def cmd_create_userdir(args: argparse.Namespace) -> int:
    from candlecast.userdir import create_userdir

    directory = Path(args.userdir)
    written = create_userdir(directory, force=args.force)
    print(f"{directory}/ is ready: strategies/, data/, logs/")
    for path in written:
        print(f"  wrote {path}")
    print("Next: candlecast new-config producer.json --producer")
    return 0


def _ask(prompt: str, default: str = "") -> str:
    shown = f"{prompt} [{default}]: " if default else f"{prompt}: "
    answer = input(shown).strip()
    return answer or default


def _interactive_role(args: argparse.Namespace) -> None:
    """On a terminal with no role flag: ask for the role (and the producer to follow)."""
    role = _ask(
        "Make a producer, a consumer or a standalone bot? (producer/consumer/standalone)",
        "producer",
    )
    if role.startswith("p"):
        args.producer = True
    elif role.startswith("c"):
        args.consumer = _ask("Producer address", f"ws://127.0.0.1:{8080}")
    elif not role.startswith("s"):
        raise ConfigError(f"expected producer, consumer or standalone, got {role!r}")


def cmd_new_config(args: argparse.Namespace) -> int:
    from candlecast import userdir as ud

    path = Path(args.path)
    if path.exists() and not args.force:
        raise ConfigError(f"{path} already exists; pass --force to overwrite it")
    if not args.producer and not args.consumer and sys.stdin.isatty():
        _interactive_role(args)
    name = args.name or path.stem
    if args.producer:
        port = ud.DEFAULT_PRODUCER_PORT if args.port is None else args.port
        text = ud.producer_config_text(name, port, args.timeframe, args.userdir)
        role = f"a producer on 127.0.0.1:{port}"
        follow = (
            f"A consumer follows it with: candlecast new-config consumer.json "
            f"--consumer ws://127.0.0.1:{port} --token-from {path}"
        )
    elif args.consumer:
        producer = ud.parse_producer_url(args.consumer)
        token = args.token
        if not token and args.token_from:
            token = ud.token_from_config(Path(args.token_from))
        if not token and sys.stdin.isatty():
            token = _ask("The producer's ws_token")
        if not token:
            raise ConfigError(
                "--consumer needs the producer's token: --token T or --token-from FILE"
            )
        port = ud.DEFAULT_CONSUMER_PORT if args.port is None else args.port
        text = ud.consumer_config_text(name, port, args.timeframe, args.userdir, producer, token)
        role = f"a consumer of {producer.host}:{producer.port}, its API on 127.0.0.1:{port}"
    else:
        text = ud.standalone_config_text()
        role = "a standalone bot"
    path.write_text(text, encoding="utf-8")
    print(f"Wrote {path}: {role}.")
    if args.producer:
        print(follow)
    if not Path(args.userdir, "strategies").is_dir():
        print("Create the strategies it names with: candlecast create-userdir")
    print(f"Run it with: candlecast trade -c {path}")
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
    "create-userdir": cmd_create_userdir,
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
