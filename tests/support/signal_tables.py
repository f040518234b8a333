"""Small signal tables for the signal engine's tests: a drive of two messages at two rates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

from logger.signals.query import SignalRef, catalog_of, resolve

MS = 1_000_000
Value = float | None


def table(ts_ms: Sequence[int], bus: str = "can0", **signals: Sequence[Value]) -> pa.Table:
    cols: dict[str, pa.Array] = {
        "ts": pa.array([t * MS for t in ts_ms], pa.int64()),
        "bus": pa.array([bus] * len(ts_ms), pa.string()),
    }
    for name, values in signals.items():
        cols[name] = pa.array(values, pa.float64())
    return pa.table(cols)


def drive() -> dict[str, pa.Table]:
    """EngineSpeed every 10 ms, VehicleSpeed every 20 ms starting at 5 ms."""
    return {
        "EngineData": table(
            [0, 10, 20, 30, 40, 50, 60, 70],
            EngineSpeed=[1000, 2000, 4500, 5000, 4200, 3000, 4100, 4300],
        ),
        "Chassis": table([5, 25, 45, 65], VehicleSpeed=[10, 3, 2, 1]),
    }


def rows(t: pa.Table) -> list[tuple[object, ...]]:
    cols = [t.column(i).to_pylist() for i in range(t.num_columns)]
    return list(zip(*cols, strict=True))


def refs_for(tables: Mapping[str, pa.Table], *names: str) -> list[SignalRef]:
    return resolve(names, catalog_of(tables))
