"""README's "Fleet lake" path end to end, each step a child process as a person runs it: three
simulated vehicles imported into their own stores (own VIN), each uploaded by
``sdvlog upload -c <vehicle>.toml --once`` to moto's S3 server, ``sdvlog lake register`` and
one ``sdvlog lake query ... --vehicles all``, whose answer per vehicle equals ``sdvlog query
--dir`` on that vehicle's store. Credentials come from the variables the config names, from the
standard ``AWS_*`` variables, or from a profile in a shared credentials file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, MotoServer, s3_client

BUCKET = "fleet"
VINS = ("SIMVIN01", "SIMVIN02", "SIMVIN03")
REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DEMO_DBC = REPO / "dbc" / "examples" / "demo.dbc"
QUESTION = "sync-0-9999999999999;where=EngineSpeed>1200,VehicleSpeed<40;out=intervals"
TIMEOUT = 300
#: A line of ``sdvlog lake register``: ``<table>: <n> added ...``.
ADDED = re.compile(r"^\w+: (\d+) added")


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


def readme_block() -> str:
    """The ``sh`` block of README's "Fleet lake" section."""
    text = README.read_text()
    section = text[text.index("## Fleet lake") :]
    return section[section.index("```sh\n") + 6 : section.index("\n```\n")]


def run_readme(root: Path, server: MotoServer) -> str:
    """README's block in ``root`` (beside the project's ``dbc/``) with ``sdvlog`` and ``python``
    of this virtualenv, moto's endpoint and the test keys put in; its standard output."""
    (root / "dbc").symlink_to(DEMO_DBC.parents[1], target_is_directory=True)
    block = readme_block().replace("http://127.0.0.1:9000", server.endpoint)
    block = block.replace(
        "SDVLOG_S3_KEY=... SDVLOG_S3_SECRET=...",
        f"SDVLOG_S3_KEY={ACCESS_KEY} SDVLOG_S3_SECRET={SECRET_KEY}",
    )
    assert server.endpoint in block and ACCESS_KEY in block
    bin_dir = Path(sys.executable).parent
    env = clean_env(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", AWS_DEFAULT_REGION=REGION)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        cwd=root,
        check=False,
    )
    assert done.returncode == 0, f"README's block: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


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
def vehicles(
    tmp_path_factory: pytest.TempPathFactory, moto: MotoServer
) -> tuple[Path, dict[str, Path], str]:
    """README's block run once: the directory it ran in, each vehicle's store, what it printed."""
    root = tmp_path_factory.mktemp("fleet")
    new_bucket(moto)
    printed = run_readme(root, moto)
    return root, {vin: root / "vehicles" / vin for vin in VINS}, printed


def test_readme_fleet_path_uploads_registers_and_answers_per_vehicle_as_our_engine(
    moto: MotoServer, vehicles: tuple[Path, dict[str, Path], str]
) -> None:
    root, stores, printed = vehicles
    listed = aws_ls(moto)
    want = set().union(*(stored_keys(stores[vin], vin) for vin in VINS))
    assert all(stored_keys(stores[vin], vin) for vin in VINS)
    assert sorted(listed) == sorted(want)  # every stored file, exactly once, nothing else
    assert any("/hour=0/" in k for k in listed) and any("/hour=1/" in k for k in listed)
    registered = [line for line in printed.splitlines() if ADDED.match(line)]
    added = sum(int(m[1]) for line in registered if (m := ADDED.match(line)))
    assert any(line.startswith("frames:") for line in registered)
    assert added == len(listed), printed  # every upload registered
    lake = ["--catalog", str(root / "lake"), "--bucket", BUCKET, "--endpoint", moto.endpoint]
    lake += ["--region", REGION]
    aws_env = clean_env(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    again = sdvlog("lake", "register", *lake, env=aws_env, quiet=True)
    assert "frames: 0 added" in again  # nothing registered twice
    assert all(vin in printed for vin in VINS)  # README's own query printed each vehicle
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
    vehicles: tuple[Path, dict[str, Path], str],
    bucket: str,
    keys: str,
    env: dict[str, str],
) -> list[str]:
    """The first vehicle uploaded into a new ``bucket`` (its own ledger) with ``keys``."""
    root, stores, _ = vehicles
    new_bucket(moto, bucket)
    lines = keys + f'state_dir = "{root / bucket}"\n'
    cfg = vehicle_toml(root, VINS[0], moto, lines, bucket=bucket, name=bucket)
    sdvlog("upload", "-c", str(cfg), "--once", env=env)
    landed = s3_client(moto).list_objects_v2(Bucket=bucket).get("Contents", [])
    assert sorted(o["Key"] for o in landed) == sorted(stored_keys(stores[VINS[0]], VINS[0]))
    return [str(o["Key"]) for o in landed]


def test_credentials_from_the_standard_aws_variables(
    moto: MotoServer, vehicles: tuple[Path, dict[str, Path], str]
) -> None:
    env = clean_env(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    upload_one(moto, vehicles, "from-aws-env", "", env)


def test_credentials_from_a_profile(
    moto: MotoServer, vehicles: tuple[Path, dict[str, Path], str], tmp_path: Path
) -> None:
    shared = tmp_path / "credentials"
    shared.write_text(
        f"[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n"
        f"[fleet]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    env = clean_env(AWS_SHARED_CREDENTIALS_FILE=str(shared), AWS_CONFIG_FILE=str(tmp_path / "none"))
    upload_one(moto, vehicles, "from-profile", 'profile = "fleet"\n', env)


def test_an_unknown_profile_is_an_error_naming_file_and_key(
    moto: MotoServer, vehicles: tuple[Path, dict[str, Path], str], tmp_path: Path
) -> None:
    root, _, _ = vehicles
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
