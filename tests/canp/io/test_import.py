"""``sdvlog import``: real logs round-trip, problem files fail clearly, content detection, buses,
chunks, the exchange's plugin and time unit, what outside readers get.

The real logs and problem files live in ``shared/data`` beside the repository (``SDVLOG_DATA``
overrides where); they are never copied into it (some are GPL). Tests that need them skip when
they are absent.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import can
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from canp.io.importer import LogImporter, bus_name
from canp.io.read import detect_format
from canp.schema import FRAMES, TIME_COLUMN
from logger.cli.app import main
from tests.support.can_logs import (
    ALL,
    ASC_NO_DATE,
    BASE_NS,
    TIME_TOLERANCE_S,
    assert_same_frames,
    read_log,
    stored,
    write_raw_store,
)

ROOT = Path(__file__).resolve().parents[3]
DATA = Path(os.environ.get("SDVLOG_DATA", ROOT.parent / "shared" / "data"))
LOGS = DATA / "logs"
PROBLEMS = DATA / "problem_files"
#: ``date Thu, 09 Nov 2023 20:36:33 GMT`` in kona_ev_bms_idle_30sec.asc.
KONA_START_S = 1_699_562_193.0


def _skip_absent(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} is not here (real data lives in shared/data, never in the repo)")
    if path.suffix.lower() == ".mf4":
        pytest.importorskip("asammdf", reason="MF4 needs asammdf")


# --- real logs -----------------------------------------------------------------------------------

REAL_LOGS = [
    "ford_gt350_vsslog.trc",
    "hyundai_genesis_autologgenesis.log",
    "hyundai_kona_turnonlog.trc",
    "kona_ev_bms_idle_30sec.asc",
    "css_canedge_j1939_plus_gps.MF4",
    "css_canedge_j1939_truck.MF4",
]


@pytest.mark.parametrize("name", REAL_LOGS)
def test_real_log_imports_and_round_trips_through_blf_and_candump(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = LOGS / name
    _skip_absent(path)
    original = read_log(path).in_time_order()
    fmt = detect_format(path)
    store = tmp_path / "store"

    assert main(["import", str(path), "--dir", str(store)]) == 0
    out = capsys.readouterr()
    assert f"{len(original):,} frames" in out.out
    offset = 0.0
    if fmt.name == "asc":  # relative times, anchored to the header's date line
        offset = KONA_START_S
        assert "time 0 is 2023-11-09T20:36:33.000000Z" in out.err
        assert "'date Thu, 09 Nov 2023 20:36:33 GMT'" in out.err
    buses = [bus_name(ch, fmt) for ch in original.channel]

    table = stored(store)
    assert table.num_rows == len(original)
    assert table.column("bus").to_pylist() == buses
    ts = table.column(TIME_COLUMN).to_numpy() / 1e9
    assert float(np.abs(ts - (original.ts + offset)).max()) <= TIME_TOLERANCE_S
    meta = pq.read_schema(next((store / "can" / FRAMES).rglob("*.parquet"))).metadata
    assert meta[b"sdvlog.plugin"] == b"canp"
    assert meta[b"sdvlog.source_file"] == name.encode()

    for suffix in (".blf", ".log"):
        target = tmp_path / f"export{suffix}"
        assert main(["export", ALL, "--dir", str(store), "--to", str(target)]) == 0
        back = read_log(target)
        assert_same_frames(back, original, offset)
        if suffix == ".log":
            assert back.channel == buses  # candump: the bus name is the interface
        else:  # BLF: can<n> is channel n in the file (python-can reads n - 1)
            assert [f"can{int(str(ch)) + 1}" for ch in back.channel] == buses


# --- problem files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "line", "kept", "says"),
    [
        ("eldominio_civic8th_vsslogfiltered_busmaster.log", 1, 0, "looks like a BUSMASTER log"),
        ("eldominio_evox_linklog2_truncated.log", 1096, 1095, "it looks truncated"),
        ("eldominio_gt350_deffpumpon_spaces.log", 3, 0, "43E# 00 90 10 8C"),
        ("eldominio_kona_turnonlog_pcanview_first2000lines.csv", 1, 0, "a PEAK CSV export"),
        ("konaev_gvret_savvycan_first2000lines.csv", 1, 0, "a SavvyCAN (GVRET) CSV"),
    ],
)
def test_problem_file_fails_clearly_naming_file_and_line(
    name: str, line: int, kept: int, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = PROBLEMS / name
    _skip_absent(path)
    store = tmp_path / "store"
    assert main(["import", str(path), "--dir", str(store)]) == 1
    err = capsys.readouterr().err
    assert f"sdvlog import: {path}:{line}: " in err
    assert says in err
    assert "Traceback" not in err
    assert stored(store).num_rows == kept
    if kept:
        assert f"({kept:,} frame(s) before it were imported)" in err
    else:
        assert "(nothing imported)" in err


def test_a_bad_file_does_not_stop_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.log"
    good.write_text("(1700000000.000001) can0 123#01\n(1700000000.000002) can1 12345678#0203\n")
    bad = tmp_path / "bad.log"
    bad.write_text("(1700000000.000003) can0 124#01\n(1700000000.0000")
    assert main(["import", str(bad), str(good), "--dir", str(tmp_path / "s")]) == 1
    out = capsys.readouterr()
    assert f"{bad}:2: " in out.err and "1 of 2 file(s) not imported completely" in out.err
    assert f"{good}: 2 frames" in out.out
    assert stored(tmp_path / "s").column("id").to_pylist() == [0x123, 0x12345678, 0x124]


def test_truncated_blf_is_reported_and_its_frames_kept(tmp_path: Path) -> None:
    path = tmp_path / "cut.blf"
    writer = can.BLFWriter(path)
    for i in range(5000):
        writer.on_message_received(
            can.Message(timestamp=1.7e9 + i / 1000, arbitration_id=i % 0x700, data=b"\1" * 8)
        )
    writer.stop()
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    importer = LogImporter(tmp_path / "s")
    with pytest.raises(Exception, match="looks truncated") as info:
        importer.import_file(path)
    frames = getattr(info.value, "frames", -1)
    assert 0 < frames < 5000 and stored(tmp_path / "s").num_rows == frames
    assert f"{frames:,} frame(s) before it were imported" in str(info.value)


# --- content, buses, chunks ----------------------------------------------------------------------


def test_format_by_content_and_bus_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candump = tmp_path / "drive.txt"
    candump.write_text("(1700000000.000001) can0 123#01\n(1700000000.000002) can1 800#02\n")
    asc = tmp_path / "misnamed.log"
    asc.write_text(ASC_NO_DATE)
    assert (
        main(["import", str(candump), str(asc), "--dir", str(tmp_path / "s"), "--bus", "body"]) == 0
    )
    err = capsys.readouterr().err
    assert f"{candump}: looks like a candump -L log by its content" in err
    assert f"{asc}: looks like a Vector ASC log by its content; reading it as Vector ASC" in err
    assert "1 frame(s) had standard ids above 0x7FF: stored as extended" in err
    table = stored(tmp_path / "s")
    assert set(table.column("bus").to_pylist()) == {"body"}
    assert table.num_rows == 4

    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01binary")
    assert main(["import", str(junk), "--dir", str(tmp_path / "s")]) == 1
    assert "unknown log format" in capsys.readouterr().err


def candump_lines(n: int, start_ns: int) -> Iterator[str]:
    for i in range(n):
        t = start_ns + i * 1_000_000
        yield f"({t // 10**9}.{t // 1000 % 10**6:06d}) can{i % 2} {i % 0x7FF:03X}#{i % 256:02X}\n"


def test_big_log_is_written_in_chunks_across_an_hour(tmp_path: Path) -> None:
    hour_ns = 3600 * 10**9
    start = (BASE_NS // hour_ns + 1) * hour_ns - 2_500_000_000  # 2.5 s before an hour
    path = tmp_path / "big.log"
    path.write_text("".join(candump_lines(5000, start)))
    seen: list[int] = []
    importer = LogImporter(tmp_path / "s", chunk_frames=1000)
    result = importer.import_file(path, lambda frames, _pos: seen.append(frames))
    assert result.frames == 5000 and result.files == 6  # 5 batches, one cut at the hour
    assert result.buses == {"can0": 2500, "can1": 2500}
    assert seen == sorted(seen) and seen[-1] == 5000
    table = stored(tmp_path / "s")
    assert table.column("ts").to_pylist() == [start + i * 1_000_000 for i in range(5000)]


def test_import_refuses_an_exchange_of_another_plugin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_raw_store(tmp_path, "can")
    log_file = tmp_path / "x.log"
    log_file.write_text("(1700000000.000001) can0 123#01\n")
    assert main(["import", str(log_file), "--dir", str(tmp_path)]) == 1
    assert "holds 'raw' data, not 'canp'" in capsys.readouterr().err


def test_import_keeps_the_exchanges_time_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    first.write_text("(1700000000.000001) can0 123#01\n")
    second.write_text("(1700000001.000002) can0 124#02\n")
    store = tmp_path / "s"
    assert main(["import", str(first), "--dir", str(store), "--time-unit", "ns"]) == 0
    assert main(["import", str(second), "--dir", str(store)]) == 0  # adopts ns
    types = {pq.read_schema(f).field(TIME_COLUMN).type for f in (store / "can").rglob("*.parquet")}
    assert types == {pa.int64()}
    assert main(["import", str(second), "--dir", str(store), "--time-unit", "us"]) == 1
    assert "stores times in ns, not us" in capsys.readouterr().err


def test_outside_readers_get_utc_timestamps_in_time_order(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path / "x.log"
    path.write_text("".join(candump_lines(50, BASE_NS)))
    assert main(["import", str(path), "--dir", str(tmp_path / "s")]) == 0
    rows = duckdb.sql(
        f"SELECT epoch_us(ts) AS us, typeof(ts) AS t FROM read_parquet("
        f"'{tmp_path}/s/can/frames/**/*.parquet', hive_partitioning = true) ORDER BY ts, _tie"
    ).fetchall()
    assert [us for us, _ in rows] == [BASE_NS // 1000 + i * 1000 for i in range(50)]
    assert {t for _, t in rows} == {"TIMESTAMP WITH TIME ZONE"}
