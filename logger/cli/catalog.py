"""``sdvlog catalog``: generate the SPI signal catalog from a DBC, keeping ids stable."""

from __future__ import annotations

import argparse
from pathlib import Path

from logger.cli.subcommand import Subcommand


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dbc", type=Path, required=True, help="the CAN database (DBC, KCD, ARXML, SYM)"
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="catalog TOML to write")
    p.add_argument(
        "--previous",
        type=Path,
        help="the catalog whose ids to keep (default: the output file, if it exists)",
    )


def _run(args: argparse.Namespace) -> int:
    from spi.catalog import catalog_from_dbc, read_catalog, write_catalog  # noqa: PLC0415

    previous_path: Path | None = args.previous
    if previous_path is None and args.output.exists():
        previous_path = args.output
    previous = read_catalog(previous_path, "--previous") if previous_path else None
    catalog, changes = catalog_from_dbc(args.dbc, previous, "--dbc")
    write_catalog(catalog, args.output)
    print(
        f"{args.output}: {len(catalog)} signals from {args.dbc.name}, "
        f"{len(catalog.retired)} retired ids"
        + (f" (ids kept from {previous_path})" if previous_path else "")
    )
    for label, names in (
        ("added", changes.added),
        ("removed (id retired)", changes.removed),
        ("came back (retired id reclaimed)", changes.reclaimed),
        ("type changed (same id)", changes.retyped),
    ):
        if names:
            print(f"  {label}: {len(names)}: {', '.join(names)}")
    return 0


SUBCOMMANDS: dict[str, Subcommand] = {
    "catalog": Subcommand(
        "generate the SPI signal catalog (ids, types) from a DBC, keeping ids stable",
        _args,
        _run,
    )
}
