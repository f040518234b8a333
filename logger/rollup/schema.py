"""What goes in and out: the signal columns of a message table, the partials tables' schemas.

Every partials table carries its window size in the schema metadata (``sdvlog.window_ns``), so
that :func:`logger.rollup.merging.merge` refuses to mix sizes and
:func:`logger.rollup.merging.coarsen` checks that the new size is a multiple of the old.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = [
    "CONDITION_FIELDS",
    "NON_SIGNAL_COLUMNS",
    "PARTIAL_FIELDS",
    "WINDOW_KEY",
    "condition_schema",
    "empty_conditions",
    "empty_partials",
    "is_numeric",
    "ns_time",
    "partials_schema",
    "signal_columns",
    "window_of",
]

WINDOW_KEY = b"sdvlog.window_ns"

NON_SIGNAL_COLUMNS = frozenset({"ts", "bus", "topic", "source_address", "source", "updated"})
"""Columns of the CANP signal tables and of SPI's ``spi`` table that are not signals."""

PARTIAL_FIELDS = (
    pa.field("window", pa.int64(), nullable=False),
    pa.field("signal", pa.string(), nullable=False),
    pa.field("count", pa.int64(), nullable=False),
    pa.field("min", pa.float64()),
    pa.field("max", pa.float64()),
    pa.field("first", pa.float64()),
    pa.field("last", pa.float64()),
    pa.field("mean", pa.float64()),
    pa.field("twa", pa.float64()),
    pa.field("ts_min", pa.int64()),
    pa.field("ts_max", pa.int64()),
    pa.field("coverage_ns", pa.int64(), nullable=False),
)

CONDITION_FIELDS = (
    pa.field("window", pa.int64(), nullable=False),
    pa.field("condition", pa.string(), nullable=False),
    pa.field("condition_ns", pa.int64(), nullable=False),
)


def _with_window(fields: tuple[pa.Field, ...], window_ns: int) -> pa.Schema:
    if window_ns <= 0:
        raise ValueError(f"window_ns must be positive, got {window_ns}")
    return pa.schema(list(fields), metadata={WINDOW_KEY: str(window_ns).encode()})


def partials_schema(window_ns: int) -> pa.Schema:
    """The schema of signal partials of windows of ``window_ns``."""
    return _with_window(PARTIAL_FIELDS, window_ns)


def condition_schema(window_ns: int) -> pa.Schema:
    """The schema of condition partials of windows of ``window_ns``."""
    return _with_window(CONDITION_FIELDS, window_ns)


def empty_partials(window_ns: int) -> pa.Table:
    return partials_schema(window_ns).empty_table()


def empty_conditions(window_ns: int) -> pa.Table:
    return condition_schema(window_ns).empty_table()


def window_of(table: pa.Table) -> int:
    """The window size a partials table was computed for (its schema metadata)."""
    meta = table.schema.metadata or {}
    if WINDOW_KEY not in meta:
        raise ValueError("not a partials table: its schema has no sdvlog.window_ns")
    return int(meta[WINDOW_KEY])


def is_numeric(type_: pa.DataType) -> bool:
    """Whether a column of this type is rolled up: integers, floats and booleans."""
    return bool(
        pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_boolean(type_)
    )


def signal_columns(schema: pa.Schema, message: str | None = None) -> dict[str, str]:
    """The rolled-up columns of a message table → their signal names.

    Every numeric or boolean column that is not one of :data:`NON_SIGNAL_COLUMNS`, named
    ``Message.Signal`` for a CANP signal table (``message`` given) or as it is (SPI's columns
    already are ``Message.Signal``).
    """
    return {
        f.name: f.name if message is None else f"{message}.{f.name}"
        for f in schema
        if f.name not in NON_SIGNAL_COLUMNS and is_numeric(f.type)
    }


def ns_time(table: pa.Table) -> pa.Table:
    """``table`` with its ``ts`` column as int64 nanoseconds (a timestamp column, as files store
    it, converted; an integer column is taken as nanoseconds already)."""
    ts = table.column("ts")
    if pa.types.is_int64(ts.type):
        return table
    if pa.types.is_timestamp(ts.type):
        ts = ts.cast(pa.timestamp("ns", ts.type.tz))
    return table.set_column(table.column_names.index("ts"), "ts", ts.cast(pa.int64()))
