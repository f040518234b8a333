"""``sdvlog export``: every format keeps what it can, BLF and MF4 re-import, file channels, queries
over the channel, failures, an empty export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from canp.io.exporter import channel_numbers, export_table
from canp.io.importer import LogImporter, bus_name
from canp.io.read import detect_format
from canp.plugin import CanpPlugin
from canp.schema import FRAMES, TIME_COLUMN, FrameColumns
from logger.cli.answers import offline_source
from logger.cli.app import main
from logger.core.config import Config, ExchangeConfig, ParquetConfig
from logger.query.answer import Answerer
from logger.query.channel import ChannelServer, QueryService
from logger.store.chunk import TableChunk
from logger.store.metadata import file_metadata
from logger.store.store import ParquetStore
from tests.support.can_logs import (
    ALL,
    BASE_NS,
    Read,
    assert_same_frames,
    read_log,
    stored,
    write_raw_store,
)
from tests.support.ports import free_port

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
