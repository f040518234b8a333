"""CAN end to end: a bus (a real log replayed, or a virtual bus) → gateway → Mosquitto → CANP
exchange → Parquet → query, every frame back in order."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import can
import pytest

from hw.simulate import Simulator, load_dbc
from logger.core.config import BusConfig, ExchangeConfig, RingbusConfig
from logger.service.demo import demo_dbc
from tests.support.mosquitto import MosquittoProcess
from tests.support.service import ALL, ask, running, service_config, wait_until

LOGS = Path(__file__).resolve().parents[4] / "shared" / "data" / "logs"
GENESIS = LOGS / "hyundai_genesis_autologgenesis.log"


def canp_exchange() -> ExchangeConfig:
    return ExchangeConfig(
        name="can",
        topic="vehicle/+/canp/#",
        stream="canp",
        ringbus=RingbusConfig(cap=5000, flush_ms=200),
    )


def test_real_log_replayed_through_gateway_and_broker_comes_back_frame_for_frame(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    if not GENESIS.exists():
        pytest.skip(f"{GENESIS} is not here (shared/data is optional outside CI)")
    expected = list(can.LogReader(GENESIS))
    cfg = dataclasses.replace(
        service_config(tmp_path, mosquitto.address, exchange=canp_exchange()),
        buses=(BusConfig(name="can0", replay=GENESIS, pace="fast"),),
    )
    with running(cfg) as service:
        wait_until(
            lambda: ask(service).table().num_rows >= len(expected),
            timeout=120,
            what="every frame stored",
        )
        reply = ask(service, ALL)
        table = reply.table()
        assert reply.ok  # from files and memory alike
        assert table.num_rows == len(expected)
        assert table.column("id").to_pylist() == [m.arbitration_id for m in expected]
        assert table.column("data").to_pylist() == [bytes(m.data) for m in expected]
        assert set(table.column("bus").to_pylist()) == {"can0"}
        ts = table.column("ts").to_pylist()
        assert all(abs(t / 1e9 - m.timestamp) < 1e-6 for t, m in zip(ts, expected, strict=True))
        only = ask(service, "sync-0-9223372036854775807;id=0x2B0;limit=3").table()
        assert only.column("id").to_pylist() == [0x2B0] * 3 and set(
            only.column("dlc").to_pylist()
        ) == {5}


def test_simulated_vehicle_on_a_virtual_bus_is_captured_with_its_flags(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    channel = f"pipeline-{id(tmp_path)}"
    cfg = dataclasses.replace(
        service_config(tmp_path, mosquitto.address, exchange=canp_exchange()),
        buses=(BusConfig(name="body", interface="virtual", channel=channel),),
    )
    with running(cfg) as service, can.Bus(interface="virtual", channel=channel) as bus:
        stats = Simulator(load_dbc(demo_dbc()), bus, seed=7).run(1.5, threading.Event())
        wait_until(
            lambda: ask(service).table().num_rows >= stats.total,
            what="every simulated frame stored",
        )
        table = ask(service).table()
        assert table.num_rows == stats.total
        ts = table.column("ts").to_pylist()
        assert ts == sorted(ts)
        fd = ask(service, "sync-0-9223372036854775807;id=0x320").table()  # CellVoltages, CAN FD
        assert fd.num_rows == stats.sent["CellVoltages"] and all(fd.column("fd").to_pylist())
        assert set(fd.column("dlc").to_pylist()) == {64}
        ext = ask(service, "sync-0-9223372036854775807;id=0x18FF50E5;bus=body").table()
        assert ext.num_rows == stats.sent["ChargerStatus"] and all(
            ext.column("extended").to_pylist()
        )
        assert ask(service, "sync-0-9223372036854775807;bus=other").table().num_rows == 0
