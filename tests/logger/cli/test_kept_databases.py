"""``sdvlog query --dir`` answers signal questions without ``--dbc``: the store kept the database
its files were decoded with (``sdvlog import`` and the service both keep it)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import can

from canp.schema import CAN_EFF_FLAG, CAN_EFF_MASK, FLAG_FD
from logger.store.layout import DATABASES_DIR
from tests.support.service import run_cli
from tests.support.streams import DEMO, demo_frames

T0 = 1_700_000_000_000_000_000
QUESTION = "sync-0-9999999999999;sig=EngineSpeed,VehicleSpeed;where=EngineSpeed>4000;limit=50"


def drive_log(path: Path, frames: int) -> Path:
    cols = demo_frames(T0, frames)
    with can.Logger(str(path)) as log:
        for ts, can_id, flags, data in zip(
            cols.ts, cols.can_id, cols.flags, cols.data.to_pylist(), strict=True
        ):
            log.on_message_received(
                can.Message(
                    timestamp=int(ts) / 1e9,
                    arbitration_id=int(can_id) & CAN_EFF_MASK,
                    is_extended_id=bool(int(can_id) & CAN_EFF_FLAG),
                    is_fd=bool(int(flags) & FLAG_FD),
                    data=data,
                    channel=1,
                )
            )
    return path


def test_signal_questions_offline_use_the_kept_database(tmp_path: Path) -> None:
    dbc = tmp_path / "vehicle.dbc"
    shutil.copy(DEMO, dbc)
    store = tmp_path / "store"
    log = drive_log(tmp_path / "drive.blf", 600)
    imported = run_cli("import", str(log), "--dir", str(store), "--dbc", str(dbc))
    assert imported.returncode == 0, imported.stderr
    kept = store / "can" / DATABASES_DIR / f"{hashlib.sha256(dbc.read_bytes()).hexdigest()}.dbc"
    assert kept.read_bytes() == dbc.read_bytes()

    given = run_cli("query", QUESTION, "--dir", str(store), "--dbc", str(dbc), "--format", "csv")
    assert given.returncode == 0, given.stderr
    assert given.stdout.count("\n") > 2  # a header and rows: the question has answers
    dbc.unlink()  # the DBC beside the logger is gone (or changed): the store's copy answers
    kept_answer = run_cli("query", QUESTION, "--dir", str(store), "--format", "csv")
    assert kept_answer.returncode == 0, kept_answer.stderr
    assert kept_answer.stdout == given.stdout

    shutil.rmtree(kept.parent)  # nothing kept: the question needs --dbc, and says so
    missing = run_cli("query", QUESTION, "--dir", str(store))
    assert missing.returncode == 1
    assert "sig= needs a DBC" in missing.stderr
