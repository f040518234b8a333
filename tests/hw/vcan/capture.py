"""The SocketCAN tests' service: socketcan buses → gateway → Mosquitto → CANP exchange → Parquet,
in this process, and the accounting of every frame sent: where each one went."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from hw.testbed.canutils import Candump
from logger.cli import app as cli
from logger.core.config import BusConfig, Config, ExchangeConfig, RingbusConfig
from logger.gateway.bus_stats import BusStats
from logger.gateway.gateway import Gateway
from logger.service.service import Service
from tests.support.mqtt_clients import BrokerAddress
from tests.support.service import ALL, ask, service_config

WAIT_S = 180.0
POLL_S = 0.25


def capture_config(
    tmp_path: Path, broker: BrokerAddress, *ifaces: str, rcvbuf: int | None = None
) -> Config:
    """The service with one socketcan bus (CAN FD on) per interface, named after it."""
    exchange = ExchangeConfig(
        name="can",
        topic="vehicle/+/canp/#",
        stream="canp",
        ringbus=RingbusConfig(cap=5000, flush_ms=500),
    )
    cfg = service_config(tmp_path, broker, exchange=exchange)
    buses = tuple(
        BusConfig(name=i, interface="socketcan", channel=i, options={"fd": True}, rcvbuf=rcvbuf)
        for i in ifaces
    )
    return dataclasses.replace(cfg, buses=buses)


def gateway_of(service: Service) -> Gateway:
    assert service.gateway is not None
    return service.gateway


def bus_stats(service: Service, bus: str) -> BusStats:
    return gateway_of(service).stats().buses[bus]


def reading(service: Service, bus: str) -> BusStats:
    """The bus's counters once its socket is read (its receive buffer set, its drain started)."""
    gateway = gateway_of(service)
    assert gateway.wait_until(lambda s: s.buses[bus].rcvbuf is not None, WAIT_S), bus_stats(
        service, bus
    )
    return bus_stats(service, bus)


def accounts(
    stats: BusStats,
    *,
    sent: int | None = None,
    dump: Candump | None = None,
    stored: int | None = None,
) -> str:
    """Where the frames went, in words: sent, logged by candump (and lost by its socket), read
    by the gateway, dropped by the kernel from its socket, dropped at its backlog bound, lost or
    refused on the way to the broker, and stored."""
    parts = [] if sent is None else [f"sent {sent}"]
    if dump is not None:
        parts.append(f"candump logged {len(dump.frames)} (its socket lost {dump.dropped})")
    parts += [
        f"gateway read {stats.frames}",
        f"kernel-dropped {stats.kernel_dropped} (rcvbuf {stats.rcvbuf})",
        f"backlog-dropped {stats.dropped}",
        f"published {stats.published}, lost {stats.lost}, rejected {stats.rejected}",
    ]
    if stored is not None:
        parts.append(f"stored {stored}")
    return "; ".join(parts)


def stored_count(service: Service, bus: str, without_id: int | None = None) -> tuple[pa.Table, int]:
    table = ask(service, f"{ALL};bus={bus}").table()
    if without_id is None:
        return table, table.num_rows
    have = pc.sum(pc.not_equal(table.column("id"), without_id))
    return table, int(pa.scalar(have).as_py() or 0)


def wait_stored(
    service: Service,
    bus: str,
    count: int,
    *,
    without_id: int | None = None,
    sent: int | None = None,
    dump: Candump | None = None,
) -> pa.Table:
    """The bus's stored frames (in time order) once ``count`` of them are stored, not counting
    those whose id is ``without_id``; the failure says where the others went."""
    deadline = time.monotonic() + WAIT_S
    while True:
        table, have = stored_count(service, bus, without_id)
        if have >= count:
            return table
        if time.monotonic() > deadline:
            where = accounts(bus_stats(service, bus), sent=sent, dump=dump, stored=have)
            raise AssertionError(f"{have} of {count} frames stored after {WAIT_S:g} s: {where}")
        time.sleep(POLL_S)  # polled: the exchange has no event to wait on from here


def parquet_frames(tmp_path: Path, bus: str) -> pa.Table:
    """A bus's frames read back from the Parquet files (``sdvlog query --dir``), service stopped."""
    out = tmp_path / f"{bus}.arrow"
    args = ["query", f"{ALL};bus={bus}", "--dir", str(tmp_path / "store"), "--exchange", "can"]
    assert cli.main([*args, "--format", "arrow", "--out", str(out)]) == 0
    with pa.ipc.open_stream(out) as reader:
        return reader.read_all()
