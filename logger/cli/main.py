"""``sdvlog``: the command line. Each subcommand registers its arguments and handler below."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from logger.core.errors import Code, ConfigError, SdvLoggerError


@dataclass(frozen=True)
class Subcommand:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-c", "--config", type=Path, help="TOML configuration (default: embedded defaults)"
    )


#: Arrow's allocator for ``sdvlog run`` unless ARROW_DEFAULT_MEMORY_POOL says otherwise. Every
#: batch's Arrow and Parquet buffers come and go; glibc's malloc gives that memory back where the
#: bundled mimalloc keeps it resident (bench capture: about 15 MiB lower peak, same throughput).
RUN_ARROW_POOL = "system"


def _run(args: argparse.Namespace) -> int:
    if "pyarrow" not in sys.modules:  # Arrow reads the variable when it is first loaded
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", RUN_ARROW_POOL)
    from logger.core.config import Config, load_config  # noqa: PLC0415 - keep `sdvlog --help` fast
    from logger.service.service import Service  # noqa: PLC0415

    cfg = load_config(args.config) if args.config else Config()
    if not cfg.buses:  # only the gateway's log formats (asammdf) use pandas
        from logger.core.compat import keep_pandas_unloaded  # noqa: PLC0415

        keep_pandas_unloaded()
    Service(cfg).run_until_signal()
    return 0


def _query_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("command", help="e.g. sync-0-9999999999999;limit=10")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--url", help="query channel of a running service, e.g. tcp://127.0.0.1:10000"
    )
    where.add_argument("--dir", type=Path, help="a store directory, read offline")
    p.add_argument("--exchange", help="exchange name (default: the only or first one)")
    p.add_argument("--format", choices=("table", "csv", "jsonl", "arrow"), default="table")
    p.add_argument("--out", type=Path, help="write to this file instead of standard output")
    p.add_argument("--key-file", type=Path, help="key of an encrypted store (with --dir)")
    p.add_argument("--key-id", default=None, help="key id of an encrypted store (with --dir)")
    p.add_argument(
        "--dbc", type=Path, help="database for signal queries (msg=, sig=, where=) with --dir"
    )


def _query(args: argparse.Namespace) -> int:
    from logger.cli.query import run_query  # noqa: PLC0415

    reply = run_query(args)
    if reply.disk not in (Code.OK, Code.NONE) or reply.memory not in (Code.OK, Code.NONE):
        print(
            f"query failed ({int(reply.disk)},{int(reply.memory)}): {reply.message or ''}",
            file=sys.stderr,
        )
        return 1
    return 0


def _inspect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path)
    p.add_argument("--key-file", type=Path, help="key of an encrypted file")
    p.add_argument("--key-id", default=None, help="key id (default: the one the file names)")
    p.add_argument("--rows", type=int, default=5, help="how many first rows to show")


def _inspect(args: argparse.Namespace) -> int:
    from logger.store.crypto import parse_key  # noqa: PLC0415
    from logger.store.inspect import inspect_file  # noqa: PLC0415

    key = parse_key(_read_bytes(args.key_file), str(args.key_file)) if args.key_file else None
    print(inspect_file(args.file, key=key, key_id=args.key_id, rows=args.rows))
    return 0


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError("--key-file", f"cannot read {path}: {exc.strerror or exc}") from exc


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", type=Path, default=Path("data/demo"), help="store directory")
    p.add_argument("--seconds", type=float, default=10.0, help="how long the vehicle drives")


def _demo(args: argparse.Namespace) -> int:
    from logger.service.demo import run_demo  # noqa: PLC0415

    result = run_demo(args.dir, args.seconds)
    sim = result.simulated
    print(f"simulated vehicle: {sim.summary()}")
    print(f"stored {result.stored} of {sim.total} frames under {args.dir}/can/frames")
    table = result.reply.table()
    print(
        f"query {result.command}: {table.num_rows} rows, end codes {int(result.reply.disk)},{int(result.reply.memory)}"
    )
    for row in table.to_pylist():
        print(
            f"  ts={row['ts']}  bus={row['bus']}  id=0x{row['id']:03X}  dlc={row['dlc']}  data={row['data'].hex(' ')}"
        )
    return 0 if result.stored == sim.total and table.num_rows else 1


SUBCOMMANDS: dict[str, Subcommand] = {
    "run": Subcommand(
        "run every configured part (broker, gateway, exchanges, query channel)", _run_args, _run
    ),
    "query": Subcommand(
        "run a query command against a service or a store directory", _query_args, _query
    ),
    "inspect": Subcommand(
        "show a Parquet file's schema, metadata, row groups and first rows", _inspect_args, _inspect
    ),
    "demo": Subcommand(
        "simulated vehicle → gateway → embedded broker → exchange → Parquet → query",
        _demo_args,
        _demo,
    ),
}
#: Subcommands defined in their own modules (each exposes ``SUBCOMMAND: Subcommand``).
MODULES: dict[str, str] = {
    "gateway": "logger.cli.gateway",
    "simulate": "logger.cli.simulate",
    "import": "logger.cli.logio",
    "export": "logger.cli.logio",
    "catalog": "logger.cli.catalog",
    "signals": "logger.cli.signals",
}


def subcommands() -> dict[str, Subcommand]:
    found = dict(SUBCOMMANDS)
    for name, module in MODULES.items():
        try:
            specs = importlib.import_module(module).SUBCOMMANDS
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue  # not built yet
        found[name] = specs[name]
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sdvlog", description="CAN / SDV edge logger")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)"
    )
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for name, spec in subcommands().items():
        spec.add_arguments(sub.add_parser(name, help=spec.help, description=spec.help))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[
        min(args.verbose + (args.cmd in ("run", "demo")), 2)
    ]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return subcommands()[args.cmd].run(args)
    except SdvLoggerError as exc:
        print(f"sdvlog {args.cmd}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
