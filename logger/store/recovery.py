"""The start-up scan of an exchange directory: remove leftover temporaries, find valid files.

A file is indexed when its path follows the layout and its bytes look like a whole Parquet file
(magic at both ends, a footer length that fits). Everything else is skipped with a warning and
reported with the reason; only our own temporaries (``.<name>.tmp``) are deleted.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from logger.store.layout import DATABASES_DIR, StoredFile, parse_name, parse_path, parse_temp_name

log = logging.getLogger(__name__)

_MAGICS = (b"PAR1", b"PARE")
_TAIL = 8  # footer length (u32 little-endian) + magic


@dataclass(frozen=True)
class SkippedFile:
    path: Path
    reason: str


@dataclass(frozen=True)
class RecoveryReport:
    """What the start-up scan found: indexed files, removed temporaries, skipped files."""

    files: tuple[StoredFile, ...]
    removed_temporaries: tuple[Path, ...]
    skipped: tuple[SkippedFile, ...]
    next_seq: int
    encrypted: int

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def check_parquet(path: Path, size: int) -> tuple[str | None, bool]:
    """``(problem or None, encrypted footer?)`` from the file's first and last bytes."""
    if size < len(_MAGICS[0]) + _TAIL:
        return f"truncated: only {size} bytes", False
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
            fh.seek(size - _TAIL)
            tail = fh.read(_TAIL)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}", False
    (footer_len,) = struct.unpack("<I", tail[:4])
    if head not in _MAGICS or tail[4:] != head:
        return "truncated or not Parquet: bad magic bytes", False
    if not 0 < footer_len <= size - len(head) - _TAIL:
        return f"truncated or corrupt: footer length {footer_len} does not fit {size} bytes", False
    return None, head == b"PARE"


def scan(root: Path, read_only: bool = False) -> RecoveryReport:
    """Scan ``root`` (``<dir>/<exchange>``), creating it when missing.

    ``read_only`` (offline queries): create nothing, remove nothing; temporaries are just skipped.
    """
    if not read_only:
        root.mkdir(parents=True, exist_ok=True)
    files: list[StoredFile] = []
    removed: list[Path] = []
    skipped: list[SkippedFile] = []
    max_seq = -1
    encrypted = 0

    def walk_error(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else root
        skipped.append(SkippedFile(where, f"unreadable directory: {exc.strerror or exc}"))

    for dirpath, dirs, names in os.walk(root, onerror=walk_error):
        directory = Path(dirpath)
        if directory == root and DATABASES_DIR in dirs:
            dirs.remove(DATABASES_DIR)  # the kept databases (logger/store/databases.py)
        for name in names:
            path = directory / name
            final = parse_temp_name(name)
            if final is not None:
                parsed = parse_name(final)
                if parsed is not None:
                    max_seq = max(max_seq, parsed.seq)
                    if not read_only:
                        _remove_temporary(path, removed, skipped)
                    continue
            parsed = parse_name(name)
            if parsed is not None:
                max_seq = max(max_seq, parsed.seq)
            try:
                size = path.stat().st_size
            except OSError as exc:
                skipped.append(SkippedFile(path, f"unreadable: {exc.strerror or exc}"))
                continue
            found = parse_path(root, path, size)
            if isinstance(found, str):
                skipped.append(SkippedFile(path, f"foreign: {found}"))
                continue
            problem, is_encrypted = check_parquet(path, size)
            if problem is not None:
                skipped.append(SkippedFile(path, problem))
                continue
            encrypted += is_encrypted
            files.append(found)
    for item in skipped:
        log.warning("store: skipping %s: %s", item.path, item.reason)
    if removed:
        log.info("store: removed %d leftover temporary file(s) under %s", len(removed), root)
    files.sort(key=lambda f: f.key)
    return RecoveryReport(tuple(files), tuple(removed), tuple(skipped), max_seq + 1, encrypted)


def _remove_temporary(path: Path, removed: list[Path], skipped: list[SkippedFile]) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    except OSError as exc:
        skipped.append(
            SkippedFile(path, f"leftover temporary, cannot remove: {exc.strerror or exc}")
        )
        return
    removed.append(path)


def stored_exchanges(directory: Path) -> dict[str, str]:
    """Exchanges under a store directory → their plugin name (from a file's metadata)."""
    found: dict[str, str] = {}
    if not directory.is_dir():
        return found
    for child in sorted(directory.iterdir()):
        if not child.is_dir():
            continue
        meta = exchange_metadata(child)
        if "sdvlog.plugin" in meta:
            found[child.name] = meta["sdvlog.plugin"]
        elif any(child.rglob("*.parquet")):
            found[child.name] = "raw"
    return found


def exchange_metadata(root: Path) -> dict[str, str]:
    """The ``sdvlog.*`` metadata of the first readable file under an exchange's directory
    (empty when there is none, or every footer is encrypted)."""
    for path in root.rglob("*.parquet") if root.is_dir() else ():
        if parse_name(path.name) is None:
            continue
        try:
            meta = pq.read_schema(path).metadata or {}
        except (OSError, pa.ArrowException):
            continue  # unreadable or encrypted footer: try another file
        if b"sdvlog.plugin" in meta:
            return {
                k.decode(): v.decode("utf-8", "replace")
                for k, v in meta.items()
                if k.startswith(b"sdvlog.")
            }
    return {}


TIME_UNIT_KEY = "sdvlog.time_unit"


def held_time_unit(metadata: dict[str, str]) -> str | None:
    """The time unit an exchange's files hold, from :func:`exchange_metadata` (files written
    before the key existed hold int64 ns); None when there is no readable file."""
    return metadata.get(TIME_UNIT_KEY, "ns") if metadata else None
