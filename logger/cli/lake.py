"""``sdvlog lake register|query``: the fleet lake (:mod:`logger.lake`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from logger.cli.subcommand import Subcommand
from logger.core.errors import LakeError

if TYPE_CHECKING:
    from logger.lake.source import LakeSource


def _lake_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="lake_cmd", required=True, metavar="ACTION")
    reg = sub.add_parser("register", help="add the bucket's new files to the Iceberg catalog")
    reg.add_argument(
        "--keys",
        type=Path,
        help="directory of vehicles' keys (<VIN>.key): encrypted files are decrypted into the "
        "lake's decrypted/ prefix and registered",
    )
    ask = sub.add_parser("query", help="answer one query command for the fleet")
    ask.add_argument(
        "command", help="e.g. 'sync-0-9999999999999;where=EngineSpeed>3000;out=intervals'"
    )
    ask.add_argument("--vehicles", default="all", help="comma-separated VINs, or all (default)")
    ask.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb")
    ask.add_argument("--format", choices=("table", "csv", "jsonl", "arrow"), default="table")
    for q in (reg, ask):
        q.add_argument("--catalog", type=Path, required=True, help="catalog directory (catalog.db)")
        where = q.add_mutually_exclusive_group(required=True)
        where.add_argument("--bucket", help="the lake's bucket (credentials from the environment)")
        where.add_argument("--lake-dir", type=Path, help="a local directory in the lake layout")
        q.add_argument("--endpoint", help="S3-compatible endpoint, e.g. http://127.0.0.1:9000")
        q.add_argument("--region", default="us-east-1")
        q.add_argument("--prefix", default="", help="key prefix of the lake in the bucket")


def _source(args: argparse.Namespace) -> LakeSource:
    from logger.lake.source import LakeSource  # noqa: PLC0415

    return LakeSource(
        bucket=args.bucket,
        endpoint=args.endpoint,
        region=args.region,
        prefix=args.prefix,
        root=args.lake_dir,
    )


def _lake(args: argparse.Namespace) -> int:
    from logger.lake.catalog import open_catalog, register  # noqa: PLC0415

    source = _source(args)
    if args.lake_cmd == "register":
        result = register(
            open_catalog(args.catalog, source, create=True), source, keys_dir=args.keys
        )
        for name in sorted(result.added):
            print(
                f"{name}: {result.added[name]} added, {result.present.get(name, 0)} already registered"
            )
        for key, why in sorted(result.skipped.items()):
            print(f"not registered: {key}: {why}", file=sys.stderr)
        return 0
    return _query(args, source)


def _query(args: argparse.Namespace, source: LakeSource) -> int:
    from logger.cli.answers import WRITERS  # noqa: PLC0415
    from logger.lake.catalog import open_catalog  # noqa: PLC0415
    from logger.lake.engines import make_engine  # noqa: PLC0415
    from logger.lake.query import Fleet  # noqa: PLC0415

    fleet = Fleet(open_catalog(args.catalog, source))
    vehicles = (
        None
        if args.vehicles == "all"
        else [v.strip() for v in args.vehicles.split(",") if v.strip()]
    )
    if vehicles == []:
        raise LakeError("--vehicles: give VINs separated by commas, or all")
    engine = make_engine(args.engine, source)
    try:
        answer = fleet.answer(args.command, engine, vehicles)
    finally:
        engine.close()
    out = sys.stdout.buffer if args.format == "arrow" else sys.stdout
    WRITERS[args.format](answer, out)
    out.flush()
    return 0


SUBCOMMANDS: dict[str, Subcommand] = {
    "lake": Subcommand("the fleet lake: register uploaded files, ask the fleet", _lake_args, _lake),
}
