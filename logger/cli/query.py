"""``sdvlog query COMMAND (--url URL | --dir DIR)``: one query command against a running service or
a store directory, written as a table, CSV, JSON lines or Arrow."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from logger.cli.subcommand import Subcommand
from logger.core.errors import Code


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
        "--dbc",
        type=Path,
        help="database for signal queries (msg=, sig=, where=) with --dir (default: the one the "
        "store kept for its files)",
    )


def _query(args: argparse.Namespace) -> int:
    from logger.cli.answers import run_query  # noqa: PLC0415 - loads Arrow and the channel client

    reply = run_query(args)
    if reply.disk not in (Code.OK, Code.NONE) or reply.memory not in (Code.OK, Code.NONE):
        print(
            f"query failed ({int(reply.disk)},{int(reply.memory)}): {reply.message or ''}",
            file=sys.stderr,
        )
        return 1
    return 0


SUBCOMMANDS: dict[str, Subcommand] = {
    "query": Subcommand(
        "run a query command against a service or a store directory", _query_args, _query
    ),
}
