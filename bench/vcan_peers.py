"""The three SocketCAN readers ``bench vcan`` compares, each with the same receive buffer:

- ``ours``: the service (socketcan bus → gateway → Mosquitto → CANP exchange → Parquet), the
  bus's ``rcvbuf`` set; what counts is what the Parquet store holds once the service stopped.
- ``candump -l``: can-utils' C reader writing its log (``-r`` asks for the buffer, ``-d`` logs
  its socket's drops); what counts is the log's frames.
- ``python-can``: ``can.Notifier`` + ``can.Logger`` to a ``.blf`` file on python-can's own
  ``SocketcanBus`` (its socket's buffer set as ours is); what counts is the BLF file's frames.

Each peer starts on a fresh interface, is sent one run of frames, and then says what it got and
what its socket lost (the kernel's drop count, ``SO_RXQ_OVFL`` / ``SO_MEMINFO``, or candump's
``DROPCOUNT``). A peer that stops receiving for :data:`SETTLE_S` is done.
"""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import can
import pyarrow as pa

from hw.socketcan_socket import SO_RCVBUFFORCE, kernel_drops, queued_bytes
from hw.testbed.canutils import Candump
from logger.cli import app as cli
from logger.core.config import BusConfig, Config, ExchangeConfig, RingbusConfig
from logger.service.service import Service
from tests.support.mosquitto import MosquittoProcess
from tests.support.service import ALL, service_config

SETTLE_S = 5.0
"""A peer that receives nothing more for this long after ``cangen`` ended has what it will get."""
STEP_S = 0.1
WAIT_S = 60.0


@dataclass(frozen=True)
class Got:
    """What one peer made of one run: frames kept (stored, logged) and frames its socket lost."""

    kept: int
    kernel_dropped: int
    rcvbuf: int  # the receive buffer its socket had (bytes, as SO_RCVBUF reports it)


class Peer(Protocol):
    name: str

    def start(self, iface: str, work: Path, sent: int) -> None: ...

    def finish(self, sent: int) -> Got: ...


def _settle(done: Callable[[], bool], progress: Callable[[], int]) -> None:
    """Until ``done()``, or until ``progress()`` stays the same for :data:`SETTLE_S`."""
    seen, since = -1, time.monotonic()
    while not done() and time.monotonic() - since < SETTLE_S:
        now = progress()
        if now != seen:
            seen, since = now, time.monotonic()
        time.sleep(STEP_S)


def _ask_rcvbuf(sock: socket.socket, rcvbuf: int) -> int:
    """Give ``sock`` a receive buffer of ``rcvbuf`` bytes as ours gets it (the kernel doubles
    what it is asked); what it got."""
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf // 2)
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


class Ours:
    """The service in this process, one socketcan bus of ``rcvbuf`` bytes."""

    name = "ours (gateway → MQTT → Parquet)"

    def __init__(self, broker: MosquittoProcess, rcvbuf: int) -> None:
        self.broker, self.rcvbuf = broker, rcvbuf
        self._service: Service | None = None
        self._work = Path()
        self._iface = ""

    def config(self, iface: str, work: Path) -> Config:
        exchange = ExchangeConfig(
            name="can",
            topic="vehicle/+/canp/#",
            stream="canp",
            ringbus=RingbusConfig(cap=50_000, flush_ms=2_000),
        )
        cfg = service_config(work, self.broker.address, exchange=exchange)
        bus = BusConfig(
            name=iface,
            interface="socketcan",
            channel=iface,
            options={"fd": True},
            rcvbuf=self.rcvbuf,
        )
        return dataclasses.replace(cfg, buses=(bus,))

    def start(self, iface: str, work: Path, sent: int) -> None:
        self._work, self._iface = work, iface
        service = self._service = Service(self.config(iface, work))
        service.start()
        for ex in service.exchanges.values():
            if not ex.subscribed.wait(WAIT_S):
                raise RuntimeError(f"exchange {ex.name} did not subscribe in {WAIT_S:g} s")

    def finish(self, sent: int) -> Got:
        service = self._service
        assert service is not None and service.gateway is not None
        gateway = service.gateway

        def seen() -> int:
            bus = gateway.stats().buses[self._iface]
            return bus.published + bus.kernel_dropped + bus.dropped + bus.lost

        _settle(lambda: seen() >= sent, seen)
        stats = gateway.stats().buses[self._iface]
        service.stop()
        self._service = None
        return Got(self._stored(), stats.kernel_dropped, stats.rcvbuf or 0)

    def _stored(self) -> int:
        out = self._work / "stored.arrow"
        args = ["query", ALL, "--dir", str(self._work / "store"), "--exchange", "can"]
        if cli.main([*args, "--format", "arrow", "--out", str(out)]) != 0:
            raise RuntimeError("sdvlog query of the store failed")
        with pa.ipc.open_stream(out) as reader:
            return int(reader.read_all().num_rows)


class CandumpPeer:
    """``candump -l -d -r RCVBUF/2`` (the kernel doubles what ``-r`` asks)."""

    name = "candump -l"

    def __init__(self, rcvbuf: int) -> None:
        self.rcvbuf = rcvbuf
        self._dump: Candump | None = None

    def start(self, iface: str, work: Path, sent: int) -> None:
        self._dump = Candump(iface, work / "candump", count=sent, rcvbuf=self.rcvbuf // 2).start()

    def finish(self, sent: int) -> Got:
        dump = self._dump
        assert dump is not None

        _settle(lambda: dump.wait(0), lambda: dump.log.stat().st_size)  # -n: exits when all came
        dump.stop()
        self._dump = None
        return Got(len(dump.frames), dump.dropped, self.rcvbuf // 2 * 2)


class PythonCan:
    """python-can's ``can.Notifier`` with a ``can.Logger`` writing BLF, on its ``SocketcanBus``."""

    name = "python-can Notifier + Logger (.blf)"

    def __init__(self, rcvbuf: int) -> None:
        self.rcvbuf = rcvbuf
        self._parts: tuple[can.BusABC, socket.socket, can.Notifier, can.Listener, Path] | None = (
            None
        )
        self.granted = 0

    def start(self, iface: str, work: Path, sent: int) -> None:
        work.mkdir(parents=True, exist_ok=True)
        bus = can.Bus(interface="socketcan", channel=iface, fd=True)
        sock = bus.socket  # type: ignore[attr-defined]
        assert isinstance(sock, socket.socket)
        self.granted = _ask_rcvbuf(sock, self.rcvbuf)
        path = work / "python-can.blf"
        logger = can.Logger(str(path))
        self._parts = (bus, sock, can.Notifier(bus, [logger]), logger, path)

    def finish(self, sent: int) -> Got:
        assert self._parts is not None
        bus, sock, notifier, _logger, path = self._parts
        _settle(lambda: queued_bytes(sock) == 0, lambda: queued_bytes(sock))
        dropped = kernel_drops(sock)
        notifier.stop()  # stops its listeners too: the BLF file is complete and closed
        bus.shutdown()
        self._parts = None
        with can.BLFReader(str(path)) as reader:
            kept = sum(1 for _ in reader)
        return Got(kept, dropped, self.granted)
