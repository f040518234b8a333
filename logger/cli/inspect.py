"""``sdvlog inspect FILE``: a Parquet file's schema, metadata, row groups and first rows."""

from __future__ import annotations

import argparse
from pathlib import Path

from logger.cli.subcommand import Subcommand
from logger.core.errors import ConfigError


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


SUBCOMMANDS: dict[str, Subcommand] = {
    "inspect": Subcommand(
        "show a Parquet file's schema, metadata, row groups and first rows", _inspect_args, _inspect
    ),
}
