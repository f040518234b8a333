"""Rate limits and lags that keep simulated values smooth."""

from __future__ import annotations

import math


def approach(x: float, target: float, max_rate: float, dt: float) -> float:
    """``x`` moved towards ``target`` by at most ``max_rate * dt``."""
    step = max_rate * dt
    return target if abs(target - x) <= step else x + math.copysign(step, target - x)


def lag(x: float, target: float, tau_s: float, dt: float) -> float:
    """First-order lag of ``x`` towards ``target`` with time constant ``tau_s``."""
    return x + (target - x) * min(1.0, dt / tau_s)


def clip(x: float, lo: float, hi: float) -> float:
    """``x`` limited to ``[lo, hi]``."""
    return lo if x < lo else hi if x > hi else x
