"""The simulator's driving scenario: the episodes the examples ask about."""

from __future__ import annotations

import bisect
import itertools
import statistics

import pytest
from cantools.database.can import Database

from hw.simulate import Simulator
from tests.support.simulation import Sample, by_message, series

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
