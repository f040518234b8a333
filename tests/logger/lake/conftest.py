"""The lake's fleet, built once per test session: three simulated vehicles and the real GT350
log imported as a fourth, in a moto S3 bucket and in a local lake directory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from logger.lake.source import LakeSource
from tests.logger.lake.fleet import (
    REAL_DBC,
    REAL_LOG,
    copy_store,
    imported_vehicle,
    put_store,
    simulated_vehicle,
)
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, MotoServer, s3_client

BUCKET = "fleet"
SIMULATED = ("SIMVIN0000000001", "SIMVIN0000000002", "SIMVIN0000000003")
REAL = "GT350VSSLOG00001"


@dataclass(frozen=True)
class Fleet:
    stores: Path
    vins: tuple[str, ...]
    real: bool


@pytest.fixture(scope="session")
def fleet_stores(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    root = tmp_path_factory.mktemp("stores")
    for i, vin in enumerate(SIMULATED):
        # overlapping drives, a second apart, two buses each
        simulated_vehicle(root, vin, seed=i + 1, seconds=40.0, start_s=1_717_200_000.0 + i)
    real = REAL_LOG.is_file() and REAL_DBC.is_file()
    if real:
        imported_vehicle(root, REAL)
    return Fleet(root, (*SIMULATED, REAL) if real else SIMULATED, real)


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        mp.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        with MotoServer(tmp_path_factory.mktemp("moto")) as server:
            yield server


@pytest.fixture(scope="session")
def bucket(moto: MotoServer, fleet_stores: Fleet) -> LakeSource:
    client = s3_client(moto)
    client.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    for vin in fleet_stores.vins:
        put_store(client, BUCKET, fleet_stores.stores / vin, vin)
    return LakeSource(bucket=BUCKET, endpoint=moto.endpoint, region=REGION)


@pytest.fixture(scope="session")
def lake_dir(tmp_path_factory: pytest.TempPathFactory, fleet_stores: Fleet) -> LakeSource:
    root = tmp_path_factory.mktemp("lake")
    for vin in fleet_stores.vins:
        copy_store(root, fleet_stores.stores / vin, vin)
    return LakeSource(root=root)
