"""The questions every engine is asked, and the check that its answer per vehicle is ours."""

from __future__ import annotations

from pathlib import Path

from logger.lake.engines import Engine
from logger.lake.query import Fleet
from tests.logger.lake.fleet import REAL_DBC, normalised, our_answer, per_vehicle
from tests.support.simulation import DEMO

SIM_T0 = 1_717_200_000_000  # ms
REAL_T0 = 1_753_211_188_000
SIM = f"sync-{SIM_T0 + 3_000}-{SIM_T0 + 38_000}"
REAL = f"sync-{REAL_T0 + 2_000}-{REAL_T0 + 30_000}"

SIMULATED_QUESTIONS = (
    f"{SIM};limit=50",
    f"{SIM};bus=body;id=0x100-0x2FF",
    f"{SIM};id=0x18FF50E5",
    f"{SIM};msg=EngineData;limit=100",
    f"{SIM};sig=EngineSpeed,VehicleSpeed,BrakePressure",
    f"{SIM};sig=EngineSpeed,VehicleSpeed;where=EngineSpeed>1500,VehicleSpeed<=40",
    f"{SIM};where=EngineSpeed>1200,BrakePressure!=0;out=intervals",
    f"{SIM};bus=powertrain;where=EngineSpeed>=1000;out=intervals;limit=3",
    f"{SIM};sig=EngineData.EngineRunning,ThrottlePos;where=EngineRunning=1;limit=500",
)
REAL_QUESTIONS = (
    f"{REAL};id=0x202,0x204;limit=300",
    f"{REAL};sig=Veh_V_ActlEng,EngAout_N_Actl",
    f"{REAL};sig=Veh_V_ActlEng,ApedPos_Pc_ActlArb;where=Veh_V_ActlEng>10,EngAout_N_Actl>=0",
    f"{REAL};where=Veh_V_ActlEng>20;out=intervals",
)


def assert_same_per_vehicle(
    fleet: Fleet, engine: Engine, stores: Path, vins: tuple[str, ...], command: str, real: bool
) -> int:
    """Asks ``command`` of the lake and of our engine per vehicle; returns the rows compared."""
    got = fleet.answer(command, engine, list(vins))
    compared = 0
    for vin in vins:
        ours = our_answer(stores, vin, command, REAL_DBC if real else DEMO)
        mine = per_vehicle(got, vin)
        if ours.num_rows == 0:
            assert mine.num_rows == 0, (vin, command)
            continue
        assert mine.column_names == ours.column_names, (vin, command)
        want, have = normalised(ours), normalised(mine)
        if "id" in ours.column_names and "sig" not in command:  # frames: equal times, any bus order
            assert [r["ts"] for r in have] == [r["ts"] for r in want], (vin, command)
            key = lambda r: (r["ts"], r["bus"], r["id"], r["data"])  # noqa: E731
            want, have = sorted(want, key=key), sorted(have, key=key)
        assert have == want, (vin, command)
        compared += ours.num_rows
    return compared
