"""The gateway's SPI batches: simulated demo.dbc traffic on a virtual bus → Mosquitto → a plain
subscriber that decodes the SPI payloads and compares them with cantools' decoding of the frames."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import can
import cantools
import numpy as np
import pytest
from cantools.database.can import Database
from paho.mqtt.enums import MQTTProtocolVersion

from canp.wire import decode_payloads as decode_canp
from hw.simulate.simulator import Simulator
from logger.core.config import (
    BusConfig,
    Config,
    ExchangeConfig,
    GatewayConfig,
    RingbusConfig,
    parse_config,
)
from logger.core.errors import ConfigError
from logger.gateway.gateway import Gateway
from logger.gateway.spi_publisher import SpiGatewayStats
from spi.catalog import Catalog, load_catalog_source, write_catalog
from spi.types import SpiType
from spi.wire import decode_payloads as decode_spi
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import BrokerAddress, Received, Subscriber
from tests.support.service import ask, captured, service_config
from tests.support.service import running as service_running

VIN = "TESTVIN0000000SPI"
DEMO = Path(__file__).resolve().parents[3] / "dbc" / "examples" / "demo.dbc"
WAIT_S = 30.0
SIM_S = 1.5
UNKNOWN_ID = 0x7AB

Values = dict[str, list[tuple[int, Any]]]  # Message.Signal → (ts_ns, value) per frame


@pytest.fixture(scope="module")
def demo() -> Database:
    db = cantools.database.load_file(str(DEMO))
    assert isinstance(db, Database)
    return db


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog_source(DEMO)


def config(address: BrokerAddress, channel: str, **gateway: Any) -> Config:
    bus = BusConfig(name="can0", interface="virtual", channel=channel)
    gw = GatewayConfig(spi=True, spi_catalog=DEMO, **gateway)
    return Config(vin=VIN, broker=address.broker_config(), buses=(bus,), gateway=gw)


@contextmanager
def running(cfg: Config, address: BrokerAddress) -> Iterator[Gateway]:
    gw = Gateway(cfg, address.host, address.port, address.protocol)
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


def simulate(channel: str, demo: Database, extra: int = 0) -> int:
    """``SIM_S`` s of demo traffic (and ``extra`` frames of an id not in the DBC); frames sent."""
    with can.Bus(interface="virtual", channel=channel) as tx:
        stats = Simulator(demo, tx, seed=1).run(SIM_S, threading.Event())
        for i in range(extra):
            tx.send(can.Message(arbitration_id=UNKNOWN_ID, data=bytes([i % 256] * 8)))
    return stats.total + extra


def capture(
    mosquitto: MosquittoProcess, demo: Database, extra: int = 0, **gateway: Any
) -> tuple[list[Received], list[Received], SpiGatewayStats]:
    """Run the gateway over simulated traffic; (CANP messages, SPI messages, final stats)."""
    address = mosquitto.address
    channel = f"spi-{id(gateway)}-{threading.get_ident()}"
    cfg = config(address, channel, **gateway)
    with (
        Subscriber(address, f"vehicle/{VIN}/canp/#") as canp_sub,
        Subscriber(address, "vehicle/+/spi/#") as spi_sub,
    ):
        with running(cfg, address) as gw:
            sent = simulate(channel, demo, extra)
            assert gw.wait_until(lambda s: s.buses["can0"].published == sent, WAIT_S)
        stats = gw.stats()
        assert isinstance(stats, SpiGatewayStats)
        batches = stats.spi["can0"].batches
        assert batches > 0
        spi = spi_sub.wait_for(batches, WAIT_S)
        canp = canp_sub.received
    assert {r.topic for r in spi} == {f"vehicle/{VIN}/spi/can0"}
    return canp, spi, stats


def cantools_values(demo: Database, canp: list[Received]) -> Values:
    """Every catalog signal's value per frame, decoded by cantools (the reference)."""
    frames = decode_canp([r.payload for r in canp]).frames
    out: Values = {}
    data = frames.data.to_pylist()
    for ts, can_id, payload in zip(frames.ts.tolist(), frames.can_id.tolist(), data, strict=True):
        try:
            msg = demo.get_message_by_frame_id(can_id & 0x1FFFFFFF)
        except KeyError:
            continue
        decoded = msg.decode(payload, decode_choices=False, scaling=True)
        assert isinstance(decoded, dict)
        for name, value in decoded.items():
            out.setdefault(f"{msg.name}.{name}", []).append((ts, value))
    return out


def spi_batches(spi: list[Received], catalog: Catalog) -> list[tuple[int, dict[str, Any]]]:
    """(ts_ns, {name: (value, update)}) per SPI payload, in arrival order."""
    dec = decode_spi([r.payload for r in spi])
    assert not dec.rejected and not dec.dropped
    out: list[tuple[int, dict[str, Any]]] = [(0, {}) for _ in spi]
    for (src, rec), ts in zip(dec.records(), dec.ts.tolist(), strict=True):
        sig = catalog.by_id[rec.id]
        assert rec.type is sig.type
        out[src] = (ts, out[src][1])
        out[src][1][sig.name] = (rec.value, rec.update)
    return out


def same(type_: SpiType, got: Any, want: Any) -> bool:
    if type_ is SpiType.F32:
        return bool(np.float32(got) == np.float32(want))
    return bool(got == want)


def check_values(
    batches: list[tuple[int, dict[str, Any]]], reference: Values, catalog: Catalog
) -> None:
    """Each record is the signal's value in one of the frames at or before its batch time, and
    the last record of each signal is its value in the last frame."""
    last: dict[str, Any] = {}
    for ts, records in batches:
        for name, (value, _) in records.items():
            type_ = catalog.by_name[name].type
            seen = [v for t, v in reference[name] if t <= ts]
            assert any(same(type_, value, v) for v in seen), (name, value, ts)
            last[name] = value
    for name, values in reference.items():
        assert name in last, name
        assert same(catalog.by_name[name].type, last[name], values[-1][1]), name


def test_change_mode_publishes_changes_with_the_values_cantools_decodes(
    mosquitto: MosquittoProcess, demo: Database, catalog: Catalog
) -> None:
    canp, spi, stats = capture(mosquitto, demo, extra=25)
    reference = cantools_values(demo, canp)
    batches = spi_batches(spi, catalog)
    check_values(batches, reference, catalog)
    frame_times = {t for values in reference.values() for t, _ in values}
    previous: dict[str, Any] = {}
    records = 0
    for ts, recs in batches:
        assert ts in frame_times  # the time of a contributing frame
        for name, (value, update) in recs.items():
            assert update
            assert name not in previous or previous[name] != value, name  # changes only
            previous[name] = value
        records += len(recs)
    speed = [v for _, recs in batches for n, (v, _) in recs.items() if n.endswith(".EngineSpeed")]
    assert len(speed) > 10
    counters = stats.spi["can0"]
    assert counters.records == records
    assert counters.undecodable == 25
    assert counters.dropped == 0
    # a signal that never changes (a constant in the simulation) is published once
    constant = [n for n, v in reference.items() if len({x for _, x in v}) == 1]
    for name in constant:
        assert sum(name in recs for _, recs in batches) == 1, name


def test_interval_mode_batches_all_latest_values_at_the_interval(
    mosquitto: MosquittoProcess, demo: Database, catalog: Catalog
) -> None:
    canp, spi, stats = capture(mosquitto, demo, spi_mode="interval", spi_interval_ms=100)
    reference = cantools_values(demo, canp)
    batches = spi_batches(spi, catalog)
    check_values(batches, reference, catalog)
    expected = SIM_S / 0.1
    assert expected * 0.6 <= len(batches) <= expected + 3
    gaps = np.diff([ts for ts, _ in batches]) / 1e6
    assert 60 <= float(np.median(gaps)) <= 140, gaps
    previous: dict[str, Any] = {}
    for _, recs in batches:
        assert set(previous) <= set(recs)  # every signal seen so far, every time
        for name, (value, update) in recs.items():
            assert update == (name not in previous or previous[name] != value), name
            previous[name] = value
    assert set(batches[-1][1]) == set(reference)
    assert stats.spi["can0"].records == sum(len(r) for _, r in batches)


# ---- configuration ---------------------------------------------------------------------------
def test_spi_keys_parse_with_defaults() -> None:
    g = parse_config({}).gateway
    assert (g.spi, g.spi_catalog, g.spi_dbc, g.spi_topic, g.spi_mode, g.spi_interval_ms) == (
        False,
        None,
        None,
        "vehicle/{vin}/spi/{source}",
        "change",
        100,
    )
    keys = {
        "spi": True,
        "spi_catalog": "c.toml",
        "spi_dbc": "d.dbc",
        "spi_mode": "interval",
        "spi_interval_ms": 250,
        "spi_topic": "x/{source}",
    }
    g = parse_config({"gateway": keys}).gateway
    assert (g.spi, g.spi_catalog, g.spi_dbc, g.spi_mode, g.spi_interval_ms, g.spi_topic) == (
        True,
        Path("c.toml"),
        Path("d.dbc"),
        "interval",
        250,
        "x/{source}",
    )


@pytest.mark.parametrize(
    ("gateway", "key"),
    [
        ({"spi": True}, "gateway.spi_catalog"),
        ({"spi": "yes"}, "gateway.spi"),
        ({"spi_mode": "sometimes"}, "gateway.spi_mode"),
        ({"spi_interval_ms": 0}, "gateway.spi_interval_ms"),
        ({"spi_catalog": 3}, "gateway.spi_catalog"),
    ],
)
def test_bad_spi_keys_are_named(gateway: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"gateway": gateway})
    assert err.value.key == key


def gateway_error(tmp_path: Path, **gateway: Any) -> ConfigError:
    bus = BusConfig(name="can0", interface="virtual", channel="unused")
    cfg = Config(vin=VIN, buses=(bus,), gateway=GatewayConfig(spi=True, **gateway))
    with pytest.raises(ConfigError) as err:
        Gateway(cfg, "127.0.0.1", 1, MQTTProtocolVersion.MQTTv5)
    return err.value


def test_spi_setup_errors_name_their_key(tmp_path: Path, catalog: Catalog) -> None:
    err = gateway_error(tmp_path, spi_catalog=DEMO, spi_topic="v/{bus}")
    assert err.key == "gateway.spi_topic"
    err = gateway_error(tmp_path, spi_catalog=tmp_path / "missing.dbc")
    assert err.key == "gateway.spi_catalog"
    write_catalog(catalog, tmp_path / "catalog.toml")  # its source DBC is not beside it
    err = gateway_error(tmp_path, spi_catalog=tmp_path / "catalog.toml")
    assert err.key == "gateway.spi_dbc"
    err = gateway_error(tmp_path, spi_catalog=tmp_path / "catalog.toml", spi_dbc=tmp_path / "x")
    assert err.key == "gateway.spi_dbc"


def test_a_catalog_file_with_its_dbc_works(tmp_path: Path, catalog: Catalog) -> None:
    write_catalog(catalog, tmp_path / "catalog.toml")
    bus = BusConfig(name="can0", interface="virtual", channel="unused")
    cfg = Config(
        vin=VIN,
        buses=(bus,),
        gateway=GatewayConfig(spi=True, spi_catalog=tmp_path / "catalog.toml", spi_dbc=DEMO),
    )
    Gateway(cfg, "127.0.0.1", 1, MQTTProtocolVersion.MQTTv5)


# ---- into the store --------------------------------------------------------------------------
def test_an_spi_exchange_captures_the_batches_and_answers_sig_queries(
    mosquitto: MosquittoProcess, demo: Database, catalog: Catalog, tmp_path: Path
) -> None:
    exchange = ExchangeConfig(
        name="spi",
        topic="vehicle/+/spi/#",
        stream="spi",
        dbc=DEMO,
        ringbus=RingbusConfig(cap=1000, flush_ms=100),
    )
    with service_running(service_config(tmp_path, mosquitto.address, exchange=exchange)) as svc:
        _, spi, stats = capture(mosquitto, demo)
        captured(svc, stats.spi["can0"].batches, "spi")
        reply = ask(svc, "sync-0-9223372036854775807;sig=EngineSpeed")
    assert reply.ok, reply.message
    table = reply.table()
    published = [
        (ts, recs["EngineData.EngineSpeed"][0])
        for ts, recs in spi_batches(spi, catalog)
        if "EngineData.EngineSpeed" in recs
    ]
    got = list(
        zip(
            table.column("ts").to_pylist(),
            table.column("EngineData.EngineSpeed").to_pylist(),
            strict=True,
        )
    )
    assert got == published
    assert set(table.column("source").to_pylist()) == {"can0"}
