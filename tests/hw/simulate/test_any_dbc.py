"""The simulator on any DBC: default cycles, odd ranges, overlapping signals, production DBCs,
broken files."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest

from hw.simulate import SimulationError, Simulator, load_dbc, raw_limits
from tests.support.simulation import decode

PRODUCTION = Path(__file__).resolve().parents[4] / "shared" / "data" / "dbc" / "production"

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
