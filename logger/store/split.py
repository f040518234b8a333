"""Time columns as nanoseconds, what their field metadata says, and cutting a table at UTC hour
boundaries (vectorised)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from logger.core.errors import StoreError
from logger.store.layout import HOUR_NS

UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_INT64_MAX = (1 << 63) - 1


def ns_per_unit(type_: pa.DataType) -> int:
    """Nanoseconds per stored unit of a time column: integers are ns, timestamps per their unit."""
    if pa.types.is_timestamp(type_):
        return UNIT_NS[type_.unit]
    if pa.types.is_integer(type_):
        return 1
    raise StoreError(f"a time column must be an integer (ns) or timestamp, not {type_}")


def time_unit_text(type_: pa.DataType) -> str:
    """What the ``unit`` field metadata of a time column of this type says: an integer column
    holds nanoseconds, a timestamp column its own unit (``ns``, ``us``, ``ms`` or ``s``)."""
    ns_per_unit(type_)
    unit = type_.unit if pa.types.is_timestamp(type_) else "ns"
    return f"{unit} since the Unix epoch, UTC"


def time_metadata(doc: str | None = None) -> dict[str, str]:
    """Field metadata of an int64 nanosecond time column: its ``unit``, and ``doc`` when given
    (the store makes ``unit`` follow the type a column is stored as)."""
    meta = {"unit": time_unit_text(pa.int64())}
    if doc is not None:
        meta["doc"] = doc
    return meta


def time_field(field: pa.Field) -> pa.Field:
    """``field`` with its ``unit`` metadata true to its type (its other metadata kept)."""
    meta = dict(field.metadata or {})
    meta[b"unit"] = time_unit_text(field.type).encode()
    return field.with_metadata(meta)


def time_ns(table: pa.Table, time_column: str) -> npt.NDArray[np.int64]:
    """The time column of ``table`` as int64 nanoseconds (no nulls allowed)."""
    if time_column not in table.column_names:
        raise StoreError(f"time column {time_column!r} is not in the table {table.column_names}")
    column = table[time_column]
    factor = ns_per_unit(column.type)
    if column.null_count:
        raise StoreError(f"time column {time_column!r} has {column.null_count} nulls")
    try:
        if column.type != pa.int64():  # int64 (RAW's keys) needs no cast, nor pyarrow.compute
            import pyarrow.compute as pc  # noqa: PLC0415 - loaded once data flows

            column = pc.cast(column, pa.int64())
    except pa.ArrowInvalid as exc:
        raise StoreError(f"time column {time_column!r} does not fit int64 nanoseconds") from exc
    values: npt.NDArray[np.int64] = column.to_numpy()
    return values * factor if factor != 1 else values


def round_to_unit(ns: npt.NDArray[np.int64], unit: str) -> npt.NDArray[np.int64]:
    """Nanosecond times (all >= 0) rounded to the nearest whole ``unit``, still in ns; times too
    close to the int64 limit to round up are rounded down."""
    factor = UNIT_NS[unit]
    if factor == 1:
        return ns
    half = factor // 2
    headroom = ns <= _INT64_MAX - half
    rounded: npt.NDArray[np.int64] = np.where(headroom, ns + half, ns) // factor * factor
    return rounded


def to_timestamp(column: pa.ChunkedArray | pa.Array, unit: str) -> pa.Array:
    """An int64 ns column as ``timestamp[unit, UTC]``; every value must be a whole unit."""
    import pyarrow.compute as pc  # noqa: PLC0415 - loaded once data flows

    factor = UNIT_NS[unit]
    values = np.asarray(pc.cast(column, pa.int64()).to_numpy(), np.int64)
    whole = values // factor
    if factor != 1 and not np.array_equal(whole * factor, values):
        raise StoreError(f"times are not whole {unit}: round them before storing them in {unit}")
    return pa.array(whole, pa.timestamp(unit, "UTC"))


def to_ns(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """A timestamp column back as int64 nanoseconds (integer columns as they are)."""
    import pyarrow.compute as pc  # noqa: PLC0415 - loaded once data flows

    if not pa.types.is_timestamp(column.type):
        return column
    factor = UNIT_NS[column.type.unit]
    as_int = pc.cast(column, pa.int64())
    return as_int if factor == 1 else pc.multiply(as_int, factor)


@dataclass(frozen=True)
class Piece:
    """The rows of one table that fall into one UTC hour."""

    table: pa.Table
    first_ns: int
    last_ns: int


def split_by_hour(table: pa.Table, time_column: str) -> list[Piece]:
    """Cut ``table`` into one piece per UTC hour of ``time_column``, in hour order.

    Rows keep their order inside a piece. A table already in time order is only sliced
    (zero-copy); otherwise rows are regrouped by a stable sort on the hour.
    """
    if table.num_rows == 0:
        return []
    t = time_ns(table, time_column)
    if t.size and int(t.min()) < 0:
        raise StoreError(f"time column {time_column!r} has times before 1970")
    hours = t // HOUR_NS
    steps = np.diff(hours)
    if steps.size and bool((steps < 0).any()):
        order = np.argsort(hours, kind="stable")
        table, t, hours = table.take(pa.array(order)), t[order], hours[order]
        steps = np.diff(hours)
    bounds = np.concatenate(([0], np.flatnonzero(steps) + 1, [hours.size]))
    pieces = []
    for start, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        part = t[start:stop]
        pieces.append(Piece(table.slice(start, stop - start), int(part.min()), int(part.max())))
    return pieces
