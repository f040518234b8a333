"""The simulator's frames(): cycle times, value ranges, multiplexing, counters, checksums,
smoothness and seeds."""

from __future__ import annotations

import itertools

import pytest
from cantools.database.can import Database, Message

from hw.simulate import CHECKSUM_RE, COUNTER_RE, Simulator
from tests.support.simulation import Sample, by_message, series

SECONDS = 10.0


@pytest.fixture(scope="module")
def ten_seconds(demo: Database) -> dict[str, list[Sample]]:
    return by_message(demo, Simulator(demo, None, seed=11).frames(SECONDS))


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
