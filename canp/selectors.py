"""CAN-aware query selectors (``bus=``, ``id=``) as vectorised row masks over frame tables.

Ids are matched against the arbitration id without flag bits (the ``id`` column), so ``id=0x100``
matches a standard frame 0x100 and an extended frame 0x00000100 alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from canp.schema import CAN_EFF_MASK
from logger.core.errors import CommandError


def check_id_ranges(ranges: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Ranges clipped to 29 bits; a range starting above 29 bits is a :class:`CommandError`."""
    out: list[tuple[int, int]] = []
    for lo, hi in ranges:
        if lo > CAN_EFF_MASK:
            raise CommandError(
                f"id=: 0x{lo:X} is wider than 29 bits; give the arbitration id without flag bits"
            )
        out.append((lo, min(hi, CAN_EFF_MASK)))
    return tuple(out)


def id_mask(ids: pa.ChunkedArray | pa.Array, ranges: Sequence[tuple[int, int]]) -> pa.Array:
    """True where the id lies in any of ``ranges`` (inclusive): single ids by ``is_in``, ranges OR-ed."""
    singles = [lo for lo, hi in ranges if lo == hi]
    spans = [(lo, hi) for lo, hi in ranges if lo != hi]
    mask = pc.is_in(ids, value_set=pa.array(singles, pa.uint32()))  # all false when no singles
    for lo, hi in spans:
        in_span = pc.and_(
            pc.greater_equal(ids, pa.scalar(lo, pa.uint32())),
            pc.less_equal(ids, pa.scalar(hi, pa.uint32())),
        )
        mask = pc.or_(mask, in_span)
    return mask


def frame_mask(
    table: pa.Table, buses: Sequence[str], ranges: Sequence[tuple[int, int]]
) -> pa.Array | None:
    """Rows of a frames table on one of ``buses`` with an id in ``ranges``; None keeps every row."""
    mask: pa.Array | None = None
    if buses:
        mask = pc.is_in(table.column("bus"), value_set=pa.array(list(buses), pa.string()))
    if ranges:
        by_id = id_mask(table.column("id"), ranges)
        mask = by_id if mask is None else pc.and_(mask, by_id)
    return mask
