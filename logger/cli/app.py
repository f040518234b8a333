"""``sdvlog``: the command line. Each subcommand lives in a module of its own (:data:`MODULES`)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from logger.cli.subcommand import Subcommand
from logger.core.errors import SdvLoggerError

#: Subcommand → the module that defines it (each exposes ``SUBCOMMANDS: dict[str, Subcommand]``),
#: imported only to build the parser.
MODULES: dict[str, str] = {
    "run": "logger.cli.run",
    "serve": "logger.cli.run",
    "query": "logger.cli.query",
    "inspect": "logger.cli.inspect",
    "demo": "logger.cli.demo",
    "gateway": "logger.cli.gateway",
    "simulate": "logger.cli.simulate",
    "import": "logger.cli.logio",
    "export": "logger.cli.logio",
    "catalog": "logger.cli.catalog",
    "signals": "logger.cli.signals",
    "lake": "logger.cli.lake",
    "upload": "logger.cli.upload",
}


def subcommands() -> dict[str, Subcommand]:
    found: dict[str, Subcommand] = {}
    for name, module in MODULES.items():
        found[name] = importlib.import_module(module).SUBCOMMANDS[name]
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
        min(args.verbose + (args.cmd in ("run", "serve", "demo")), 2)
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
