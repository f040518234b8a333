"""``sdvlog lake register`` and ``sdvlog lake query`` end to end against moto's S3 server; an
encrypted file is reported and not registered."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.decode import simulated_frames
from canp.plugin import CanpPlugin
from canp.schema import FRAMES, TIME_COLUMN
from logger.cli.app import main
from logger.core.config import Config, EncryptionConfig, ParquetConfig
from logger.lake.source import LakeSource
from logger.store import ParquetStore
from logger.store.chunk import TableChunk
from logger.store.metadata import file_metadata
from tests.logger.lake.conftest import BUCKET, SIMULATED
from tests.logger.lake.fleet import exchange, lake_keys, two_buses
from tests.logger.lake.questions import SIM
from tests.support.s3 import MotoServer, s3_client

ENCRYPTED = "ENCRYPTEDVIN0001"


def _encrypted_store(root: Path) -> Path:
    key = root / "k1.key"
    key.write_bytes(b"0123456789abcdef")
    ex = exchange()
    plugin = CanpPlugin(ex)
    parquet = ParquetConfig(
        dir=root / ENCRYPTED, encryption=EncryptionConfig(key_id="k1", key_file=key)
    )
    cfg = Config(vin=ENCRYPTED, exchanges=(ex,), parquet=parquet)
    store = ParquetStore(parquet, ex.name, file_metadata(cfg, ex, plugin))
    store.recover()
    frames = two_buses(simulated_frames(2.0, 9, 1_717_200_000.0))
    store.publish(store.write([TableChunk(FRAMES, frames, TIME_COLUMN, plugin.frames_hints)]))
    return root / ENCRYPTED


def test_register_then_query_the_fleet(
    tmp_path: Path, bucket: LakeSource, moto: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ["--catalog", str(tmp_path / "cat"), "--bucket", BUCKET, "--endpoint", moto.endpoint]
    where += ["--region", bucket.region]
    assert main(["lake", "register", *where]) == 0
    out, err = capsys.readouterr()
    assert "frames:" in out and "added" in out and not err
    assert main(["lake", "register", *where]) == 0
    out, _ = capsys.readouterr()
    assert " 0 added" in out
    question = f"{SIM};where=EngineSpeed>1200;out=intervals"
    assert (
        main(
            [
                "lake",
                "query",
                question,
                "--vehicles",
                ",".join(SIMULATED[:2]),
                "--format",
                "jsonl",
                *where,
            ]
        )
        == 0
    )
    out, _ = capsys.readouterr()
    assert out.strip() and {SIMULATED[0], SIMULATED[1]} >= {
        line.split('"vehicle": "')[1].split('"')[0] for line in out.strip().splitlines()
    }
    assert main(["lake", "query", question, "--vehicles", "NOPE", *where]) == 1
    _, err = capsys.readouterr()
    assert "unknown vehicle(s) NOPE" in err
    assert (
        main(["lake", "query", "sync-9-1", "--catalog", str(tmp_path / "none"), "--bucket", BUCKET])
        == 1
    )
    _, err = capsys.readouterr()
    assert "no lake catalog" in err


def test_encrypted_files_are_reported_not_registered(
    tmp_path: Path, bucket: LakeSource, moto: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    client = s3_client(moto)
    client.create_bucket(
        Bucket="sealed", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    for key, path in lake_keys(_encrypted_store(tmp_path), ENCRYPTED):
        client.put_object(Bucket="sealed", Key=key, Body=path.read_bytes())
    where = ["--catalog", str(tmp_path / "cat"), "--bucket", "sealed", "--endpoint", moto.endpoint]
    assert main(["lake", "register", *where, "--region", bucket.region]) == 0
    out, err = capsys.readouterr()
    assert "frames: 0 added" in out
    assert f"vehicle={ENCRYPTED}" in err and "encrypted" in err


def test_encrypted_files_are_decrypted_into_the_lake_with_the_vehicles_key(
    tmp_path: Path, bucket: LakeSource, moto: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    client = s3_client(moto)
    client.create_bucket(
        Bucket="keyed", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    store = _encrypted_store(tmp_path)
    originals = {}
    for key, path in lake_keys(store, ENCRYPTED):
        client.put_object(Bucket="keyed", Key=key, Body=path.read_bytes())
        originals[key] = path.read_bytes()
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / f"{ENCRYPTED}.key").write_bytes(b"fedcba9876543210")  # the wrong key first
    where = ["--catalog", str(tmp_path / "cat"), "--bucket", "keyed", "--endpoint", moto.endpoint]
    where += ["--region", bucket.region]
    assert main(["lake", "register", *where, "--keys", str(keys)]) == 0
    out, err = capsys.readouterr()
    assert "frames: 0 added" in out and "cannot decrypt" in err
    (keys / f"{ENCRYPTED}.key").write_bytes((tmp_path / "k1.key").read_bytes())
    assert main(["lake", "register", *where, "--keys", str(keys)]) == 0
    out, err = capsys.readouterr()
    assert "frames: 1 added" in out and not err
    assert main(["lake", "register", *where, "--keys", str(keys)]) == 0
    out, _ = capsys.readouterr()
    assert "frames: 0 added" in out
    # the uploads are untouched; the copies are plaintext, encrypted at rest by the bucket
    for key, data in originals.items():
        assert client.get_object(Bucket="keyed", Key=key)["Body"].read() == data
        copy = client.head_object(Bucket="keyed", Key=f"decrypted/{key}")
        assert copy["ServerSideEncryption"] == "AES256"
    question = "sync-1717200000000-1717200003000;limit=100000"
    assert main(["lake", "query", question, "--format", "csv", *where]) == 0
    out, _ = capsys.readouterr()
    want = simulated_frames(2.0, 9, 1_717_200_000.0).num_rows
    assert len(out.strip().splitlines()) == want + 1
