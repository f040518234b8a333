"""Writing one batch of tables durably: temporary name, fsync, rename, fsync the directory.

A batch is all or nothing: when any file fails, every temporary and every file of the batch
already renamed into place is removed again, so the batch can simply be retried.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from logger.core.config import ParquetConfig
from logger.core.errors import StoreError, StoreWriteError
from logger.store.chunk import TableChunk, WriteHints, in_time_order
from logger.store.crypto import StoreCrypto
from logger.store.layout import (
    TIE_COLUMN,
    TIE_DOC,
    StoredFile,
    check_table_name,
    format_name,
    partition_dir,
    temp_name,
)
from logger.store.split import split_by_hour, time_field, to_timestamp

log = logging.getLogger(__name__)

_COMPRESSION = {"uncompressed": "none"}
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
EXCHANGE_KEY = "sdvlog.exchange"
TABLE_KEY = "sdvlog.table"
TIME_COLUMN_KEY = "sdvlog.time_column"
#: Parquet encodings a :class:`WriteHints` may ask for, and the column types each accepts.
_ENCODINGS: dict[str, Callable[[pa.DataType], bool]] = {
    "PLAIN": lambda t: True,
    "RLE": pa.types.is_boolean,
    "DELTA_BINARY_PACKED": lambda t: pa.types.is_integer(t) or pa.types.is_timestamp(t),
    "DELTA_LENGTH_BYTE_ARRAY": lambda t: pa.types.is_binary(t) or pa.types.is_string(t),
    "DELTA_BYTE_ARRAY": lambda t: (
        pa.types.is_binary(t) or pa.types.is_string(t) or pa.types.is_fixed_size_binary(t)
    ),
    "BYTE_STREAM_SPLIT": lambda t: (
        pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_fixed_size_binary(t)
    ),
}


def fsync_path(path: Path, directory: bool = False) -> None:
    """fsync a file or directory by path."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class _Batch:
    """What one batch has put on disk so far, to be undone on failure."""

    temps: list[Path] = field(default_factory=list)
    done: list[StoredFile] = field(default_factory=list)
    new_dirs: list[Path] = field(default_factory=list)
    dirs: set[Path] = field(default_factory=set)


class FileWriter:
    """Writes batches of one exchange under ``root`` (``<dir>/<exchange>``)."""

    def __init__(
        self,
        root: Path,
        exchange: str,
        *,
        cfg: ParquetConfig,
        base_metadata: Mapping[str, str],
        crypto: StoreCrypto | None,
        dir_lock: threading.Lock,
    ) -> None:
        self._root = root
        self._cfg = cfg
        self._crypto = crypto
        self._dir_lock = dir_lock
        self._compression = _COMPRESSION.get(cfg.compress, cfg.compress)
        self._base = text_metadata({**base_metadata, EXCHANGE_KEY: exchange})
        self._seq_lock = threading.Lock()
        self._next_seq = 0

    def start_seq(self, seq: int) -> None:
        """Continue numbering at ``seq`` (never goes backwards)."""
        with self._seq_lock:
            self._next_seq = max(self._next_seq, seq)

    def _take_seq(self) -> int:
        with self._seq_lock:
            seq = self._next_seq
            self._next_seq += 1
            return seq

    def write(
        self, chunks: Sequence[TableChunk], extra_metadata: Mapping[str, bytes]
    ) -> list[StoredFile]:
        """Write every chunk, split by UTC hour; durable on return. Empty chunks write nothing.

        ``extra_metadata`` goes only into the batch's first file (the first chunk's first hour).
        """
        for chunk in chunks:
            check_table_name(chunk.name)
        batch = _Batch()
        extra = text_metadata(extra_metadata)
        try:
            for chunk in chunks:
                for piece in split_by_hour(chunk.table, chunk.time_column):
                    table, options = self._layout(piece.table, chunk.time_column, chunk.hints)
                    meta = self._metadata(chunk, table)
                    self._write_file(
                        batch,
                        chunk.name,
                        meta,
                        piece.first_ns,
                        piece.last_ns,
                        options,
                        extra if not batch.done else {},
                    )
            for directory in sorted(batch.dirs):
                fsync_path(directory, directory=True)
        except OSError as exc:
            self._undo(batch)
            disk_full = exc.errno in _DISK_FULL
            what = "disk full" if disk_full else (exc.strerror or str(exc))
            raise StoreWriteError(
                f"cannot store a batch under {self._root}: {what}", disk_full=disk_full
            ) from exc
        except pa.ArrowException as exc:
            self._undo(batch)
            raise StoreError(f"cannot encode a batch for {self._root}: {exc}") from exc
        except BaseException:
            self._undo(batch)
            raise
        return batch.done

    def _metadata(self, chunk: TableChunk, table: pa.Table) -> pa.Table:
        """The file's key-value metadata, and field metadata true to the stored types."""
        index = table.schema.get_field_index(chunk.time_column)
        table = table.set_column(index, time_field(table.field(index)), table.column(index))
        tie = table.schema.get_field_index(TIE_COLUMN)
        if tie >= 0:
            field = table.field(tie).with_metadata({"doc": TIE_DOC})
            table = table.set_column(tie, field, table.column(tie))
        meta = text_metadata(table.schema.metadata or {})
        meta.update(self._base)
        meta.update(text_metadata({TABLE_KEY: chunk.name, TIME_COLUMN_KEY: chunk.time_column}))
        return table.replace_schema_metadata(meta)

    def _layout(
        self, table: pa.Table, time_column: str, hints: WriteHints | None
    ) -> tuple[pa.Table, dict[str, Any]]:
        """Apply a chunk's :class:`WriteHints`: the rows in their on-disk order, writer options."""
        if hints is None:
            return table, {}
        _check_hints(table.schema, hints)
        options: dict[str, Any] = {}
        encoding = dict(hints.column_encoding)
        if hints.sort_by:
            # Readers restore time order; _tie keeps the order of rows with equal times.
            table = in_time_order(table, time_column)
            table = table.append_column(TIE_COLUMN, tie_ranks(table.column(time_column)))
            table = sort_row_groups(table, hints.sort_by, self._cfg.row_group_rows)
        if hints.time_unit is not None:
            index = table.schema.get_field_index(time_column)
            stored = to_timestamp(table.column(index), hints.time_unit)
            table = table.set_column(
                index, table.schema.field(index).with_type(stored.type), stored
            )
        if encoding:
            options["column_encoding"] = encoding
        use_dictionary = hints.use_dictionary
        if use_dictionary is True and encoding:
            use_dictionary = tuple(table.column_names)
        if isinstance(use_dictionary, tuple):
            chosen = [name for name in use_dictionary if name not in encoding]
            options["use_dictionary"] = chosen or False
        else:
            options["use_dictionary"] = use_dictionary
        if hints.compression_level is not None and self._compression == "zstd":
            options["compression_level"] = hints.compression_level
        return table, options

    def _write_file(
        self,
        batch: _Batch,
        table_name: str,
        table: pa.Table,
        first: int,
        last: int,
        options: Mapping[str, Any],
        extra: Mapping[bytes, bytes],
    ) -> None:
        seq = self._take_seq()
        directory = partition_dir(self._root, table_name, first)
        name = format_name(first, last, seq)
        tmp = directory / temp_name(name)
        with self._dir_lock:
            batch.new_dirs.extend(_make_dirs(directory))
            batch.temps.append(tmp)
            tmp.touch(exist_ok=False)
        encryption = self._crypto.encryption_properties() if self._crypto else None
        with pq.ParquetWriter(
            tmp,
            table.schema,
            compression=self._compression,
            write_statistics=True,
            encryption_properties=encryption,
            **options,
        ) as writer:
            writer.write_table(table, row_group_size=self._cfg.row_group_rows)
            if extra:  # footer key-value only: not repeated inside the serialised Arrow schema
                writer.add_key_value_metadata({k.decode(): v for k, v in extra.items()})
        fsync_path(tmp)
        size = tmp.stat().st_size
        final = directory / name
        os.rename(tmp, final)
        batch.temps.remove(tmp)
        batch.done.append(StoredFile(first, last, seq, table_name, final, size))
        batch.dirs.add(directory)

    def _undo(self, batch: _Batch) -> None:
        paths = batch.temps + [f.path for f in batch.done]
        for path in paths:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                log.error("cannot remove %s of a failed batch: %s", path, exc.strerror or exc)
        with self._dir_lock:
            for directory in reversed(batch.new_dirs):
                try:
                    directory.rmdir()
                except OSError:
                    continue
        for directory in {p.parent for p in paths if p.parent.exists()}:
            try:
                fsync_path(directory, directory=True)
            except OSError as exc:
                log.warning("cannot fsync %s: %s", directory, exc.strerror or exc)
        if paths:
            log.info("removed %d file(s) of a failed batch under %s", len(paths), self._root)


def text_metadata(items: Mapping[str, str | bytes] | Mapping[bytes, bytes]) -> dict[bytes, bytes]:
    """Key-value metadata as UTF-8 bytes. Parquet key-value metadata is text, and some readers
    (polars) refuse a file whose is not: bytes that are not UTF-8 are refused; a ``str`` that
    cannot be UTF-8 (a file name of undecodable bytes) keeps those as ``\\xNN`` escapes."""
    out: dict[bytes, bytes] = {}
    for key, value in items.items():
        name = key if isinstance(key, bytes) else key.encode("utf-8", "backslashreplace")
        raw = value if isinstance(value, bytes) else value.encode("utf-8", "backslashreplace")
        try:
            name.decode("utf-8")
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StoreError(f"metadata {key!r} is not UTF-8 text: {exc}") from exc
        out[name] = raw
    return out


def _check_hints(schema: pa.Schema, hints: WriteHints) -> None:
    """A hint naming a missing column or an encoding that does not fit is a plugin bug: say so."""
    dictionary = hints.use_dictionary if isinstance(hints.use_dictionary, tuple) else ()
    for name in (*hints.sort_by, *hints.column_encoding, *dictionary):
        if schema.get_field_index(name) < 0:
            raise StoreError(f"write hints name column {name!r}, not in {schema.names}")
    for name, encoding in hints.column_encoding.items():
        fits = _ENCODINGS.get(encoding)
        type_ = schema.field(name).type
        if fits is None or not fits(type_):
            raise StoreError(
                f"write hints: encoding {encoding!r} does not fit column {name!r} ({type_})"
            )


def tie_ranks(times: pa.ChunkedArray) -> pa.Array:
    """For times in order: each row's rank among the rows with the same time (0 for most)."""
    t = times.to_numpy()
    index = np.arange(t.size, dtype=np.int64)
    starts = np.ones(t.size, dtype=bool)
    starts[1:] = t[1:] != t[:-1]
    first = np.maximum.accumulate(np.where(starts, index, 0))
    return pa.array((index - first).astype(np.int32))


def sort_row_groups(table: pa.Table, keys: Sequence[str], rows: int) -> pa.Table:
    """Sort the rows of each ``rows``-row group of ``table`` by ``keys``; groups keep their order."""
    import pyarrow.compute as pc  # noqa: PLC0415 - loaded once data flows

    n = table.num_rows
    if n < 2:
        return table
    columns = [table.column(key) for key in keys]
    names = [f"k{i}" for i in range(len(keys))]
    if n > rows:
        columns.insert(0, pa.array(np.arange(n, dtype=np.int64) // rows))
        names.insert(0, "group")
    order = pc.sort_indices(
        pa.Table.from_arrays(columns, names=names), [(name, "ascending") for name in names]
    )
    return table.take(order)


def _make_dirs(directory: Path) -> list[Path]:
    """Create ``directory`` and missing parents, fsyncing each parent; returns those created."""
    missing: list[Path] = []
    current = directory
    while not current.is_dir():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        fsync_path(path.parent, directory=True)
    return list(reversed(missing))
