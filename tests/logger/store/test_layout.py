"""Path layout: names and partitions round-trip; foreign names are recognised."""

from __future__ import annotations

from pathlib import Path

import pytest

from logger.core.errors import StoreError
from logger.store.layout import (
    StoredFile,
    check_table_name,
    file_path,
    format_name,
    parse_name,
    parse_path,
    parse_temp_name,
    partition,
    temp_name,
)
from tests.support.store import BASE_NS, HOUR_NS


def test_name_round_trip() -> None:
    name = format_name(BASE_NS, BASE_NS + 5, 42)
    assert name == f"{BASE_NS}-{BASE_NS + 5}-42.parquet"
    parsed = parse_name(name)
    assert parsed is not None
    assert (parsed.first_ns, parsed.last_ns, parsed.seq) == (BASE_NS, BASE_NS + 5, 42)
    assert parse_temp_name(temp_name(name)) == name


@pytest.mark.parametrize(
    "name",
    [
        "data.parquet",
        "1-2.parquet",
        "5-4-1.parquet",
        "1-2-3.parq",
        "a-2-3.parquet",
        ".1-2-3.parquet",
    ],
)
def test_foreign_names(name: str) -> None:
    assert parse_name(name) is None


def test_partition_is_utc_hour() -> None:
    assert partition(BASE_NS) == ("date=2024-03-10", "hour=12")
    assert partition(BASE_NS + 12 * HOUR_NS - 1) == ("date=2024-03-10", "hour=23")
    assert partition(BASE_NS + 12 * HOUR_NS) == ("date=2024-03-11", "hour=0")


def test_path_round_trip_with_slashed_table(tmp_path: Path) -> None:
    table = "signals/message=EngineData"
    path = file_path(tmp_path, table, BASE_NS + 10, BASE_NS + 20, 7)
    assert path == tmp_path.joinpath(
        "signals",
        "message=EngineData",
        "date=2024-03-10",
        "hour=12",
        f"{BASE_NS + 10}-{BASE_NS + 20}-7.parquet",
    )
    parsed = parse_path(tmp_path, path, 123)
    assert parsed == StoredFile(BASE_NS + 10, BASE_NS + 20, 7, table, path, 123)


def test_path_in_wrong_partition_is_foreign(tmp_path: Path) -> None:
    path = file_path(tmp_path, "frames", BASE_NS, BASE_NS, 1)
    moved = path.parent.parent / "hour=13" / path.name
    assert isinstance(parse_path(tmp_path, moved, 1), str)
    spanning = path.parent / format_name(BASE_NS, BASE_NS + HOUR_NS, 2)
    assert isinstance(parse_path(tmp_path, spanning, 1), str)


def test_order_is_first_ns_then_seq(tmp_path: Path) -> None:
    a = StoredFile(10, 50, 3, "t", tmp_path / "a", 1)
    b = StoredFile(10, 20, 4, "t", tmp_path / "b", 1)
    c = StoredFile(5, 90, 9, "t", tmp_path / "c", 1)
    assert sorted([a, b, c]) == [c, a, b]


@pytest.mark.parametrize(
    "table", ["", "../x", "a//b", "/abs", "x/date=2024-01-01", "hour=1", "sp ace"]
)
def test_bad_table_names(table: str) -> None:
    with pytest.raises(StoreError):
        check_table_name(table)
