"""Per-signal value generators (raw values) and the raw range each signal may take.

Signals the driving scenario knows follow it; every other signal takes a bounded, smooth random
walk inside its ``[minimum, maximum]`` (the raw range when the DBC gives none), value-table
signals hold one of their values for a while; counters count modulo their range; checksums are
left to the message (a constant here).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from typing import Protocol

from cantools.database.can import Signal

from hw.simulate.scenario import SCENARIO_SIGNALS, DrivingScenario
from hw.simulate.smoothing import approach

#: Physical range given to float signals whose DBC range is missing.
FLOAT_DEFAULT_RANGE = 1000.0
#: A walk crosses its whole range in no less than this many seconds.
WALK_MIN_TRAVERSE_S = 10.0
WALK_MAX_TRAVERSE_S = 40.0

COUNTER_RE = re.compile(r"counter|alive|zaehler|rolling|(?:^|_)(?:cnt|bz|sqc)(?:_|$)|cnt$", re.I)
CHECKSUM_RE = re.compile(r"checksum|chksum|crc|(?:^|_)chk(?:_|$)", re.I)


class Gen(Protocol):
    """A signal's raw value at simulation time ``t`` (called once per frame, ``t`` rising)."""

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
            self._x = approach(self._x, self._target, self._speed, dt)
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


def signal_kind(sig: Signal, muxes: set[str]) -> str:
    """How ``sig`` gets its values: mux, counter, checksum, scenario, choice or walk."""
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


def make_generator(sig: Signal, kind: str, rng: random.Random, scenario: DrivingScenario) -> Gen:
    """The generator of ``sig``, of the ``kind`` :func:`signal_kind` gave (not ``"mux"``).

    A checksum is its lowest raw value here: the message computes it from the encoded frame.
    """
    lo, hi = raw_limits(sig)
    if kind == "counter":
        return _Count(int(lo), int(hi))
    if kind == "checksum":
        return _Const(int(lo))
    if kind == "scenario":
        return _FromScenario(scenario, sig, lo, hi)
    if kind == "choice" and sig.choices:
        bits_lo, bits_hi = _bits_range(sig)
        raws = [int(k) for k in sig.choices if bits_lo <= int(k) <= bits_hi]
        if raws:
            return _Choice(raws, rng)
    return _Walk(lo, hi, not sig.is_float, rng)
