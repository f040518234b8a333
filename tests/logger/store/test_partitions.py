"""Hive partitions that every engine types the same way: ``hour=H`` unpadded (an integer in
pyarrow, DuckDB and polars), ``date=YYYY-MM-DD`` (a date in DuckDB and polars); stores written
with the older zero-padded ``hour=HH`` are still read."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from logger.store.layout import HOUR_NS, parse_path, partition, partition_hour
from tests.support.engines import duckdb_rows, duckdb_source
from tests.support.store import MINUTE_NS, chunk, evenly, make_store, write_published

#: 2026-12-03 00:00 UTC
DAY_NS = 1_796_256_000 * 1_000_000_000
HOURS = [*range(24), 24, 25, 26, 27]  # every hour of 2026-12-03, then 0..3 of the next day


def utc(ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=dt.UTC)


def store_over_hours(directory: Path) -> Path:
    """One exchange ``can`` with one file of 5 rows per hour in :data:`HOURS`; its frames dir."""
    store = make_store(directory)
    for h in HOURS:
        write_published(store, [chunk(evenly(DAY_NS + h * HOUR_NS + MINUTE_NS, 5, 1000))])
    return directory / "can" / "frames"


def test_partition_is_one_function_of_the_utc_hour() -> None:
    assert partition(DAY_NS) == ("date=2026-12-03", "hour=0")
    assert partition(DAY_NS + 7 * HOUR_NS) == ("date=2026-12-03", "hour=7")
    assert partition(DAY_NS + 24 * HOUR_NS - 1) == ("date=2026-12-03", "hour=23")
    for h in HOURS:
        ns = DAY_NS + h * HOUR_NS + 123
        assert partition_hour(*partition(ns)) == ns // HOUR_NS
    assert partition_hour("date=2026-12-03", "hour=07") == DAY_NS // HOUR_NS + 7  # older form
    for date, hour in [
        ("date=2026-12-03", "hour=24"),
        ("date=2026-12-03", "hour=007"),
        ("date=2026-12-03", "hour=-1"),
        ("date=2026-13-03", "hour=1"),
        ("date=2026-12-3", "hour=1"),
    ]:
        assert partition_hour(date, hour) is None


def test_duckdb_polars_and_pyarrow_type_hour_as_an_integer_and_date_alike(tmp_path: Path) -> None:
    frames = store_over_hours(tmp_path)
    hours_on_disk = {p.name for p in frames.glob("date=*/hour=*")}
    assert {"hour=0", "hour=9", "hour=10", "hour=23"} <= hours_on_disk
    want = sorted(
        (ts, utc(ts).date(), utc(ts).hour)
        for h in HOURS
        for ts in evenly(DAY_NS + h * HOUR_NS + MINUTE_NS, 5, 1000).tolist()
    )

    sql = duckdb_source(frames)
    types = duckdb_rows(f"SELECT DISTINCT typeof(hour), typeof(date) FROM {sql}")
    assert types == [("BIGINT", "DATE")]
    assert duckdb_rows(f"SELECT ts, date, hour FROM {sql} ORDER BY ts") == want
    early = duckdb_rows(f"SELECT DISTINCT hour FROM {sql} WHERE hour < 10 ORDER BY 1")
    assert [h for (h,) in early] == list(range(10))  # compared as numbers, not as text

    lazy = pl.scan_parquet(frames, hive_partitioning=True)
    schema = lazy.collect_schema()
    assert schema["hour"].is_integer() and schema["date"] == pl.Date
    got = lazy.select("ts", "date", "hour").sort("ts").collect().rows()
    assert got == want
    assert pl.read_parquet(frames, hive_partitioning=True).height == len(want)

    table = ds.dataset(frames, format="parquet", partitioning="hive").to_table()
    assert pa.types.is_integer(table.schema.field("hour").type)
    assert sorted(zip(table["ts"].to_pylist(), table["hour"].to_pylist(), strict=True)) == [
        (ts, hour) for ts, _, hour in want
    ]


def padded(frames: Path) -> list[Path]:
    """Rename every ``hour=H`` directory under ``frames`` to the older ``hour=HH``."""
    renamed = []
    for hour_dir in sorted(frames.glob("date=*/hour=*")):
        old = hour_dir.with_name(f"hour={int(hour_dir.name[5:]):02d}")
        if old != hour_dir:
            os.rename(hour_dir, old)
            renamed.append(old)
    return renamed


def test_a_store_with_zero_padded_and_unpadded_hours_is_read_whole(tmp_path: Path) -> None:
    frames = store_over_hours(tmp_path)  # written, then laid out as an older release did
    renamed = padded(frames)
    assert {p.name for p in renamed} >= {"hour=00", "hour=07", "hour=09"}
    store = make_store(tmp_path)  # recovers the older layout
    assert store.file_count == len(HOURS)
    for h in (3, 7, 15):  # more files into hours that exist in the older form
        write_published(store, [chunk(evenly(DAY_NS + h * HOUR_NS + 2 * MINUTE_NS, 5, 1000))])
    assert (frames / "date=2026-12-03" / "hour=07").is_dir()
    assert (frames / "date=2026-12-03" / "hour=7").is_dir()

    again = make_store(tmp_path)
    report = again.recover(read_only=True)
    assert report.skipped == ()
    assert again.file_count == len(HOURS) + 3
    in_hour_7 = again.files("frames", DAY_NS + 7 * HOUR_NS, DAY_NS + 8 * HOUR_NS - 1)
    assert {f.path.parent.name for f in in_hour_7} == {"hour=07", "hour=7"}
    rows = [again.read(f, "ts", 0, 2**63 - 1) for f in again.files("frames")]
    ts = np.concatenate([t["ts"].to_numpy() for t in rows])
    assert ts.size == 5 * (len(HOURS) + 3) and np.all(np.diff(ts) > 0)
    for f in again.files("frames"):
        assert parse_path(tmp_path / "can", f.path, f.size) == f

    # Retention empties and removes directories of both forms.
    small = make_store(tmp_path, file_count=2)
    small.enforce_retention(lambda _f: False)
    assert small.file_count == 2
    assert not (frames / "date=2026-12-03").exists()


@pytest.mark.parametrize("hour", ["hour=7", "hour=07"])
def test_a_file_outside_its_hour_is_foreign_in_either_form(tmp_path: Path, hour: str) -> None:
    name = f"{DAY_NS + 8 * HOUR_NS}-{DAY_NS + 8 * HOUR_NS}-0.parquet"
    path = tmp_path / "frames" / "date=2026-12-03" / hour / name
    found = parse_path(tmp_path, path, 100)
    assert isinstance(found, str) and "outside its partition" in found
