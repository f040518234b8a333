"""The log format table: every extension round-trips through its writer and reader losing exactly
what its limits say, it matches python-can's own tables, and unknown extensions are named."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import can
import pytest
from can.io.logger import MESSAGE_WRITERS
from can.io.player import MESSAGE_READERS

from canp.io.formats import (
    BY_NAME,
    FORMATS,
    LogFormat,
    LogFormatError,
    log_format,
    replay_format,
    suffixes,
)

T0 = 1_700_000_000.25
#: Every format keeps the microsecond at least (times compared from the first frame).
TOLERANCE_S = 2e-6


@dataclass(frozen=True)
class Frame:
    """What is compared of a message."""

    offset: float
    id: int
    extended: bool
    remote: bool
    error: bool
    fd: bool
    brs: bool
    esi: bool
    data: bytes
    channel: object


def sample(fmt: LogFormat) -> list[can.Message]:
    """Frames of every kind on buses 0, 1 and 2, as the exporter hands them to ``fmt``'s writer."""
    rows = [
        # id, extended, remote, error, fd, brs, esi, data, bus
        (0x123, False, False, False, False, False, False, b"\x01\x02", 0),
        (0x1ABCDEF, True, False, False, False, False, False, bytes(range(8)), 1),
        (0x124, False, True, False, False, False, False, b"", 0),
        (0x55, False, False, True, False, False, False, b"\x00\x01", 1),
        (0x126, False, False, False, True, True, True, bytes(range(12)), 1),
        (0x1234567, True, False, False, True, False, False, bytes(range(64)), 2),
        (0x7FF, False, False, False, False, False, False, b"\xff" * 8, 2),
    ]
    return [
        can.Message(
            timestamp=T0 + i * 0.001 + 0.000123,
            arbitration_id=ident,
            is_extended_id=ext,
            is_remote_frame=rtr,
            is_error_frame=err,
            is_fd=fd,
            bitrate_switch=brs,
            error_state_indicator=esi,
            data=data,
            dlc=len(data),
            channel=channel_for(fmt, bus),
        )
        for i, (ident, ext, rtr, err, fd, brs, esi, data, bus) in enumerate(rows)
    ]


def channel_for(fmt: LogFormat, bus: int) -> int | str | None:
    if fmt.writer_base is not None:
        return bus
    return None if fmt.limits.no_channel else f"can{bus}"


def frames(messages: list[can.Message]) -> list[Frame]:
    first = messages[0].timestamp if messages else 0.0
    return [
        Frame(
            m.timestamp - first,
            m.arbitration_id,
            m.is_extended_id,
            m.is_remote_frame,
            m.is_error_frame,
            m.is_fd,
            m.bitrate_switch,
            m.error_state_indicator,
            bytes(m.data),
            m.channel,
        )
        for m in messages
    ]


def expected(fmt: LogFormat, written: list[can.Message]) -> list[Frame]:
    """What ``fmt``'s limits say comes back of ``written``."""
    limits = fmt.limits
    kept = [
        m
        for m in written
        if not any(
            getattr(m, attr) and kind in limits.left_out
            for kind, attr in (("remote", "is_remote_frame"), ("error", "is_error_frame"))
        )
        and not (m.is_fd and "fd" in limits.left_out)
    ]
    lost = limits.lost_flags
    return [
        replace(
            f,
            fd=f.fd and "fd" not in lost,
            brs=f.brs and "brs" not in lost,
            esi=f.esi and "esi" not in lost,
            channel=reading_channel(fmt, f.channel),
        )
        for f in frames(kept)
    ]


def reading_channel(fmt: LogFormat, written: object) -> object:
    if isinstance(written, int) and fmt.writer_base is not None:
        return written + fmt.writer_base - fmt.channel_base  # the file's number, read back
    return written


def compare(got: list[Frame], want: list[Frame], fmt: LogFormat) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert abs(g.offset - w.offset) <= TOLERANCE_S, (fmt.name, g, w)
        assert g.error == w.error, (fmt.name, g, w)
        if g.error and fmt.limits.error_time_only:  # only its time (and channel) is in the file
            assert g.id == 0 and g.data == b"", (fmt.name, g)
            if fmt.name == "asc":
                assert g.channel == w.channel, (fmt.name, g, w)
            continue
        assert (g.id, g.extended, g.remote, g.error) == (w.id, w.extended, w.remote, w.error)
        assert (g.fd, g.brs, g.esi) == (w.fd, w.brs, w.esi), (fmt.name, g, w)
        if not g.remote:  # no format keeps the DLC of a remote frame
            assert g.data == w.data, (fmt.name, g, w)
        assert g.channel == w.channel, (fmt.name, g, w)


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_every_extension_round_trips_losing_only_what_its_limits_say(
    suffix: str, tmp_path: Path
) -> None:
    fmt = FORMATS[suffix]
    if fmt.missing_package():
        pytest.skip(f"{fmt.title} needs {fmt.needs}")
    path = tmp_path / f"log{suffix}"
    written = sample(fmt)
    writer = fmt.open_writer(path)
    try:
        for msg in written:
            writer.on_message_received(msg)
    finally:
        writer.stop()
    reader = fmt.open_reader(path, absolute_times=True)
    try:
        back = list(reader)
    finally:
        reader.stop()
    compare(frames(back), expected(fmt, written), fmt)
    assert back[0].timestamp == pytest.approx(T0 + 0.000123, abs=1e-3)  # Unix times, not offsets


def test_the_table_picks_the_classes_python_cans_own_tables_pick(tmp_path: Path) -> None:
    for suffix, fmt in FORMATS.items():
        assert fmt.suffix == suffix and BY_NAME[fmt.name] is fmt
        if fmt.missing_package():
            continue
        path = tmp_path / f"empty{suffix}"
        writer = fmt.open_writer(path)
        writer.stop()
        assert type(writer) is MESSAGE_WRITERS[suffix]
        reader = fmt.open_reader(path)
        try:
            assert type(reader) is MESSAGE_READERS[suffix]
        finally:
            reader.stop()
    assert set(FORMATS) == set(MESSAGE_READERS)  # replay reads what can.LogReader reads


def test_asc_gives_offsets_unless_asked_for_unix_times(tmp_path: Path) -> None:
    fmt = FORMATS[".asc"]
    path = tmp_path / "x.asc"
    writer = fmt.open_writer(path)
    writer.on_message_received(can.Message(timestamp=T0, arbitration_id=1))
    writer.stop()
    for absolute, first in ((False, 0.0), (True, T0)):
        reader = fmt.open_reader(path, absolute_times=absolute)
        try:
            assert next(iter(reader)).timestamp == pytest.approx(first, abs=1e-3)
        finally:
            reader.stop()


def test_each_use_offers_its_extensions() -> None:
    six = [".asc", ".blf", ".csv", ".log", ".mf4", ".trc"]
    assert suffixes("import") == suffixes("export") == six
    assert suffixes("replay") == sorted([*six, ".db"])


@pytest.mark.parametrize(
    ("name", "use", "shown"),
    [
        ("capture.pcap", "export", "'.pcap'"),
        ("drive.db", "import", "'.db'"),
        ("noext", "import", "'(no extension)'"),
        ("drive.xyz.gz", "replay", "'.xyz'"),
    ],
)
def test_unknown_extensions_are_named_with_the_file(
    name: str, use: str, shown: str, tmp_path: Path
) -> None:
    path = tmp_path / name
    with pytest.raises(LogFormatError) as err:
        if use == "replay":
            replay_format(path)
        else:
            log_format(path, "export" if use == "export" else "import")
    text = str(err.value)
    assert str(path) in text and f"unknown log format {shown}" in text
    assert err.value.path == path


def test_extensions_are_matched_in_any_case_and_gzip_is_seen_through(tmp_path: Path) -> None:
    assert log_format(tmp_path / "TRUCK.MF4", "import") is FORMATS[".mf4"]
    assert replay_format(tmp_path / "drive.ASC.gz") == (FORMATS[".asc"], True)
    assert replay_format(tmp_path / "drive.blf") == (FORMATS[".blf"], False)
