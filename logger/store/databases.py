"""The databases an exchange's signal tables were decoded with, kept beside its tables.

Each is a byte-for-byte copy named by its SHA-256 (the ``sdvlog.dbc_hash`` its files carry) under
``<exchange>/_databases/``: a store directory carries what it takes to answer signal questions
offline (``sdvlog query --dir`` without ``--dbc``), also after the DBC beside the service changed.
The folder starts with ``_``, so pyarrow, DuckDB, polars and Spark reading a table's folder never
see it, and the start-up scan passes it by. Written like the tables: a temporary name, fsync,
rename, fsync of the folder.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path

from logger.core.errors import StoreError, StoreWriteError
from logger.store.layout import DATABASES_DIR
from logger.store.writer import fsync_path

__all__ = ["DATABASES_DIR", "keep_database", "kept_database", "kept_databases"]

_NAME = re.compile(r"^[0-9a-f]{64}(\.[A-Za-z0-9]+)?$")


def keep_database(root: Path, sha256: str, source: Path) -> Path:
    """A copy of ``source`` (whose SHA-256 is ``sha256``) under ``root``'s databases folder, made
    unless it is there already; raises :class:`StoreWriteError` when it cannot be written."""
    folder = root / DATABASES_DIR
    target = folder / f"{sha256}{source.suffix.lower()}"
    if target.is_file():
        return target
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise StoreWriteError(f"cannot read the database {source}: {exc.strerror or exc}") from exc
    if hashlib.sha256(data).hexdigest() != sha256:
        raise StoreError(f"{source} changed while it was being kept (its SHA-256 differs)")
    temp = folder / f".{target.name}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(temp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
        fsync_path(folder, directory=True)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise StoreWriteError(
            f"cannot keep the database {source} in {folder}: {exc.strerror or exc}",
            disk_full=getattr(exc, "errno", None) == 28,
        ) from exc
    return target


def kept_databases(root: Path) -> Mapping[str, Path]:
    """The databases kept under ``root``: SHA-256 → file."""
    folder = root / DATABASES_DIR
    if not folder.is_dir():
        return {}
    return {
        p.name.partition(".")[0]: p
        for p in sorted(folder.iterdir())
        if p.is_file() and _NAME.match(p.name)
    }


def kept_database(root: Path, sha256: str | None) -> Path | None:
    """The kept database named ``sha256``; without a hash (the files' footers are encrypted), the
    only one kept, if there is exactly one."""
    kept = kept_databases(root)
    if sha256 is not None:
        return kept.get(sha256)
    return next(iter(kept.values())) if len(kept) == 1 else None
