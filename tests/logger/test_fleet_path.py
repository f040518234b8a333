"""README's "Fleet lake" path end to end, each step a child process as a person runs it: three
simulated vehicles imported into their own stores (own VIN), each uploaded by
``sdvlog upload -c <vehicle>.toml --once`` to moto's S3 server, ``sdvlog lake register`` and
one ``sdvlog lake query ... --vehicles all``, whose answer per vehicle equals ``sdvlog query
--dir`` on that vehicle's store. Credentials come from the variables the config names, from the
standard ``AWS_*`` variables, or from a profile in a shared credentials file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, MotoServer, s3_client

BUCKET = "fleet"
VINS = ("SIMVIN01", "SIMVIN02", "SIMVIN03")
DEMO_DBC = Path(__file__).resolve().parents[2] / "dbc" / "examples" / "demo.dbc"
SECONDS = 180  # three minutes a vehicle,
START = 1_717_203_540  # from 2024-06-01T00:59:00Z: every drive spans hour=0 and hour=1
QUESTION = "sync-0-9999999999999;where=EngineSpeed>1200,VehicleSpeed<40;out=intervals"
TIMEOUT = 300


def sdvlog(*args: str, env: dict[str, str] | None = None, quiet: bool = False) -> str:
    """``sdvlog ARGS`` as a child process; its standard output (a failure shows its stderr).
    With ``quiet``, nothing may be reported on stderr either (no file left out)."""
    done = subprocess.run(
        [sys.executable, "-m", "logger.cli.app", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        check=False,
    )
    assert done.returncode == 0, f"sdvlog {' '.join(args)}: {done.returncode}\n{done.stderr}"
    assert not (quiet and done.stderr.strip()), f"sdvlog {' '.join(args)}:\n{done.stderr}"
    return done.stdout


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any AWS or test credentials, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SDVLOG_"))}
    return {**env, **extra}


def aws_ls(server: MotoServer) -> list[str]:
    """``aws s3 ls --recursive`` of the bucket: the keys, as listed (one line each)."""
    env = clean_env(
        AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION=REGION
    )
    done = subprocess.run(
        ["aws", "s3", "ls", "--recursive", "--endpoint-url", server.endpoint, f"s3://{BUCKET}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
        check=True,
    )
    return [line.split(maxsplit=3)[3] for line in done.stdout.splitlines() if line.strip()]


def simulate(vin: str, seed: int, root: Path) -> Path:
    """README's step: a BLF of the demo DBC, then ``sdvlog import`` into ``vehicles/<VIN>``."""
    import can  # noqa: PLC0415 - python-can only where a log is written

    from hw.simulate import Simulator, load_dbc  # noqa: PLC0415

    blf = root / f"sim{seed}.blf"
    writer = can.Logger(str(blf))
    for message in Simulator(load_dbc(DEMO_DBC), None, seed=seed).frames(SECONDS, start=START):
        writer(message)
    writer.stop()
    store = root / "vehicles" / vin
    sdvlog("import", str(blf), "--dir", str(store), "--dbc", str(DEMO_DBC), "--vin", vin)
    return store


def vehicle_toml(
    root: Path, vin: str, server: MotoServer, credentials: str, bucket: str = BUCKET, name: str = ""
) -> Path:
    """README's ``<VIN>.toml``: the vehicle's id, its store and ``[upload]`` (``credentials``
    and more keys of it as TOML lines)."""
    path = root / f"{name or vin}.toml"
    path.write_text(
        f'vin = "{vin}"\n'
        f'[parquet]\ndir = "{root / "vehicles" / vin}"\n'
        '[[exchange]]\nname = "can"\ntopic = "vehicle/+/canp/#"\nstream = "canp"\n'
        f'[upload]\nendpoint = "{server.endpoint}"\nbucket = "{bucket}"\nregion = "{REGION}"\n'
        + credentials
    )
    return path


def stored_keys(store: Path, vin: str) -> set[str]:
    """The key every stored file of the vehicle's ``can`` exchange should have in the lake."""
    root = store / "can"
    return {
        f"vehicle={vin}/exchange=can/{p.relative_to(root).as_posix()}"
        for p in root.rglob("*.parquet")
    }


def rows(jsonl: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in jsonl.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with MotoServer(tmp_path_factory.mktemp("moto")) as server:
        yield server


def new_bucket(server: MotoServer, name: str = BUCKET) -> None:
    s3_client(server).create_bucket(
        Bucket=name,
        CreateBucketConfiguration={"LocationConstraint": REGION},  # type: ignore[typeddict-item]
    )


@pytest.fixture(scope="module")
def vehicles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("fleet")
    return root, {vin: simulate(vin, n, root) for n, vin in enumerate(VINS, start=1)}


def test_three_vehicles_upload_register_and_one_fleet_question(
    moto: MotoServer, vehicles: tuple[Path, dict[str, Path]]
) -> None:
    root, stores = vehicles
    new_bucket(moto)
    env = clean_env(SDVLOG_S3_KEY=ACCESS_KEY, SDVLOG_S3_SECRET=SECRET_KEY)
    names = 'access_key_env = "SDVLOG_S3_KEY"\nsecret_key_env = "SDVLOG_S3_SECRET"\n'
    for vin in VINS:
        sdvlog("upload", "-c", str(vehicle_toml(root, vin, moto, names)), "--once", env=env)
    listed = aws_ls(moto)
    want = set().union(*(stored_keys(stores[vin], vin) for vin in VINS))
    assert sorted(listed) == sorted(want)  # every stored file, exactly once, nothing else
    assert any("/hour=0/" in k for k in listed) and any("/hour=1/" in k for k in listed)
    lake = ["--catalog", str(root / "lake"), "--bucket", BUCKET, "--endpoint", moto.endpoint]
    lake += ["--region", REGION]
    aws_env = clean_env(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    out = sdvlog("lake", "register", *lake, env=aws_env, quiet=True)
    added = sum(int(line.split(": ")[1].split()[0]) for line in out.splitlines() if ": " in line)
    assert "frames:" in out and added == len(listed), out  # every upload registered
    fleet = rows(
        sdvlog(
            "lake", "query", QUESTION, "--vehicles", "all", "--format", "jsonl", *lake, env=aws_env
        )
    )
    assert {r["vehicle"] for r in fleet} <= set(VINS) and fleet
    for vin in VINS:
        ours = rows(sdvlog("query", QUESTION, "--dir", str(stores[vin]), "--format", "jsonl"))
        theirs = [
            {k: v for k, v in r.items() if k != "vehicle"} for r in fleet if r["vehicle"] == vin
        ]
        assert ours and theirs == ours, vin


def upload_one(
    moto: MotoServer,
    vehicles: tuple[Path, dict[str, Path]],
    bucket: str,
    keys: str,
    env: dict[str, str],
) -> list[str]:
    """The first vehicle uploaded into a new ``bucket`` (its own ledger) with ``keys``."""
    root, stores = vehicles
    new_bucket(moto, bucket)
    lines = keys + f'state_dir = "{root / bucket}"\n'
    cfg = vehicle_toml(root, VINS[0], moto, lines, bucket=bucket, name=bucket)
    sdvlog("upload", "-c", str(cfg), "--once", env=env)
    landed = s3_client(moto).list_objects_v2(Bucket=bucket).get("Contents", [])
    assert sorted(o["Key"] for o in landed) == sorted(stored_keys(stores[VINS[0]], VINS[0]))
    return [str(o["Key"]) for o in landed]


def test_credentials_from_the_standard_aws_variables(
    moto: MotoServer, vehicles: tuple[Path, dict[str, Path]]
) -> None:
    env = clean_env(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    upload_one(moto, vehicles, "from-aws-env", "", env)


def test_credentials_from_a_profile(
    moto: MotoServer, vehicles: tuple[Path, dict[str, Path]], tmp_path: Path
) -> None:
    shared = tmp_path / "credentials"
    shared.write_text(
        f"[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n"
        f"[fleet]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    env = clean_env(AWS_SHARED_CREDENTIALS_FILE=str(shared), AWS_CONFIG_FILE=str(tmp_path / "none"))
    upload_one(moto, vehicles, "from-profile", 'profile = "fleet"\n', env)


def test_an_unknown_profile_is_an_error_naming_file_and_key(
    moto: MotoServer, vehicles: tuple[Path, dict[str, Path]], tmp_path: Path
) -> None:
    root, _ = vehicles
    shared = tmp_path / "credentials"
    shared.write_text(f"[fleet]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = x\n")
    env = clean_env(AWS_SHARED_CREDENTIALS_FILE=str(shared), AWS_CONFIG_FILE=str(tmp_path / "none"))
    cfg = vehicle_toml(root, VINS[0], moto, 'profile = "nope"\n', name="nope")
    done = subprocess.run(
        [sys.executable, "-m", "logger.cli.app", "upload", "-c", str(cfg), "--once"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        check=False,
    )
    assert done.returncode != 0
    assert str(cfg) in done.stderr and "upload.profile" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
