"""``sdvlog import`` / ``sdvlog export``: real logs round-trip, problem files fail clearly, flags,
channels, relative times, content detection, queries over the channel.

The real logs and problem files live in ``shared/data`` beside the repository (``SDVLOG_DATA``
overrides where); they are never copied into it (some are GPL). Tests that need them skip when
they are absent.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import can
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from canp.io.exporter import channel_numbers, export_table
from canp.io.importer import LogImporter, bus_name
from canp.io.read import detect_format
from canp.plugin import CanpPlugin
from canp.schema import FRAMES, TIME_COLUMN, FrameColumns
from logger.cli.answers import offline_source
from logger.cli.app import main
from logger.core.config import Config, ExchangeConfig, ParquetConfig
from logger.core.message import MessageBatch
from logger.query.answer import Answerer
from logger.query.channel import ChannelServer, QueryService
from logger.store.chunk import TableChunk
from logger.store.layout import TIE_COLUMN
from logger.store.metadata import file_metadata
from logger.store.split import to_ns
from logger.store.store import ParquetStore
from logger.streams.raw import RawPlugin
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[3]
DATA = Path(os.environ.get("SDVLOG_DATA", ROOT.parent / "shared" / "data"))
LOGS = DATA / "logs"
PROBLEMS = DATA / "problem_files"
ALL = "sync-0-9999999999999"
BASE_NS = 1_700_000_000_000_000_000
#: ``date Thu, 09 Nov 2023 20:36:33 GMT`` in kona_ev_bms_idle_30sec.asc.
KONA_START_S = 1_699_562_193.0
#: Import rounds to the µs; BLF and candump carry µs or better; python-can's floats ~0.24 µs.
TIME_TOLERANCE_S = 1e-6


def _skip_absent(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} is not here (real data lives in shared/data, never in the repo)")
    if path.suffix.lower() == ".mf4":
        pytest.importorskip("asammdf", reason="MF4 needs asammdf")


@dataclass
class Read:
    """A log as python-can reads it, column by column."""

    ts: npt.NDArray[np.float64]
    ids: list[int]
    flags: list[tuple[bool, bool, bool, bool, bool, bool]]
    data: list[bytes]
    channel: list[object]

    def __len__(self) -> int:
        return len(self.ids)

    def in_time_order(self) -> Read:
        order = np.argsort(self.ts, kind="stable").tolist()
        return Read(
            self.ts[order],
            [self.ids[i] for i in order],
            [self.flags[i] for i in order],
            [self.data[i] for i in order],
            [self.channel[i] for i in order],
        )


def read_log(path: Path) -> Read:
    ts: list[float] = []
    ids: list[int] = []
    flags: list[tuple[bool, bool, bool, bool, bool, bool]] = []
    data: list[bytes] = []
    channel: list[object] = []
    with can.LogReader(path) as reader:
        for m in reader:
            ts.append(m.timestamp)
            ids.append(m.arbitration_id)
            flags.append(
                (
                    m.is_extended_id,
                    m.is_remote_frame,
                    m.is_error_frame,
                    m.is_fd,
                    m.bitrate_switch,
                    m.error_state_indicator,
                )
            )
            data.append(bytes(m.data))
            channel.append(m.channel)
    return Read(np.array(ts, np.float64), ids, flags, data, channel)


def stored(directory: Path, exchange: str = "can") -> pa.Table:
    """Every stored frame, in time order, as an outside reader gets it from the files."""
    files = sorted((directory / exchange / FRAMES).rglob("*.parquet"))
    if not files:
        return pa.table({})
    table = pa.concat_tables([pq.read_table(f, partitioning=None) for f in files])
    # Stored as timestamp[us, UTC] (the exchange's time unit): compare as int64 ns.
    assert table.schema.field(TIME_COLUMN).type == pa.timestamp("us", "UTC")
    table = table.set_column(
        table.schema.get_field_index(TIME_COLUMN), TIME_COLUMN, to_ns(table[TIME_COLUMN])
    )
    order = [(TIME_COLUMN, "ascending")] + (
        [(TIE_COLUMN, "ascending")] if TIE_COLUMN in table.column_names else []
    )
    return table.sort_by(order).drop_columns([c for c in (TIE_COLUMN,) if c in table.column_names])


def assert_same_frames(got: Read, want: Read, offset_s: float = 0.0) -> None:
    assert len(got) == len(want)
    assert got.ids == want.ids
    assert got.flags == want.flags
    assert got.data == want.data
    worst = float(np.abs(got.ts - (want.ts + offset_s)).max()) if len(want) else 0.0
    assert worst <= TIME_TOLERANCE_S, f"timestamps differ by up to {worst * 1e6:.3f} µs"


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


# --- every format, every flag (synthetic) --------------------------------------------------------


def sample_frames() -> pa.Table:
    """Frames with every flag, on buses can0, can1 and chassis (no number)."""
    rows = [
        # can_id with SocketCAN flag bits, flags (FD 1, BRS 2, ESI 4), data, bus
        (0x123, 0, b"\x01\x02", "can0"),
        (0x80000000 | 0x1ABCDEF, 0, bytes(range(8)), "can1"),
        (0x40000000 | 0x124, 0, b"", "can0"),
        (0x20000000 | 0x55, 0, b"\x00\x01", "can1"),
        (0x126, 0x07, bytes(range(12)), "can1"),
        (0x80000000 | 0x1234567, 0x01, bytes(range(64)), "chassis"),
        (0x7FF, 0, b"\xff" * 8, "chassis"),
    ]
    n = len(rows)
    frames = FrameColumns(
        BASE_NS + 123_456_000 + np.arange(n, dtype=np.int64) * 1_000_000,
        np.array([r[0] for r in rows], np.uint32),
        np.array([r[1] for r in rows], np.uint8),
        pa.array([r[2] for r in rows], pa.binary()),
    )
    return frames.to_table(pa.array([r[3] for r in rows], pa.string()))


def write_canp_store(directory: Path, table: pa.Table, exchange: str = "can") -> None:
    """A store as a live CANP exchange writes it."""
    ex = ExchangeConfig(name=exchange, topic="vehicle/+/canp/#", stream="canp")
    plugin = CanpPlugin(ex)
    store = ParquetStore(
        ParquetConfig(dir=directory), exchange, file_metadata(Config(), ex, plugin)
    )
    store.recover()
    store.publish(store.write([TableChunk(FRAMES, table, TIME_COLUMN)]))


def as_read(table: pa.Table) -> Read:
    ts = table.column(TIME_COLUMN).to_numpy() / 1e9
    cols = {name: table.column(name).to_pylist() for name in table.column_names}
    flags = list(
        zip(
            cols["extended"],
            cols["remote"],
            cols["error"],
            cols["fd"],
            cols["brs"],
            cols["esi"],
            strict=True,
        )
    )
    return Read(ts, cols["id"], flags, cols["data"], cols["bus"])


@pytest.mark.parametrize("suffix", [".blf", ".mf4", ".asc", ".log", ".csv", ".trc"])
def test_every_format_keeps_what_it_can(
    suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if suffix == ".mf4":
        pytest.importorskip("asammdf", reason="MF4 needs asammdf")
    table = sample_frames()
    write_canp_store(tmp_path / "store", table)
    target = tmp_path / f"all{suffix}"
    assert main(["export", ALL, "--dir", str(tmp_path / "store"), "--to", str(target)]) == 0
    err = capsys.readouterr().err
    want = as_read(table)
    back = read_log(target)
    numbers = {"can0": 0, "can1": 1, "chassis": 2}
    if suffix in (".blf", ".mf4", ".asc", ".trc"):
        assert "channels: can0 → 0, can1 → 1, chassis → 2" in err
    if suffix == ".trc":  # python-can's TRC writer: data frames only, no FD
        keep = [i for i, f in enumerate(want.flags) if not (f[1] or f[2] or f[3])]
        want = Read(
            want.ts[keep],
            [want.ids[i] for i in keep],
            [want.flags[i] for i in keep],
            [want.data[i] for i in keep],
            [want.channel[i] for i in keep],
        )
        assert "1 remote frames left out" in err and "2 fd frames left out" in err
    if suffix in (".asc", ".log"):  # error frames keep only their time
        i = next(i for i, f in enumerate(want.flags) if f[2])
        assert back.flags[i][2] and back.ids[i] == 0 and back.data[i] == b""
        want.ids[i], want.data[i], want.flags[i] = 0, b"", back.flags[i]
        assert "keeps only the time of error frames" in err
    if suffix == ".csv":  # no FD / BRS / ESI, no channel
        want.flags = [(e, r, x, False, False, False) for e, r, x, *_ in want.flags]
        assert "no FD flag" in err and "no channel column" in err
    if suffix == ".asc":  # relative times: compare after the first frame
        back.ts = back.ts - back.ts[0] + want.ts[0]
    assert_same_frames(back, want)

    channels = [bus_name(ch, detect_format(target)) for ch in back.channel]
    if suffix == ".log":
        expected = [b if not want.flags[i][2] else "can0" for i, b in enumerate(want.channel)]
        assert channels == expected  # python-can drops an error frame's interface
    elif suffix in (".blf", ".mf4", ".asc", ".trc"):
        assert channels == [f"can{numbers[str(b)]}" for b in want.channel]


@pytest.mark.parametrize("suffix", [".blf", ".mf4"])
def test_blf_and_mf4_reimport_to_the_same_table(suffix: str, tmp_path: Path) -> None:
    if suffix == ".mf4":
        pytest.importorskip("asammdf", reason="MF4 needs asammdf")
    table = sample_frames()
    target = tmp_path / f"x{suffix}"
    export_table(table, target, channels={"chassis": 7})
    LogImporter(tmp_path / "again").import_file(target)
    back = stored(tmp_path / "again")
    renamed = table.set_column(
        1, "bus", pa.array([b if b != "chassis" else "can7" for b in table["bus"].to_pylist()])
    )
    assert back.drop_columns(["ts"]).to_pylist() == renamed.drop_columns(["ts"]).to_pylist()
    got = back.column("ts").to_numpy()
    assert np.abs(got - table.column("ts").to_numpy()).max() <= 1000  # µs


def test_channel_numbers_are_deterministic() -> None:
    assert channel_numbers(["vcan1", "chassis", "can1", "can0"]) == {
        "can0": 0,
        "can1": 1,
        "chassis": 2,
        "vcan1": 3,
    }
    assert channel_numbers(["can0", "body"], {"can0": 1}) == {"body": 2, "can0": 1}
    assert channel_numbers(["CAN9", "x300"]) == {"CAN9": 9, "x300": 1}


def test_channel_option_sets_file_channels(tmp_path: Path) -> None:
    write_canp_store(tmp_path / "store", sample_frames())
    target = tmp_path / "x.blf"
    args = ["export", ALL, "--dir", str(tmp_path / "store"), "--to", str(target)]
    assert main([*args, "--channel", "can0=1", "--channel", "can1=2"]) == 0
    # python-can reports BLF channel n as n - 1
    assert set(read_log(target).channel) == {0, 1, 2}
    assert main([*args, "--channel", "can0=1", "--channel", "can1=1"]) == 1


# --- relative times ------------------------------------------------------------------------------

ASC_NO_DATE = """\
base hex  timestamps absolute
internal events logged
Begin Triggerblock
   0.100000 1  123             Rx   d 2 01 02
   5.100000 2  456x            Rx   d 1 03
End TriggerBlock
"""


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


def write_raw_store(directory: Path, exchange: str) -> None:
    ex = ExchangeConfig(name=exchange)
    plugin = RawPlugin(ex)
    store = ParquetStore(
        ParquetConfig(dir=directory), exchange, file_metadata(Config(), ex, plugin)
    )
    store.recover()
    keys = BASE_NS + np.arange(3, dtype=np.int64)
    store.publish(store.write(plugin.encode(MessageBatch(keys, ["v/1"] * 3, [b"p"] * 3))))


# --- export: queries, failures, the channel ------------------------------------------------------


def test_export_over_the_query_channel(tmp_path: Path) -> None:
    table = sample_frames()
    write_canp_store(tmp_path / "store", table)
    source = offline_source(tmp_path / "store", "can", None, None)
    queries = QueryService({"can": Answerer(source)})
    queries.ready.set()
    url = f"tcp://127.0.0.1:{free_port()}"
    server = ChannelServer(url, queries)
    server.start()
    try:
        target = tmp_path / "q.log"
        assert main(["export", f"{ALL};bus=can1", "--url", url, "--to", str(target)]) == 0
    finally:
        server.stop()
    back = read_log(target)
    assert back.channel == ["can1", None, "can1"]  # candump: error frames lose their interface
    assert [f[3] for f in back.flags] == [False, False, True]


def test_export_failures_exit_1_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_canp_store(tmp_path / "store", sample_frames())
    store = str(tmp_path / "store")
    target = tmp_path / "x.blf"
    assert main(["export", "sync-5-1", "--dir", store, "--to", str(target)]) == 1
    assert "sdvlog export: query failed (4,4)" in capsys.readouterr().err
    assert main(["export", ALL, "--dir", store, "--to", str(tmp_path / "x.pcap")]) == 1
    assert ".asc, .blf, .csv, .log, .mf4, .trc" in capsys.readouterr().err
    assert not target.exists()

    write_raw_store(tmp_path / "raw", "raw")
    assert main(["export", ALL, "--dir", str(tmp_path / "raw"), "--to", str(target)]) == 1
    assert "not CAN frames" in capsys.readouterr().err
    assert not target.exists() and not list(tmp_path.glob(".x.blf*"))

    nowhere = tmp_path / "missing" / "x.blf"
    assert main(["export", ALL, "--dir", store, "--to", str(nowhere)]) == 1
    assert f"cannot write {nowhere}" in capsys.readouterr().err


def test_export_of_nothing_writes_an_empty_log(tmp_path: Path) -> None:
    write_canp_store(tmp_path / "store", sample_frames())
    target = tmp_path / "none.blf"
    assert main(["export", "sync-0-1", "--dir", str(tmp_path / "store"), "--to", str(target)]) == 0
    assert len(read_log(target)) == 0


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
