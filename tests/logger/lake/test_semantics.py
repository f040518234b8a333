"""The compiled SQL keeps the signal-range semantics on the hard cases: null samples (they do
not overwrite the held value), NaN (a value; only != matches it), equal times within a message
(the last row wins) and across messages (one sample), lead-in rows before the window, booleans,
and intervals; DuckDB's answer equals :func:`logger.signals.query.answer_signals` on the same
tables."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logger.core.command import parse_command
from logger.lake.catalog import open_catalog, register
from logger.lake.engines import DuckDbEngine, Engine
from logger.lake.query import Fleet
from logger.lake.source import LakeSource
from logger.signals.query import answer_signals
from tests.logger.lake.fleet import normalised, per_vehicle

T0 = 1_717_200_000_000_000_000  # ns, 2024-06-01T00:00:00Z
MS = 1_000_000
VIN = "SEMANTICS0000001"
NAN = math.nan


def _table(ts_ms: list[int], **columns: pa.Array) -> pa.Table:
    ns = [T0 + t * MS for t in ts_ms]
    return pa.table({"ts": pa.array(ns, pa.int64()), "bus": ["can0"] * len(ns), **columns})


TABLES = {
    "A": _table(
        [0, 10, 10, 20, 30, 40, 50, 60],
        x=pa.array([1.0, 5.0, 7.0, None, NAN, 9.0, None, 2.0], pa.float64()),
        on=pa.array([True, None, False, True, True, None, False, True]),
    ),
    "B": _table([5, 10, 35, 45, 60], y=pa.array([3, None, 8, 1, 4], pa.int32())),
}


def _write(lake: Path, message: str, table: pa.Table) -> None:
    ts = pa.array([v // 1000 for v in table.column("ts").to_pylist()], pa.timestamp("us", "UTC"))
    stored = table.set_column(0, "ts", ts).replace_schema_metadata({"sdvlog.vin": VIN})
    first, last = table.column("ts")[0].as_py(), table.column("ts")[-1].as_py()
    folder = lake / f"vehicle={VIN}/exchange=can/signals/message={message}/date=2024-06-01/hour=0"
    folder.mkdir(parents=True)
    pq.write_table(stored, folder / f"{first}-{last}-0.parquet")


def build_lake(root: Path) -> tuple[Fleet, LakeSource]:
    """:data:`TABLES` as one vehicle's lake files under ``root``, registered."""
    for message, table in TABLES.items():
        _write(root / "lake", message, table)
    source = LakeSource(root=root / "lake")
    register(open_catalog(root / "catalog", source, create=True), source)
    return Fleet(open_catalog(root / "catalog", source)), source


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Fleet, LakeSource]:
    return build_lake(tmp_path_factory.mktemp("semantics"))


@pytest.fixture(scope="module")
def duckdb(lake: tuple[Fleet, LakeSource]) -> Iterator[DuckDbEngine]:
    engine = DuckDbEngine(lake[1])
    yield engine
    engine.close()


WINDOW = f"sync-{T0 // MS + 8}-{T0 // MS + 60}"


SELECTORS = (
    "sig=x,y",
    "sig=x,y,on",
    "where=x>4",
    "where=x!=9",
    "where=x<=5,y>=3",
    "sig=x;where=on=1",
    "where=x>0;out=intervals",
    "where=y>2;out=intervals;limit=1",
    "sig=A.x,B.y;where=x>=2;limit=3",
)


def assert_semantics(fleet: Fleet, engine: Engine, selectors: str) -> None:
    command = f"{WINDOW};{selectors}"
    ours = answer_signals(TABLES, parse_command(command))
    mine = per_vehicle(fleet.answer(command, engine), VIN)
    assert ours.num_rows > 0
    assert mine.column_names == ours.column_names
    assert _nan_safe(normalised(mine)) == _nan_safe(normalised(ours))


@pytest.mark.parametrize("selectors", SELECTORS)
def test_semantics_equal_ours(
    selectors: str, lake: tuple[Fleet, LakeSource], duckdb: DuckDbEngine
) -> None:
    assert_semantics(lake[0], duckdb, selectors)


def _nan_safe(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [
        {k: "NaN" if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()}
        for r in rows
    ]


def test_register_reports_what_it_cannot_add(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    folder = lake / f"vehicle={VIN}/exchange=can/frames/date=2024-06-01/hour=0"
    folder.mkdir(parents=True)
    ns = pa.table({"ts": pa.array([T0], pa.int64())}).replace_schema_metadata({"sdvlog.vin": VIN})
    pq.write_table(ns, folder / f"{T0}-{T0}-1.parquet")  # time_unit = "ns": int64 ts
    other = pa.table({"ts": pa.array([T0 // 1000], pa.timestamp("us", "UTC"))})
    pq.write_table(
        other.replace_schema_metadata({"sdvlog.vin": "OTHER"}), folder / f"{T0}-{T0}-2.parquet"
    )
    pq.write_table(other, lake / "stray.parquet")
    pq.write_table(
        other.replace_schema_metadata({b"sdvlog.vin": b"\xff\xfe"}), folder / f"{T0}-{T0}-3.parquet"
    )
    odd = lake / f"vehicle={VIN}/exchange=can/signals/message=Bad-Name/date=2024-06-01/hour=0"
    odd.mkdir(parents=True)
    pq.write_table(other, odd / f"{T0}-{T0}-4.parquet")
    source = LakeSource(root=lake)
    result = register(open_catalog(tmp_path / "catalog", source, create=True), source)
    assert sum(result.added.values()) == 0
    reasons = {key.rsplit("/", 1)[-1]: why for key, why in result.skipped.items()}
    assert "needs a timestamp" in reasons[f"{T0}-{T0}-1.parquet"]
    assert "names vehicle 'OTHER'" in reasons[f"{T0}-{T0}-2.parquet"]
    assert "does not follow the lake layout" in reasons["stray.parquet"]
    assert "names vehicle '\ufffd\ufffd'" in reasons[f"{T0}-{T0}-3.parquet"]
    assert "Bad-Name" in reasons[f"{T0}-{T0}-4.parquet"]
