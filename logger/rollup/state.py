"""What a rollup carries from one span of data to the next, and the check that spans follow on.

A span is a batch of rows of one message (or, for conditions, of the involved messages). Spans
are *consecutive* when every row of a later span has ``ts`` at or after the horizon of the
earlier ones (equal times across the boundary are allowed). A row before the horizon is late
data: :class:`RollupError`, and the caller recomputes the windows it touches from the frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from logger.core.errors import SdvLoggerError
from logger.rollup.windows import final_before

__all__ = ["ConditionState", "Held", "RollupError", "RollupState", "check_horizon"]

INT64_MIN = -(1 << 63)


class RollupError(SdvLoggerError):
    """A span of data does not follow the state it continues (late data): recompute instead."""


@dataclass(frozen=True)
class Held:
    """A sample whose hold is not accounted yet: it ends at the signal's next sample or
    ``hold_ns`` after ``ts``, whichever comes first, and neither is known yet."""

    ts: int
    value: float


@dataclass(frozen=True)
class RollupState:
    """What the rollup of one message carries to its next span (``lead_in``).

    ``horizon_ns``: every later row has ``ts >= horizon_ns`` (the last span's largest time, or the
    horizon the caller gave). ``held``: signal name → its last sample, for the signals whose last
    hold is still open; a signal whose hold ended before the horizon is not in it.
    """

    horizon_ns: int
    held: Mapping[str, Held] = field(default_factory=lambda: MappingProxyType({}))

    def final_before(self, window_ns: int, hold_ns: int) -> int:
        """Windows starting before this are final (:func:`logger.rollup.windows.final_before`)."""
        return final_before(self.horizon_ns, window_ns, hold_ns)


@dataclass(frozen=True)
class ConditionState:
    """What one condition carries to its next span.

    ``tail_ts`` / ``tail_match``: the last one or two aligned rows (time, whether the condition
    held). Every pair of consecutive aligned rows before the tail's last row is accounted; the
    pair ending at the last row is not while a row of the same time may still come (its time
    equals ``horizon_ns``). ``held``: message → one row, ``ts`` and the involved signals' held
    values (the last non-null value of each), which seeds the next span's sample-and-hold.
    """

    horizon_ns: int
    tail_ts: tuple[int, ...] = ()
    tail_match: tuple[bool, ...] = ()
    held: Mapping[str, pa.Table] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def settled_ns(self) -> int:
        """Condition time before this is accounted: windows ending at or before it are final."""
        if not self.tail_ts:
            return self.horizon_ns
        closed = self.tail_ts[-1] < self.horizon_ns
        return self.tail_ts[-1] if closed else self.tail_ts[0]

    def final_before(self, window_ns: int) -> int:
        """Windows starting before this are final: they end at or before :attr:`settled_ns`."""
        return (self.settled_ns // window_ns) * window_ns


def check_horizon(ts: npt.NDArray[np.int64], horizon_ns: int, what: str) -> None:
    """Raise :class:`RollupError` when a time of ``ts`` is before ``horizon_ns``."""
    if ts.size and horizon_ns > INT64_MIN:
        early = int(ts.min())
        if early < horizon_ns:
            raise RollupError(
                f"{what}: a row at ts={early} is before the horizon {horizon_ns} of the data "
                "already rolled up (late data: recompute the windows it touches)"
            )


def next_horizon(ts: npt.NDArray[np.int64], state_horizon: int, given: int | None) -> int:
    """The horizon after a span with times ``ts``: the caller's, else the span's largest time,
    never below the state's. A horizon below the span's own times is a :class:`ValueError`."""
    largest = int(ts.max()) if ts.size else INT64_MIN
    if given is not None and given < largest:
        raise ValueError(f"horizon_ns={given} is before the span's last row at {largest}")
    return max(state_horizon, largest if given is None else given)
