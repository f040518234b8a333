"""Sample aggregates of all the signals of one message at once, per window of its rows.

The values are a (signals by rows) matrix, NaN where a row has no sample of a signal (null, or
NaN). The rows are in time order, so the rows of one window are a contiguous run, the same for
every signal: each aggregate is one ``reduceat`` over the matrix's rows (``axis=1``) at the
windows' first rows, the missing samples masked out (+inf for ``min``, 0 for sums …).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Samples", "samples"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
INT64_MAX = np.int64((1 << 63) - 1)


@dataclass(frozen=True)
class Samples:
    """Per signal (rows) and window of rows (columns): the sample aggregates; where ``count`` is 0
    the others are meaningless."""

    count: I64
    min: F64
    max: F64
    first: F64
    last: F64
    sum: F64
    ts_min: I64
    ts_max: I64


def samples(ts: I64, values: F64, valid: Mask, heads: I64, all_valid: bool) -> Samples:
    """Aggregates of ``values`` (signals by rows, in time order) per window of rows starting at
    ``heads``; ``valid`` marks the samples (``all_valid``: every entry is one)."""
    k, n = values.shape
    sizes = np.diff(np.append(heads, n))
    if all_valid:
        count = np.broadcast_to(sizes, (k, sizes.size)).astype(np.int64)
        low = np.minimum.reduceat(values, heads, axis=1)
        high = np.maximum.reduceat(values, heads, axis=1)
        total = np.add.reduceat(values, heads, axis=1)
        first = values[:, heads]
        last = values[:, heads + sizes - 1]
    else:
        count = np.add.reduceat(valid, heads, axis=1, dtype=np.int64)
        low = np.minimum.reduceat(np.where(valid, values, np.inf), heads, axis=1)
        high = np.maximum.reduceat(np.where(valid, values, -np.inf), heads, axis=1)
        total = np.add.reduceat(np.where(valid, values, 0.0), heads, axis=1)
        rows = np.arange(n, dtype=np.int64)
        at_first = np.minimum.reduceat(np.where(valid, rows, n - 1), heads, axis=1)
        at_last = np.maximum.reduceat(np.where(valid, rows, 0), heads, axis=1)
        first = np.take_along_axis(values, at_first, axis=1)
        last = np.take_along_axis(values, at_last, axis=1)
    # the first occurrence of an extreme: the earliest time among the samples equal to it (a
    # missing sample is NaN, equal to nothing)
    hit = values == np.repeat(low, sizes, axis=1)
    ts_min = np.minimum.reduceat(np.where(hit, ts, INT64_MAX), heads, axis=1)
    np.equal(values, np.repeat(high, sizes, axis=1), out=hit)
    ts_max = np.minimum.reduceat(np.where(hit, ts, INT64_MAX), heads, axis=1)
    return Samples(count, low, high, first, last, total, ts_min, ts_max)
