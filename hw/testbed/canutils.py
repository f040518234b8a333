"""can-utils as peers: ``cangen``, ``candump -l``, ``cansend``, ``canplayer`` (Debian's can-utils),
and the candump log format they share (with ``candump -d``'s ``DROPCOUNT`` lines).

Tests and tools use these to check the logger against programs nobody here wrote:
:class:`Candump` records a bus to a candump log while the gateway reads the same bus;
:func:`cangen`, :func:`cansend` and :func:`canplayer` put frames on it; :func:`read_candump_log`
parses the log into :class:`LoggedFrame` rows, and :func:`first_difference` compares them with
stored frames (a ``frames`` table, :data:`canp.schema.FRAMES_SCHEMA`).

candump is ready only once its socket is bound, and it says nothing when it is: :meth:`Candump.start`
waits until the kernel lists one more receiver on the interface (``/proc/net/can/rcvlist_*``).

The log format (can-utils' ``lib.c``): ``(<seconds>.<µs>) <interface> <frame>`` with ``<frame>``
``<id>#<data>`` (classic; 3 hex digits for an 11-bit id, 8 for a 29-bit id, 8 with bit 29 for
an error frame, which carries no extended flag), ``<id>#R[<len>]`` (remote) or
``<id>##<flags><data>`` (FD; flags bit 0 BRS, bit 1 ESI, bit 2 FDF), optionally followed by the
direction (`` R`` or `` T``, as python-can's writer adds). candump's timestamps are the kernel's
receive time (SO_TIMESTAMP), truncated to the microsecond. python-can's ``CanutilsLogReader``
cannot stand in for :func:`read_candump_log` here: it drops a bus-error frame's class bits, data
and interface, reads other error frames as extended data frames, refuses a hex remote length
(``#RA``) and gives float seconds instead of the exact microseconds.
"""

from __future__ import annotations

import logging
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

import pyarrow as pa

from logger.core.errors import SdvLoggerError

_log = logging.getLogger(__name__)

CAN_EFF_FLAG = 0x80000000
CAN_RTR_FLAG = 0x40000000
CAN_ERR_FLAG = 0x20000000
CAN_EFF_MASK = 0x1FFFFFFF
CANFD_BRS, CANFD_ESI = 0x01, 0x02
RCVLISTS = Path("/proc/net/can")
_WAIT_STEP_S = 0.01
_STOP_S = 30.0
_LINE = re.compile(
    r"\((?P<sec>\d+)\.(?P<usec>\d{6})\)\s+(?P<iface>\S+)\s+(?P<id>[0-9A-Fa-f]{3}|[0-9A-Fa-f]{8})"
    r"(?:#(?P<rtr>R)(?P<rlen>[0-9A-Fa-f])?|##(?P<fdflags>[0-9A-Fa-f])(?P<fddata>[0-9A-Fa-f]*)"
    r"|#(?P<data>[0-9A-Fa-f]*))(?:\s+[RT])?\s*\Z"
)


class CanUtilsError(SdvLoggerError):
    """A can-utils program is missing, failed, or wrote what we cannot parse."""


@dataclass(frozen=True)
class LoggedFrame:
    """One line of a candump log."""

    ts_us: int  # µs since the epoch (the kernel's receive time, truncated)
    iface: str
    can_id: int  # as SocketCAN has it: id | EFF / RTR / ERR flag bits (no EFF on error frames)
    fd: bool
    brs: bool
    esi: bool
    length: int  # data length (of a remote frame: its requested length)
    data: bytes  # empty for a remote frame

    @property
    def arbitration_id(self) -> int:
        return self.can_id & CAN_EFF_MASK

    @property
    def extended(self) -> bool:
        return bool(self.can_id & CAN_EFF_FLAG)

    @property
    def remote(self) -> bool:
        return bool(self.can_id & CAN_RTR_FLAG)

    @property
    def error(self) -> bool:
        return bool(self.can_id & CAN_ERR_FLAG)


def parse_candump_line(line: str) -> LoggedFrame:
    """One candump log line as a :class:`LoggedFrame` (:class:`CanUtilsError` if it is not one)."""
    m = _LINE.match(line.strip())
    if m is None:
        raise CanUtilsError(f"not a candump log line: {line.strip()!r}")
    text_id = m["id"]
    can_id = int(text_id, 16)
    if len(text_id) == 8 and not can_id & CAN_ERR_FLAG:
        can_id |= CAN_EFF_FLAG
    fd = m["fdflags"] is not None
    flags = int(m["fdflags"], 16) if fd else 0
    if m["rtr"] is not None:
        can_id |= CAN_RTR_FLAG
        length, data = int(m["rlen"] or "0", 16), b""
    else:
        data = bytes.fromhex(m["fddata"] if fd else m["data"])
        length = len(data)
    return LoggedFrame(
        ts_us=int(m["sec"]) * 1_000_000 + int(m["usec"]),
        iface=m["iface"],
        can_id=can_id,
        fd=fd,
        brs=bool(flags & CANFD_BRS),
        esi=bool(flags & CANFD_ESI),
        length=length,
        data=data,
    )


_DROPCOUNT = re.compile(
    r"DROPCOUNT: dropped \d+ CAN frames? on '[^']*' socket \(total drops (\d+)\)"
)


def read_candump_log(path: Path) -> list[LoggedFrame]:
    """Every frame of a candump log, in file order (``DROPCOUNT`` lines are not frames: see
    :func:`candump_drops`)."""
    frames = []
    with path.open(encoding="ascii") as f:
        for number, line in enumerate(f, 1):
            if not line.strip() or line.startswith("DROPCOUNT:"):
                continue
            try:
                frames.append(parse_candump_line(line))
            except CanUtilsError as exc:
                raise CanUtilsError(f"{path}:{number}: {exc}") from exc
    return frames


def candump_drops(path: Path) -> int:
    """Frames candump's own socket lost (``candump -d`` logs ``DROPCOUNT`` lines: the kernel's
    count, reported with the next frame read after a loss)."""
    total = 0
    with path.open(encoding="ascii") as f:
        for line in f:
            m = _DROPCOUNT.match(line)
            if m is not None:
                total = int(m[1])
    return total


def tool(name: str) -> str:
    """Path of a can-utils program; :class:`CanUtilsError` naming the package when missing."""
    found = shutil.which(name)
    if found is None:
        raise CanUtilsError(
            f"{name} is not installed: install Debian's can-utils (bash tools/setup.sh as root)"
        )
    return found


def receivers(iface: str, root: Path = RCVLISTS) -> int:
    """Receive filters the kernel holds for ``iface`` (one per open raw socket and filter)."""
    count = 0
    for path in root.glob("rcvlist_*"):
        try:
            text = path.read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        count += sum(1 for line in text.splitlines() if line.split()[:1] == [iface])
    return count


def run(args: Sequence[str], timeout: float = 600.0) -> str:
    """Run a can-utils program to its end; its stdout (:class:`CanUtilsError` if it fails)."""
    cmd = [tool(args[0]), *args[1:]]
    _log.debug("running %s", " ".join(cmd))
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise CanUtilsError(f"{' '.join(args)}: still running after {timeout:g} s") from exc
    if done.returncode != 0:
        raise CanUtilsError(
            f"{' '.join(args)}: exit status {done.returncode}: {done.stderr.strip()[-500:]}"
        )
    return done.stdout


def cangen(iface: str, count: int, *, gap_ms: float = 1.0, options: Sequence[str] = ()) -> None:
    """``cangen IFACE -n COUNT -g GAP OPTIONS...``: ``count`` frames, ``gap_ms`` apart."""
    run(["cangen", iface, "-n", str(count), "-g", f"{gap_ms:g}", "-p", "100", *options])


def cansend(iface: str, frame: str) -> None:
    """``cansend IFACE FRAME`` (candump notation: ``123#DEAD``, ``123#R``, ``123##1AA``...)."""
    run(["cansend", iface, frame])


def canplayer(log: Path, assignments: Sequence[str], options: Sequence[str] = ()) -> None:
    """``canplayer -I LOG OPTIONS... ASSIGNMENTS...`` (``vcan0=can0``: can0's frames to vcan0)."""
    run(["canplayer", "-I", str(log), *options, *assignments])


CANDUMP_RCVBUF = 64 << 20
"""What :class:`Candump` asks for with ``-r`` unless told otherwise (the kernel doubles it)."""


class Candump:
    """``candump -l -d`` of ``iface`` (data and error frames) into a log in ``directory``.

    ``count``: candump exits by itself after that many frames (``-n``). :meth:`stop` ends it
    (SIGINT, which makes it flush and close its log) unless it has exited; :attr:`frames` then
    parses the log, :attr:`dropped` counts what candump's own socket lost (``-d``). ``keep_going``:
    survive the interface going down (``-D``). ``rcvbuf``: what ``-r`` asks for (the kernel
    doubles it, as for any ``SO_RCVBUF``): large by default, so that the reference keeps up.
    """

    def __init__(
        self,
        iface: str,
        directory: Path,
        *,
        count: int | None = None,
        keep_going: bool = False,
        rcvbuf: int = CANDUMP_RCVBUF,
    ) -> None:
        self.iface = iface
        self.directory = directory
        self.count = count
        self.keep_going = keep_going
        self.rcvbuf = rcvbuf
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> Candump:
        """Start candump and return once its socket listens on the interface."""
        self.directory.mkdir(parents=True, exist_ok=True)
        before = receivers(self.iface)
        cmd = [tool("candump"), "-l", "-d", "-r", str(self.rcvbuf)]
        if self.count is not None:
            cmd += ["-n", str(self.count)]
        if self.keep_going:
            cmd.append("-D")
        cmd.append(f"{self.iface},0:0,#FFFFFFFF")  # every data frame and every error frame
        self._proc = subprocess.Popen(
            cmd, cwd=self.directory, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while receivers(self.iface) < before + 2:  # its data filter and its error filter
            if self._proc.poll() is not None:
                raise CanUtilsError(f"candump exited with {self._proc.returncode}: {self._err()}")
            if time.monotonic() > deadline:
                self.stop()
                raise CanUtilsError(f"candump did not listen on {self.iface} in {timeout:g} s")
            time.sleep(_WAIT_STEP_S)
        return self

    def _err(self) -> str:
        proc = self._proc
        if proc is None or proc.stderr is None:
            return ""
        return proc.stderr.read().decode(errors="replace").strip()[-500:]

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for candump to exit by itself (after ``count`` frames)."""
        proc = self._proc
        if proc is None:
            return True
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self) -> None:
        """End candump (if it still runs) so that its log is complete."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(_STOP_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(_STOP_S)
        if proc.stderr is not None:
            proc.stderr.close()

    @property
    def log(self) -> Path:
        logs = sorted(self.directory.glob("candump-*.log"))
        if len(logs) != 1:
            raise CanUtilsError(f"expected one candump log in {self.directory}, found {logs}")
        return logs[0]

    @property
    def frames(self) -> list[LoggedFrame]:
        return read_candump_log(self.log)

    @property
    def dropped(self) -> int:
        return candump_drops(self.log)

    def __enter__(self) -> Candump:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Frame(NamedTuple):
    """What a frame is, for comparing a candump log with stored frames: the id with SocketCAN's
    flag bits (an error frame without the extended flag, which candump does not keep), the FD
    flags, and the data (none for a remote frame: the store keeps data lengths, candump the
    requested length)."""

    can_id: int
    fd: bool
    brs: bool
    esi: bool
    data: bytes


def logged_frame(f: LoggedFrame) -> Frame:
    return Frame(f.can_id, f.fd, f.brs, f.esi, b"" if f.remote else f.data)


def stored_frames(table: pa.Table) -> list[tuple[int, str, Frame]]:
    """``(ts_ns, bus, Frame)`` per row of a ``frames`` table, in table order."""
    cols = {name: table.column(name).to_pylist() for name in FRAME_COLUMNS}
    rows = []
    for ts, bus, i, ext, rtr, err, fd, brs, esi, data in zip(
        *(cols[name] for name in FRAME_COLUMNS), strict=True
    ):
        can_id = i | (CAN_RTR_FLAG if rtr else 0)
        can_id |= CAN_ERR_FLAG if err else (CAN_EFF_FLAG if ext else 0)
        rows.append((ts, bus, Frame(can_id, fd, brs, esi, b"" if rtr else data)))
    return rows


FRAME_COLUMNS = ("ts", "bus", "id", "extended", "remote", "error", "fd", "brs", "esi", "data")


def same_time(ts_ns: int, ts_us: int) -> bool:
    """Whether a stored time (ns, from python-can's float seconds: about ±0.25 µs off) and a
    candump time (µs, truncated) can be the same kernel timestamp."""
    return ts_us * 1000 - 500 <= ts_ns <= ts_us * 1000 + 1499


def first_difference(
    stored: pa.Table, logged: Sequence[LoggedFrame], *, bus: str | None = None, times: bool = True
) -> str | None:
    """None when ``stored`` holds exactly the frames of ``logged``, in the same order (and, with
    ``times``, at the same kernel timestamps); else the first difference, in words. ``bus``:
    the name the stored frames must carry (default: the log's interface names)."""
    rows = stored_frames(stored)
    if len(rows) != len(logged):
        return f"{len(rows)} frames stored, {len(logged)} logged"
    for n, ((ts, name, frame), log_line) in enumerate(zip(rows, logged, strict=True)):
        want = logged_frame(log_line)
        if frame != want:
            return f"frame {n}: stored {frame}, logged {want}"
        if name != (bus if bus is not None else log_line.iface):
            return f"frame {n}: stored on bus {name!r}, logged on {log_line.iface!r}"
        if times and not same_time(ts, log_line.ts_us):
            return f"frame {n}: stored at {ts} ns, logged at {log_line.ts_us} µs"
    return None


def missing_runs(stored: pa.Table, logged: Sequence[LoggedFrame]) -> list[tuple[int, int]] | None:
    """The runs of ``logged`` frames missing from ``stored`` as ``(first index, length)``, when
    ``stored`` holds the others exactly (same frames, same kernel times, same order); None when
    it does not (a frame stored that was not logged, or out of order)."""
    rows = stored_frames(stored)
    runs: list[tuple[int, int]] = []
    j = 0
    for i, log_line in enumerate(logged):
        if j < len(rows):
            ts, _bus, frame = rows[j]
            if frame == logged_frame(log_line) and same_time(ts, log_line.ts_us):
                j += 1
                continue
        if runs and runs[-1][0] + runs[-1][1] == i:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((i, 1))
    return runs if j == len(rows) else None
