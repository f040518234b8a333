"""The lake through an AWS Glue catalog (pyiceberg's ``GlueCatalog``) on moto's server, which
serves Glue and S3 on one endpoint: the simulated fleet registered by ``sdvlog lake register
-c FILE`` (``[lake] catalog = "glue"``), twice (the second time adds nothing and changes no
table), and every answer equals the one through the SQL catalog."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from logger.cli.app import main
from tests.logger.lake.conftest import SIMULATED, Fleet
from tests.logger.lake.fleet import put_store
from tests.logger.lake.questions import SIMULATED_QUESTIONS
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, MotoServer, s3_client

#: The bucket of the simulated vehicles (the session's ``fleet`` also holds the real log).
SIMULATED_FLEET = "simulated"
#: Frames, one message's signals, signals filtered, intervals.
QUESTIONS = tuple(SIMULATED_QUESTIONS[i] for i in (0, 3, 5, 6))
#: The Glue database of the lake (not the default ``fleet``: the namespace is configurable).
DATABASE = "trucks"
#: Where the Glue catalog's Iceberg metadata goes: another bucket of the same moto server.
METADATA = "iceberg-metadata"
#: A line of ``sdvlog lake register``: ``<table>: <n> added, <m> already registered``.
LINE = re.compile(r"^(\w+): (\d+) added, (\d+) already registered$")


def glue_client(moto: MotoServer) -> Any:  # the project installs no Glue stubs
    import boto3  # noqa: PLC0415

    return boto3.client(
        "glue",
        endpoint_url=moto.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )


def glue_tables(moto: MotoServer) -> dict[str, dict[str, str]]:
    """Each table of the lake's Glue database → its parameters and its version."""
    pages = glue_client(moto).get_paginator("get_tables").paginate(DatabaseName=DATABASE)
    return {
        t["Name"]: {**t.get("Parameters", {}), "VersionId": t["VersionId"]}
        for p in pages
        for t in p["TableList"]
    }


def registered(out: str) -> dict[str, tuple[int, int]]:
    """``sdvlog lake register``'s lines: table → (added, already registered)."""
    found = {m[1]: (int(m[2]), int(m[3])) for line in out.splitlines() if (m := LINE.match(line))}
    assert found and len(found) == len(out.strip().splitlines()), out
    return found


@pytest.fixture(scope="module")
def glue_toml(
    tmp_path_factory: pytest.TempPathFactory, moto: MotoServer, fleet_stores: Fleet
) -> Path:
    """``[lake]`` on Glue, for a bucket that holds the three simulated vehicles."""
    client = s3_client(moto)
    for name in (SIMULATED_FLEET, METADATA):
        client.create_bucket(
            Bucket=name,
            CreateBucketConfiguration={"LocationConstraint": REGION},  # type: ignore[typeddict-item]
        )
    for vin in SIMULATED:
        put_store(client, SIMULATED_FLEET, fleet_stores.stores / vin, vin)
    path = tmp_path_factory.mktemp("glue") / "fleet.toml"
    path.write_text(
        '[lake]\ncatalog = "glue"\n'
        f'glue_endpoint = "{moto.endpoint}"\nwarehouse = "s3://{METADATA}/warehouse"\n'
        f'namespace = "{DATABASE}"\n'
        f'bucket = "{SIMULATED_FLEET}"\nendpoint = "{moto.endpoint}"\nregion = "{REGION}"\n'
    )
    return path


def test_the_fleet_through_glue_on_moto_answers_as_through_the_sql_catalog(
    tmp_path: Path, glue_toml: Path, moto: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    glue = ["-c", str(glue_toml)]
    assert main(["lake", "query", QUESTIONS[0], *glue]) == 1  # nothing registered yet
    _, err = capsys.readouterr()
    assert f"no lake namespace {DATABASE!r} in the glue catalog at {moto.endpoint}" in err

    assert main(["lake", "register", *glue]) == 0
    out, err = capsys.readouterr()
    first = registered(out)
    assert not err and first["frames"][0] > 0
    assert all(present == 0 for _, present in first.values())
    tables = glue_tables(moto)
    assert set(tables) == set(first)
    for params in tables.values():  # Iceberg tables, their metadata in the warehouse bucket
        assert params["table_type"] == "ICEBERG"
        location = params["metadata_location"]
        assert location.startswith(f"s3://{METADATA}/warehouse/{DATABASE}.db/")
        s3_client(moto).head_object(Bucket=METADATA, Key=location.split("/", 3)[3])

    assert main(["lake", "register", *glue]) == 0
    out, err = capsys.readouterr()
    again = registered(out)
    assert not err and again == {name: (0, added) for name, (added, _) in first.items()}
    assert glue_tables(moto) == tables  # no new metadata, no new table version

    sql = ["--catalog", str(tmp_path / "sql"), "--bucket", SIMULATED_FLEET]
    sql += ["--endpoint", moto.endpoint, "--region", REGION]
    assert main(["lake", "register", *sql]) == 0
    out, _ = capsys.readouterr()
    assert registered(out) == first  # the same files in the same tables
    for question in QUESTIONS:
        answers: list[str] = []
        for where in (glue, sql):
            assert main(["lake", "query", question, "--format", "jsonl", *where]) == 0
            answers.append(capsys.readouterr().out)
        assert answers[0].strip() and answers[0] == answers[1], question
