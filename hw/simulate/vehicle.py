"""The simulated vehicle behind ``dbc/examples/demo.dbc``: its fixed parameters, the high-voltage
battery's electrical model, and the signal values read off a :class:`DrivingScenario`'s state.

How the state evolves (the drive, the charging stops, the dynamics) is
:mod:`hw.simulate.scenario`'s; this module only says what the vehicle is and what its state looks
like as DBC signals.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from hw.simulate.smoothing import clip

if TYPE_CHECKING:
    from hw.simulate.scenario import DrivingScenario

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


def max_discharge(soc: float) -> float:
    """The discharge current the battery allows at state of charge ``soc`` (%), in A."""
    return 450.0 * clip(soc / 15.0, 0.1, 1.0)


def cell_ocv(soc: float) -> float:
    """A cell's open-circuit voltage at state of charge ``soc`` (%), in V."""
    s = soc / 100.0
    return 3.35 + 0.75 * s + 0.1 * s * s


def pack_voltage(soc: float, current: float) -> float:
    """The pack's terminal voltage at ``soc`` (%) with ``current`` A flowing (positive discharging)."""
    return CELLS_IN_SERIES * cell_ocv(soc) - current * PACK_RESISTANCE_OHM


def signal_values(s: DrivingScenario) -> dict[str, float]:
    """The physical value of every signal of ``dbc/examples/demo.dbc`` that ``s`` drives, by name."""
    kmh = s.v * 3.6
    wheel_rad = math.radians(s.angle / STEERING_RATIO)
    lat = clip(s.v * s.v * math.tan(wheel_rad) / WHEELBASE_M, -12.0, 12.0)
    corner = math.tan(wheel_rad) * 0.27
    front, rear = 1.0 - s.slip, 1.0 - 0.7 * s.slip
    ocv = cell_ocv(s.soc) - s.current * PACK_RESISTANCE_OHM / CELLS_IN_SERIES
    cells = [ocv + d for d in s.cell_dv]
    charging = s.charge_phase == "charging"
    vals: dict[str, float] = {
        "EngineSpeed": s.rpm,
        "EngineTorque": s.torque,
        "ThrottlePos": s.throttle,
        "CoolantTemp": s.coolant,
        "EngineRunning": float(s.engine_on),
        "FuelRate": 0.6 + max(s.torque, 0.0) * s.rpm * 9e-6 if s.engine_on else 0.0,
        "Gear": float(s.gear if s.driving else GEAR_PARK),
        "GearLever": float(LEVER_DRIVE if s.driving else LEVER_PARK),
        "ShiftInProgress": float(s.t < s.shift_end),
        "TransOilTemp": s.oil,
        "OutputShaftSpeed": s.v / WHEEL_CIRCUMFERENCE_M * 60.0 * FINAL_DRIVE,
        "VehicleSpeed": kmh,
        "BrakePressure": s.brake_bar,
        "BrakePedalPressed": float(s.brake_bar > 2.0),
        "ABSActive": float(s.abs_active),
        "TCSActive": float(s.a > 2.6 and s.v < 8.0),
        "WheelSpeedFL": kmh * (1.0 - corner) * front,
        "WheelSpeedFR": kmh * (1.0 + corner) * front,
        "WheelSpeedRL": kmh * (1.0 - 0.9 * corner) * rear,
        "WheelSpeedRR": kmh * (1.0 + 0.9 * corner) * rear,
        "SteeringAngle": s.angle,
        "SteeringRate": s.steer_rate,
        "SteeringTorque": clip(0.01 * s.angle + 0.004 * s.steer_rate, -8.0, 8.0),
        "LongAccel": s.a,
        "LatAccel": lat,
        "PackVoltage": pack_voltage(s.soc, s.current),
        "PackCurrent": s.current,
        "SOC": s.soc,
        "ChargingState": float(s.charge_state),
        "HvContactorClosed": float(s.driving or charging),
        "CellTempMax": s.pack_temp + 2.0,
        "CellTempMin": s.pack_temp - 2.0,
        "MaxChargeCurrent": s.max_charge,
        "MaxDischargeCurrent": max_discharge(s.soc),
        "MaxChargeVoltage": 4.2 * CELLS_IN_SERIES,
        "HvInterlockOk": 1.0,
        "CellVoltageMin": min(cells),
        "CellVoltageMax": max(cells),
        "ChargerOutputVoltage": s.charger_v,
        "ChargerOutputCurrent": 0.0 if s.driving else max(0.0, -s.current),
        "ChargerTemp": s.charger_temp,
        "ChargerMode": float((2 if s.charge_dc else 1) if charging else 0),
        "PlugConnected": float(not s.driving),
        "ChargerFault": 0.0,
        "SupplyVoltage": s.supply_v,
        "EcuTemp": s.ecu_temp,
        "UptimeS": float(s.uptime0 + int(s.t)),
        "Odometer": s.odometer,
        "TripDistance": s.trip,
        "DtcCount": 1.0,
        "LastDtc": 1378.0,
        "MilOn": 0.0,
        "SwVersionMajor": 2.0,
        "SwVersionMinor": 4.0,
        "SwVersionPatch": 1.0,
        "HwRevision": 3.0,
        "AmbientTemp": s.ambient + 0.5 * math.sin(s.t / 600.0),
        "CabinTemp": s.cabin,
        "HvacPower": clip(250.0 + 180.0 * abs(s.cabin - 21.0), 0.0, 7000.0),
        "HeadlightsOn": float(s.headlights),
    }
    for i, (cell, dtemp) in enumerate(zip(cells, s.cell_dt, strict=True), start=1):
        vals[f"CellVoltage{i:02d}"] = cell
        vals[f"CellTemp{i:02d}"] = s.pack_temp + dtemp
    return vals
