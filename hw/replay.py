"""A CAN log file replayed as a bus: ``[[bus]] replay = "drive.blf"``.

:class:`ReplayBus` is a read-only :class:`can.BusABC`, so the gateway reads it like any live bus.

**Formats**: the log format table (:mod:`canp.io.formats`), chosen by the file suffix as
python-can's :func:`can.LogReader` does: ``.asc .blf .csv .db .log`` (candump) ``.trc .mf4``, also
gzip-compressed (``drive.asc.gz``). MF4 needs the ``asammdf`` package. A file that cannot be
opened, whose extension is none of these, or whose first frame cannot be parsed is a
:class:`~logger.core.errors.ConfigError` naming the file; a frame further in that cannot be
parsed ends the replay with a :class:`~hw.bus.BusError` (``retryable=False``) naming the file and
the frame number, after every frame before it has been delivered.

**Timestamps**: a replayed frame keeps the log's own timestamp, unchanged. Replaying an incident
afterwards must reproduce it on the vehicle's clock: stored frames, their signals and time-range
queries then line up with everything else recorded at the time, not with the moment of the
replay. ASC files are read with absolute times (the ``date`` header plus each frame's offset)
when python-can understands the date; if it does not, and for any log that records relative
times only, timestamps are seconds from the start of the log, and a warning says so.

**Pacing**: ``fast`` returns frames as fast as they are read. ``realtime`` keeps the log's
relative timing: frame *k* is returned no earlier than ``t0 + (ts_k - ts_0)``, where ``t0`` is
when the first frame was returned (frames whose time goes backwards are returned at once). The
waiting happens inside :meth:`ReplayBus.recv` and honours its timeout; :meth:`ReplayBus.shutdown`
ends it at once.

At the end of the file the bus goes quiet: ``recv`` returns None after its timeout, and
:attr:`ReplayBus.finished` is True.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import can
from can.io.generic import MessageReader

from canp.io.anchor import RELATIVE_BEFORE_S
from canp.io.formats import LogFormat, LogFormatError, replay_format
from hw.bus import BusError
from logger.core.config import BusConfig
from logger.core.errors import ConfigError

_log = logging.getLogger(__name__)

Pace = Literal["realtime", "fast"]
PACES: tuple[Pace, ...] = ("realtime", "fast")


def _make_reader(
    path: Path, fmt: LogFormat, *, compressed: bool, absolute_times: bool
) -> MessageReader:
    if not compressed:
        return fmt.open_reader(path, absolute_times=absolute_times)
    stream = gzip.open(path, "rb" if fmt.binary else "rt")  # noqa: SIM115 - the reader closes it
    return fmt.open_reader(stream, absolute_times=absolute_times)


class ReplayBus(can.BusABC):
    """A log file read as a bus, paced ``realtime`` or ``fast`` (module docstring)."""

    def __init__(
        self,
        path: Path | str,
        pace: Pace = "realtime",
        *,
        name: str = "replay",
        config_key: str = "replay",
    ) -> None:
        if pace not in PACES:
            raise ConfigError(config_key.rsplit(".", 1)[0] + ".pace", f"must be one of {PACES}")
        self.path = Path(path)
        self.pace: Pace = pace
        self.name = name
        self._key = config_key
        self._closed = threading.Event()
        self._start: tuple[float, float] | None = None  # (monotonic, log time) of the first frame
        self._error: BusError | None = None
        self._frames = 0
        self._reader, self._iter, self._pending = self._open()
        self.channel_info = f"replay of {self.path} ({pace})"
        super().__init__(channel=str(self.path))
        self._can_protocol = can.CanProtocol.CAN_FD  # a log may hold classic and FD frames

    # ---- opening --------------------------------------------------------------------------
    def _open(self) -> tuple[MessageReader, Iterator[can.Message], can.Message | None]:
        """Open the log and parse its first frame, so a file we cannot read fails here."""
        if not self.path.is_file():
            raise ConfigError(self._key, f"{self.path}: no such file")
        try:
            fmt, compressed = replay_format(self.path)
        except LogFormatError as exc:
            raise ConfigError(
                self._key, f"{self.path}: python-can cannot read it: {exc.problem}"
            ) from exc
        missing = fmt.missing_package()
        if missing:
            raise ConfigError(
                self._key,
                f"{self.path}: a package python-can needs for this format: {missing} is not "
                f"installed (pip install {missing})",
            )
        try:
            return self._peek(fmt, compressed=compressed, absolute_times=True)
        except ConfigError:
            if not fmt.dated:
                raise
        # python-can could not understand the ASC file's date line: replay with relative times.
        opened = self._peek(fmt, compressed=compressed, absolute_times=False)
        _log.warning(
            "%s: python-can cannot read the date in this ASC file: replaying relative times",
            self.path,
        )
        return opened

    def _peek(
        self, fmt: LogFormat, *, compressed: bool, absolute_times: bool
    ) -> tuple[MessageReader, Iterator[can.Message], can.Message | None]:
        try:
            reader = _make_reader(
                self.path, fmt, compressed=compressed, absolute_times=absolute_times
            )
        except OSError as exc:
            raise ConfigError(
                self._key, f"{self.path}: cannot read: {exc.strerror or exc}"
            ) from exc
        except (ImportError, NotImplementedError) as exc:
            raise ConfigError(
                self._key, f"{self.path}: a package python-can needs for this format: {exc}"
            ) from exc
        except ValueError as exc:
            raise ConfigError(self._key, f"{self.path}: python-can cannot read it: {exc}") from exc
        except Exception as exc:  # third-party parsers (asammdf, struct) raise their own types
            raise ConfigError(
                self._key, f"{self.path}: not a readable log: {type(exc).__name__}: {exc}"
            ) from exc
        # The replay goes on with this same iterator: a second one may restart or skip frames.
        frames: Iterator[can.Message] = iter(reader)
        try:
            first = next(frames, None)
        except Exception as exc:  # any parser error: the file is not what its suffix says
            reader.stop()
            raise ConfigError(
                self._key,
                f"{self.path}: not a readable {''.join(self.path.suffixes) or 'log'} file: "
                f"{type(exc).__name__}: {exc}",
            ) from exc
        if first is None:
            _log.warning("%s: the log holds no frames", self.path)
        elif first.timestamp < RELATIVE_BEFORE_S:
            _log.warning(
                "%s: the log records relative times (first frame at %.6f s): replayed frames "
                "carry those, not wall-clock times",
                self.path,
                first.timestamp,
            )
        return reader, frames, first

    # ---- reading --------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        """Every frame of the log has been returned (or reading it failed)."""
        return self._pending is None

    @property
    def frames(self) -> int:
        """Frames returned so far."""
        return self._frames

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        if self._closed.is_set():
            raise can.CanOperationError(f"replay of {self.path} is shut down")
        msg = self._pending
        if msg is None:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            self._closed.wait(timeout)  # the end of the log: a quiet bus
            return None, False
        if self.pace == "realtime" and not self._wait_until_due(msg, timeout):
            return None, False
        self._frames += 1
        self._pending = self._read_next()
        return msg, False

    def _wait_until_due(self, msg: can.Message, timeout: float | None) -> bool:
        """Sleep until ``msg`` is due (the product's pacing); False when ``timeout`` ran out first."""
        now = time.monotonic()
        if self._start is None:
            self._start = (now, msg.timestamp)
        wait = self._start[0] + (msg.timestamp - self._start[1]) - now
        if wait <= 0:
            return True
        if timeout is not None and timeout < wait:
            self._closed.wait(timeout)
            return False
        return not self._closed.wait(wait)

    def _read_next(self) -> can.Message | None:
        try:
            nxt = next(self._iter, None)
        except Exception as exc:  # a malformed frame: deliver what came before, then fail
            self._error = BusError(
                f"replay of {self.path}: cannot read frame {self._frames + 1}: "
                f"{type(exc).__name__}: {exc}",
                retryable=False,
            )
            return None
        if nxt is None and self._error is None:
            _log.info("replay of %s finished: %d frames", self.path, self._frames)
        return nxt

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        raise can.CanOperationError(f"replay of {self.path} is read-only")

    def shutdown(self) -> None:
        self._closed.set()
        self._reader.stop()
        super().shutdown()


def open_replay(cfg: BusConfig) -> ReplayBus:
    """The replay of ``[[bus]]`` section ``cfg`` (``replay`` and ``pace``)."""
    if cfg.replay is None:
        raise ConfigError(f"bus[{cfg.name}].replay", "is not set")
    return ReplayBus(cfg.replay, cfg.pace, name=cfg.name, config_key=f"bus[{cfg.name}].replay")
