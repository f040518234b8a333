"""A human-readable report of one Parquet file: schema, metadata, row groups, first rows.

Used by ``sdvlog inspect FILE.parquet [--key-file K]``. Problems raise store errors with one-line
messages: :class:`StoreReadError` for a missing, truncated or non-Parquet file,
:class:`EncryptionError` when a key is needed or the key is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from logger.core.errors import EncryptionError, StoreReadError
from logger.store.crypto import decryption_properties, read_error
from logger.store.recovery import check_parquet

_MAX_VALUE = 120
_HIDDEN_KEYS = {b"ARROW:schema"}


def _short(value: object) -> str:
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = "0x" + value.hex()
    else:
        text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= _MAX_VALUE else f"{text[: _MAX_VALUE - 3]}... ({len(text)} chars)"


def _open(path: Path, key: bytes | None, key_id: str | None) -> tuple[Any, int, bool]:
    """The opened ``ParquetFile``, the file's size and whether its footer is encrypted."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise StoreReadError(path, f"cannot read: {exc.strerror or exc}") from exc
    problem, encrypted = check_parquet(path, size)
    if problem is not None:
        raise StoreReadError(path, problem)
    if encrypted and key is None:
        raise EncryptionError(f"{path}: the file is encrypted; a key is needed (--key-file)")
    props = decryption_properties(key, key_id) if key is not None else None
    try:
        return pq.ParquetFile(path, decryption_properties=props), size, encrypted
    except (OSError, pa.ArrowException, EncryptionError) as exc:
        raise read_error(path, exc, keyed=key is not None) from exc


def _row_group_lines(metadata: Any) -> list[str]:
    lines = []
    for i in range(metadata.num_row_groups):
        group = metadata.row_group(i)
        compressed = sum(group.column(j).total_compressed_size for j in range(group.num_columns))
        lines.append(
            f"  row group {i}: {group.num_rows} rows, {group.total_byte_size} bytes "
            f"({compressed} compressed)"
        )
        for j in range(group.num_columns):
            column = group.column(j)
            stats = column.statistics
            if stats is not None and stats.has_min_max:
                summary = f"min={_short(stats.min)} max={_short(stats.max)}"
            else:
                summary = "no min/max"
            nulls = stats.null_count if stats is not None and stats.has_null_count else "?"
            lines.append(
                f"    {column.path_in_schema}: {summary} nulls={nulls} "
                f"{column.compression.lower()} {column.total_compressed_size} bytes"
            )
    return lines


def inspect_file(
    path: Path, key: bytes | None = None, key_id: str | None = None, rows: int = 5
) -> str:
    """The report of ``path``, decrypted with ``key`` (any key id unless ``key_id`` is given)."""
    path = Path(path)
    pf, size, encrypted = _open(path, key, key_id)
    with pf:
        metadata = pf.metadata
        schema = pf.schema_arrow
        lines = [
            f"file: {path} ({size} bytes)",
            f"encryption: {'encrypted footer and columns' if encrypted else 'none'}",
            f"created by: {metadata.created_by}",
            f"rows: {metadata.num_rows}, row groups: {metadata.num_row_groups}, "
            f"columns: {metadata.num_columns}",
            "schema:",
            *(f"  {f.name}: {f.type}{'' if f.nullable else ' not null'}" for f in schema),
            "metadata:",
        ]
        kv = {k: v for k, v in (metadata.metadata or {}).items() if k not in _HIDDEN_KEYS}
        lines += [f"  {_short(k)} = {_short(v)}" for k, v in sorted(kv.items())] or ["  (none)"]
        lines += ["row groups:", *_row_group_lines(metadata)]
        try:
            first = next(pf.iter_batches(batch_size=max(rows, 1)), None) if rows > 0 else None
        except (OSError, pa.ArrowException) as exc:
            raise read_error(path, exc, keyed=key is not None) from exc
    lines.append(f"first {rows} rows:" if rows > 0 else "first rows: (not shown)")
    if first is not None:
        for row in first.slice(0, rows).to_pylist():
            lines.append("  " + ", ".join(f"{k}={_short(v)}" for k, v in row.items()))
    elif rows > 0:
        lines.append("  (no rows)")
    return "\n".join(lines) + "\n"
