"""``sdvlog lake register|query``: the fleet lake (:mod:`logger.lake`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from logger.cli.subcommand import Subcommand
from logger.core.errors import LakeError

if TYPE_CHECKING:
    from logger.core.config_lake import LakeConfig
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
        q.add_argument(
            "-c",
            "--config",
            type=Path,
            help="TOML configuration: its [lake] (catalog, bucket; default: [upload]'s bucket)",
        )
        q.add_argument(
            "--catalog", type=Path, help="an SQL catalog's directory (catalog.db) instead"
        )
        where = q.add_mutually_exclusive_group()
        where.add_argument("--bucket", help="the lake's bucket (credentials from the environment)")
        where.add_argument("--lake-dir", type=Path, help="a local directory in the lake layout")
        q.add_argument("--endpoint", help="S3-compatible endpoint, e.g. http://127.0.0.1:9000")
        q.add_argument("--region", help="the bucket's region (default us-east-1)")
        q.add_argument("--prefix", help="key prefix of the lake in the bucket")


def _lake_config(args: argparse.Namespace) -> LakeConfig:
    """``[lake]`` of ``-c FILE`` (its defaults without one), the options given put over it."""
    from dataclasses import replace  # noqa: PLC0415

    from logger.core.config import load_config  # noqa: PLC0415 - keep `sdvlog --help` fast
    from logger.core.config_lake import LakeConfig  # noqa: PLC0415
    from logger.core.config_parse_lake import default_lake  # noqa: PLC0415

    if args.config is not None:
        cfg = load_config(args.config)
        lake = cfg.lake or default_lake(cfg.parquet, cfg.upload)
    elif args.catalog is None:
        raise LakeError("give -c FILE (its [lake]), or --catalog DIR (an SQL catalog)")
    else:
        lake = LakeConfig(catalog_dir=args.catalog)
    if args.catalog is not None:  # an SQL catalog in that directory, whatever [lake] says
        lake = replace(
            lake,
            catalog="sql",
            catalog_dir=args.catalog,
            uri=None,
            warehouse=None,
            token_env=None,
            credential_env=None,
            glue_endpoint=None,
            glue_region=None,
        )
    if args.bucket is not None or args.lake_dir is not None:
        lake = replace(lake, bucket=args.bucket, dir=args.lake_dir)
    return replace(
        lake,
        endpoint=args.endpoint or lake.endpoint,
        region=args.region or lake.region,
        prefix=lake.prefix if args.prefix is None else args.prefix,
    )


def _lake(args: argparse.Namespace) -> int:
    from logger.lake.catalog import register  # noqa: PLC0415
    from logger.lake.catalogs import catalog_errors, open_lake_catalog  # noqa: PLC0415
    from logger.lake.source import LakeSource  # noqa: PLC0415

    lake = _lake_config(args)
    source = LakeSource.of(lake)
    if args.lake_cmd == "register":
        with catalog_errors(lake, source):
            catalog = open_lake_catalog(lake, source, create=True)
            result = register(catalog, source, keys_dir=args.keys, namespace=lake.namespace)
        for name in sorted(result.added):
            print(
                f"{name}: {result.added[name]} added, {result.present.get(name, 0)} already registered"
            )
        for key, why in sorted(result.skipped.items()):
            print(f"not registered: {key}: {why}", file=sys.stderr)
        return 0
    return _query(args, lake, source)


def _query(args: argparse.Namespace, lake: LakeConfig, source: LakeSource) -> int:
    from logger.cli.answers import WRITERS  # noqa: PLC0415
    from logger.lake.catalogs import catalog_errors, open_lake_catalog  # noqa: PLC0415
    from logger.lake.engines import make_engine  # noqa: PLC0415
    from logger.lake.query import Fleet  # noqa: PLC0415

    with catalog_errors(lake, source):
        fleet = Fleet(open_lake_catalog(lake, source), lake.namespace)
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
