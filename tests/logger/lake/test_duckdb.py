"""The lake over S3 (moto's server): register, then every question answered by DuckDB (httpfs)
equals our engine's answer per vehicle, on three simulated vehicles and an imported real log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from logger.core.errors import CommandError, LakeError
from logger.lake.catalog import open_catalog, register
from logger.lake.engines import DuckDbEngine
from logger.lake.query import Fleet
from logger.lake.source import LakeSource
from tests.logger.lake.conftest import REAL, SIMULATED
from tests.logger.lake.conftest import Fleet as Stores
from tests.logger.lake.questions import REAL_QUESTIONS, SIMULATED_QUESTIONS, assert_same_per_vehicle


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory: pytest.TempPathFactory, bucket: LakeSource) -> Path:
    directory = tmp_path_factory.mktemp("catalog")
    result = register(open_catalog(directory, bucket, create=True), bucket)
    assert sum(result.added.values()) > 0
    assert result.skipped == {}
    return directory


@pytest.fixture(scope="module")
def fleet(catalog_dir: Path, bucket: LakeSource) -> Fleet:
    return Fleet(open_catalog(catalog_dir, bucket))


@pytest.fixture(scope="module")
def duckdb(bucket: LakeSource) -> Iterator[DuckDbEngine]:
    engine = DuckDbEngine(bucket)
    yield engine
    engine.close()


def test_register_is_idempotent(
    catalog_dir: Path, bucket: LakeSource, fleet_stores: Stores
) -> None:
    catalog = open_catalog(catalog_dir, bucket)
    before = {
        n: len(list(catalog.load_table(("fleet", n)).scan().plan_files())) for n in ("frames",)
    }
    again = register(catalog, bucket)
    assert sum(again.added.values()) == 0
    assert sum(again.present.values()) > 0
    after = {
        n: len(list(catalog.load_table(("fleet", n)).scan().plan_files())) for n in ("frames",)
    }
    assert before == after
    frames = catalog.load_table(("fleet", "frames"))
    spec = [(f.name, str(f.transform)) for f in frames.spec().fields]
    assert spec == [("vehicle", "identity"), ("ts_hour", "hour")]
    assert sorted({str(t.file.partition[0]) for t in frames.scan().plan_files()}) == sorted(
        fleet_stores.vins
    )
    # files are referenced where they are, not rewritten
    assert all(
        t.file.file_path.startswith("s3://fleet/vehicle=") for t in frames.scan().plan_files()
    )


@pytest.mark.parametrize("command", SIMULATED_QUESTIONS)
def test_simulated_fleet_answers_equal_ours(
    command: str, fleet: Fleet, duckdb: DuckDbEngine, fleet_stores: Stores
) -> None:
    compared = assert_same_per_vehicle(
        fleet, duckdb, fleet_stores.stores, SIMULATED, command, False
    )
    assert compared > 0


@pytest.mark.parametrize("command", REAL_QUESTIONS)
def test_real_log_answers_equal_ours(
    command: str, fleet: Fleet, duckdb: DuckDbEngine, fleet_stores: Stores
) -> None:
    if not fleet_stores.real:
        pytest.skip("../shared/data/logs/ford_gt350_vsslog.trc or its DBC is absent")
    compared = assert_same_per_vehicle(fleet, duckdb, fleet_stores.stores, (REAL,), command, True)
    assert compared > 0


def test_all_vehicles_in_one_answer(
    fleet: Fleet, duckdb: DuckDbEngine, fleet_stores: Stores
) -> None:
    answer = fleet.answer(SIMULATED_QUESTIONS[4], duckdb)
    assert set(answer.column("vehicle").to_pylist()) == set(SIMULATED)


def test_bad_input_is_named(
    fleet: Fleet, duckdb: DuckDbEngine, tmp_path: Path, bucket: LakeSource
) -> None:
    with pytest.raises(LakeError, match=r"unknown vehicle.*NOPE"):
        fleet.answer(SIMULATED_QUESTIONS[0], duckdb, ["NOPE"])
    with pytest.raises(CommandError, match="unknown signal"):
        fleet.answer("sync-0-1;sig=EngineSped", duckdb)
    with pytest.raises(CommandError):
        fleet.answer("sync-5-1", duckdb)
    with pytest.raises(LakeError, match="no lake catalog"):
        open_catalog(tmp_path / "none", bucket)
    gone = LakeSource(bucket="fleet", endpoint="http://127.0.0.1:9", region="eu-central-1")
    with pytest.raises(LakeError, match="unreachable"):
        list(gone.keys())
