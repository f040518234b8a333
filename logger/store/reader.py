"""Reading stored files: footers cached per path, row groups pruned by time statistics.

A read opens the footer once (LRU-cached, bounded), picks the row groups whose min/max of the
time column overlap the range (numpy over the cached statistics), reads only those, then cuts
the rows exactly with ``pyarrow.compute``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from logger.core.errors import EncryptionError, StoreError, StoreReadError
from logger.store.crypto import StoreCrypto, read_error
from logger.store.layout import TIE_COLUMN
from logger.store.split import ns_per_unit, time_field, to_ns

_ARROW_SCHEMA_KEY = b"ARROW:schema"
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_READ_ERRORS = (OSError, pa.ArrowException, EncryptionError)


@dataclass
class _Footer:
    """A cached footer and, per time column, the row groups' (min, max) in the column's unit."""

    metadata: Any
    schema: pa.Schema
    ranges: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = field(
        default_factory=dict
    )


def _ranges(metadata: Any, column: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per row group min and max of ``column`` (raw values; unknown → the widest range)."""
    n = metadata.num_row_groups
    lows = np.full(n, _INT64_MIN, dtype=np.int64)
    highs = np.full(n, _INT64_MAX, dtype=np.int64)
    if n == 0:
        return lows, highs
    first = metadata.row_group(0)
    index = next(
        (j for j in range(first.num_columns) if first.column(j).path_in_schema == column), None
    )
    if index is None:
        raise StoreError(f"no column {column!r} in the file")
    for i in range(n):
        stats = metadata.row_group(i).column(index).statistics
        if stats is not None and stats.has_min_max:
            lows[i], highs[i] = int(stats.min_raw), int(stats.max_raw)
    return lows, highs


class FileReader:
    """Reads stored files, decrypting with ``crypto`` when given."""

    def __init__(self, crypto: StoreCrypto | None, cache_size: int = 4096) -> None:
        self._decryption = crypto.decryption_properties() if crypto else None
        self._cache: OrderedDict[Path, _Footer] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _open_footer(self, path: Path) -> _Footer:
        try:
            metadata = pq.read_metadata(path, decryption_properties=self._decryption)
            schema = metadata.schema.to_arrow_schema()
        except _READ_ERRORS as exc:
            raise read_error(path, exc, keyed=self._decryption is not None) from exc
        return _Footer(metadata, schema)

    def _footer(self, path: Path) -> _Footer:
        with self._lock:
            footer = self._cache.get(path)
            if footer is not None:
                self._cache.move_to_end(path)
                return footer
        footer = self._open_footer(path)
        with self._lock:
            self._cache[path] = footer
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return footer

    def forget(self, path: Path) -> None:
        """Drop the cached footer of ``path`` (after it was deleted)."""
        with self._lock:
            self._cache.pop(path, None)

    def schema(self, path: Path) -> pa.Schema:
        return self._footer(path).schema

    def key_value_metadata(self, path: Path) -> dict[bytes, bytes]:
        """The file's key-value metadata, without the serialised Arrow schema."""
        metadata = self._footer(path).metadata.metadata or {}
        return {k: v for k, v in metadata.items() if k != _ARROW_SCHEMA_KEY}

    def _plan(
        self, path: Path, time_column: str, start_ns: int, end_ns: int
    ) -> tuple[_Footer, npt.NDArray[np.intp], bool, tuple[int, int]]:
        """Footer, chosen row groups, whether they lie wholly inside, and the raw bounds."""
        footer = self._footer(path)
        factor = ns_per_unit(_time_field(footer.schema, time_column, path).type)
        low, high = -(-start_ns // factor), end_ns // factor
        with self._lock:
            ranges = footer.ranges.get(time_column)
        if ranges is None:
            try:
                ranges = _ranges(footer.metadata, time_column)
            except StoreError as exc:
                raise StoreReadError(path, str(exc)) from exc
            with self._lock:
                footer.ranges[time_column] = ranges
        lows, highs = ranges
        chosen = np.flatnonzero((lows <= high) & (highs >= low))
        inside = bool((lows[chosen] >= low).all()) and bool((highs[chosen] <= high).all())
        return footer, chosen, inside, (low, high)

    def row_groups(self, path: Path, time_column: str, start_ns: int, end_ns: int) -> list[int]:
        """Row groups whose time statistics overlap ``[start_ns, end_ns]`` (what a read reads)."""
        return [int(i) for i in self._plan(path, time_column, start_ns, end_ns)[1]]

    def read(
        self,
        path: Path,
        time_column: str,
        start_ns: int,
        end_ns: int,
        columns: Sequence[str] | None = None,
        dictionary: Sequence[str] = (),
    ) -> pa.Table:
        """Rows of ``path`` with ``time_column`` in ``[start_ns, end_ns]``, in file order; the
        ``dictionary`` columns come as Arrow dictionaries (no hashing to find distinct values)."""
        import pyarrow.compute as pc  # noqa: PLC0415 - loaded once data flows

        footer, chosen, inside, (low, high) = self._plan(path, time_column, start_ns, end_ns)
        names = footer.schema.names
        reordered = TIE_COLUMN in names
        wanted = [n for n in names if n != TIE_COLUMN] if columns is None else list(columns)
        read_columns = wanted if time_column in wanted else [*wanted, time_column]
        if reordered:
            read_columns = [*read_columns, TIE_COLUMN]
        missing = [c for c in read_columns if c not in names]
        if missing:
            raise StoreReadError(path, f"no column(s) {missing} in the file")
        if chosen.size == 0:
            return _ns_time(footer.schema.empty_table().select(wanted), time_column)
        try:
            with pq.ParquetFile(
                path,
                metadata=footer.metadata,
                decryption_properties=self._decryption,
                read_dictionary=list(dictionary) or None,
            ) as pf:
                table = pf.read_row_groups(chosen.tolist(), columns=read_columns, use_threads=False)
        except _READ_ERRORS as exc:
            raise read_error(path, exc, keyed=self._decryption is not None) from exc
        if reordered:
            order = pc.sort_indices(table, [(time_column, "ascending"), (TIE_COLUMN, "ascending")])
            table = table.take(order)
        if not inside:
            times = table[time_column]
            if pa.types.is_timestamp(times.type):
                times = times.cast(pa.int64())
            mask = pc.and_(pc.greater_equal(times, low), pc.less_equal(times, high))
            table = table.filter(mask)
        return _ns_time(table.select(wanted), time_column)


def _ns_time(table: pa.Table, time_column: str) -> pa.Table:
    """The time column as int64 nanoseconds, whatever unit it is stored in."""
    index = table.schema.get_field_index(time_column)
    if index < 0 or not pa.types.is_timestamp(table.schema.field(index).type):
        return table
    field = time_field(table.schema.field(index).with_type(pa.int64()))
    return table.set_column(index, field, to_ns(table.column(index)))


def _time_field(schema: pa.Schema, time_column: str, path: Path) -> pa.Field:
    index = schema.get_field_index(time_column)
    if index < 0:
        raise StoreReadError(path, f"no time column {time_column!r} in the file")
    return schema.field(index)
