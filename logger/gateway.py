"""The gateway: CAN buses → CANP batches → MQTT (DESIGN.md, "The pipeline").

One reader thread per ``[[bus]]`` (:class:`logger.bus_reader.BusReader`) calls
``bus.recv(timeout)`` and never waits for the broker. It collects frames into a batch that is
closed when it holds ``gateway.batch_frames`` frames or its first frame is ``gateway.batch_ms``
old, whichever comes first, encodes it as one CANP payload (:func:`canp.wire.encode_messages`)
and queues it. One publisher thread hands queued batches to paho in order (topic
``gateway.topic`` with ``{vin}`` and ``{bus}`` filled in, QoS ``gateway.qos``), keeping at most
:data:`MAX_INFLIGHT` messages (or the broker's MQTT 5 receive maximum, if smaller) unconfirmed.

Broker away: the first connection is made in the background by
:func:`logger.mqtt.connect_with_backoff`, so the buses are read from the start; later
reconnections are paho's. Until the broker confirms them (PUBACK at QoS 1, written to the socket
at QoS 0) frames count as the bus's *backlog*. A bus whose backlog reaches the buffer bound
(``gateway.buffer_frames`` frames, default 100,000) drops the frames it reads
beyond it: counted, and logged once per burst. At QoS 1 paho resends unconfirmed messages after
a reconnection (the broker may see a batch twice); at QoS 0 what was in transit when the
connection dropped is lost and counted as ``lost``.

Bus trouble (a failed read, reopening with back-off, gaps, replays that end) is the reader's:
see :mod:`logger.bus_reader`. A driver that is missing fails :meth:`Gateway.start`; a device that
is missing at start is retried like one that went away.

Counters (:meth:`Gateway.stats`, :mod:`logger.bus_stats`): per bus frames read, frames/s and bus
load % over the last second or so (:func:`hw.bus.frame_bits`, from ``bitrate`` and
``data_bitrate``), drops, backlog, frames confirmed, lost and rejected by the broker, read
errors, reopens and gaps. Rates are by the wall clock: a ``fast`` replay shows the replay's rate,
and a load far above 100 %.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion

from logger.burstlog import BurstLogger
from logger.bus_reader import (
    POLL_S,
    Batch,
    BusReader,
)
from logger.bus_stats import (
    FAILED,
    REPLAY_DONE,
    GatewayStats,
)
from logger.config import Config
from logger.errors import BrokerError, ConfigError, SdvLoggerError
from logger.mqtt import connect_with_backoff, make_client
from logger.spi_publisher import SpiGatewayStats, SpiPublisher

_log = logging.getLogger(__name__)

MAX_INFLIGHT = 1024
"""Messages handed to paho and not yet confirmed (paho's ``max_inflight_messages`` too)."""
STOP_TIMEOUT_S = 10.0
"""How long :meth:`Gateway.stop` waits for the broker to confirm what the gateway holds."""
_RECHECK_S = 0.5
_JOIN_S = 15.0


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
        self._stop_reading = threading.Event()
        self._readers = [
            BusReader(
                b,
                _topic(cfg, b.name),
                bound=g.buffer_frames,
                batch_frames=self.batch_frames,
                batch_s=self.batch_s,
                stop=self._stop_reading,
                enqueue=self._read_batch,
                notify=self._notify,
            )
            for b in cfg.buses
        ]
        # Decoded signals as SPI batches (gateway.spi): fed the readers' CANP batches.
        self._spi = SpiPublisher(cfg, self._readers, self._enqueue) if g.spi else None
        self._cond = threading.Condition()
        self._queue: deque[Batch] = deque()
        self._outstanding: dict[int, tuple[Batch, int]] = {}  # mid → (batch, connection)
        self._events: deque[tuple[str, int, str | None]] = deque()  # from paho's callbacks
        self._connected = False
        self._looping = False
        self._generation = 0
        self._window = MAX_INFLIGHT
        self._abandon = False
        self._closing = False
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
                max_inflight=MAX_INFLIGHT,
            )
        except SdvLoggerError:
            for reader in self._readers:
                reader.close()
            self._stopped = True
            raise
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
        if self._spi is not None:
            self._spi.start()
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
        if self._spi is not None:
            self._spi.stop()  # decodes the readers' last batches and queues its last ones
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
        buses = {r.name: r.snapshot(now) for r in self._readers}
        if self._spi is not None:
            return SpiGatewayStats(self._connected, buses, self._spi.stats())
        return GatewayStats(self._connected, buses)

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
    def _read_batch(self, batch: Batch) -> None:
        """A reader's CANP batch: published, and decoded into SPI batches when ``gateway.spi``."""
        self._enqueue(batch)
        if self._spi is not None:
            self._spi.feed(batch)

    def _enqueue(self, batch: Batch) -> None:
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
                    if batch.done is not None:
                        batch.done()
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

    def _next_batch(self) -> tuple[Batch, int] | None:
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
            topic = batch.topic or batch.reader.topic
            info = client.publish(topic, batch.payload, qos=self.qos)
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
