"""``--engine spark``: the same questions, answered by Spark (local[2]) over the lake as a local
directory (Spark's S3 connector jars cannot be fetched here), equal per vehicle to our engine."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from logger.core.errors import LakeError
from logger.lake.catalog import open_catalog, register
from logger.lake.engines import SparkEngine
from logger.lake.query import Fleet
from logger.lake.source import LakeSource
from tests.logger.lake.conftest import REAL, SIMULATED
from tests.logger.lake.conftest import Fleet as Stores
from tests.logger.lake.questions import REAL_QUESTIONS, SIMULATED_QUESTIONS, assert_same_per_vehicle
from tests.logger.lake.test_semantics import SELECTORS, assert_semantics, build_lake

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="no Java runtime for Spark")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, lake_dir: LakeSource) -> Fleet:
    directory = tmp_path_factory.mktemp("catalog")
    register(open_catalog(directory, lake_dir, create=True), lake_dir)
    return Fleet(open_catalog(directory, lake_dir))


@pytest.fixture(scope="module")
def spark(lake_dir: LakeSource) -> Iterator[SparkEngine]:
    engine = SparkEngine(lake_dir)
    yield engine
    engine.close()


@pytest.mark.parametrize("command", SIMULATED_QUESTIONS)
def test_simulated_fleet_answers_equal_ours(
    command: str, fleet: Fleet, spark: SparkEngine, fleet_stores: Stores
) -> None:
    compared = assert_same_per_vehicle(fleet, spark, fleet_stores.stores, SIMULATED, command, False)
    assert compared > 0


@pytest.mark.parametrize("command", REAL_QUESTIONS)
def test_real_log_answers_equal_ours(
    command: str, fleet: Fleet, spark: SparkEngine, fleet_stores: Stores
) -> None:
    if not fleet_stores.real:
        pytest.skip("../shared/data/logs/ford_gt350_vsslog.trc or its DBC is absent")
    compared = assert_same_per_vehicle(fleet, spark, fleet_stores.stores, (REAL,), command, True)
    assert compared > 0


@pytest.fixture(scope="module")
def semantics(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    return build_lake(tmp_path_factory.mktemp("semantics"))[0]


@pytest.mark.parametrize("selectors", SELECTORS)
def test_semantics_equal_ours(selectors: str, semantics: Fleet, spark: SparkEngine) -> None:
    assert_semantics(semantics, spark, selectors)


def test_spark_refuses_s3_here(tmp_path: Path) -> None:
    with pytest.raises(LakeError, match="S3 connector"):
        SparkEngine(LakeSource(bucket="fleet", endpoint="http://127.0.0.1:9"))
