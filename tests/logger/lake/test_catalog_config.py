"""``sdvlog lake register|query -c FILE``: the catalog and the bucket from ``[lake]`` (its
defaults from ``[parquet]`` and ``[upload]``), the command line's options over them, the
credentials from the variables ``[lake]`` names, and a REST catalog that cannot be reached or
has no token: each a clear error, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from logger.cli.app import main
from logger.lake.catalog import open_catalog
from logger.lake.source import LakeSource
from tests.logger.lake.fleet import copy_store, put_store, simulated_vehicle
from tests.logger.lake.questions import SIM
from tests.support.ports import LOOPBACK, free_port
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, MotoServer, s3_client

SMALL = "small"
VIN = "SMALLVIN00000001"
QUESTION = f"{SIM};sig=EngineSpeed;limit=5"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, moto: MotoServer) -> Path:
    """A bucket with one vehicle's few seconds; the directory of its store."""
    root = tmp_path_factory.mktemp("small")
    simulated_vehicle(root, VIN, seed=7, seconds=4.0)
    client = s3_client(moto)
    client.create_bucket(
        Bucket=SMALL,
        CreateBucketConfiguration={"LocationConstraint": REGION},  # type: ignore[typeddict-item]
    )
    assert put_store(client, SMALL, root / VIN, VIN) > 0
    return root


def vehicle_toml(path: Path, moto: MotoServer, lake: str = "") -> Path:
    """A vehicle's configuration: its store and ``[upload]``, then ``lake`` (TOML lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'vin = "{VIN}"\n[parquet]\ndir = "{path.parent / "store"}"\n'
        f'[upload]\nendpoint = "{moto.endpoint}"\nbucket = "{SMALL}"\nregion = "{REGION}"\n' + lake
    )
    return path


def test_upload_config_alone_registers_its_bucket_in_an_sql_catalog_beside_the_store(
    tmp_path: Path, small: Path, moto: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = vehicle_toml(tmp_path / "v.toml", moto)
    assert main(["lake", "register", "-c", str(cfg)]) == 0
    out, err = capsys.readouterr()
    assert "frames: 1 added" in out and not err
    assert (tmp_path / "store" / ".lake" / "catalog.db").is_file()
    assert main(["lake", "query", QUESTION, "--format", "csv", "-c", str(cfg)]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith('"vehicle",') and len(out.splitlines()) == 6
    # the options stand over the file: another catalog directory, which has no catalog
    other = tmp_path / "other"
    assert main(["lake", "query", QUESTION, "-c", str(cfg), "--catalog", str(other)]) == 1
    _, err = capsys.readouterr()
    assert f"no lake catalog at {other / 'catalog.db'}" in err


def test_the_credentials_come_from_the_variables_lake_names(
    tmp_path: Path,
    small: Path,
    moto: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    lake = '[lake]\naccess_key_env = "FLEET_KEY"\nsecret_key_env = "FLEET_SECRET"\n'
    cfg = vehicle_toml(tmp_path / "v.toml", moto, lake)
    assert main(["lake", "register", "-c", str(cfg)]) == 1
    _, err = capsys.readouterr()
    assert "FLEET_KEY and FLEET_SECRET not set" in err
    monkeypatch.setenv("FLEET_KEY", ACCESS_KEY)
    monkeypatch.setenv("FLEET_SECRET", SECRET_KEY)
    assert main(["lake", "register", "-c", str(cfg)]) == 0
    out, err = capsys.readouterr()
    assert "frames: 1 added" in out and not err
    assert main(["lake", "query", QUESTION, "--format", "csv", "-c", str(cfg)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 6


def test_an_unreachable_rest_catalog_is_an_error_naming_its_uri(
    tmp_path: Path, small: Path, moto: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = f"http://{LOOPBACK}:{free_port()}"  # nothing listens there
    cfg = vehicle_toml(tmp_path / "v.toml", moto, f'[lake]\ncatalog = "rest"\nuri = "{uri}"\n')
    for action in (["register"], ["query", QUESTION]):
        assert main(["lake", *action, "-c", str(cfg)]) == 1
        _, err = capsys.readouterr()
        assert f"rest catalog at {uri}: " in err and "Connection refused" in err, err
        assert "Traceback" not in err


def test_a_rest_token_variable_that_is_not_set_is_named(
    tmp_path: Path,
    small: Path,
    moto: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("FLEET_CATALOG_TOKEN", raising=False)
    lake = (
        '[lake]\ncatalog = "rest"\nuri = "http://127.0.0.1:1"\ntoken_env = "FLEET_CATALOG_TOKEN"\n'
    )
    cfg = vehicle_toml(tmp_path / "v.toml", moto, lake)
    assert main(["lake", "register", "-c", str(cfg)]) == 1
    _, err = capsys.readouterr()
    assert "lake.token_env names the variable FLEET_CATALOG_TOKEN, which is not set" in err


def test_what_is_missing_or_wrong_is_named(
    tmp_path: Path, moto: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lake", "register", "--bucket", SMALL]) == 1
    _, err = capsys.readouterr()
    assert "give -c FILE" in err and "--catalog DIR" in err
    bare = tmp_path / "bare.toml"
    bare.write_text('vin = "X"\n')
    assert main(["lake", "register", "-c", str(bare)]) == 1
    _, err = capsys.readouterr()
    assert "no lake named: give --bucket or --lake-dir" in err
    broken = tmp_path / "broken.toml"
    broken.write_text('[lake]\ncatalog = "rest"\n')
    assert main(["lake", "query", QUESTION, "-c", str(broken)]) == 1
    _, err = capsys.readouterr()
    assert f"{broken}: lake.uri: is required for catalog = 'rest'" in err


def test_a_lake_directory_given_on_the_command_line_replaces_the_bucket(
    tmp_path: Path, small: Path, moto: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = vehicle_toml(tmp_path / "v.toml", moto)
    lake = tmp_path / "lake"
    assert copy_store(lake, small / VIN, VIN) > 0
    local = ["-c", str(cfg), "--lake-dir", str(lake)]
    assert main(["lake", "register", *local]) == 0
    out, _ = capsys.readouterr()
    assert "frames: 1 added" in out
    assert main(["lake", "query", QUESTION, "--format", "jsonl", *local]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 5 and {r["vehicle"] for r in rows} == {VIN}
    # the files are registered where they are: in the directory, not in the bucket
    catalog = open_catalog(tmp_path / "store" / ".lake", LakeSource(root=lake))
    paths = [t.file.file_path for t in catalog.load_table(("fleet", "frames")).scan().plan_files()]
    assert paths and all(p.startswith(str(lake.resolve())) for p in paths)


def test_a_glue_lake_without_a_warehouse_is_refused_naming_the_key(
    tmp_path: Path, small: Path, moto: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = f'[lake]\ncatalog = "glue"\nglue_endpoint = "{moto.endpoint}"\nnamespace = "bare"\n'
    cfg = vehicle_toml(tmp_path / "v.toml", moto, lake)
    assert main(["lake", "register", "-c", str(cfg)]) == 1
    _, err = capsys.readouterr()
    assert "lake.warehouse: the Glue database 'bare' has no location" in err, err
