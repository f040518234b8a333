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

The package: :mod:`hw.simulate.scenario` (the driving scenario), :mod:`hw.simulate.vehicle` (the
simulated vehicle's parameters and its state as DBC signals), :mod:`hw.simulate.signals` (the
per-signal value generators), :mod:`hw.simulate.messages` (message planning and encoding),
:mod:`hw.simulate.simulator` (:class:`Simulator`) and :mod:`hw.simulate.database` (:func:`load_dbc`).
"""

from hw.simulate.database import SimulationError, load_dbc
from hw.simulate.messages import ENCODE_ERRORS, FD_LENGTHS, MessagePlan
from hw.simulate.scenario import SCENARIO_SIGNALS, DrivingScenario
from hw.simulate.signals import (
    CHECKSUM_RE,
    COUNTER_RE,
    FLOAT_DEFAULT_RANGE,
    WALK_MAX_TRAVERSE_S,
    WALK_MIN_TRAVERSE_S,
    raw_limits,
)
from hw.simulate.simulator import (
    GIVE_UP_S,
    MAX_LAG_S,
    SEND_TIMEOUT_S,
    SimulationStats,
    Simulator,
)

__all__ = [
    "CHECKSUM_RE",
    "COUNTER_RE",
    "ENCODE_ERRORS",
    "FD_LENGTHS",
    "FLOAT_DEFAULT_RANGE",
    "GIVE_UP_S",
    "MAX_LAG_S",
    "SCENARIO_SIGNALS",
    "SEND_TIMEOUT_S",
    "WALK_MAX_TRAVERSE_S",
    "WALK_MIN_TRAVERSE_S",
    "DrivingScenario",
    "MessagePlan",
    "SimulationError",
    "SimulationStats",
    "Simulator",
    "load_dbc",
    "raw_limits",
]
