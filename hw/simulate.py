"""Simulated vehicle traffic from a DBC: every message at its cycle time, plausible values.

:class:`Simulator` turns a cantools database into CAN / CAN FD frames:

* each message at its ``GenMsgCycleTime`` (``default_cycle_ms`` when the DBC has none), with a small
  per-message phase offset so that messages do not all fall on the same millisecond;
* signals the built-in :class:`DrivingScenario` knows (the names in ``dbc/examples/demo.dbc``)
  follow one consistent drive: engine and vehicle speed correlated through the gears, hard braking
  now and then (ABS, high brake pressure), stops to charge with current over the limit at times;
* every other signal takes a bounded, smooth random walk inside its ``[minimum, maximum]`` (the raw
  range when the DBC gives none), value-table signals hold one of their values for a while;
* multiplexed messages send their pages in turn; counters (``*Counter*``, ``*Alive*``, ``*Cnt``…)
  count modulo their range; checksums (``*Checksum*``, ``*Crc*``) are the byte sum of the frame;
* FD messages go out with ``is_fd`` and ``bitrate_switch``, 29-bit ids with ``is_extended_id``.

:meth:`Simulator.frames` produces N seconds of frames at once with simulated timestamps (tests,
benchmarks); :meth:`Simulator.run` sends them on a python-can bus in real time until a duration
passes or an event is set. Both start from the seed, so the same seed gives the same traffic.

Any DBC works: a message whose values cantools refuses to encode strictly is encoded without the
range check (one warning), and one that cannot be encoded at all is left out (one warning).
"""

from __future__ import annotations

import heapq
import logging
import math
import random
import re
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import can
import cantools
from cantools.database.can import Database, Message, Signal
from cantools.database.errors import EncodeError
from cantools.database.errors import Error as CantoolsError

from logger.errors import SdvLoggerError

log = logging.getLogger(__name__)

#: Payload sizes a CAN FD frame can have.
FD_LENGTHS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64)
#: Physical range given to float signals whose DBC range is missing.
FLOAT_DEFAULT_RANGE = 1000.0
#: A walk crosses its whole range in no less than this many seconds.
WALK_MIN_TRAVERSE_S = 10.0
WALK_MAX_TRAVERSE_S = 40.0
#: Realtime sending: a lag longer than this is skipped instead of caught up in a burst.
MAX_LAG_S = 1.0
#: Realtime sending gives up when no frame at all could be sent for this long.
GIVE_UP_S = 2.0
SEND_TIMEOUT_S = 0.5

COUNTER_RE = re.compile(r"counter|alive|zaehler|rolling|(?:^|_)(?:cnt|bz|sqc)(?:_|$)|cnt$", re.I)
ENCODE_ERRORS = (EncodeError, ValueError, OverflowError, TypeError, KeyError)
CHECKSUM_RE = re.compile(r"checksum|chksum|crc|(?:^|_)chk(?:_|$)", re.I)


class SimulationError(SdvLoggerError):
    """The simulator cannot start (no DBC, no messages, no bus) or cannot send at all."""


def load_dbc(path: Path) -> Database:
    """A CAN database from ``path``, strictly if cantools can, else leniently (with a warning).

    Real-world DBCs often have overlapping signals, which strict loading refuses; those are
    loaded with ``strict=False``. A file cantools cannot parse at all is a
    :class:`SimulationError` naming the file (cantools' message names the line).
    """
    try:
        db = cantools.database.load_file(path, strict=True)
    except OSError as exc:
        raise SimulationError(f"{path}: cannot read the DBC: {exc.strerror or exc}") from exc
    except (CantoolsError, ValueError) as strict_exc:
        try:
            db = cantools.database.load_file(path, strict=False)
        except (CantoolsError, ValueError) as exc:
            raise SimulationError(f"{path}: cannot load the DBC: {exc}") from exc
        log.warning("%s: loaded with strict=False: %s", path, strict_exc)
    if not isinstance(db, Database):
        raise SimulationError(f"{path}: not a CAN database")
    return db


# ---------------------------------------------------------------------------------------------
# The driving scenario
# ---------------------------------------------------------------------------------------------

GEAR_RATIOS = (4.70, 3.13, 2.10, 1.67, 1.29, 1.00, 0.84, 0.67)
FINAL_DRIVE = 3.2
WHEEL_CIRCUMFERENCE_M = 2.0
IDLE_RPM = 750.0
RED_LINE_RPM = 6500.0
MASS_KG = 1900.0
WHEELBASE_M = 2.9
STEERING_RATIO = 15.0
CELLS_IN_SERIES = 96
PACK_RESISTANCE_OHM = 0.08
CAPACITY_AH = 50.0
GEAR_PARK, LEVER_PARK, LEVER_DRIVE = 15, 0, 3
CHARGE_NOT_CONNECTED, CHARGE_CONNECTED, CHARGE_AC, CHARGE_DC, CHARGE_COMPLETE = 0, 1, 2, 3, 4


def _approach(x: float, target: float, max_rate: float, dt: float) -> float:
    """``x`` moved towards ``target`` by at most ``max_rate * dt``."""
    step = max_rate * dt
    return target if abs(target - x) <= step else x + math.copysign(step, target - x)


def _lag(x: float, target: float, tau_s: float, dt: float) -> float:
    """First-order lag of ``x`` towards ``target`` with time constant ``tau_s``."""
    return x + (target - x) * min(1.0, dt / tau_s)


def _clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


class DrivingScenario:
    """A plug-in hybrid that drives, brakes hard now and then, and stops to charge.

    Physical state advances in fixed 10 ms steps; :meth:`values` gives the signals of
    ``dbc/examples/demo.dbc`` in physical units. Everything is rate-limited, so consecutive samples
    differ little, except discrete signals (gear, states, flags).
    """

    DT = 0.01

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        r = rng
        self.t = 0.0
        self._cache: dict[str, float] | None = None
        self.driving = True
        self.drive_end = r.uniform(90.0, 180.0)
        self.leaving = False  # slowing down to stop and charge
        # longitudinal
        self.v = 0.0  # m/s
        self.a = 0.0  # m/s^2
        self.v_target = 0.0
        self.next_target_t = r.uniform(0.5, 2.0)
        self.hard_brake_until = -1.0
        self.hard_brake_decel = 0.0
        self.hard_brake_floor = 0.0
        self.brake_bar = 0.0
        self.throttle = 0.0
        self.abs_active = False
        self.slip = 0.0
        # powertrain
        self.gear = 1
        self.last_shift_t = -10.0
        self.shift_end = -1.0
        self.engine_on = True
        self.rpm = IDLE_RPM
        self.torque = 10.0
        # steering
        self.angle = 0.0
        self.steer_rate = 0.0
        self.steer_target = 0.0
        self.steer_next = r.uniform(1.0, 4.0)
        # thermal, climate
        self.ambient = r.uniform(5.0, 28.0)
        self.coolant = self.ambient + 10.0
        self.oil = self.ambient + 5.0
        self.cabin = self.ambient
        self.ecu_temp = self.ambient + 15.0
        self.headlights = r.random() < 0.3
        # battery, charging
        self.soc = r.uniform(35.0, 70.0)
        self.current = 0.0  # A, positive discharging
        self.pack_temp = self.ambient + 3.0
        self.max_charge = 150.0
        self.charge_phase = "none"  # plug, charging, complete, unplug
        self.charge_state = CHARGE_NOT_CONNECTED
        self.charge_dc = True
        self.phase_until = 0.0
        self.charge_end = 0.0
        self.overshoot_until = -1.0
        self.overshoot_a = 0.0
        self.charger_v = 0.0
        self.charger_temp = self.ambient
        self.supply_v = 14.2
        # identity
        self.uptime0 = r.randrange(1_000, 500_000)
        self.odometer = r.uniform(5_000.0, 80_000.0)
        self.trip = 0.0
        self.cell_dv = [r.uniform(-0.008, 0.008) for _ in range(16)]
        self.cell_dt = [r.uniform(-1.5, 1.5) for _ in range(16)]

    # -- time ---------------------------------------------------------------------------------

    def advance(self, t: float) -> None:
        """Step the state up to time ``t`` (seconds since the start)."""
        while self.t + self.DT <= t + 1e-9:
            self._step(self.DT)
            self._cache = None

    def _step(self, dt: float) -> None:
        self.t += dt
        if self.driving:
            self._drive(dt)
        else:
            self._charge(dt)
        self._steer(dt)
        self._battery(dt)
        self._thermal(dt)

    # -- driving ------------------------------------------------------------------------------

    def _new_target(self) -> None:
        r = self._rng
        pick = r.random()
        if pick < 0.15:
            kmh, hold = 0.0, r.uniform(3.0, 8.0)
        elif pick < 0.50:
            kmh, hold = r.uniform(30.0, 60.0), r.uniform(8.0, 25.0)
        elif pick < 0.80:
            kmh, hold = r.uniform(70.0, 110.0), r.uniform(10.0, 30.0)
        else:
            kmh, hold = r.uniform(120.0, 230.0), r.uniform(10.0, 30.0)
        self.v_target = kmh / 3.6
        self.next_target_t = self.t + hold

    def _drive(self, dt: float) -> None:
        r, t = self._rng, self.t
        hard = t < self.hard_brake_until
        if hard and self.v <= self.hard_brake_floor:
            self.hard_brake_until, hard = t, False
            self.v_target = self.v
            self.next_target_t = t + r.uniform(2.0, 5.0)
        if not hard:
            if not self.leaving and t >= self.drive_end:
                self.leaving, self.v_target = True, 0.0
            if self.leaving:
                if self.v == 0.0 and abs(self.a) < 0.05:
                    self._start_charging()
                    return
            elif t >= self.next_target_t:
                self._new_target()
            elif self.v > 40 / 3.6 and r.random() < dt / 40.0:
                hard = True
                self.hard_brake_decel = r.uniform(7.0, 9.5)
                self.hard_brake_floor = max(self.v * r.uniform(0.1, 0.6), 5.0)
                self.hard_brake_until = t + 6.0
        a_max = 3.0 - 0.04 * self.v
        a_des = (
            -self.hard_brake_decel if hard else _clip(0.5 * (self.v_target - self.v), -3.5, a_max)
        )
        if not hard and self.v_target == 0.0 and self.v > 0.0:
            a_des = min(a_des, -0.8)  # come to a stop instead of creeping towards it
        self.a = _approach(self.a, a_des, 25.0 if hard or self.a < -4.0 else 6.0, dt)
        self.v = max(0.0, self.v + self.a * dt)
        if self.v == 0.0 and self.a < 0.0:
            self.a = 0.0
        self.odometer += self.v * dt / 1000.0
        self.trip += self.v * dt / 1000.0

        braking = self.a < -0.3 and a_des < 0.0
        stopped = self.v < 0.1 and a_des <= 0.0
        brake_target = 13.0 * (-self.a - 0.3) if braking else (15.0 if stopped else 0.0)
        self.brake_bar = _approach(self.brake_bar, brake_target, 400.0, dt)
        self.abs_active = hard and self.a < -8.0 and self.v > 3.0
        self.slip = _approach(
            self.slip,
            0.05 + 0.03 * math.sin(2 * math.pi * 4 * t) if self.abs_active else 0.0,
            2,
            dt,
        )
        throttle_target = (
            0.0
            if braking or stopped or a_des < -0.3
            else _clip(5.0 + 35.0 * max(self.a, 0.0) + 0.72 * self.v, 0, 100)
        )
        self.throttle = _approach(self.throttle, throttle_target, 150.0, dt)

        # automatic gearbox
        if t >= self.shift_end and t - self.last_shift_t > 0.8:
            up_rpm = 1700.0 + 46.0 * self.throttle
            if self.gear < 8 and self._rpm_in(self.gear) > up_rpm:
                self._shift(self.gear + 1)
            elif self.gear > 1 and self._rpm_in(self.gear) < 1100.0:
                self._shift(self.gear - 1)
        self.engine_on = True
        creep = IDLE_RPM + 12.0 * self.throttle if self.v < 2.0 else IDLE_RPM
        rpm_target = _clip(max(creep, self._rpm_in(self.gear)), 0.0, RED_LINE_RPM)
        self.rpm = _approach(self.rpm, rpm_target, 7000.0, dt)
        if self.throttle > 1.0:
            torque_target = self.throttle / 100.0 * 420.0 * _clip(0.6 + self.rpm / 4000.0, 0.6, 1.0)
        else:
            torque_target = -25.0 if self.v > 2.0 else 12.0
        if t < self.shift_end:
            torque_target *= 0.5
        self.torque = _approach(self.torque, torque_target, 1500.0, dt)

    def _rpm_in(self, gear: int) -> float:
        return self.v / WHEEL_CIRCUMFERENCE_M * 60.0 * GEAR_RATIOS[gear - 1] * FINAL_DRIVE

    def _shift(self, gear: int) -> None:
        self.gear, self.last_shift_t, self.shift_end = gear, self.t, self.t + 0.35

    def _steer(self, dt: float) -> None:
        r, t = self._rng, self.t
        if self.driving and t >= self.steer_next:
            spread = (
                120.0 if self.v < 8.0 else 40.0 if self.v < 15.0 else 15.0 if self.v < 25.0 else 5.0
            )
            self.steer_target = r.gauss(0.0, spread)
            self.steer_next = t + r.uniform(2.0, 10.0)
        elif not self.driving:
            self.steer_target = self.angle
        # no more than about 4 m/s^2 of lateral acceleration at the current speed
        wheel_max = math.atan(4.0 * WHEELBASE_M / max(self.v, 1.0) ** 2)
        limit = min(540.0, STEERING_RATIO * math.degrees(wheel_max))
        self.steer_target = _clip(self.steer_target, -limit, limit)
        rate_target = _clip(2.0 * (self.steer_target - self.angle), -250.0, 250.0)
        self.steer_rate = _approach(self.steer_rate, rate_target, 800.0, dt)
        self.angle = _clip(self.angle + self.steer_rate * dt, -760.0, 760.0)

    # -- charging -----------------------------------------------------------------------------

    def _start_charging(self) -> None:
        r = self._rng
        self.driving, self.leaving = False, False
        self.a = 0.0
        self.charge_dc = r.random() < 0.7
        self.charge_phase, self.charge_state = "plug", CHARGE_CONNECTED
        self.phase_until = self.t + 2.0
        self.charge_end = self.t + 2.0 + r.uniform(40.0, 90.0)

    def _charge(self, dt: float) -> None:
        r, t = self._rng, self.t
        self.engine_on = False
        self.rpm = _approach(self.rpm, 0.0, 3000.0, dt)
        self.torque = _approach(self.torque, 0.0, 1500.0, dt)
        self.throttle = _approach(self.throttle, 0.0, 150.0, dt)
        self.brake_bar = _approach(self.brake_bar, 0.0, 400.0, dt)
        self.abs_active = False
        phase = self.charge_phase
        if phase == "plug" and t >= self.phase_until:
            self.charge_phase = "charging"
            self.charge_state = CHARGE_DC if self.charge_dc else CHARGE_AC
        elif phase == "charging":
            if t >= self.charge_end or self.soc >= 97.0:
                self.charge_phase, self.charge_state = "complete", CHARGE_COMPLETE
                self.phase_until = t + 3.0
            elif self.charge_dc and t >= self.overshoot_until and r.random() < dt / 20.0:
                self.overshoot_until = t + r.uniform(2.0, 5.0)
                self.overshoot_a = r.uniform(10.0, 40.0)
        elif phase == "complete" and t >= self.phase_until:
            self.charge_phase, self.charge_state = "unplug", CHARGE_CONNECTED
            self.phase_until = t + 2.0
        elif phase == "unplug" and t >= self.phase_until and abs(self.current) < 5.0:
            self.charge_phase, self.charge_state = "none", CHARGE_NOT_CONNECTED
            self.driving, self.engine_on = True, True
            self.gear, self.v_target = 1, 0.0
            self.next_target_t = t + r.uniform(1.0, 3.0)
            self.drive_end = t + r.uniform(90.0, 180.0)

    def _charge_current(self) -> float:
        """Charging current the charger drives now (A, positive)."""
        if self.charge_phase != "charging":
            return 0.0
        if not self.charge_dc:
            return 28.0
        if self.t < self.overshoot_until:
            return self.max_charge + self.overshoot_a
        return 0.95 * self.max_charge

    # -- battery and thermal ------------------------------------------------------------------

    def _battery(self, dt: float) -> None:
        v, a = self.v, self.a
        volts = self._pack_voltage()
        taper = _clip((100.0 - self.soc) / 20.0, 0.1, 1.0)
        limit = (150.0 if self.driving or self.charge_dc else 32.0) * taper
        self.max_charge = _approach(self.max_charge, limit, 50.0, dt)
        if self.driving:
            wheel_w = (MASS_KG * a + (224.0 if v > 0 else 0.0) + 0.42 * v * v) * v
            regen_w = min(60_000.0, self.max_charge * volts)  # the BMS limits regeneration
            batt_w = 0.4 * wheel_w if wheel_w >= 0 else max(0.7 * wheel_w, -regen_w)
            target, rate = (batt_w + 1500.0) / volts, 1500.0
        else:
            target, rate = -self._charge_current(), 80.0
        self.current = _clip(
            _approach(self.current, target, rate, dt), -590.0, self._max_discharge()
        )
        self.soc = _clip(self.soc - self.current * dt / (CAPACITY_AH * 3600.0) * 100.0, 0.0, 100.0)
        charging = self.charge_phase == "charging"
        self.charger_v = _approach(self.charger_v, volts if charging else 0.0, 400.0, dt)

    def _max_discharge(self) -> float:
        return 450.0 * _clip(self.soc / 15.0, 0.1, 1.0)

    def _cell_ocv(self) -> float:
        s = self.soc / 100.0
        return 3.35 + 0.75 * s + 0.1 * s * s

    def _pack_voltage(self) -> float:
        return CELLS_IN_SERIES * self._cell_ocv() - self.current * PACK_RESISTANCE_OHM

    def _thermal(self, dt: float) -> None:
        if self.engine_on:
            self.coolant = _lag(self.coolant, 90.0, 60.0, dt)
            self.oil = _lag(self.oil, 80.0, 200.0, dt)
        else:
            self.coolant = _lag(self.coolant, self.ambient, 600.0, dt)
            self.oil = _lag(self.oil, self.ambient, 900.0, dt)
        self.pack_temp = _lag(
            self.pack_temp, self.ambient + 4.0 + 0.05 * abs(self.current), 90.0, dt
        )
        out_a = max(0.0, -self.current) if self.charge_phase == "charging" else 0.0
        self.charger_temp = _lag(self.charger_temp, self.ambient + 5.0 + 0.12 * out_a, 60.0, dt)
        self.cabin = _lag(self.cabin, 21.0, 180.0, dt)
        self.ecu_temp = _lag(self.ecu_temp, self.ambient + 25.0, 300.0, dt)
        self.supply_v = _approach(self.supply_v, 14.2 if self.engine_on else 13.6, 1.0, dt)

    # -- output -------------------------------------------------------------------------------

    def values(self) -> Mapping[str, float]:
        """The current physical value of every signal the scenario drives, by DBC name."""
        if self._cache is None:
            self._cache = self._values()
        return self._cache

    def _values(self) -> dict[str, float]:
        kmh = self.v * 3.6
        wheel_rad = math.radians(self.angle / STEERING_RATIO)
        lat = _clip(self.v * self.v * math.tan(wheel_rad) / WHEELBASE_M, -12.0, 12.0)
        corner = math.tan(wheel_rad) * 0.27
        front, rear = 1.0 - self.slip, 1.0 - 0.7 * self.slip
        cell_ocv = self._cell_ocv() - self.current * PACK_RESISTANCE_OHM / CELLS_IN_SERIES
        cells = [cell_ocv + d for d in self.cell_dv]
        charging = self.charge_phase == "charging"
        vals: dict[str, float] = {
            "EngineSpeed": self.rpm,
            "EngineTorque": self.torque,
            "ThrottlePos": self.throttle,
            "CoolantTemp": self.coolant,
            "EngineRunning": float(self.engine_on),
            "FuelRate": 0.6 + max(self.torque, 0.0) * self.rpm * 9e-6 if self.engine_on else 0.0,
            "Gear": float(self.gear if self.driving else GEAR_PARK),
            "GearLever": float(LEVER_DRIVE if self.driving else LEVER_PARK),
            "ShiftInProgress": float(self.t < self.shift_end),
            "TransOilTemp": self.oil,
            "OutputShaftSpeed": self.v / WHEEL_CIRCUMFERENCE_M * 60.0 * FINAL_DRIVE,
            "VehicleSpeed": kmh,
            "BrakePressure": self.brake_bar,
            "BrakePedalPressed": float(self.brake_bar > 2.0),
            "ABSActive": float(self.abs_active),
            "TCSActive": float(self.a > 2.6 and self.v < 8.0),
            "WheelSpeedFL": kmh * (1.0 - corner) * front,
            "WheelSpeedFR": kmh * (1.0 + corner) * front,
            "WheelSpeedRL": kmh * (1.0 - 0.9 * corner) * rear,
            "WheelSpeedRR": kmh * (1.0 + 0.9 * corner) * rear,
            "SteeringAngle": self.angle,
            "SteeringRate": self.steer_rate,
            "SteeringTorque": _clip(0.01 * self.angle + 0.004 * self.steer_rate, -8.0, 8.0),
            "LongAccel": self.a,
            "LatAccel": lat,
            "PackVoltage": self._pack_voltage(),
            "PackCurrent": self.current,
            "SOC": self.soc,
            "ChargingState": float(self.charge_state),
            "HvContactorClosed": float(self.driving or charging),
            "CellTempMax": self.pack_temp + 2.0,
            "CellTempMin": self.pack_temp - 2.0,
            "MaxChargeCurrent": self.max_charge,
            "MaxDischargeCurrent": self._max_discharge(),
            "MaxChargeVoltage": 4.2 * CELLS_IN_SERIES,
            "HvInterlockOk": 1.0,
            "CellVoltageMin": min(cells),
            "CellVoltageMax": max(cells),
            "ChargerOutputVoltage": self.charger_v,
            "ChargerOutputCurrent": 0.0 if self.driving else max(0.0, -self.current),
            "ChargerTemp": self.charger_temp,
            "ChargerMode": float((2 if self.charge_dc else 1) if charging else 0),
            "PlugConnected": float(not self.driving),
            "ChargerFault": 0.0,
            "SupplyVoltage": self.supply_v,
            "EcuTemp": self.ecu_temp,
            "UptimeS": float(self.uptime0 + int(self.t)),
            "Odometer": self.odometer,
            "TripDistance": self.trip,
            "DtcCount": 1.0,
            "LastDtc": 1378.0,
            "MilOn": 0.0,
            "SwVersionMajor": 2.0,
            "SwVersionMinor": 4.0,
            "SwVersionPatch": 1.0,
            "HwRevision": 3.0,
            "AmbientTemp": self.ambient + 0.5 * math.sin(self.t / 600.0),
            "CabinTemp": self.cabin,
            "HvacPower": _clip(250.0 + 180.0 * abs(self.cabin - 21.0), 0.0, 7000.0),
            "HeadlightsOn": float(self.headlights),
        }
        for i, (cell, dtemp) in enumerate(zip(cells, self.cell_dt, strict=True), start=1):
            vals[f"CellVoltage{i:02d}"] = cell
            vals[f"CellTemp{i:02d}"] = self.pack_temp + dtemp
        return vals


#: Signal names the scenario drives.
SCENARIO_SIGNALS = frozenset(DrivingScenario(random.Random(0)).values())


# ---------------------------------------------------------------------------------------------
# Signal generators (raw values)
# ---------------------------------------------------------------------------------------------


class _Gen(Protocol):
    def value(self, t: float) -> int | float: ...


def _quantize(x: float, lo: float, hi: float, is_int: bool) -> int | float:
    if is_int:
        return int(min(max(round(x), lo), hi))
    return min(max(x, lo), hi)


class _Walk:
    """Moves at a bounded speed towards random targets inside ``[lo, hi]``, pausing at each."""

    def __init__(self, lo: float, hi: float, is_int: bool, rng: random.Random) -> None:
        self._lo, self._hi, self._int, self._rng = lo, hi, is_int, rng
        self._x = rng.uniform(lo, hi)
        self._target = self._x
        self._speed = 0.0
        self._hold_until = rng.uniform(0.0, 2.0)
        self._last_t: float | None = None

    def value(self, t: float) -> int | float:
        dt = 0.0 if self._last_t is None else t - self._last_t
        self._last_t = t
        if self._x == self._target:
            if t >= self._hold_until:
                span = self._hi - self._lo
                self._target = self._rng.uniform(self._lo, self._hi)
                self._speed = span / self._rng.uniform(WALK_MIN_TRAVERSE_S, WALK_MAX_TRAVERSE_S)
        else:
            self._x = _approach(self._x, self._target, self._speed, dt)
            if self._x == self._target:
                self._hold_until = t + self._rng.uniform(0.0, 4.0)
        return _quantize(self._x, self._lo, self._hi, self._int)


class _Choice:
    """Holds one of the value-table entries for a few seconds, then takes another."""

    def __init__(self, raws: Sequence[int], rng: random.Random) -> None:
        self._raws, self._rng = list(raws), rng
        self._current = rng.choice(self._raws)
        self._until = rng.uniform(2.0, 15.0)

    def value(self, t: float) -> int:
        if t >= self._until:
            others = [r for r in self._raws if r != self._current] or self._raws
            self._current = self._rng.choice(others)
            self._until = t + self._rng.uniform(2.0, 15.0)
        return self._current


class _Count:
    """A rolling counter: ``lo, lo + 1, …, hi, lo, …`` one step per frame."""

    def __init__(self, lo: int, hi: int) -> None:
        self._lo, self._span, self._n = lo, hi - lo + 1, 0

    def value(self, t: float) -> int:
        v = self._lo + self._n % self._span
        self._n += 1
        return v


class _Const:
    def __init__(self, v: int | float) -> None:
        self._v = v

    def value(self, t: float) -> int | float:
        return self._v


class _FromScenario:
    """A signal the driving scenario drives: its physical value converted to raw and clamped."""

    def __init__(self, scenario: DrivingScenario, sig: Signal, lo: float, hi: float) -> None:
        self._scenario, self._name = scenario, sig.name
        self._scale = float(sig.scale) or 1.0
        self._offset = float(sig.offset)
        self._lo, self._hi, self._int = lo, hi, not sig.is_float

    def value(self, t: float) -> int | float:
        self._scenario.advance(t)
        phys = self._scenario.values()[self._name]
        return _quantize((phys - self._offset) / self._scale, self._lo, self._hi, self._int)


def _bits_range(sig: Signal) -> tuple[float, float]:
    if sig.is_float:
        big = 3.0e38 if sig.length == 32 else 1.0e300
        return -big, big
    if sig.is_signed:
        return -(1 << (sig.length - 1)), (1 << (sig.length - 1)) - 1
    return 0, (1 << sig.length) - 1


def raw_limits(sig: Signal) -> tuple[float, float]:
    """Raw values the simulator may give ``sig``: its ``[minimum, maximum]`` within its bits.

    Without a usable DBC range (missing, ``0|0``, inverted, or outside what the bits can hold)
    integers take the whole raw range and floats ``±FLOAT_DEFAULT_RANGE`` (physical).
    """
    bits_lo, bits_hi = _bits_range(sig)
    scale, offset = float(sig.scale), float(sig.offset)
    lo_phys, hi_phys = sig.minimum, sig.maximum
    usable = (
        scale != 0.0
        and lo_phys is not None
        and hi_phys is not None
        and lo_phys < hi_phys
        and not (lo_phys == 0 and hi_phys == 0)
    )
    if sig.is_float and not usable:
        lo_phys, hi_phys, usable = -FLOAT_DEFAULT_RANGE, FLOAT_DEFAULT_RANGE, scale != 0.0
    if usable and lo_phys is not None and hi_phys is not None:
        a, b = sorted(((lo_phys - offset) / scale, (hi_phys - offset) / scale))
        if not sig.is_float:
            a, b = math.ceil(a - 1e-6), math.floor(b + 1e-6)
        a, b = max(a, bits_lo), min(b, bits_hi)
        if a <= b:
            return a, b
    return bits_lo, bits_hi


def _signal_kind(sig: Signal, muxes: set[str]) -> str:
    name = sig.name
    if name in muxes:
        return "mux"
    if not sig.is_float and sig.length <= 16:
        if COUNTER_RE.search(name):
            return "counter"
        if CHECKSUM_RE.search(name):
            return "checksum"
    if name in SCENARIO_SIGNALS:
        return "scenario"
    if sig.choices:
        return "choice"
    return "walk"


def _signal_bits(sig: Signal) -> frozenset[int]:
    """The bit positions (``byte * 8 + bit``) ``sig`` occupies."""
    return frozenset(_bit_positions(sig))


def _bit_positions(sig: Signal) -> list[int]:
    """Positions of the signal's bits, least significant first."""
    if sig.byte_order == "little_endian":
        return [sig.start + j for j in range(sig.length)]
    msb_first = []
    pos = sig.start
    for _ in range(sig.length):
        msb_first.append(pos)
        pos = pos + 15 if pos % 8 == 0 else pos - 1
    return msb_first[::-1]


def _pack_signal(buf: bytearray, sig: Signal, raw: int | float) -> None:
    if sig.is_float:
        fmt = ">f" if sig.length == 32 else ">d"
        bits = int.from_bytes(struct.pack(fmt, raw), "big")
    else:
        bits = int(raw) & ((1 << sig.length) - 1)
    for j, pos in enumerate(_bit_positions(sig)):
        if bits >> j & 1 and 0 <= pos < len(buf) * 8:
            buf[pos // 8] |= 1 << (pos % 8)


def _mux_names(tree: Sequence[object]) -> Iterator[tuple[str, list[int]]]:
    for node in tree:
        if isinstance(node, dict):
            for name, branches in node.items():
                yield name, sorted(branches)
                for sub in branches.values():
                    yield from _mux_names(sub)


# ---------------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessagePlan:
    """How one DBC message is sent: period, phase, frame format."""

    message: Message
    cycle_s: float
    offset_s: float
    is_fd: bool
    length: int


@dataclass(frozen=True)
class SimulationStats:
    """What :meth:`Simulator.run` sent: frames per message name (DBC order), failures, time."""

    sent: dict[str, int]
    failed: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    def summary(self) -> str:
        per = " ".join(f"{name}={n}" for name, n in self.sent.items())
        line = f"sent {self.total} frames in {self.elapsed_s:.1f} s: {per or '-'}"
        if self.failed:
            fails = " ".join(f"{name}={n}" for name, n in self.failed.items())
            line += f"; failed: {fails}"
        return line


class _MessageState:
    """One message's generators inside one session."""

    def __init__(self, plan: MessagePlan, rng: random.Random, scenario: DrivingScenario) -> None:
        self.plan = plan
        msg = plan.message
        self.tree: Sequence[object] = msg.signal_tree
        self.mux_ids = dict(_mux_names(self.tree))
        self.mux_cursor = dict.fromkeys(self.mux_ids, 0)
        self.gens: dict[str, _Gen] = {}
        self.checksums: dict[str, tuple[int, int]] = {}
        self.mode: Literal["strict", "lenient", "packed"] = "strict"
        self.covering: set[str] | None = None
        for sig in msg.signals:
            lo, hi = raw_limits(sig)
            kind = _signal_kind(sig, set(self.mux_ids))
            if kind == "mux":
                continue
            if kind == "counter":
                self.gens[sig.name] = _Count(int(lo), int(hi))
            elif kind == "checksum":
                self.checksums[sig.name] = (int(lo), int(hi))
                self.gens[sig.name] = _Const(int(lo))
            elif kind == "scenario":
                self.gens[sig.name] = _FromScenario(scenario, sig, lo, hi)
            elif kind == "choice" and sig.choices:
                bits_lo, bits_hi = _bits_range(sig)
                raws = [int(k) for k in sig.choices if bits_lo <= int(k) <= bits_hi]
                self.gens[sig.name] = (
                    _Choice(raws, rng) if raws else _Walk(lo, hi, not sig.is_float, rng)
                )
            else:
                self.gens[sig.name] = _Walk(lo, hi, not sig.is_float, rng)

    def pack(self, data: Mapping[str, int | float]) -> bytes:
        """Bit-by-bit packing for layouts cantools cannot encode (overlapping signals).

        A signal whose bits cover another signal's (a "group" signal) is left 0.
        """
        if self.covering is None:
            bits = {sig.name: _signal_bits(sig) for sig in self.plan.message.signals}
            self.covering = {
                a for a, ba in bits.items() if any(b != a and bb < ba for b, bb in bits.items())
            }
        buf = bytearray(self.plan.message.length)
        for sig in self.plan.message.signals:
            value = data.get(sig.name)
            if value is not None and sig.name not in self.covering:
                _pack_signal(buf, sig, value)
        return bytes(buf)

    def signal_values(self, t: float) -> dict[str, int | float]:
        data: dict[str, int | float] = {}
        self._collect(self.tree, t, data)
        return data

    def _collect(self, tree: Sequence[object], t: float, data: dict[str, int | float]) -> None:
        for node in tree:
            if isinstance(node, str):
                data[node] = self.gens[node].value(t)
            elif isinstance(node, dict):
                for name, branches in node.items():
                    ids = self.mux_ids[name]
                    chosen = ids[self.mux_cursor[name] % len(ids)]
                    self.mux_cursor[name] += 1
                    data[name] = chosen
                    self._collect(branches[chosen], t, data)


class _Session:
    """One run of the simulation from the seed: scenario, generators and mux cursors."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim
        rng = random.Random(sim.seed)
        scenario = DrivingScenario(random.Random(sim.seed ^ 0x5D1))
        self.states = [_MessageState(plan, rng, scenario) for plan in sim.plans]
        self.disabled: set[int] = set()

    def frame(self, index: int, t: float, timestamp: float) -> can.Message | None:
        """The frame of message ``index`` at simulation time ``t``, or None if it cannot be made."""
        if index in self.disabled:
            return None
        state = self.states[index]
        plan = state.plan
        data = state.signal_values(t)
        payload = self._encode(state, data)
        if payload is None:
            self.disabled.add(index)
            return None
        present = [name for name in state.checksums if name in data]
        if present:
            for name in present:
                lo, hi = state.checksums[name]
                data[name] = lo + (sum(payload) - lo) % (hi - lo + 1)
            payload = self._encode(state, data) or payload
        if len(payload) < plan.length:
            payload = payload + bytes(plan.length - len(payload))
        msg = plan.message
        return can.Message(
            timestamp=timestamp,
            arbitration_id=msg.frame_id,
            is_extended_id=msg.is_extended_frame,
            is_fd=plan.is_fd,
            bitrate_switch=plan.is_fd,
            dlc=len(payload),
            data=payload,
        )

    def _encode(self, state: _MessageState, data: dict[str, int | float]) -> bytes | None:
        """Strictly if cantools agrees, else without the range check, else signal by signal."""
        msg = state.plan.message
        reasons: list[str] = []
        if state.mode == "strict":
            try:
                return bytes(msg.encode(data, scaling=False, padding=False, strict=True))
            except ENCODE_ERRORS as exc:
                reasons.append(f"strict encoding failed ({exc})")
                state.mode = "lenient"
        if state.mode == "lenient":
            try:
                payload = bytes(msg.encode(data, scaling=False, padding=False, strict=False))
            except ENCODE_ERRORS as exc:
                reasons.append(f"encoding without the range check failed ({exc})")
                state.mode = "packed"
            else:
                if reasons:
                    self._sim.warn_once(
                        f"encode:{msg.name}",
                        "message %s: %s; sent without the range check",
                        msg.name,
                        "; ".join(reasons),
                    )
                return payload
        if reasons:
            self._sim.warn_once(
                f"encode:{msg.name}",
                "message %s: %s; packing its bits directly (signals covering others left 0)",
                msg.name,
                "; ".join(reasons),
            )
        return state.pack(data)


def _schedule(plans: Sequence[MessagePlan]) -> Iterator[tuple[float, int]]:
    """``(t, message index)`` in time order, forever: message i at ``offset + k * cycle``."""
    heap = [(p.offset_s, i, 0) for i, p in enumerate(plans)]
    heapq.heapify(heap)
    while heap:
        t, i, k = heap[0]
        yield t, i
        k += 1
        heapq.heapreplace(heap, (plans[i].offset_s + k * plans[i].cycle_s, i, k))


class Simulator:
    """Vehicle traffic for the messages of ``db``, sent on ``bus`` (None: :meth:`frames` only).

    ``seed`` makes the traffic reproducible (None: a random seed, see :attr:`seed`).
    ``default_cycle_ms`` is the period of messages without ``GenMsgCycleTime``.
    """

    def __init__(
        self,
        db: Database,
        bus: can.BusABC | None,
        *,
        seed: int | None,
        default_cycle_ms: int = 100,
    ) -> None:
        if default_cycle_ms <= 0:
            raise SimulationError(f"default cycle time must be positive, not {default_cycle_ms} ms")
        self.db = db
        self.bus = bus
        self.seed: int = seed if seed is not None else random.SystemRandom().randrange(1 << 32)
        self._warned: set[str] = set()
        self._warn_lock = threading.Lock()
        self.plans = self._plan(default_cycle_ms)
        if not self.plans:
            raise SimulationError("the database has no message the simulator can send")

    def _plan(self, default_cycle_ms: int) -> list[MessagePlan]:
        plans: list[MessagePlan] = []
        for msg in self.db.messages:
            if msg.is_container:
                self.warn_once(
                    f"skip:{msg.name}", "message %s is a container message; left out", msg.name
                )
                continue
            length = msg.length
            is_fd = msg.is_fd or length > 8
            if is_fd:
                fitting = [n for n in FD_LENGTHS if n >= length]
                if not fitting:
                    self.warn_once(
                        f"skip:{msg.name}",
                        "message %s is %d bytes, more than a CAN FD frame holds; left out",
                        msg.name,
                        length,
                    )
                    continue
                if not msg.is_fd:
                    log.info("message %s has %d bytes: sent as CAN FD", msg.name, length)
                length = fitting[0]
            cycle_ms = msg.cycle_time if msg.cycle_time and msg.cycle_time > 0 else default_cycle_ms
            cycle_s = cycle_ms / 1000.0
            offset_s = min((len(plans) % 10) * 0.001, cycle_s / 2)
            plans.append(MessagePlan(msg, cycle_s, offset_s, is_fd, length))
        return plans

    def warn_once(self, key: str, fmt: str, *args: object) -> None:
        """Log a warning the first time ``key`` comes up in this simulator."""
        with self._warn_lock:
            if key in self._warned:
                return
            self._warned.add(key)
        log.warning(fmt, *args)

    def frames(self, duration_s: float, *, start: float = 0.0) -> Iterator[can.Message]:
        """``duration_s`` seconds of traffic at once, in time order, timestamped ``start + t``.

        Each call starts again from the seed.
        """
        session = _Session(self)
        for t, index in _schedule(self.plans):
            if t >= duration_s:
                return
            frame = session.frame(index, t, start + t)
            if frame is not None:
                yield frame

    def run(self, duration_s: float | None, stop: threading.Event) -> SimulationStats:
        """Send traffic on the bus in real time until ``duration_s`` passes or ``stop`` is set.

        A frame the bus refuses is counted as failed (one warning per message); when nothing at
        all could be sent for ``GIVE_UP_S`` the run ends with a :class:`SimulationError`.
        """
        bus = self.bus
        if bus is None:
            raise SimulationError("the simulator has no bus to send on")
        session = _Session(self)
        names = [p.message.name for p in self.plans]
        sent: Counter[str] = Counter()
        failed: Counter[str] = Counter()
        t0 = started = time.monotonic()
        last_ok = t0
        log.info(
            "simulating %d messages on %s (seed %d)", len(self.plans), bus.channel_info, self.seed
        )
        for t, index in _schedule(self.plans):
            if duration_s is not None and t >= duration_s:
                stop.wait(max(0.0, t0 + duration_s - time.monotonic()))
                break
            delay = t0 + t - time.monotonic()
            if delay > 0:
                if stop.wait(delay):
                    break
            elif delay < -MAX_LAG_S:
                self.warn_once("lag", "sending fell %.1f s behind; skipping ahead", -delay)
                t0 -= delay
            if stop.is_set():
                break
            frame = session.frame(index, t, time.time())
            if frame is None:
                continue
            name = names[index]
            try:
                bus.send(frame, timeout=SEND_TIMEOUT_S)
            except (can.CanError, OSError, ValueError) as exc:
                failed[name] += 1
                hint = " (a CAN FD frame: does the bus have fd=true?)" if frame.is_fd else ""
                self.warn_once(f"send:{name}", "cannot send %s: %s%s", name, exc, hint)
                if time.monotonic() - last_ok > GIVE_UP_S:
                    raise SimulationError(
                        f"nothing could be sent on {bus.channel_info} for {GIVE_UP_S:.0f} s: {exc}"
                    ) from exc
            else:
                sent[name] += 1
                last_ok = time.monotonic()
        return SimulationStats(
            sent={n: sent[n] for n in names if sent[n]},
            failed={n: failed[n] for n in names if failed[n]},
            elapsed_s=time.monotonic() - started,
        )
