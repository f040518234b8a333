"""The driving scenario: one consistent drive behind the signals of ``dbc/examples/demo.dbc``.

Engine and vehicle speed are correlated through the gears, there is hard braking now and then
(ABS, high brake pressure), and stops to charge with current over the limit at times.

This module is how the state evolves over time: the drive and charging-stop script and the
dynamics behind it. The vehicle's parameters, its battery's electrical model and how its state
reads as DBC signals are :mod:`hw.simulate.vehicle`'s.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

from hw.simulate.smoothing import approach, clip, lag
from hw.simulate.vehicle import (
    CAPACITY_AH,
    CHARGE_AC,
    CHARGE_COMPLETE,
    CHARGE_CONNECTED,
    CHARGE_DC,
    CHARGE_NOT_CONNECTED,
    FINAL_DRIVE,
    GEAR_RATIOS,
    IDLE_RPM,
    MASS_KG,
    RED_LINE_RPM,
    STEERING_RATIO,
    WHEEL_CIRCUMFERENCE_M,
    WHEELBASE_M,
    max_discharge,
    pack_voltage,
    signal_values,
)


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
            -self.hard_brake_decel if hard else clip(0.5 * (self.v_target - self.v), -3.5, a_max)
        )
        if not hard and self.v_target == 0.0 and self.v > 0.0:
            a_des = min(a_des, -0.8)  # come to a stop instead of creeping towards it
        self.a = approach(self.a, a_des, 25.0 if hard or self.a < -4.0 else 6.0, dt)
        self.v = max(0.0, self.v + self.a * dt)
        if self.v == 0.0 and self.a < 0.0:
            self.a = 0.0
        self.odometer += self.v * dt / 1000.0
        self.trip += self.v * dt / 1000.0

        braking = self.a < -0.3 and a_des < 0.0
        stopped = self.v < 0.1 and a_des <= 0.0
        brake_target = 13.0 * (-self.a - 0.3) if braking else (15.0 if stopped else 0.0)
        self.brake_bar = approach(self.brake_bar, brake_target, 400.0, dt)
        self.abs_active = hard and self.a < -8.0 and self.v > 3.0
        self.slip = approach(
            self.slip,
            0.05 + 0.03 * math.sin(2 * math.pi * 4 * t) if self.abs_active else 0.0,
            2,
            dt,
        )
        throttle_target = (
            0.0
            if braking or stopped or a_des < -0.3
            else clip(5.0 + 35.0 * max(self.a, 0.0) + 0.72 * self.v, 0, 100)
        )
        self.throttle = approach(self.throttle, throttle_target, 150.0, dt)

        # automatic gearbox
        if t >= self.shift_end and t - self.last_shift_t > 0.8:
            up_rpm = 1700.0 + 46.0 * self.throttle
            if self.gear < 8 and self._rpm_in(self.gear) > up_rpm:
                self._shift(self.gear + 1)
            elif self.gear > 1 and self._rpm_in(self.gear) < 1100.0:
                self._shift(self.gear - 1)
        self.engine_on = True
        creep = IDLE_RPM + 12.0 * self.throttle if self.v < 2.0 else IDLE_RPM
        rpm_target = clip(max(creep, self._rpm_in(self.gear)), 0.0, RED_LINE_RPM)
        self.rpm = approach(self.rpm, rpm_target, 7000.0, dt)
        if self.throttle > 1.0:
            torque_target = self.throttle / 100.0 * 420.0 * clip(0.6 + self.rpm / 4000.0, 0.6, 1.0)
        else:
            torque_target = -25.0 if self.v > 2.0 else 12.0
        if t < self.shift_end:
            torque_target *= 0.5
        self.torque = approach(self.torque, torque_target, 1500.0, dt)

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
        self.steer_target = clip(self.steer_target, -limit, limit)
        rate_target = clip(2.0 * (self.steer_target - self.angle), -250.0, 250.0)
        self.steer_rate = approach(self.steer_rate, rate_target, 800.0, dt)
        self.angle = clip(self.angle + self.steer_rate * dt, -760.0, 760.0)

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
        self.rpm = approach(self.rpm, 0.0, 3000.0, dt)
        self.torque = approach(self.torque, 0.0, 1500.0, dt)
        self.throttle = approach(self.throttle, 0.0, 150.0, dt)
        self.brake_bar = approach(self.brake_bar, 0.0, 400.0, dt)
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
        volts = pack_voltage(self.soc, self.current)
        taper = clip((100.0 - self.soc) / 20.0, 0.1, 1.0)
        limit = (150.0 if self.driving or self.charge_dc else 32.0) * taper
        self.max_charge = approach(self.max_charge, limit, 50.0, dt)
        if self.driving:
            wheel_w = (MASS_KG * a + (224.0 if v > 0 else 0.0) + 0.42 * v * v) * v
            regen_w = min(60_000.0, self.max_charge * volts)  # the BMS limits regeneration
            batt_w = 0.4 * wheel_w if wheel_w >= 0 else max(0.7 * wheel_w, -regen_w)
            target, rate = (batt_w + 1500.0) / volts, 1500.0
        else:
            target, rate = -self._charge_current(), 80.0
        self.current = clip(
            approach(self.current, target, rate, dt), -590.0, max_discharge(self.soc)
        )
        self.soc = clip(self.soc - self.current * dt / (CAPACITY_AH * 3600.0) * 100.0, 0.0, 100.0)
        charging = self.charge_phase == "charging"
        self.charger_v = approach(self.charger_v, volts if charging else 0.0, 400.0, dt)

    def _thermal(self, dt: float) -> None:
        if self.engine_on:
            self.coolant = lag(self.coolant, 90.0, 60.0, dt)
            self.oil = lag(self.oil, 80.0, 200.0, dt)
        else:
            self.coolant = lag(self.coolant, self.ambient, 600.0, dt)
            self.oil = lag(self.oil, self.ambient, 900.0, dt)
        self.pack_temp = lag(
            self.pack_temp, self.ambient + 4.0 + 0.05 * abs(self.current), 90.0, dt
        )
        out_a = max(0.0, -self.current) if self.charge_phase == "charging" else 0.0
        self.charger_temp = lag(self.charger_temp, self.ambient + 5.0 + 0.12 * out_a, 60.0, dt)
        self.cabin = lag(self.cabin, 21.0, 180.0, dt)
        self.ecu_temp = lag(self.ecu_temp, self.ambient + 25.0, 300.0, dt)
        self.supply_v = approach(self.supply_v, 14.2 if self.engine_on else 13.6, 1.0, dt)

    # -- output -------------------------------------------------------------------------------

    def values(self) -> Mapping[str, float]:
        """The current physical value of every signal the scenario drives, by DBC name."""
        if self._cache is None:
            self._cache = signal_values(self)
        return self._cache


#: Signal names the scenario drives.
SCENARIO_SIGNALS = frozenset(DrivingScenario(random.Random(0)).values())
