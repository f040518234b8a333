"""Exporting frames to CAN log files with python-can's writers: BLF, ASC, candump, CSV, MF4, TRC.

The input is a ``frames`` table (:data:`canp.schema.FRAMES_SCHEMA`), e.g. a query's answer. Frames
are written in time order (a stable sort when the table is not in order already), converted to
python-can ``Message`` objects chunk by chunk through :meth:`FrameColumns.from_table`; MF4 is
written in bulk (numpy records straight into python-can's MF4 writer's groups) because its
per-message path costs ~30 µs a frame. The file appears only when complete (written under a
temporary name beside it, then renamed).

What each format keeps (python-can 4.6, writer and reader):

===========  ========================================================================
BLF, MF4     everything: extended, remote, error (with id and data), FD, BRS, ESI
ASC          everything, but error frames keep only their time and channel
candump      extended, remote, FD, BRS, ESI; error frames keep only their time
CSV          extended, remote, error; no FD / BRS / ESI, no channel (buses merge)
TRC          data frames only: python-can's writer skips remote, error and FD frames
===========  ========================================================================

No format keeps the direction (the store has none: frames are written as received), nor the DLC
of a remote frame (the store keeps data lengths).

**Channels.** candump writes the bus name as the interface name. ASC, BLF, TRC and MF4 number
their channels; every bus gets a number (:func:`channel_numbers`): ``channels`` overrides first,
then a name's trailing number (``can0`` → 0, ``can2`` → 2, the names import gives, so a log
exported again keeps its channel numbers), then the lowest free numbers from 1, in sorted name
order, for names without a number or whose number is taken. The number is the one in the file
(python-can's writers add 1 for ASC, BLF and TRC; that is undone).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import can
import can.util
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from can.io.generic import MessageWriter

from canp.schema import (
    CAN_EFF_FLAG,
    CAN_EFF_MASK,
    CAN_ERR_FLAG,
    CAN_RTR_FLAG,
    FLAG_BRS,
    FLAG_ESI,
    FLAG_FD,
    FRAMES_SCHEMA,
    TIME_COLUMN,
    FrameColumns,
)
from dbc.bits import binary_parts
from logger.core.errors import ConfigError, SdvLoggerError
from logger.store.chunk import in_time_order

log = logging.getLogger(__name__)

#: Frames converted to messages at a time.
CHUNK_FRAMES = 100_000
MAX_CHANNEL = 255  # MF4 stores the bus channel in one byte
Note = Callable[[str], None]


class ExportError(SdvLoggerError):
    """Frames cannot be exported: not a frames table, or the file cannot be written."""


@dataclass(frozen=True)
class ExportFormat:
    name: str
    title: str
    suffix: str
    #: File channel = python-can channel + ``writer_base`` (None: no channel numbers).
    writer_base: int | None
    #: Flags the format keeps (of extended, remote, error, fd, brs, esi).
    keeps: frozenset[str]
    #: Frames the writer leaves out (remote / error / fd).
    skips: frozenset[str] = frozenset()
    has_channel: bool = True
    error_details: bool = True


_ALL = frozenset({"extended", "remote", "error", "fd", "brs", "esi"})
EXPORT_FORMATS: dict[str, ExportFormat] = {
    f.suffix: f
    for f in (
        ExportFormat("blf", "Vector BLF", ".blf", 1, _ALL),
        ExportFormat("asc", "Vector ASC", ".asc", 1, _ALL, error_details=False),
        ExportFormat("candump", "candump -L log", ".log", None, _ALL, error_details=False),
        ExportFormat(
            "csv",
            "python-can CSV",
            ".csv",
            None,
            frozenset({"extended", "remote", "error"}),
            has_channel=False,
        ),
        ExportFormat("mf4", "ASAM MDF4", ".mf4", 0, _ALL),
        ExportFormat(
            "trc",
            "PEAK TRC",
            ".trc",
            1,
            frozenset({"extended"}),
            skips=frozenset({"remote", "error", "fd"}),
        ),
    )
}


@dataclass
class ExportResult:
    path: Path
    format: ExportFormat
    frames: int = 0
    #: Bus name → what the file calls it (channel number, or name for candump).
    channels: dict[str, int | str] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    first_ns: int | None = None
    last_ns: int | None = None


def export_format(path: Path) -> ExportFormat:
    fmt = EXPORT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(EXPORT_FORMATS))
        raise ConfigError("--to", f"{path.name}: the extension picks the format, one of {known}")
    return fmt


def channel_numbers(
    buses: Iterable[str], overrides: Mapping[str, int] | None = None
) -> dict[str, int]:
    """A channel number per bus name (see the module doc); deterministic for a set of names."""
    names = sorted(set(buses))
    numbers: dict[str, int] = {}
    taken: dict[int, str] = {}
    for name, number in sorted((overrides or {}).items()):
        if not 0 <= number <= MAX_CHANNEL:
            raise ConfigError("--channel", f"{name}={number}: channel numbers are 0..{MAX_CHANNEL}")
        if number in taken:
            raise ConfigError("--channel", f"{taken[number]} and {name} both get channel {number}")
        numbers[name] = number
        taken[number] = name
    for name in names:
        m = re.search(r"(\d+)$", name)
        if name in numbers or m is None:
            continue
        number = int(m.group(1))
        if number <= MAX_CHANNEL and number not in taken:
            numbers[name] = number
            taken[number] = name
    free = 1
    for name in names:
        if name in numbers:
            continue
        while free in taken:
            free += 1
        numbers[name] = free
        taken[free] = name
    return {name: numbers[name] for name in names}


def _bits(mask: Any) -> npt.NDArray[np.bool_]:
    out: npt.NDArray[np.bool_] = np.asarray(mask, np.bool_)
    return out


def _seconds(ts_ns: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """ns → float seconds with one rounding (whole seconds plus the fraction)."""
    whole = ts_ns // 1_000_000_000
    frac = ts_ns - whole * 1_000_000_000
    out: npt.NDArray[np.float64] = whole.astype(np.float64) + frac.astype(np.float64) / 1e9
    return out


@dataclass(frozen=True)
class _Columns:
    """One chunk of frames as flat arrays, with each frame's channel for the writer."""

    frames: FrameColumns
    channel: list[Any]  # python-can channel per frame (int, str or None)

    @property
    def extended(self) -> npt.NDArray[np.bool_]:
        return _bits((self.frames.can_id & CAN_EFF_FLAG) != 0)

    @property
    def remote(self) -> npt.NDArray[np.bool_]:
        return _bits((self.frames.can_id & CAN_RTR_FLAG) != 0)

    @property
    def error(self) -> npt.NDArray[np.bool_]:
        return _bits((self.frames.can_id & CAN_ERR_FLAG) != 0)

    @property
    def fd(self) -> npt.NDArray[np.bool_]:
        return _bits((self.frames.flags & FLAG_FD) != 0)

    @property
    def ids(self) -> npt.NDArray[np.uint32]:
        cid = self.frames.can_id
        out: npt.NDArray[np.uint32] = np.where(
            self.extended, cid & CAN_EFF_MASK, cid & 0x7FF
        ).astype(np.uint32)
        return out

    def messages(self) -> Iterator[can.Message]:
        """python-can messages (the per-frame part: one constructor call each)."""
        f = self.frames
        brs = ((f.flags & FLAG_BRS) != 0).tolist()
        esi = ((f.flags & FLAG_ESI) != 0).tolist()
        for t, i, ext, rtr, err, fd, b, e, ch, data in zip(
            _seconds(f.ts).tolist(),
            self.ids.tolist(),
            self.extended.tolist(),
            self.remote.tolist(),
            self.error.tolist(),
            self.fd.tolist(),
            brs,
            esi,
            self.channel,
            f.data.to_pylist(),
            strict=True,
        ):
            yield can.Message(
                timestamp=t,
                arbitration_id=i,
                is_extended_id=ext,
                is_remote_frame=rtr,
                is_error_frame=err,
                is_fd=fd,
                bitrate_switch=b,
                error_state_indicator=e,
                channel=ch,
                dlc=len(data),
                data=data,
            )


def _chunks(table: pa.Table, channel_of: Mapping[str, Any], size: int) -> Iterator[_Columns]:
    for offset in range(0, table.num_rows, size):
        part = table.slice(offset, size)
        encoded = pc.dictionary_encode(part.column("bus")).combine_chunks()
        values = [channel_of[name] for name in encoded.dictionary.to_pylist()]
        channel = [values[i] for i in encoded.indices.to_numpy(zero_copy_only=False).tolist()]
        yield _Columns(FrameColumns.from_table(part), channel)


def _frames_table(table: pa.Table) -> pa.Table:
    if not table.num_columns:
        return FRAMES_SCHEMA.empty_table()
    missing = [name for name in FRAMES_SCHEMA.names if name not in table.column_names]
    if missing:
        raise ExportError(
            f"not CAN frames (no column {', '.join(missing)}; got {', '.join(table.column_names)}): "
            "export reads a CANP exchange"
        )
    return in_time_order(table.select(FRAMES_SCHEMA.names), TIME_COLUMN)


def export_table(
    table: pa.Table,
    path: Path,
    *,
    channels: Mapping[str, int] | None = None,
    note: Note | None = None,
    chunk_frames: int = CHUNK_FRAMES,
) -> ExportResult:
    """Write the frames of ``table`` to ``path`` (format by extension), in time order."""
    path = Path(path)
    fmt = export_format(path)
    table = _frames_table(table)
    say = note or (lambda text: log.info("%s", text))
    result = ExportResult(path, fmt)
    buses = sorted(pc.unique(table.column("bus")).to_pylist()) if table.num_rows else []
    channel_of: dict[str, Any]
    if fmt.writer_base is not None:
        numbers = channel_numbers(buses, channels)
        result.channels = dict(numbers)
        channel_of = {bus: n - fmt.writer_base for bus, n in numbers.items()}
    elif fmt.has_channel:
        channel_of = {bus: "_".join(bus.split()) or "can0" for bus in buses}
        result.channels = dict(channel_of)
    else:
        channel_of = dict.fromkeys(buses)
    table = _drop_skipped(table, fmt, result)
    _tell_losses(table, fmt, result, buses, say)
    if table.num_rows:
        ts = table.column(TIME_COLUMN)
        result.first_ns, result.last_ns = ts[0].as_py(), ts[-1].as_py()
    result.frames = table.num_rows

    try:
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from exc
    tmp = tmp_dir / path.name
    try:
        if fmt.name == "mf4":
            _write_mf4(tmp, _chunks(table, channel_of, chunk_frames), result.first_ns)
        else:
            _write_messages(tmp, fmt, _chunks(table, channel_of, chunk_frames))
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:  # python-can's writers raise ValueError on bad input
        what = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ExportError(f"cannot write {path}: {what}") from exc
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return result


def _drop_skipped(table: pa.Table, fmt: ExportFormat, result: ExportResult) -> pa.Table:
    if not fmt.skips or not table.num_rows:
        return table
    drop = pa.array(np.zeros(table.num_rows, np.bool_))
    for flag in sorted(fmt.skips):
        col = table.column(flag)
        count = pc.sum(col).as_py() or 0
        if count:
            result.skipped[f"{flag} frames"] = count
            drop = pc.or_(drop, col)
    return table.filter(pc.invert(drop)) if result.skipped else table


def _tell_losses(
    table: pa.Table, fmt: ExportFormat, result: ExportResult, buses: list[str], say: Note
) -> None:
    path = result.path
    for what, count in result.skipped.items():
        say(
            f"{path}: {count:,} {what} left out: python-can's {fmt.title} writer does not write them"
        )
    if not table.num_rows:
        return
    lost = [flag for flag in ("fd", "brs", "esi") if flag not in fmt.keeps]
    for flag in lost:
        count = pc.sum(table.column(flag)).as_py() or 0
        if count:
            say(f"{path}: {fmt.title} has no {flag.upper()} flag: {count:,} frame(s) lose it")
    if not fmt.error_details:
        count = pc.sum(table.column("error")).as_py() or 0
        if count:
            say(f"{path}: {fmt.title} keeps only the time of error frames ({count:,})")
    if not fmt.has_channel and len(buses) > 1:
        say(f"{path}: {fmt.title} has no channel column: buses {', '.join(buses)} are merged")
    if fmt.writer_base is not None and result.channels:
        mapping = ", ".join(f"{bus} → {n}" for bus, n in result.channels.items())
        say(f"{path}: {fmt.title} channels: {mapping} (--channel BUS=N to choose)")


def _writer(path: Path, fmt: ExportFormat) -> MessageWriter:
    if fmt.name == "blf":
        return can.BLFWriter(path)
    if fmt.name == "asc":
        return can.ASCWriter(path)
    if fmt.name == "trc":
        return can.TRCWriter(path)
    if fmt.name == "csv":
        return can.CSVWriter(path)
    return can.CanutilsLogWriter(path)


def _write_messages(path: Path, fmt: ExportFormat, chunks: Iterator[_Columns]) -> None:
    writer = _writer(path, fmt)
    try:
        for chunk in chunks:
            for msg in chunk.messages():
                writer.on_message_received(msg)
    finally:
        writer.stop()


# --- MF4 in bulk ---------------------------------------------------------------------------------

_DLC_OF_LENGTH = np.array(
    [can.util.len2dlc(n) for n in range(65)], np.uint8
)  # FD lengths → DLC codes


def _data_matrix(frames: FrameColumns) -> npt.NDArray[np.uint8]:
    """Payloads as an (n, 64) byte matrix (zero padded), without a per-frame loop."""
    values, starts, lengths = binary_parts(frames.data)
    n = len(lengths)
    matrix = np.zeros((n, 64), np.uint8)
    total = int(lengths.sum())
    if not total:
        return matrix
    first = int(starts[0])
    rows = np.repeat(np.arange(n), lengths)
    cols = np.arange(total) - np.repeat(starts - first, lengths)
    matrix[rows, cols] = values[first : first + total]
    return matrix


def _write_mf4(path: Path, chunks: Iterator[_Columns], first_ns: int | None) -> None:
    try:
        from can.io.mf4 import ERR_DTYPE, RTR_DTYPE, STD_DTYPE, MF4Writer  # noqa: PLC0415
    except ImportError as exc:
        raise ExportError("writing MF4 needs asammdf (pip install asammdf)") from exc
    writer = MF4Writer(path)
    try:
        start_ns = 0
        if first_ns is not None:
            # Time 0 of the file is the first frame (python-can's writer takes "now").
            start_ns = first_ns // 1000 * 1000
            writer._mdf.header.start_time = datetime.fromtimestamp(start_ns // 1000 / 1e6, UTC)
        for chunk in chunks:
            frames = chunk.frames
            offsets = (frames.ts - start_ns).astype(np.float64) / 1e9
            channel = np.array([c if c is not None else 0 for c in chunk.channel], np.uint8)
            lengths = frames.lengths
            data = _data_matrix(frames)
            remote, error, fd = chunk.remote, chunk.error, chunk.fd
            ids, ext = chunk.ids, chunk.extended.astype(np.uint8)
            brs = ((frames.flags & FLAG_BRS) != 0).astype(np.uint8)
            esi = ((frames.flags & FLAG_ESI) != 0).astype(np.uint8)
            dlc = np.where(fd, _DLC_OF_LENGTH[np.minimum(lengths, 64)], lengths).astype(np.uint8)
            groups = (
                (0, "CAN_DataFrame", STD_DTYPE, ~remote & ~error),
                (1, "CAN_ErrorFrame", ERR_DTYPE, error),
                (2, "CAN_RemoteFrame", RTR_DTYPE, remote & ~error),
            )
            for index, name, dtype, rows in groups:
                if not rows.any():
                    continue
                rec = np.zeros(int(rows.sum()), dtype=dtype)
                rec[f"{name}.BusChannel"] = channel[rows]
                rec[f"{name}.ID"] = ids[rows]
                rec[f"{name}.IDE"] = ext[rows]
                rec[f"{name}.DLC"] = dlc[rows]
                if name != "CAN_RemoteFrame":
                    rec[f"{name}.DataLength"] = lengths[rows]
                    rec[f"{name}.DataBytes"] = data[rows]
                    rec[f"{name}.EDL"] = fd[rows]
                    rec[f"{name}.BRS"] = brs[rows]
                    rec[f"{name}.ESI"] = esi[rows]
                writer._mdf.extend(index, [(offsets[rows], None), (rec, None)])
    finally:
        writer.stop()
