"""Per-(window, signal) aggregates as numpy columns, and their Arrow table.

:class:`Aggregates` is the working form shared by :mod:`logger.rollup.compute` (built from
samples and holds) and :mod:`logger.rollup.merging` (built from partials). Value columns hold NaN
and ``ts_min``/``ts_max`` 0 where there is nothing; :meth:`Aggregates.table` turns those into
nulls by ``count == 0`` (``twa`` by ``coverage_ns == 0``) and sorts the rows by window, then
signal name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from logger.rollup.schema import partials_schema

__all__ = ["Aggregates", "signal_ranks"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Aggregates:
    """One row per (window, signal); ``signal`` indexes a list of names."""

    window: I64
    signal: I64
    count: I64
    min: F64
    max: F64
    first: F64
    last: F64
    mean: F64
    twa: F64
    ts_min: I64
    ts_max: I64
    coverage_ns: I64

    @staticmethod
    def concat(parts: Sequence[Aggregates]) -> Aggregates:
        return Aggregates(
            *(
                np.concatenate([getattr(p, name) for p in parts])
                for name in Aggregates.__dataclass_fields__
            )
        )

    def table(self, names: Sequence[str], window_ns: int) -> pa.Table:
        """The partials table, rows sorted by ``window`` then ``signal`` (``names[signal]``)."""
        ranks = signal_ranks(names)
        order = np.lexsort((ranks[self.signal], self.window))
        none = self.count[order] == 0
        uncovered = self.coverage_ns[order] == 0

        def floats(values: F64, mask: npt.NDArray[np.bool_]) -> pa.Array:
            return pa.array(values[order], pa.float64(), mask=mask)

        def times(values: I64) -> pa.Array:
            return pa.array(values[order], pa.int64(), mask=none)

        columns = [
            pa.array(self.window[order], pa.int64()),
            pa.DictionaryArray.from_arrays(
                pa.array(self.signal[order], pa.int32()), pa.array(list(names), pa.string())
            ).cast(pa.string()),
            pa.array(self.count[order], pa.int64()),
            floats(self.min, none),
            floats(self.max, none),
            floats(self.first, none),
            floats(self.last, none),
            floats(self.mean, none),
            floats(self.twa, uncovered),
            times(self.ts_min),
            times(self.ts_max),
            pa.array(self.coverage_ns[order], pa.int64()),
        ]
        return pa.Table.from_arrays(columns, schema=partials_schema(window_ns))


def signal_ranks(names: Sequence[str]) -> I64:
    """Each name's position in sorted order (the sort key of the ``signal`` column)."""
    ranks = np.empty(len(names), np.int64)
    ranks[np.argsort(np.array(names, dtype=object), kind="stable")] = np.arange(len(names))
    return ranks
