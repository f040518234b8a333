"""The simulator: cycle times, value ranges, multiplexing, counters, smoothness, the scenario,
real-time sending on a virtual bus, other people's DBCs, and ``sdvlog simulate``."""

from __future__ import annotations

import bisect
import itertools
import logging
import queue
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import can
import pytest
from cantools.database.can import Database, Message

from hw.simulate import (
    CHECKSUM_RE,
    COUNTER_RE,
    SimulationError,
    SimulationStats,
    Simulator,
    load_dbc,
    raw_limits,
)
from logger.cli.app import main
from logger.cli.simulate import parse_bus_spec
from logger.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "dbc" / "examples" / "demo.dbc"
PRODUCTION = Path(__file__).resolve().parents[3] / "shared" / "data" / "dbc" / "production"
WAIT_S = 10.0
SECONDS = 10.0


def channel() -> str:
    return f"test-simulate-{uuid.uuid4().hex}"


@dataclass
class Sample:
    t: float
    values: dict[str, float]


@pytest.fixture(scope="module")
def demo() -> Database:
    return load_dbc(DEMO)


def decode(db: Database, frame: can.Message) -> tuple[Message, dict[str, float]]:
    msg = db.get_message_by_frame_id(frame.arbitration_id)
    values = msg.decode(bytes(frame.data), decode_choices=False)
    assert isinstance(values, dict)
    return msg, {k: float(v) for k, v in values.items() if isinstance(v, int | float)}


def by_message(db: Database, frames: Iterator[can.Message]) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = defaultdict(list)
    for frame in frames:
        msg, values = decode(db, frame)
        out[msg.name].append(Sample(frame.timestamp, values))
    return out


@pytest.fixture(scope="module")
def ten_seconds(demo: Database) -> dict[str, list[Sample]]:
    return by_message(demo, Simulator(demo, None, seed=11).frames(SECONDS))


def series(samples: list[Sample], name: str) -> list[float]:
    return [s.values[name] for s in samples if name in s.values]


# -- frames(): timing and values -------------------------------------------------------------


def test_each_message_at_its_cycle_time(
    demo: Database, ten_seconds: dict[str, list[Sample]]
) -> None:
    assert set(ten_seconds) == {m.name for m in demo.messages}
    for msg in demo.messages:
        assert msg.cycle_time is not None
        cycle = msg.cycle_time / 1000
        samples = ten_seconds[msg.name]
        assert abs(len(samples) - SECONDS / cycle) <= 1, msg.name
        gaps = [b.t - a.t for a, b in itertools.pairwise(samples)]
        assert all(g == pytest.approx(cycle, abs=1e-6) for g in gaps), msg.name
        assert 0 <= samples[0].t < cycle and samples[-1].t < SECONDS


def test_frames_are_in_time_order_with_the_right_flags(demo: Database) -> None:
    frames = list(Simulator(demo, None, seed=1).frames(1.0, start=1_700_000_000.0))
    stamps = [f.timestamp for f in frames]
    assert stamps == sorted(stamps) and stamps[0] >= 1_700_000_000.0
    for frame in frames:
        msg = demo.get_message_by_frame_id(frame.arbitration_id)
        assert frame.is_extended_id == msg.is_extended_frame
        assert frame.is_fd == msg.is_fd == frame.bitrate_switch
        assert len(frame.data) == frame.dlc == msg.length


def test_values_stay_within_min_max(demo: Database, ten_seconds: dict[str, list[Sample]]) -> None:
    for msg in demo.messages:
        for sample in ten_seconds[msg.name]:
            for name, value in sample.values.items():
                sig = msg.get_signal_by_name(name)
                assert sig.minimum is not None and sig.maximum is not None
                slack = abs(sig.scale) * 1e-6
                assert sig.minimum - slack <= value <= sig.maximum + slack, (msg.name, name, value)


def test_multiplexer_cycles_through_every_page(
    demo: Database, ten_seconds: dict[str, list[Sample]]
) -> None:
    samples = ten_seconds["EcuDiagnostics"]
    pages = [int(s.values["DiagPage"]) for s in samples]
    assert pages == [i % 4 for i in range(len(pages))]
    msg = demo.get_message_by_name("EcuDiagnostics")
    for sample in samples[:4]:
        page = int(sample.values["DiagPage"])
        expected = {
            s.name for s in msg.signals if s.multiplexer_ids and page in s.multiplexer_ids
        } | {"DiagPage"}
        assert set(sample.values) == expected


@pytest.mark.parametrize(
    ("message", "counter", "modulo"),
    [
        ("TransmissionData", "TransCounter", 16),
        ("SteeringData", "SteeringAlive", 16),
        ("BatteryStatus", "BmsCounter", 16),
        ("CellVoltages", "CellMsgCounter", 256),
    ],
)
def test_counters_count_modulo_their_range(
    ten_seconds: dict[str, list[Sample]], message: str, counter: str, modulo: int
) -> None:
    values = [int(v) for v in series(ten_seconds[message], counter)]
    assert len(values) > modulo or message == "CellVoltages"
    assert all((b - a) % modulo == 1 for a, b in itertools.pairwise(values))
    if len(values) > modulo:
        assert set(values) == set(range(modulo))


def test_checksum_is_the_byte_sum(demo: Database) -> None:
    trans = demo.get_message_by_name("TransmissionData")
    frames = [
        f for f in Simulator(demo, None, seed=5).frames(2.0) if f.arbitration_id == trans.frame_id
    ]
    assert len(frames) == 100
    assert all(f.data[7] == sum(f.data[:7]) % 256 for f in frames)
    assert len({f.data[7] for f in frames}) > 10


def continuous(msg: Message, name: str) -> bool:
    sig = msg.get_signal_by_name(name)
    return not (
        sig.choices
        or sig.length == 1
        or sig.is_multiplexer
        or COUNTER_RE.search(name)
        or CHECKSUM_RE.search(name)
    )


def test_values_change_smoothly(demo: Database) -> None:
    """Consecutive frames of a message differ by at most a tenth of a signal's range."""
    per_message = by_message(demo, Simulator(demo, None, seed=3).frames(120.0))
    moved = set()
    for msg in demo.messages:
        samples = per_message[msg.name]
        for name in {n for s in samples for n in s.values}:
            if not continuous(msg, name):
                continue
            sig = msg.get_signal_by_name(name)
            assert sig.minimum is not None and sig.maximum is not None
            bound = 0.1 * (sig.maximum - sig.minimum) + abs(sig.scale)
            values = series(samples, name)
            steps = [abs(b - a) for a, b in itertools.pairwise(values)]
            assert max(steps) <= bound, (msg.name, name, max(steps), bound)
            if max(values) > min(values):
                moved.add(name)
    assert {"VehicleSpeed", "EngineSpeed", "SteeringAngle", "PackCurrent", "LongAccel"} <= moved


def test_same_seed_same_traffic(demo: Database) -> None:
    def payloads(seed: int) -> list[bytes]:
        return [bytes(f.data) for f in Simulator(demo, None, seed=seed).frames(2.0)]

    sim = Simulator(demo, None, seed=42)
    first = [bytes(f.data) for f in sim.frames(2.0)]
    assert first == [bytes(f.data) for f in sim.frames(2.0)] == payloads(42)
    assert first != payloads(43)
    assert Simulator(demo, None, seed=None).seed != Simulator(demo, None, seed=None).seed


# -- the driving scenario ----------------------------------------------------------------------


def held(samples: list[Sample], name: str) -> tuple[list[float], list[float]]:
    pairs = [(s.t, s.values[name]) for s in samples if name in s.values]
    return [t for t, _ in pairs], [v for _, v in pairs]


def test_the_drive_has_the_episodes_the_examples_ask_about(demo: Database) -> None:
    wanted = {"EngineData", "TransmissionData", "BrakeStatus", "BatteryStatus", "BatteryLimits"}
    ids = {demo.get_message_by_name(n).frame_id for n in wanted}
    frames = (f for f in Simulator(demo, None, seed=2024).frames(600.0) if f.arbitration_id in ids)
    data = by_message(demo, frames)
    engine, brake = data["EngineData"], data["BrakeStatus"]
    rpm = series(engine, "EngineSpeed")
    assert 4500 < max(rpm) <= 6500
    speed = series(brake, "VehicleSpeed")
    assert max(speed) > 100 and min(speed) == 0
    # hard braking: high pressure, ABS, strong deceleration
    assert max(series(brake, "BrakePressure")) > 80
    assert max(series(brake, "ABSActive")) == 1
    gears = [int(g) for g in series(data["TransmissionData"], "Gear")]
    changes = sum(a != b for a, b in itertools.pairwise(gears))
    assert changes > 20 and {1, 2, 3, 4, 5} <= set(gears) and 15 in gears  # Park while charging
    # engine speed follows the gearbox: rpm = output shaft speed x gear ratio, once settled
    rpm_t, rpm_v = held(engine, "EngineSpeed")
    for gear, ratio in ((3, 2.10), (6, 1.00)):
        ratios = []
        for s in data["TransmissionData"]:
            shaft = s.values["OutputShaftSpeed"]
            if s.values["Gear"] == gear and not s.values["ShiftInProgress"] and shaft > 800:
                i = bisect.bisect_right(rpm_t, s.t) - 1
                ratios.append(rpm_v[i] / shaft)
        assert ratios, gear
        assert statistics.median(ratios) == pytest.approx(ratio, rel=0.1)
    # charging, and the pack current going over the BMS limit while charging
    battery = data["BatteryStatus"]
    states = series(battery, "ChargingState")
    assert {2, 3} & set(states)
    limit_t, limit_v = held(data["BatteryLimits"], "MaxChargeCurrent")
    over = 0
    for s in battery:
        i = bisect.bisect_right(limit_t, s.t) - 1
        if i >= 0 and s.values["ChargingState"] == 3 and s.values["PackCurrent"] < -limit_v[i]:
            over += 1
    assert over > 0
    # the engine stops while parked for charging
    running = series(engine, "EngineRunning")
    assert 0 in running and 1 in running


# -- real time on a virtual bus ----------------------------------------------------------------


class Receiver:
    """Another virtual bus instance on the same channel."""

    def __init__(self, chan: str) -> None:
        self.bus = can.Bus(interface="virtual", channel=chan)
        self.frames: list[can.Message] = []

    def wait_for_ids(self, ids: set[int], timeout: float) -> bool:
        """Receive until every id in ``ids`` came at least once, or ``timeout`` passes."""
        pending = set(ids)
        end = time.monotonic() + timeout
        while pending and (left := end - time.monotonic()) > 0:
            msg = self.bus.recv(timeout=left)
            if msg is None:
                break
            self.frames.append(msg)
            pending.discard(msg.arbitration_id)
        return not pending

    def drain(self) -> None:
        while (msg := self.bus.recv(timeout=0)) is not None:
            self.frames.append(msg)


def test_realtime_frames_reach_another_virtual_bus(demo: Database) -> None:
    chan = channel()
    receiver = Receiver(chan)
    sender = can.Bus(interface="virtual", channel=chan)
    stop = threading.Event()
    result: list[SimulationStats] = []
    thread = threading.Thread(
        target=lambda: result.append(Simulator(demo, sender, seed=9).run(None, stop))
    )
    try:
        thread.start()
        ids = {m.frame_id for m in demo.messages}
        assert receiver.wait_for_ids(ids, WAIT_S)
        stop.set()
        thread.join(WAIT_S)
        assert not thread.is_alive()
        receiver.drain()
    finally:
        stop.set()
        thread.join(WAIT_S)
        sender.shutdown()
        receiver.bus.shutdown()
    (stats,) = result
    assert stats.total == len(receiver.frames) and not stats.failed
    received = Counter(demo.get_message_by_frame_id(f.arbitration_id).name for f in receiver.frames)
    assert received == Counter(stats.sent)
    for frame in receiver.frames:
        msg, _ = decode(demo, frame)
        if msg.name == "CellVoltages":
            assert frame.is_fd and frame.bitrate_switch and len(frame.data) == 64
        else:
            assert not frame.is_fd and len(frame.data) == 8
        assert frame.is_extended_id == (msg.name == "ChargerStatus")
    charger = next(f for f in receiver.frames if f.is_extended_id)
    assert charger.arbitration_id == 0x18FF50E5


def test_run_for_a_duration_sends_what_frames_produces(demo: Database) -> None:
    chan = channel()
    receiver = can.Bus(interface="virtual", channel=chan)
    sender = can.Bus(interface="virtual", channel=chan)
    try:
        stats = Simulator(demo, sender, seed=4).run(0.5, threading.Event())
    finally:
        sender.shutdown()
    expected = Counter(
        demo.get_message_by_frame_id(f.arbitration_id).name
        for f in Simulator(demo, None, seed=4).frames(0.5)
    )
    assert Counter(stats.sent) == expected and expected["EngineData"] == 50
    assert stats.elapsed_s >= 0.5
    got = []
    while (msg := receiver.recv(timeout=0)) is not None:
        got.append(bytes(msg.data))
    receiver.shutdown()
    assert got == [bytes(f.data) for f in Simulator(demo, None, seed=4).frames(0.5)]
    assert "EngineData=50" in stats.summary()


def test_run_without_a_bus_is_an_error(demo: Database) -> None:
    with pytest.raises(SimulationError, match="no bus"):
        Simulator(demo, None, seed=1).run(0.1, threading.Event())


def test_a_bus_that_refuses_everything_ends_the_run(demo: Database) -> None:
    bus = can.Bus(interface="virtual", channel=channel())
    bus.shutdown()  # every send now raises CanOperationError
    with pytest.raises(SimulationError, match="nothing could be sent"):
        Simulator(demo, bus, seed=1).run(None, threading.Event())


# -- any DBC -----------------------------------------------------------------------------------

ODD_DBC = """VERSION ""

BU_: A

BO_ 100 Plain: 8 A
 SG_ Speed : 0|16@1+ (0.1,0) [0|0] "km/h" Vector__XXX
 SG_ Narrow : 16|4@1+ (1,0) [0|100] "" Vector__XXX
 SG_ Temp : 24|8@1- (1,0) [-40|100] "degC" Vector__XXX
 SG_ Rolling_Cnt : 32|4@1+ (1,0) [0|15] "" Vector__XXX

BO_ 200 Overlap: 8 A
 SG_ Whole : 0|16@1+ (1,0) [0|65535] "" Vector__XXX
 SG_ Low : 0|8@1+ (1,0) [0|255] "" Vector__XXX
 SG_ High : 8|8@1+ (1,0) [0|255] "" Vector__XXX

BO_ 300 Long: 12 A
 SG_ Wide : 0|64@1+ (1,0) [0|0] "" Vector__XXX
"""


def test_any_dbc_default_cycle_odd_ranges_and_overlaps(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "odd.dbc"
    path.write_text(ODD_DBC)
    with caplog.at_level(logging.WARNING, logger="hw.simulate"):
        db = load_dbc(path)  # overlapping signals: strict loading fails, lenient works
        sim = Simulator(db, None, seed=1, default_cycle_ms=50)
        frames = list(sim.frames(2.0))
        frames += list(sim.frames(2.0))  # warnings stay once per simulator
    counts = Counter(f.arbitration_id for f in frames)
    assert counts == {100: 80, 200: 80, 300: 80}
    warnings = [r.getMessage() for r in caplog.records]
    assert any("strict=False" in w for w in warnings)
    assert sum(w.startswith("message Overlap") for w in warnings) == 1
    assert len(warnings) == len(set(warnings))
    cnt = []
    for frame in frames[: len(frames) // 2]:
        if frame.arbitration_id == 100:
            values = decode(db, frame)[1]
            assert 0 <= values["Narrow"] <= 15 and -40 <= values["Temp"] <= 100
            cnt.append(int(values["Rolling_Cnt"]))
        elif frame.arbitration_id == 300:
            assert frame.is_fd and len(frame.data) == 12
    assert cnt[:18] == [*range(16), 0, 1]


@pytest.mark.parametrize(
    "name",
    [
        "vw_mqb.dbc",
        "gm_global_a_high_voltage_management.dbc",
        "cantools_tests_abs_bosch_motorsport.dbc",
        "cantools_tests_vehicle_racetechnology.dbc",
        "tesla_model3_party.dbc",
    ],
)
def test_production_dbcs(name: str, caplog: pytest.LogCaptureFixture) -> None:
    path = PRODUCTION / name
    if not path.exists():
        pytest.skip(f"{path} is not on this machine (production DBCs are not in the repository)")
    with caplog.at_level(logging.WARNING, logger="hw.simulate"):
        db = load_dbc(path)
        sim = Simulator(db, None, seed=8)
        frames = list(sim.frames(3.0))
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == len(set(warnings))
    counts = Counter(f.arbitration_id for f in frames)
    for plan in sim.plans:
        msg = plan.message
        assert abs(counts[msg.frame_id] - 3.0 / plan.cycle_s) <= 1, msg.name
    for frame in frames:
        msg = db.get_message_by_frame_id(frame.arbitration_id)
        assert frame.is_extended_id == msg.is_extended_frame
        assert len(frame.data) >= msg.length
        try:
            msg.decode(bytes(msg.length))
        except Exception:  # a layout cantools cannot decode at all
            continue
        raw = msg.decode(bytes(frame.data)[: msg.length], decode_choices=False, scaling=False)
        assert isinstance(raw, dict)
        for sig_name, value in raw.items():
            sig = msg.get_signal_by_name(sig_name)
            if sig.choices or sig.is_multiplexer or not isinstance(value, int | float):
                continue
            lo, hi = raw_limits(sig)  # [minimum, maximum] in raw units where the bits allow
            slack = 1e-6 * max(1.0, abs(lo), abs(hi))
            assert lo - slack <= value <= hi + slack, (msg.name, sig_name, value, lo, hi)


def test_bad_dbc_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.dbc"
    bad.write_text(
        'VERSION ""\n\nBU_: A\nBO_ 100 Foo: 8 A\n SG_ Bar : 0|8@1+ (1,0) [0|255] "" B\n oops\n'
    )
    with pytest.raises(SimulationError, match=r"broken\.dbc.*line 6"):
        load_dbc(bad)
    with pytest.raises(SimulationError, match=r"missing\.dbc"):
        load_dbc(tmp_path / "missing.dbc")
    empty = tmp_path / "empty.dbc"
    empty.write_text('VERSION ""\n\nBU_: A\n')
    with pytest.raises(SimulationError, match="no message"):
        Simulator(load_dbc(empty), None, seed=1)


# -- sdvlog simulate ---------------------------------------------------------------------------


def test_bus_specs() -> None:
    assert parse_bus_spec("virtual:vcan0") == ("virtual", "vcan0", {})
    assert parse_bus_spec("socketcan:vcan0,fd=true,bitrate=500000,data_bitrate=2e6") == (
        "socketcan",
        "vcan0",
        {"fd": True, "bitrate": 500000, "data_bitrate": 2e6},
    )
    assert parse_bus_spec("udp_multicast:239.0.0.1") == ("udp_multicast", "239.0.0.1", {})
    assert parse_bus_spec("udp_multicast:ff15:7079:7468:6f6e:6465:6d6f:6d63:6173")[1] == (
        "ff15:7079:7468:6f6e:6465:6d6f:6d63:6173"
    )
    assert parse_bus_spec("pcan,receive_own_messages=no,name=x") == (
        "pcan",
        None,
        {"receive_own_messages": False, "name": "x"},
    )
    for bad in (":vcan0", "virtual:", "virtual:x,fd", "virtual:x,=1"):
        with pytest.raises(ConfigError, match="--bus"):
            parse_bus_spec(bad)


def sdvlog(*args: str) -> list[str]:
    return [sys.executable, "-m", "logger.cli.app", *args]


def test_cli_runs_for_a_second_and_prints_a_summary() -> None:
    result = subprocess.run(
        sdvlog(
            "simulate",
            "--dbc",
            str(DEMO),
            "--bus",
            f"virtual:{channel()}",
            "--duration",
            "1",
            "--seed",
            "3",
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert "seed 3" in lines[0] and "EngineData=100" in lines[0] and "ClimateStatus=1" in lines[0]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_stops_cleanly_on_a_signal(signum: signal.Signals) -> None:
    proc = subprocess.Popen(
        sdvlog("-v", "simulate", "--dbc", str(DEMO), "--bus", f"virtual:{channel()}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None
    stderr = proc.stderr

    def read() -> None:
        for line in stderr:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        while "simulating" not in lines.get(timeout=WAIT_S):
            pass
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    # the signal may come before the first frame: only the summary line is certain
    assert re.fullmatch(
        r"simulate demo\.dbc on virtual:\S+ \(seed \d+\): sent \d+ frames .*\n", out
    )


def test_cli_bad_dbc_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "typo.dbc"
    bad.write_text('VERSION ""\n\nBO_ x Foo: 8 A\n')
    assert main(["simulate", "--dbc", str(bad), "--bus", f"virtual:{channel()}"]) == 1
    err = capsys.readouterr().err
    assert "typo.dbc" in err and "line 3" in err and "Traceback" not in err
    assert main(["simulate", "--dbc", str(DEMO), "--bus", "no_such_interface:x"]) == 1
    assert "no_such_interface" in capsys.readouterr().err
