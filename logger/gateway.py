"""The gateway: CAN buses → CANP batches → MQTT (DESIGN.md, "The pipeline").

One reader thread per ``[[bus]]`` calls ``bus.recv(timeout)`` and never waits for the broker. It
collects frames into a batch that is closed when it holds ``gateway.batch_frames`` frames or its
first frame is ``gateway.batch_ms`` old, whichever comes first, encodes it as one CANP payload
(:func:`canp.wire.encode_messages`) and queues it. One publisher thread hands queued batches to
paho in order (topic ``gateway.topic`` with ``{vin}`` and ``{bus}`` filled in, QoS
``gateway.qos``), keeping at most :data:`MAX_INFLIGHT` messages (or the broker's MQTT 5 receive
maximum, if smaller) unconfirmed.

Broker away: the first connection is made in the background by
:func:`logger.mqtt.connect_with_backoff`, so the buses are read from the start; later
reconnections are paho's. Until the broker confirms them (PUBACK at QoS 1, written to the socket
at QoS 0) frames count as the bus's *backlog*. A bus whose backlog reaches the buffer bound
(``gateway.buffer_frames`` frames, default 100,000) drops the frames it reads
beyond it: counted, and logged once per burst. At QoS 1 paho resends unconfirmed messages after
a reconnection (the broker may see a batch twice); at QoS 0 what was in transit when the
connection dropped is lost and counted as ``lost``.

Bus trouble: a failed read (interface down, adapter unplugged) is logged and counted, the bus is
closed and reopened with back-off (:data:`REOPEN_INITIAL_S` doubling up to :data:`REOPEN_MAX_S`),
and when frames come again the gap (seconds without frames) is logged and reported in the
counters. A driver that is missing fails :meth:`Gateway.start`; a device that is missing at start
is retried like one that went away. A replay (:mod:`hw.replay`) is never reopened: a log file
that cannot be parsed further ends that bus (state ``failed``).

Counters (:meth:`Gateway.stats`): per bus frames read, frames/s and bus load % over the last
second or so (:func:`hw.bus.frame_bits`, from ``bitrate`` and ``data_bitrate``), drops, backlog,
frames confirmed, lost and rejected by the broker, read errors, reopens and gaps. Rates are by
the wall clock: a ``fast`` replay shows the replay's rate, and a load far above 100 %.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import can
import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion

from canp.wire import encode_messages
from hw.bus import BusError, bitrates, describe, frame_bits, load_percent, open_bus
from hw.replay import ReplayBus
from logger.burstlog import BurstLogger
from logger.config import BusConfig, Config
from logger.errors import BrokerError, ConfigError, SdvLoggerError
from logger.mqtt import connect_with_backoff, make_client

_log = logging.getLogger(__name__)

MAX_INFLIGHT = 1024
"""Messages handed to paho and not yet confirmed (paho's ``max_inflight_messages`` too)."""
POLL_S = 0.1
"""Longest a reader waits in ``recv`` (how soon it notices ``stop``)."""
RATE_WINDOW_S = 1.0
REOPEN_INITIAL_S = 0.5
REOPEN_MAX_S = 10.0
STOP_TIMEOUT_S = 10.0
"""How long :meth:`Gateway.stop` waits for the broker to confirm what the gateway holds."""
_RECHECK_S = 0.5
_JOIN_S = 15.0

# Reader states (BusStats.state).
STARTING, READING, DOWN, REPLAY_DONE, FAILED, STOPPED = (
    "starting",
    "reading",
    "down",
    "replay finished",
    "failed",
    "stopped",
)


@dataclass(frozen=True)
class BusStats:
    """Counters of one bus (a snapshot)."""

    name: str
    state: str  # starting | reading | down | replay finished | failed | stopped
    frames: int  # frames read
    fps: float  # frames/s over the last rate window (about a second)
    load_pct: float  # bus load over the last rate window, without stuff bits
    bits_nominal: int  # all frames read: bits at the nominal bit rate
    bits_data: int  # ... and bits at the CAN FD data bit rate
    bus_time_s: float  # seconds of bus time those frames took
    dropped: int  # frames dropped because the backlog was full
    backlog: int  # frames read and not yet confirmed by the broker
    published: int  # frames the broker confirmed
    lost: int  # frames given up: in transit at a QoS 0 disconnect, or held at stop
    rejected: int  # frames in messages the broker refused (PUBACK reason code)
    read_errors: int
    reopens: int
    gaps: int  # times frames came again after a failure
    last_gap_s: float | None  # seconds without frames, the last time
    failure: str | None  # why the bus stopped for good (state failed)


@dataclass(frozen=True)
class GatewayStats:
    connected: bool
    buses: dict[str, BusStats]

    def as_dict(self) -> dict[str, object]:
        return {"connected": self.connected, "buses": {k: asdict(v) for k, v in self.buses.items()}}


class RateWindow:
    """Frames/s and bus load over the last completed window of at least ``window_s`` seconds."""

    def __init__(self, bitrate: int, data_bitrate: int, now: float, window_s: float) -> None:
        self.bitrate = bitrate
        self.data_bitrate = data_bitrate
        self.window_s = window_s
        self._start = now
        self._base = (0, 0, 0)
        self.fps = 0.0
        self.load_pct = 0.0
        self.at = now

    def roll(self, now: float, frames: int, nominal: int, data: int) -> bool:
        """Close the window if it is old enough; True when it did."""
        elapsed = now - self._start
        if elapsed < self.window_s:
            return False
        f0, n0, d0 = self._base
        self.fps = (frames - f0) / elapsed
        self.load_pct = load_percent(
            nominal - n0, data - d0, elapsed, self.bitrate, self.data_bitrate
        )
        self._start, self._base, self.at = now, (frames, nominal, data), now
        return True

    def current(self, now: float) -> tuple[float, float]:
        """(frames/s, load %); zero when no window closed lately (the reader is not reading)."""
        if now - self.at > 2 * self.window_s:
            return 0.0, 0.0
        return self.fps, self.load_pct


@dataclass(frozen=True)
class _Batch:
    reader: _BusReader
    payload: bytes
    frames: int


class _BusReader:
    """One bus: its reader thread, its batch, its counters."""

    def __init__(self, gw: Gateway, cfg: BusConfig, topic: str, bound: int) -> None:
        self.gw = gw
        self.cfg = cfg
        self.name = cfg.name
        self.topic = topic
        self.where = describe(cfg)
        self.bound = bound
        self.bitrate, self.data_bitrate = bitrates(cfg)
        self.is_replay = cfg.replay is not None
        self.bus: can.BusABC | None = None
        self.state = STARTING
        self.failure: str | None = None
        self.frames = self.bits_nominal = self.bits_data = 0
        self.dropped = self.read_errors = self.reopens = self.gaps = 0
        self.last_gap_s: float | None = None
        # Changed under the gateway's lock only:
        self.backlog = self.published = self.lost = self.rejected = 0
        self.rates = RateWindow(self.bitrate, self.data_bitrate, time.monotonic(), RATE_WINDOW_S)
        self._last_frame: float | None = None
        self._gap_since: float | None = None
        self._drop_log = BurstLogger(
            _log, f"{self.where}: {bound} frames wait for the broker: new frames dropped"
        )
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
            self._gap_since = time.monotonic()
            return
        self.state = READING

    def _reopen(self) -> can.BusABC | None:
        """Open the bus again with back-off; None when stopping or when retrying cannot help."""
        stop = self.gw._stop_reading
        delay = REOPEN_INITIAL_S
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
            _log.warning(
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
        self.gw._notify()

    def _close(self) -> None:
        bus, self.bus = self.bus, None
        if bus is None:
            return
        try:
            bus.shutdown()
        except Exception as exc:  # a driver failing to close must not stop the others
            _log.warning("%s: closing failed: %s: %s", self.where, type(exc).__name__, exc)

    # ---- the reader thread ----------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._read()
        except Exception:  # never expected: say so loudly, the other buses go on
            _log.exception("%s: reader crashed", self.where)
            self.failure = "reader crashed"
            self._set_state(FAILED)
        finally:
            self._close()
            if self.state not in (FAILED, REPLAY_DONE):
                self.state = STOPPED
            self.gw._notify()

    def _read(self) -> None:
        gw = self.gw
        stop = gw._stop_reading
        batch_frames, batch_s = gw.batch_frames, gw.batch_s
        bound = self.bound
        batch: list[can.Message] = []
        deadline = 0.0
        notified = -1
        while not stop.is_set():
            bus = self.bus
            if bus is None:
                if self.is_replay or self.state == FAILED:
                    return
                bus = self.bus = self._reopen()
                if bus is None:
                    return
            timeout = POLL_S if not batch else min(POLL_S, max(0.0, deadline - time.monotonic()))
            try:
                msg = bus.recv(timeout)
            except Exception as exc:
                self._flush(batch)
                batch = []
                self._read_failed(exc)
                continue
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
                    gw._notify()
            self.rates.roll(now, self.frames, self.bits_nominal, self.bits_data)
        self._flush(batch)

    def _flush(self, batch: list[can.Message]) -> None:
        if batch:
            self.gw._enqueue(_Batch(self, encode_messages(batch), len(batch)))

    def _read_failed(self, exc: Exception) -> None:
        self._close()
        if self.is_replay:
            self._fail(str(exc) if isinstance(exc, BusError) else f"{type(exc).__name__}: {exc}")
            return
        self.read_errors += 1
        _log.warning("%s: read failed: %s: %s; reopening", self.where, type(exc).__name__, exc)
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

    def snapshot(self, now: float) -> BusStats:
        fps, load = self.rates.current(now)
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
        )


def _topic(cfg: Config, bus: str) -> str:
    try:
        topic = cfg.gateway.topic.format(vin=cfg.vin, bus=bus)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            "gateway.topic", f"only {{vin}} and {{bus}} may be filled in, got {cfg.gateway.topic!r}"
        ) from exc
    if not topic or any(c in topic for c in "+#\0"):
        raise ConfigError(
            "gateway.topic", f"{topic!r} (bus {bus!r}) is not a topic one can publish to"
        )
    return topic


class Gateway:
    """Every configured bus → CANP batches → the MQTT broker at ``host:port``.

    ``protocol`` is the MQTT version to speak (:func:`logger.mqtt.protocol_for`; 3.1.1 for the
    embedded broker). ``client_id`` defaults to ``sdvlog-<vin>-gateway``.
    """

    def __init__(
        self,
        cfg: Config,
        host: str,
        port: int,
        protocol: MQTTProtocolVersion,
        *,
        client_id: str | None = None,
    ) -> None:
        g = cfg.gateway  # batch_frames, batch_ms and buffer_frames are checked by GatewayConfig
        if g.qos not in (0, 1):
            raise ConfigError("gateway.qos", f"must be 0 or 1, got {g.qos}")
        names = [b.name for b in cfg.buses]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError("bus.name", f"duplicate bus names {dup}")
        self.cfg = cfg
        self.host = host
        self.port = port
        self.protocol = protocol
        self.client_id = client_id or f"sdvlog-{cfg.vin}-gateway"
        self.batch_frames = g.batch_frames
        self.batch_s = g.batch_ms / 1000.0
        self.qos = g.qos
        self.buffer_frames = g.buffer_frames
        self._readers = [
            _BusReader(self, b, _topic(cfg, b.name), g.buffer_frames) for b in cfg.buses
        ]
        self._cond = threading.Condition()
        self._queue: deque[_Batch] = deque()
        self._outstanding: dict[int, tuple[_Batch, int]] = {}  # mid → (batch, connection)
        self._events: deque[tuple[str, int, str | None]] = deque()  # from paho's callbacks
        self._connected = False
        self._looping = False
        self._generation = 0
        self._window = MAX_INFLIGHT
        self._abandon = False
        self._closing = False
        self._stop_reading = threading.Event()
        self._stop_connect = threading.Event()
        self._client: mqtt.Client | None = None
        self._threads: list[threading.Thread] = []
        self._started = False
        self._stopped = False
        self.failure: BrokerError | None = None
        self._reject_log = BurstLogger(_log, "gateway: the broker refused a batch")
        self._lost_log = BurstLogger(_log, "gateway: QoS 0 batches lost with the connection")

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Open every bus, then read them and connect to the broker in the background.

        Raises :class:`ConfigError` or :class:`~hw.bus.BusError` (a driver that is missing) for
        a bus that cannot work, :class:`BrokerError` for broker settings that cannot work; a
        broker or a device that is merely not there yet is retried in the background.
        """
        if self._started:
            return
        self._started = True
        try:
            for reader in self._readers:
                reader.open_first()
            client = make_client(
                self.cfg.broker,
                self.client_id,
                clean_start=True,
                protocol=self.protocol,
                host=self.host,
                port=self.port,
            )
        except SdvLoggerError:
            for reader in self._readers:
                reader._close()
            self._stopped = True
            raise
        # paho refuses max_inflight_messages_set() once connect_async() ran, which make_client
        # does; set the same field directly until make_client takes the setting.
        client._max_inflight_messages = MAX_INFLIGHT
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client
        self._threads = [
            threading.Thread(target=self._publish_loop, name="gateway-publish", daemon=True),
            threading.Thread(target=self._connect, name="gateway-connect", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        for reader in self._readers:
            reader.thread.start()
        _log.info(
            "gateway: %d bus(es) → mqtt://%s:%d (topic %r, QoS %d, %d frames / %d ms batches)",
            len(self._readers),
            self.host,
            self.port,
            self.cfg.gateway.topic,
            self.qos,
            self.batch_frames,
            self.cfg.gateway.batch_ms,
        )

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop reading, publish what the gateway holds, then disconnect.

        Waits up to ``timeout`` seconds for the broker to confirm every frame read, if it is
        connected; frames still held after that are counted as ``lost`` and logged.
        """
        if not self._started or self._stopped:
            return
        self._stopped = True
        self._stop_reading.set()
        for reader in self._readers:
            reader.thread.join(_JOIN_S)  # each queues its last batch and closes its bus
            if reader.thread.is_alive():
                _log.warning("%s: the reader did not end within %g s", reader.where, _JOIN_S)
        with self._cond:
            self._closing = True
            if self._connected:
                self._cond.wait_for(self._drained, timeout)
            self._abandon = True
            self._cond.notify_all()
        self._threads[0].join(_JOIN_S)
        self._stop_connect.set()
        self._threads[1].join(_JOIN_S)
        held = self._give_up_held()
        if held:
            _log.warning("gateway stopped with %d frames the broker did not confirm: lost", held)
        client = self._client
        if client is not None:
            client.disable_logger()  # paho's loop may report the disconnect it races with
            client.disconnect()
            client.loop_stop()
        _log.info("gateway stopped: %s", self.stats().as_dict())

    def _give_up_held(self) -> int:
        with self._cond:
            self._process_events()
            held = [*self._queue, *(b for b, _ in self._outstanding.values())]
            self._queue.clear()
            self._outstanding.clear()
            for batch in held:
                batch.reader.backlog -= batch.frames
                batch.reader.lost += batch.frames
            return sum(b.frames for b in held)

    # ---- state for callers ----------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected

    def stats(self) -> GatewayStats:
        with self._cond:
            return self._stats_locked()

    def _stats_locked(self) -> GatewayStats:
        now = time.monotonic()
        return GatewayStats(self._connected, {r.name: r.snapshot(now) for r in self._readers})

    def wait_until(
        self, predicate: Callable[[GatewayStats], bool], timeout: float | None = None
    ) -> bool:
        """Block until ``predicate(stats)`` holds (re-checked whenever counters move, after each
        batch, reconnection, confirmation or bus state change); False after ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not predicate(self._stats_locked()):
                remaining = _RECHECK_S if deadline is None else deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, _RECHECK_S))
            return True

    @property
    def replay_only(self) -> bool:
        """Every bus is a log replay (so the gateway can finish)."""
        return bool(self._readers) and all(r.is_replay for r in self._readers)

    def replayed(self, stats: GatewayStats) -> bool:
        """Every bus is a replay that has finished, and the broker confirmed every frame."""
        return self.replay_only and all(
            b.state in (REPLAY_DONE, FAILED) and b.backlog == 0 for b in stats.buses.values()
        )

    def wait_replayed(self, timeout: float | None = None) -> bool:
        """Block until :meth:`replayed`; False after ``timeout`` s or when a bus is live."""
        if not self.replay_only:
            return False
        return self.wait_until(self.replayed, timeout)

    # ---- the queue (readers) --------------------------------------------------------------
    def _enqueue(self, batch: _Batch) -> None:
        with self._cond:
            self._queue.append(batch)
            batch.reader.backlog += batch.frames
            self._cond.notify_all()

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    # ---- the broker -----------------------------------------------------------------------
    def _connect(self) -> None:
        client = self._client
        assert client is not None
        try:
            if not connect_with_backoff(client, self.cfg.broker, self._stop_connect):
                return
        except BrokerError as exc:
            self.failure = exc
            _log.error("gateway: %s", exc)
            self._notify()
            return
        client.loop_start()
        with self._cond:
            self._looping = True
            self._connected = client.is_connected()
            self._generation += 1
            self._cond.notify_all()

    def _on_connect(
        self, client: mqtt.Client, _u: Any, _flags: Any, reason: Any, props: Any = None
    ) -> None:
        if getattr(reason, "is_failure", False):
            _log.error("gateway: the broker refused the connection: %s", reason)
            return
        window = MAX_INFLIGHT
        receive_maximum = getattr(props, "ReceiveMaximum", None) if props is not None else None
        if isinstance(receive_maximum, int) and receive_maximum > 0:
            window = min(window, receive_maximum)
        with self._cond:
            self._window = window
            if self._looping:  # a reconnection by paho's loop (the first is _connect's)
                self._connected = True
                self._generation += 1
                _log.info("gateway: reconnected to the broker")
            self._cond.notify_all()

    def _on_disconnect(
        self, _c: mqtt.Client, _u: Any, _flags: Any, reason: Any, _p: Any = None
    ) -> None:
        with self._cond:
            was = self._connected
            self._connected = False
            self._events.append(("down", self._generation, None))
            self._cond.notify_all()
        if was and not self._closing:
            _log.warning("gateway: disconnected from the broker (%s); buffering", reason)

    def _on_publish(
        self, _c: mqtt.Client, _u: Any, mid: int, reason: Any = None, _p: Any = None
    ) -> None:
        refused = str(reason) if getattr(reason, "is_failure", False) else None
        with self._cond:
            self._events.append(("pub", mid, refused))
            self._cond.notify_all()

    def _process_events(self) -> None:
        """Apply paho's confirmations and disconnections in order (lock held).

        Only the publisher thread calls this (and stop(), once the publisher has ended): paho
        may confirm a message before publish() has returned its mid to the publisher, so an
        event is applied only after the publisher registered the mid it names.
        """
        while self._events:
            kind, value, refused = self._events.popleft()
            if kind == "pub":
                entry = self._outstanding.pop(value, None)
                if entry is None:
                    continue
                batch = entry[0]
                batch.reader.backlog -= batch.frames
                if refused is None:
                    batch.reader.published += batch.frames
                else:
                    batch.reader.rejected += batch.frames
                    self._reject_log.hit(f"{batch.reader.topic}: {refused}")
            elif self.qos == 0:  # "down": QoS 0 messages in transit went with the connection
                for mid, (batch, generation) in list(self._outstanding.items()):
                    if generation <= value:
                        del self._outstanding[mid]
                        batch.reader.backlog -= batch.frames
                        batch.reader.lost += batch.frames
                        self._lost_log.hit(batch.reader.topic)

    def _drained(self) -> bool:
        return not self._queue and not self._outstanding and not self._events

    def _next_batch(self) -> tuple[_Batch, int] | None:
        """Wait for a batch that may be published now; None when the gateway gives up (lock held)."""
        while True:
            if self._events:
                self._process_events()
                self._cond.notify_all()  # counters moved: wake stop() and wait_until()
            if self._abandon:
                return None
            if self._connected and self._queue and len(self._outstanding) < self._window:
                return self._queue.popleft(), self._generation
            self._cond.wait()

    def _publish_loop(self) -> None:
        client = self._client
        assert client is not None
        while True:
            with self._cond:
                picked = self._next_batch()
            if picked is None:
                return
            batch, generation = picked
            info = client.publish(batch.reader.topic, batch.payload, qos=self.qos)
            with self._cond:
                # QoS 1 without a connection: paho keeps it and sends it after reconnecting.
                if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS or (
                    self.qos > 0 and info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN
                ):
                    self._outstanding[info.mid] = (batch, generation)
                    continue
                self._queue.appendleft(batch)  # not sent: again once connected
                if info.rc != MQTTErrorCode.MQTT_ERR_NO_CONN:
                    _log.warning("gateway: publishing failed (%s); retrying", info.rc.name)
                self._cond.wait(POLL_S)  # until the disconnection is seen, not a busy loop
