"""Log replay as a bus: every python-can format, original timestamps, fast and realtime pacing."""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
from pathlib import Path

import can
import pytest

from hw.bus import BusError
from hw.replay import ReplayBus, open_replay
from logger.core.config import BusConfig
from logger.core.errors import ConfigError

T0 = 1_700_000_000.25
SHARED_LOGS = Path(__file__).resolve().parents[3] / "shared" / "data" / "logs"


def sample_frames(n: int = 40, step: float = 0.001) -> list[can.Message]:
    out = []
    for i in range(n):
        ext = i % 3 == 0
        out.append(
            can.Message(
                timestamp=T0 + i * step,
                arbitration_id=(0x18FEF100 + i) if ext else (0x100 + i),
                is_extended_id=ext,
                data=bytes((i + k) % 256 for k in range(i % 9)),
                channel=0,
                is_rx=True,
            )
        )
    return out


def write_log(path: Path, frames: list[can.Message]) -> Path:
    with can.Logger(path) as writer:
        for frame in frames:
            writer.on_message_received(frame)
    return path


def drain(bus: can.BusABC, timeout: float = 0.0) -> list[can.Message]:
    out = []
    while (msg := bus.recv(timeout)) is not None:
        out.append(msg)
    return out


def replayed(path: Path) -> list[can.Message]:
    """Every frame of a ``fast`` replay of ``path``."""
    with ReplayBus(path, "fast") as bus:
        return drain(bus)


def same_frames(got: list[can.Message], want: list[can.Message], tolerance: float) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert (g.arbitration_id, g.is_extended_id, bytes(g.data)) == (
            w.arbitration_id,
            w.is_extended_id,
            bytes(w.data),
        )
        assert g.timestamp == pytest.approx(w.timestamp, abs=tolerance)


@pytest.mark.parametrize(
    ("suffix", "tolerance"),
    [(".log", 1e-6), (".asc", 1e-5), (".blf", 1e-6), (".csv", 1e-6), (".trc", 1e-4)],
)
def test_fast_replay_of_each_format_keeps_frames_and_original_timestamps(
    tmp_path: Path, suffix: str, tolerance: float
) -> None:
    frames = sample_frames()
    path = write_log(tmp_path / f"drive{suffix}", frames)
    bus = ReplayBus(path, "fast", name="r")
    try:
        assert not bus.finished
        got = drain(bus)
        assert bus.finished and bus.frames == len(frames)
        assert bus.recv(0.01) is None  # the end of the log: a quiet bus
    finally:
        bus.shutdown()
    same_frames(got, frames, tolerance)


def test_mf4_replay(tmp_path: Path) -> None:
    pytest.importorskip("asammdf")
    frames = sample_frames()
    same_frames(replayed(write_log(tmp_path / "drive.mf4", frames)), frames, 1e-6)


def test_gzip_compressed_asc_keeps_absolute_times(tmp_path: Path) -> None:
    frames = sample_frames(10)
    plain = write_log(tmp_path / "drive.asc", frames)
    packed = tmp_path / "drive.asc.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    same_frames(replayed(packed), frames, 1e-5)


@pytest.mark.parametrize("suffix", [".db", ".blf.gz", ".log.gz", ".csv.gz"])
def test_sqlite_and_other_gzip_compressed_logs_replay(tmp_path: Path, suffix: str) -> None:
    frames = sample_frames(10)
    plain, compressed = suffix.removesuffix(".gz"), suffix.endswith(".gz")
    path = write_log(tmp_path / f"drive{plain}", frames)
    if compressed:
        packed = tmp_path / f"drive{suffix}"
        packed.write_bytes(gzip.compress(path.read_bytes()))
        path = packed
    same_frames(replayed(path), frames, 1e-6)


def test_an_unknown_extension_is_named(tmp_path: Path) -> None:
    path = tmp_path / "drive.pcap.gz"
    path.write_bytes(gzip.compress(b"whatever"))
    with pytest.raises(ConfigError) as err:
        ReplayBus(path, "fast")
    assert str(path) in str(err.value) and "unknown log format '.pcap'" in str(err.value)


def test_fd_and_remote_frames_survive_a_replay(tmp_path: Path) -> None:
    frames = [
        can.Message(timestamp=T0, arbitration_id=0x7E0, data=bytes(range(64)), is_fd=True,
                    bitrate_switch=True, error_state_indicator=True),
        can.Message(timestamp=T0 + 0.001, arbitration_id=0x7E1, is_remote_frame=True, dlc=8),
        can.Message(timestamp=T0 + 0.002, arbitration_id=0x1FFFFFFF, is_extended_id=True,
                    data=b"\xff" * 12, is_fd=True),
    ]  # fmt: skip
    got = replayed(write_log(tmp_path / "fd.log", frames))
    assert [(m.is_fd, m.bitrate_switch, m.error_state_indicator) for m in got] == [
        (True, True, True),
        (False, False, False),
        (True, False, False),
    ]
    assert (
        got[1].is_remote_frame and got[2].is_extended_id and bytes(got[0].data) == bytes(range(64))
    )


def test_realtime_replay_keeps_the_logs_timing(tmp_path: Path) -> None:
    offsets = [0.0, 0.05, 0.12, 0.2, 0.3]
    frames = [
        can.Message(timestamp=T0 + dt, arbitration_id=0x200 + i, data=bytes([i]))
        for i, dt in enumerate(offsets)
    ]
    bus = ReplayBus(write_log(tmp_path / "paced.log", frames), "realtime")
    started = time.monotonic()
    try:
        got: list[can.Message] = []
        arrived: list[float] = []
        while len(got) < len(frames):
            msg = bus.recv(5)
            assert msg is not None
            got.append(msg)
            arrived.append(time.monotonic())
    finally:
        bus.shutdown()
    # Never before its time: lower bounds only (1e-5 s: the log's microsecond rounding).
    for i, dt in enumerate(offsets):
        assert arrived[i] - started >= dt - 1e-5
    same_frames(got, frames, 1e-6)


def test_realtime_recv_honours_its_timeout_and_shutdown(tmp_path: Path) -> None:
    frames = [
        can.Message(timestamp=T0, arbitration_id=1),
        can.Message(timestamp=T0 + 3600, arbitration_id=2),  # an hour later
    ]
    bus = ReplayBus(write_log(tmp_path / "slow.log", frames), "realtime")
    first = bus.recv(1)
    assert first is not None and first.arbitration_id == 1
    assert bus.recv(0.05) is None  # not due yet: the timeout wins
    returned = threading.Event()

    def reader() -> None:
        with contextlib.suppress(can.CanOperationError):
            bus.recv(None)
        returned.set()

    thread = threading.Thread(target=reader)
    thread.start()
    bus.shutdown()  # ends the wait for the second frame at once
    assert returned.wait(5)
    thread.join()


def test_replay_from_bus_config(tmp_path: Path) -> None:
    path = write_log(tmp_path / "cfg.log", sample_frames(3))
    bus = open_replay(BusConfig(name="rear", replay=path, pace="fast"))
    try:
        assert bus.name == "rear" and bus.pace == "fast"
        assert len(drain(bus)) == 3
    finally:
        bus.shutdown()


@pytest.mark.parametrize(
    ("name", "content", "hint"),
    [
        ("missing.log", None, "no such file"),
        ("drive.xyz", b"whatever", "python-can cannot read"),
        ("bad.blf", b"hello world, not a BLF file", "bad.blf"),
        ("bad.log", b"garbage line\n", "bad.log"),
        ("bad.mf4", b"xx", "bad.mf4"),
    ],
)
def test_a_file_python_can_cannot_read_is_a_config_error_naming_it(
    tmp_path: Path, name: str, content: bytes | None, hint: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        open_replay(BusConfig(name="x", replay=path, pace="fast"))
    assert err.value.key == "bus[x].replay"
    assert str(path) in str(err.value) and hint in str(err.value)


def test_a_malformed_frame_later_ends_the_replay_after_the_frames_before_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "broken.log"
    path.write_text(
        "(1700000000.000001) can0 123#01\n(1700000000.000002) can0 124#02\nnot a frame\n"
        "(1700000000.000003) can0 125#03\n",
        encoding="utf-8",
    )
    bus = ReplayBus(path, "fast")
    try:
        assert [m.arbitration_id for m in (bus.recv(0), bus.recv(0)) if m] == [0x123, 0x124]
        with pytest.raises(BusError) as err:
            bus.recv(0)
        assert not err.value.retryable and str(path) in str(err.value)
        assert bus.finished
    finally:
        bus.shutdown()


def test_replay_is_read_only(tmp_path: Path) -> None:
    bus = ReplayBus(write_log(tmp_path / "ro.log", sample_frames(1)), "fast")
    try:
        with pytest.raises(can.CanOperationError):
            bus.send(can.Message(arbitration_id=1))
    finally:
        bus.shutdown()


def test_relative_times_are_kept_and_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "relative.log"
    path.write_text("(0.500000) can0 123#01\n(0.750000) can0 124#02\n", encoding="utf-8")
    assert [m.timestamp for m in replayed(path)] == [0.5, 0.75]
    assert any("relative times" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "name",
    [
        "hyundai_genesis_autologgenesis.log",
        "kona_ev_bms_idle_30sec.asc",
        "hyundai_kona_turnonlog.trc",
        "css_canedge_j1939_plus_gps.MF4",
    ],
)
def test_real_logs_replay_like_python_can_reads_them(name: str) -> None:
    path = SHARED_LOGS / name
    if not path.is_file():
        pytest.skip(f"{path} is not on this machine (shared sample logs)")
    if path.suffix.lower() == ".mf4":
        pytest.importorskip("asammdf")
    reader = (
        can.ASCReader(path, relative_timestamp=False)
        if name.endswith(".asc")
        else can.LogReader(path)
    )
    try:
        want = list(reader)
    finally:
        reader.stop()
    got = replayed(path)
    assert len(got) == len(want) > 0
    assert [(m.timestamp, m.arbitration_id, bytes(m.data)) for m in got] == [
        (m.timestamp, m.arbitration_id, bytes(m.data)) for m in want
    ]
