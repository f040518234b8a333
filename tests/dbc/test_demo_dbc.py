"""dbc/examples/demo.dbc: loads strictly and has every feature the examples and tests rely on."""

from __future__ import annotations

from pathlib import Path

import cantools
import pytest
from cantools.database.can import Database, Message

DEMO = Path(__file__).resolve().parents[2] / "dbc" / "examples" / "demo.dbc"


@pytest.fixture(scope="module")
def db() -> Database:
    loaded = cantools.database.load_file(DEMO, strict=True)
    assert isinstance(loaded, Database)
    return loaded


def test_nodes_cycle_times_and_senders(db: Database) -> None:
    assert {n.name for n in db.nodes} == {"ECM", "TCM", "ESC", "EPS", "BMS", "OBC", "BCM", "GW"}
    for msg in db.messages:
        assert msg.cycle_time is not None and msg.cycle_time > 0, msg.name
        assert len(msg.senders) == 1, msg.name
    cycles = {m.name: m.cycle_time for m in db.messages}
    assert cycles["EngineData"] == 10 and cycles["ClimateStatus"] == 1000


def test_multiplexed_message_has_pages_of_different_signals(db: Database) -> None:
    diag = db.get_message_by_name("EcuDiagnostics")
    assert diag.is_multiplexed()
    (tree,) = [node for node in diag.signal_tree if isinstance(node, dict)]
    pages = tree["DiagPage"]
    assert sorted(pages) == [0, 1, 2, 3]
    names = [frozenset(p) for p in pages.values()]
    assert len(set(names)) == 4 and all(names)
    assert not frozenset.intersection(*names)


def test_extended_fd_big_endian_float_and_flag_signals(db: Database) -> None:
    charger = db.get_message_by_name("ChargerStatus")
    assert charger.is_extended_frame and charger.frame_id == 0x18FF50E5 and not charger.is_fd
    cells = db.get_message_by_name("CellVoltages")
    assert cells.is_fd and cells.length == 64 and not cells.is_extended_frame
    assert (
        sum(s.name.startswith("CellVoltage") and s.name[-2:].isdigit() for s in cells.signals) == 16
    )
    assert sum(m.is_fd for m in db.messages) == 1
    assert sum(m.is_extended_frame for m in db.messages) == 1

    angle = db.get_message_by_name("SteeringData").get_signal_by_name("SteeringAngle")
    assert angle.byte_order == "big_endian" and angle.is_signed
    imu = db.get_message_by_name("ImuData")
    assert all(s.is_float and s.length == 32 for s in imu.signals)
    brake = db.get_message_by_name("BrakeStatus")
    for flag in ("BrakePedalPressed", "ABSActive"):
        sig = brake.get_signal_by_name(flag)
        assert sig.length == 1 and (sig.minimum, sig.maximum) == (0, 1)


def test_value_tables_counter_and_checksum(db: Database) -> None:
    trans = db.get_message_by_name("TransmissionData")
    gear = trans.get_signal_by_name("Gear")
    assert gear.choices is not None and str(gear.choices[15]) == "Park"
    assert [str(gear.choices[i]) for i in range(1, 9)][:3] == ["First", "Second", "Third"]
    counter = trans.get_signal_by_name("TransCounter")
    assert counter.length == 4 and (counter.minimum, counter.maximum) == (0, 15)
    checksum = trans.get_signal_by_name("TransChecksum")
    assert (checksum.start, checksum.length) == (56, 8)
    state = db.get_message_by_name("BatteryStatus").get_signal_by_name("ChargingState")
    assert state.choices is not None and str(state.choices[3]) == "DcCharging"
    current = db.get_message_by_name("BatteryStatus").get_signal_by_name("PackCurrent")
    assert current.is_signed and current.minimum == -600 and current.unit == "A"
    coolant = db.get_message_by_name("EngineData").get_signal_by_name("CoolantTemp")
    assert coolant.offset == -40 and coolant.minimum == -40


def test_ranges_units_and_the_example_values(db: Database) -> None:
    for msg in db.messages:
        for sig in msg.signals:
            assert sig.minimum is not None and sig.maximum is not None, sig.name
            assert sig.minimum < sig.maximum, sig.name
            if sig.scale != 1 or sig.offset != 0:
                assert sig.unit, f"{msg.name}.{sig.name} has no unit"
    speed = db.get_message_by_name("BrakeStatus").get_signal_by_name("VehicleSpeed")
    assert (speed.scale, speed.minimum, speed.maximum, speed.unit) == (0.01, 0, 250, "km/h")
    rpm = db.get_message_by_name("EngineData").get_signal_by_name("EngineSpeed")
    assert rpm.unit == "rpm" and rpm.maximum is not None and rpm.maximum >= 6500


def _extremes(msg: Message, pick: str) -> list[dict[str, float]]:
    """One signal dict per multiplexer page, every signal at its minimum or maximum."""
    pages: list[dict[str, float]] = []
    mux = [n for n in msg.signal_tree if isinstance(n, dict)]
    page_ids = sorted(mux[0]["DiagPage"]) if mux else [None]
    for page in page_ids:
        data: dict[str, float] = {}
        for sig in msg.signals:
            if sig.is_multiplexer:
                data[sig.name] = float(page or 0)
            elif sig.multiplexer_ids is None or page in sig.multiplexer_ids:
                value = sig.minimum if pick == "min" else sig.maximum
                assert value is not None
                data[sig.name] = value
        pages.append(data)
    return pages


@pytest.mark.parametrize("pick", ["min", "max"])
def test_every_range_fits_its_bits(db: Database, pick: str) -> None:
    for msg in db.messages:
        for data in _extremes(msg, pick):
            payload = msg.encode(data, strict=True)
            back = msg.decode(payload, decode_choices=False)
            assert isinstance(back, dict)
            for name, value in data.items():
                scale = msg.get_signal_by_name(name).scale
                assert back[name] == pytest.approx(value, abs=abs(scale) * 0.51 + 1e-6), name


def test_survives_a_dump_and_reload(db: Database) -> None:
    again = cantools.database.load_string(db.as_dbc_string(), strict=True)
    assert isinstance(again, Database)
    assert [(m.name, m.frame_id, m.is_fd, m.cycle_time) for m in again.messages] == [
        (m.name, m.frame_id, m.is_fd, m.cycle_time) for m in db.messages
    ]
