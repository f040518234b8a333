"""One bus of the gateway: its reader thread, its batches, its counters.

The thread reads the bus and never waits for the broker. A batch closes at ``batch_frames``
frames or when its first frame is ``batch_s`` old, and goes to the gateway's queue as one CANP
payload. A bus whose backlog (frames read and not yet confirmed by the broker) reaches its
bound drops the frames it reads beyond it: counted, and logged once per burst.

Reading: a ``socketcan`` bus is read in bulk from the socket python-can opened, by a drain
process that never waits for this one (:class:`hw.socketcan_reader.SocketcanReader`), with a
receive buffer of its ``rcvbuf`` bytes (:mod:`logger.gateway.kernel_intake`); frames the kernel
dropped count as ``kernel_dropped``, logged once per burst with the kernel times between which
they were lost. Other interfaces: python-can's ``bus.recv(timeout)``.

Bus trouble: a failed read (interface down, adapter unplugged) is logged and counted, the bus
reopened with back-off (:data:`REOPEN_INITIAL_S` doubling up to :data:`REOPEN_MAX_S`), and the
gap (seconds without frames) logged and counted when frames come again. A bus failing again
before any frame came (an interface that is down) keeps the back-off growing and warns once. A
missing driver fails :meth:`BusReader.open_first`; a device missing at start is retried. A
replay (:mod:`hw.replay`) is never reopened: a log that cannot be parsed further ends it.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

import can

from canp.wire import encode_messages
from hw.bus import BusError, bitrates, describe, frame_bits, open_bus
from hw.replay import ReplayBus
from hw.socketcan_reader import SocketcanReader
from logger.core.burstlog import BurstLogger
from logger.core.config import BusConfig
from logger.core.errors import ConfigError
from logger.gateway.bus_batch import Batch
from logger.gateway.bus_stats import (
    DOWN,
    FAILED,
    READING,
    REPLAY_DONE,
    STARTING,
    STOPPED,
    BusStats,
    RateWindow,
)
from logger.gateway.kernel_intake import KernelIntake

_log = logging.getLogger(__name__)
_JOIN_S = 15.0
"""How long :meth:`BusReader.stop` waits for the reader thread to end."""

POLL_S = 0.1
"""Longest a reader waits in ``recv`` (how soon it notices ``stop``)."""
RATE_WINDOW_S = 1.0
REOPEN_INITIAL_S = 0.5
REOPEN_MAX_S = 10.0


class BusReader:
    """One bus: its reader thread, its batch, its counters. ``bound`` is the most frames the
    bus may hold unconfirmed (its backlog); ``stop`` ends the thread; ``enqueue`` takes each
    closed batch; ``notify`` wakes whoever waits on the counters."""

    def __init__(
        self,
        cfg: BusConfig,
        topic: str,
        *,
        bound: int,
        batch_frames: int,
        batch_s: float,
        stop: threading.Event,
        enqueue: Callable[[Batch], None],
        notify: Callable[[], None],
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.topic = topic
        self.where = describe(cfg)
        self.bound = bound
        self.batch_frames = batch_frames
        self.batch_s = batch_s
        self._stop = stop
        self._enqueue = enqueue
        self._notify = notify
        self.bitrate, self.data_bitrate = bitrates(cfg)
        self.is_replay = cfg.replay is not None
        self.bus: can.BusABC | None = None
        self.state = STARTING
        self.failure: str | None = None
        self.frames = self.bits_nominal = self.bits_data = 0
        self.dropped = self.read_errors = self.reopens = self.gaps = 0
        self.last_gap_s: float | None = None
        self._kernel = KernelIntake(self.where, batch_frames, cfg.rcvbuf)
        # Changed under the gateway's lock only (by whoever ``enqueue`` hands batches to):
        self.backlog = self.published = self.lost = self.rejected = 0
        self.rates = RateWindow(self.bitrate, self.data_bitrate, time.monotonic(), RATE_WINDOW_S)
        self._last_frame: float | None = None
        self._gap_since: float | None = None
        self._backoff = REOPEN_INITIAL_S  # the first wait of the next reopen
        self._again = False  # the last failure came before any frame since the one before
        self._drop_log = BurstLogger(
            _log, f"{self.where}: {bound} frames wait for the broker: new frames dropped"
        )
        self.reading = threading.Event()  # the bus is read, or cannot be for now: see its state
        self.thread = threading.Thread(target=self._run, name=f"gateway-{cfg.name}", daemon=True)

    # ---- opening --------------------------------------------------------------------------
    def open_first(self) -> None:
        """Open the bus at start; a device that is not there yet is retried by the thread."""
        try:
            self.bus = open_bus(self.cfg)
        except BusError as exc:
            if not exc.retryable:
                raise
            _log.warning("%s; retrying in the background", exc)
            self.state = DOWN
            self.reading.set()
            self._gap_since = time.monotonic()
            return
        self.state = READING

    def _reopen(self) -> can.BusABC | None:
        """Open the bus again with back-off; None when stopping or when retrying cannot help."""
        stop = self._stop
        delay = self._backoff
        attempt = 0
        down_since = time.monotonic()
        while not stop.wait(delay):
            attempt += 1
            try:
                bus = open_bus(self.cfg)
            except (BusError, ConfigError) as exc:
                if isinstance(exc, ConfigError) or not exc.retryable:
                    self._fail(str(exc))
                    return None
                _log.debug("%s: reopen attempt %d failed: %s", self.where, attempt, exc)
                delay = min(delay * 2, REOPEN_MAX_S)
                continue
            self.reopens += 1
            (_log.debug if self._again else _log.warning)(
                "%s: reopened after %.1f s (%d attempts)",
                self.where,
                time.monotonic() - down_since,
                attempt,
            )
            self._set_state(READING)
            return bus
        return None

    def _fail(self, why: str) -> None:
        self.failure = why
        _log.error("%s: stopped reading: %s", self.where, why)
        self._set_state(FAILED)

    def _set_state(self, state: str) -> None:
        self.state = state
        self.reading.set()
        self._notify()

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Start reading (after :meth:`open_first`); idempotent."""
        if not self.thread.is_alive() and not self._stop.is_set():
            self.thread.start()

    def stop(self, timeout: float = _JOIN_S) -> None:
        """End reading: the reader queues its last batch and closes its bus. ``stop`` is the
        event every reader of the gateway shares; the gateway sets it once for all of them."""
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout)
            if self.thread.is_alive():
                _log.warning("%s: the reader did not end within %g s", self.where, timeout)
        elif self.thread.ident is None:  # never started: close what open_first opened
            self.close()

    def close(self) -> None:
        """Close the bus, if it is open (a driver failing to close is logged, not raised)."""
        bus, self.bus = self.bus, None
        if bus is None:
            return
        self._kernel.detach()  # counts what the kernel dropped last
        try:
            bus.shutdown()
        except Exception as exc:  # a driver failing to close must not stop the others
            _log.warning("%s: closing failed: %s: %s", self.where, type(exc).__name__, exc)

    def _run(self) -> None:
        try:
            self._read()
        except Exception:  # never expected: say so loudly, the other buses go on
            _log.exception("%s: reader crashed", self.where)
            self.failure = "reader crashed"
            self._set_state(FAILED)
        finally:
            self.close()
            if self.state not in (FAILED, REPLAY_DONE):
                self.state = STOPPED
            self._notify()

    def _read(self) -> None:
        while not self._stop.is_set():
            bus = self.bus
            if bus is None:
                if self.is_replay or self.state == FAILED:
                    return
                bus = self.bus = self._reopen()
                if bus is None:
                    return
            sock = getattr(bus, "socket", None)
            if self.cfg.interface == "socketcan" and isinstance(sock, socket.socket):
                self._read_socket(sock)
            else:
                self._read_messages(bus)

    def _read_messages(self, bus: can.BusABC) -> None:
        """Read ``bus`` with python-can, frame by frame, until stop or a failed read."""
        self.reading.set()
        stop = self._stop
        batch_frames, batch_s = self.batch_frames, self.batch_s
        bound = self.bound
        batch: list[can.Message] = []
        deadline = 0.0
        notified = -1
        while not stop.is_set():
            timeout = POLL_S if not batch else min(POLL_S, max(0.0, deadline - time.monotonic()))
            try:
                msg = bus.recv(timeout)
            except Exception as exc:
                self._flush(batch)
                self._read_failed(exc)
                return
            now = time.monotonic()
            if msg is not None:
                self.frames += 1
                nominal, data = frame_bits(msg)
                self.bits_nominal += nominal
                self.bits_data += data
                if self._gap_since is not None:
                    self._end_gap(now)
                self._last_frame = now
                if self.backlog + len(batch) >= bound:
                    self.dropped += 1
                    self._drop_log.hit()
                else:
                    if not batch:
                        deadline = now + batch_s
                    batch.append(msg)
                    if len(batch) >= batch_frames:
                        self._flush(batch)
                        batch = []
            if batch and now >= deadline:
                self._flush(batch)
                batch = []
            if msg is None and not batch:  # idle: let waiters see the counters
                if self.state != REPLAY_DONE and isinstance(bus, ReplayBus) and bus.finished:
                    self.state = REPLAY_DONE
                    notified = -1
                if notified != self.frames + self.dropped:
                    notified = self.frames + self.dropped
                    self._notify()
            self.rates.roll(now, self.frames, self.bits_nominal, self.bits_data)
        self._flush(batch)

    def _flush(self, batch: list[can.Message]) -> None:
        if batch:
            self._enqueue(Batch(self, encode_messages(batch), len(batch)))

    def _read_socket(self, sock: socket.socket) -> None:
        """Read a SocketCAN bus in bulk until stop (taking what the drain read) or a failure."""
        try:
            reader = self._kernel.attach(sock)
        except OSError as exc:  # the drain could not start
            self._read_failed(exc)
            return
        self.reading.set()
        stop, batch_s = self._stop, self.batch_s
        gather = reader.drain_pid is not None  # a batch's frames gather in the drain's ring
        deadline = 0.0
        opened = False  # frames came: the batch's deadline runs
        notified = -1
        while not stop.is_set():
            held = reader.count
            timeout = min(POLL_S, max(0.0, deadline - time.monotonic())) if opened else POLL_S
            try:
                ready = reader.wait(timeout, fill=opened)
                now = time.monotonic()
                if ready and not opened:
                    opened, deadline = True, now + batch_s
                    if gather:
                        continue  # take the batch's frames at once, when full or due
                got = reader.receive() if ready else 0
            except OSError as exc:
                self._flush_socket(reader)
                self._read_failed(exc)
                return
            if got:
                self._took(reader, got, held, now)
            idle = not got and not reader.count
            if idle:
                reader.check_drops()  # frames dropped after the last one read
            if reader.kernel_dropped != self._kernel.dropped:
                self._kernel.count_drops()
            if reader.count and now >= deadline:
                self._flush_socket(reader)
            opened = opened and reader.count > 0  # a batch flushed full or due: the next opens
            if idle and notified != self.frames + self.dropped + self._kernel.dropped:
                notified = self.frames + self.dropped + self._kernel.dropped
                self._notify()  # let waiters see the counters
            self.rates.roll(now, self.frames, self.bits_nominal, self.bits_data)
        reader.stop_reading()
        while reader.read_ahead:
            self._took(reader, reader.receive(), reader.count, time.monotonic())
        self._flush_socket(reader)

    def _took(self, reader: SocketcanReader, got: int, held: int, now: float) -> None:
        """Count ``got`` frames received after ``held``, keep what the bound allows, flush full."""
        self.frames += got
        nominal, data = reader.bits
        self.bits_nominal += nominal
        self.bits_data += data
        if self._gap_since is not None:
            self._end_gap(now)
        self._last_frame = now
        keep = min(got, max(0, self.bound - self.backlog - held))
        if keep < got:
            self.dropped += got - keep
            self._drop_log.hit()
        reader.keep(keep)
        if reader.count >= self.batch_frames:
            self._flush_socket(reader)

    def _flush_socket(self, reader: SocketcanReader) -> None:
        if frames := reader.count:
            self._enqueue(Batch(self, reader.payload(), frames))

    def _read_failed(self, exc: Exception) -> None:
        self.close()
        if self.is_replay:
            self._fail(str(exc) if isinstance(exc, BusError) else f"{type(exc).__name__}: {exc}")
            return
        self.read_errors += 1
        # In a gap already: no frame came since the last failure, so the device is still away.
        self._again = self._gap_since is not None
        self._backoff = min(self._backoff * 2, REOPEN_MAX_S) if self._again else REOPEN_INITIAL_S
        (_log.debug if self._again else _log.warning)(
            "%s: read failed: %s: %s; reopening", self.where, type(exc).__name__, exc
        )
        if self._gap_since is None:
            self._gap_since = self._last_frame if self._last_frame is not None else time.monotonic()
        self._set_state(DOWN)

    def _end_gap(self, now: float) -> None:
        assert self._gap_since is not None
        gap = now - self._gap_since
        self._gap_since = None
        self.gaps += 1
        self.last_gap_s = gap
        _log.warning("%s: frames again after %.3f s without frames", self.where, gap)

    def stats(self, now: float | None = None) -> BusStats:
        """The bus's counters; rates over the window ending at ``now`` (monotonic; default now)."""
        fps, load = self.rates.current(time.monotonic() if now is None else now)
        drop = self._kernel.last_drop
        return BusStats(
            name=self.name,
            state=self.state,
            frames=self.frames,
            fps=fps,
            load_pct=load,
            bits_nominal=self.bits_nominal,
            bits_data=self.bits_data,
            bus_time_s=self.bits_nominal / self.bitrate + self.bits_data / self.data_bitrate,
            dropped=self.dropped,
            backlog=self.backlog,
            published=self.published,
            lost=self.lost,
            rejected=self.rejected,
            read_errors=self.read_errors,
            reopens=self.reopens,
            gaps=self.gaps,
            last_gap_s=self.last_gap_s,
            failure=self.failure,
            kernel_dropped=self._kernel.dropped,
            rcvbuf=self._kernel.rcvbuf,
            kernel_drop_after_ns=drop.after_ns if drop is not None else None,
            kernel_drop_before_ns=drop.before_ns if drop is not None else None,
        )
