"""What a stream plugin hands the store: one encoded table of a batch, with the hints for laying
it out in Parquet."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa

from logger.core.config import TIME_UNITS

__all__ = ["TableChunk", "WriteHints", "in_time_order"]


@dataclass(frozen=True)
class WriteHints:
    """How the store lays a table out in Parquet (a plugin's tuning); the rows stored are the same.

    - ``sort_by``: the rows of each row group are sorted by these columns (ascending), so similar
      rows sit together for the compressor. Row groups keep the table's order, so a table given in
      time order keeps a narrow time range per row group and reads still prune by statistics.
      The store adds a ``_tie`` column (rank among rows of equal time) and its reads restore
      the original order (outside readers: ``ORDER BY ts, _tie``).
    - ``column_encoding``: Parquet encoding per column (``{"ts": "DELTA_BINARY_PACKED"}``); such a
      column is never dictionary-encoded.
    - ``use_dictionary``: the columns to dictionary-encode, or True for all (except those in
      ``column_encoding``), False for none.
    - ``compression_level``: the zstd level when the store compresses with zstd (the default
      codec); other codecs keep their default level. None: zstd's default.
    - ``time_unit``: store the time column as a Parquet timestamp (UTC) in this unit (``"ns"``,
      ``"us"``, ``"ms"``) instead of int64 nanoseconds: fewer bits per delta. Every time must be a
      whole unit (the plugin rounds); reads give int64 nanoseconds back. None: int64 ns as given.
    """

    sort_by: tuple[str, ...] = ()
    column_encoding: Mapping[str, str] = field(default_factory=dict)
    use_dictionary: tuple[str, ...] | bool = True
    compression_level: int | None = None
    time_unit: str | None = None

    def __post_init__(self) -> None:
        if self.time_unit is not None and self.time_unit not in TIME_UNITS:
            raise ValueError(f"time_unit must be one of {TIME_UNITS}, not {self.time_unit!r}")


@dataclass(frozen=True)
class TableChunk:
    """One encoded table of a batch: stored under ``<exchange>/<name>/...``, time in ``time_column``.

    ``hints`` (optional) tell the store how to lay the table out on disk; see :class:`WriteHints`.
    """

    name: str
    table: pa.Table
    time_column: str
    hints: WriteHints | None = None


def in_time_order(table: pa.Table, column: str) -> pa.Table:
    """``table`` stably sorted by ``column`` (returned as is when already in order)."""
    import pyarrow.compute as pc  # noqa: PLC0415 - loaded once data flows

    if table.num_rows < 2:
        return table
    times = table.column(column)
    if pc.all(pc.greater_equal(times.slice(1), times.slice(0, table.num_rows - 1))).as_py():
        return table
    return table.take(pc.sort_indices(times))
