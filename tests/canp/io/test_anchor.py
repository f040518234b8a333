"""Relative log times anchored on import: to the file's mtime, to ``--start``, to an ASC header's
trigger block; ASC delta times flagged."""

from __future__ import annotations

import os
from pathlib import Path

import can
import pytest

from canp.io.importer import LogImporter
from logger.cli.app import main
from tests.support.can_logs import ASC_NO_DATE, stored


def test_relative_log_without_a_date_ends_at_its_mtime(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bench.asc"
    path.write_text(ASC_NO_DATE)
    mtime_ns = 1_700_000_100 * 10**9
    os.utime(path, ns=(mtime_ns, mtime_ns))
    assert main(["import", str(path), "--dir", str(tmp_path / "s")]) == 0
    assert "the file's mtime, taken as its last frame's time" in capsys.readouterr().err
    table = stored(tmp_path / "s")
    assert table.column("ts").to_pylist() == [mtime_ns - 5 * 10**9, mtime_ns]
    assert table.column("bus").to_pylist() == ["can1", "can2"]
    assert table.column("extended").to_pylist() == [False, True]


def test_start_option_anchors_relative_times(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bench.asc"
    path.write_text(ASC_NO_DATE)
    args = ["import", str(path), "--dir", str(tmp_path / "s"), "--start", "2023-11-14T22:13:20Z"]
    assert main(args) == 0
    assert stored(tmp_path / "s").column("ts").to_pylist() == [
        1_700_000_000_100_000_000,
        1_700_000_005_100_000_000,
    ]
    assert main(["import", str(path), "--dir", str(tmp_path / "t"), "--start", "soon"]) == 1
    assert "--start: expected ISO 8601" in capsys.readouterr().err


def test_asc_with_delta_times_is_flagged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deltas.asc"
    path.write_text(ASC_NO_DATE.replace("timestamps absolute", "timestamps relative"))
    assert main(["import", str(path), "--dir", str(tmp_path / "s"), "--start", "1700000000"]) == 0
    assert "its header says 'timestamps relative'" in capsys.readouterr().err


def test_asc_written_by_python_can_is_anchored_to_its_trigger_block(tmp_path: Path) -> None:
    path = tmp_path / "py.asc"
    first = 1_700_000_000.123456
    writer = can.ASCWriter(path)
    for i in range(3):
        writer.on_message_received(
            can.Message(timestamp=first + i, arbitration_id=0x100 + i, is_extended_id=False)
        )
    writer.stop()
    result = LogImporter(tmp_path / "s").import_file(path)
    assert result.anchor is not None and "Begin Triggerblock" in result.anchor.source
    # the header carries milliseconds: time 0 is the first frame cut to the millisecond
    assert result.first_ns == 1_700_000_000_123_000_000
    assert result.last_ns == 1_700_000_002_123_000_000
