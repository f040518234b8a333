"""The gateway: CAN buses → CANP batches → MQTT (DESIGN.md, "The pipeline").

One reader thread per ``[[bus]]`` (:class:`logger.gateway.bus_reader.BusReader`) calls
``bus.recv(timeout)`` and never waits for the broker. It collects frames into a batch that is
closed when it holds ``gateway.batch_frames`` frames or its first frame is ``gateway.batch_ms``
old, whichever comes first, encodes it as one CANP payload (:func:`canp.wire.encode_messages`)
and queues it. One publisher thread (:class:`logger.gateway.batch_publisher.BatchPublisher`) hands queued
batches to paho in order (topic ``gateway.topic`` with ``{vin}`` and ``{bus}`` filled in, QoS
``gateway.qos``), keeping at most :data:`~logger.gateway.batch_publisher.MAX_INFLIGHT` messages (or the
broker's MQTT 5 receive maximum, if smaller) unconfirmed.

Broker away: the buses are read from the start, while the publisher connects in the background
and reconnects (see :mod:`logger.gateway.batch_publisher`). Until the broker confirms them frames count as
the bus's *backlog*. A bus whose backlog reaches the buffer bound (``gateway.buffer_frames``
frames, default 100,000) drops the frames it reads beyond it: counted, and logged once per burst.

Bus trouble (a failed read, reopening with back-off, gaps, replays that end) is the reader's:
see :mod:`logger.gateway.bus_reader`. A driver that is missing fails :meth:`Gateway.start`; a device that
is missing at start is retried like one that went away.

Counters (:meth:`Gateway.stats`, :mod:`logger.gateway.bus_stats`): per bus frames read, frames/s and bus
load % over the last second or so (:func:`hw.bus.frame_bits`, from ``bitrate`` and
``data_bitrate``), drops, backlog, frames confirmed, lost and rejected by the broker, read
errors, reopens and gaps. Rates are by the wall clock: a ``fast`` replay shows the replay's rate,
and a load far above 100 %.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from paho.mqtt.enums import MQTTProtocolVersion

from logger.core.config import Config
from logger.core.errors import BrokerError, ConfigError, SdvLoggerError
from logger.gateway.batch_publisher import STOP_TIMEOUT_S, BatchPublisher
from logger.gateway.bus_batch import Batch
from logger.gateway.bus_reader import BusReader
from logger.gateway.bus_stats import (
    FAILED,
    REPLAY_DONE,
    GatewayStats,
)
from logger.gateway.spi_publisher import SpiGatewayStats, SpiPublisher
from logger.mqtt.client import publish_topic

_log = logging.getLogger(__name__)

READING_S = 60.0
"""Longest :meth:`Gateway.start` waits for the buses to be read (a drain process starting)."""
_RECHECK_S = 0.5


class Gateway:
    """Every configured bus → CANP batches → the MQTT broker at ``host:port``.

    ``protocol`` is the MQTT version to speak (:func:`logger.mqtt.client.protocol_for`; 3.1.1 for the
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
        self._cond = threading.Condition()  # the publisher's state and the readers' counters
        self._publisher = BatchPublisher(
            cfg.broker, host, port, protocol, self.client_id, self.qos, self._cond
        )
        self._readers = [
            BusReader(
                b,
                publish_topic("gateway.topic", cfg.gateway.topic, vin=cfg.vin, bus=b.name),
                bound=g.buffer_frames,
                batch_frames=self.batch_frames,
                batch_s=self.batch_s,
                stop=self._stop_reading,
                enqueue=self._read_batch,
                notify=self._publisher.notify,
            )
            for b in cfg.buses
        ]
        # Decoded signals as SPI batches (gateway.spi): fed the readers' CANP batches.
        self._spi = SpiPublisher(cfg, self._readers, self._publisher.enqueue) if g.spi else None
        self._started = False
        self._stopped = False

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Open every bus and start reading them (returning once each is read, or down), then
        connect to the broker in the background.

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
            self._publisher.start()
        except SdvLoggerError:
            for reader in self._readers:
                reader.stop()
            self._stopped = True
            raise
        if self._spi is not None:
            self._spi.start()
        for reader in self._readers:
            reader.start()
        deadline = time.monotonic() + READING_S
        for reader in self._readers:  # a socketcan bus: its drain is up
            if not reader.reading.wait(max(0.0, deadline - time.monotonic())):
                _log.warning("%s: not read yet after %g s", reader.where, READING_S)
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
        self._stop_reading.set()  # every reader at once; each queues its last batch, closes its bus
        for reader in self._readers:
            reader.stop()
        if self._spi is not None:
            self._spi.stop()  # decodes the readers' last batches and queues its last ones
        self._publisher.stop(timeout)
        _log.info("gateway stopped: %s", self.stats().as_dict())

    # ---- state for callers ----------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._publisher.connected

    @property
    def failure(self) -> BrokerError | None:
        """The broker's refusal that retrying cannot cure (the gateway stopped trying), or None."""
        return self._publisher.failure

    def stats(self) -> GatewayStats:
        with self._cond:
            return self._stats_locked()

    def _stats_locked(self) -> GatewayStats:
        now = time.monotonic()
        buses = {r.name: r.stats(now) for r in self._readers}
        if self._spi is not None:
            return SpiGatewayStats(self._publisher.connected, buses, self._spi.stats())
        return GatewayStats(self._publisher.connected, buses)

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

    # ---- the readers' batches --------------------------------------------------------------
    def _read_batch(self, batch: Batch) -> None:
        """A reader's CANP batch: published, and decoded into SPI batches when ``gateway.spi``."""
        self._publisher.enqueue(batch)
        if self._spi is not None:
            self._spi.feed(batch)
