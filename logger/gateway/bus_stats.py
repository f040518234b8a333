"""The gateway's counters: per-bus snapshots (:class:`BusStats`), the gateway's
(:class:`GatewayStats`), and frames/s and bus load over a sliding window (:class:`RateWindow`).

Rates are by the wall clock: a ``fast`` replay shows the replay's rate, and a load far above
100 %.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Reader states (BusStats.state).
STARTING, READING, DOWN, REPLAY_DONE, FAILED, STOPPED = (
    "starting",
    "reading",
    "down",
    "replay finished",
    "failed",
    "stopped",
)


def load_percent(
    nominal_bits: int, data_bits: int, seconds: float, bitrate: int, data_bitrate: int
) -> float:
    """Bus load in percent for frames of these bit counts seen over ``seconds``."""
    if seconds <= 0:
        return 0.0
    return 100.0 * (nominal_bits / bitrate + data_bits / data_bitrate) / seconds


@dataclass(frozen=True)
class BusStats:
    """Counters of one bus (a snapshot)."""

    name: str
    state: str  # starting | reading | down | replay finished | failed | stopped
    frames: int  # frames read
    fps: float  # frames/s over the last rate window (about a second)
    load_pct: float  # bus load over the last rate window, without stuff bits
    bits_nominal: int  # all frames read: bits at the nominal bit rate
    bits_data: int  # ... and bits at the CAN FD data bit rate
    bus_time_s: float  # seconds of bus time those frames took
    dropped: int  # frames dropped because the backlog was full
    backlog: int  # frames read and not yet confirmed by the broker
    published: int  # frames the broker confirmed
    lost: int  # frames given up: in transit at a QoS 0 disconnect, or held at stop
    rejected: int  # frames in messages the broker refused (PUBACK reason code)
    read_errors: int
    reopens: int
    gaps: int  # times frames came again after a failure
    last_gap_s: float | None  # seconds without frames, the last time
    failure: str | None  # why the bus stopped for good (state failed)
    # socketcan buses (0 and None on the others):
    kernel_dropped: int = 0  # frames the kernel dropped: the socket's receive buffer was full
    rcvbuf: int | None = None  # the socket's receive buffer (bytes) as the kernel granted it
    kernel_drop_after_ns: int | None = None  # the last kernel drop lies after the frame read at
    kernel_drop_before_ns: int | None = None  # ... and before the one read at (kernel times)


@dataclass(frozen=True)
class GatewayStats:
    connected: bool
    buses: dict[str, BusStats]

    def as_dict(self) -> dict[str, object]:
        return {"connected": self.connected, "buses": {k: asdict(v) for k, v in self.buses.items()}}


class RateWindow:
    """Frames/s and bus load over the last completed window of at least ``window_s`` seconds."""

    def __init__(self, bitrate: int, data_bitrate: int, now: float, window_s: float) -> None:
        self.bitrate = bitrate
        self.data_bitrate = data_bitrate
        self.window_s = window_s
        self._start = now
        self._base = (0, 0, 0)
        self.fps = 0.0
        self.load_pct = 0.0
        self.at = now

    def roll(self, now: float, frames: int, nominal: int, data: int) -> bool:
        """Close the window if it is old enough; True when it did."""
        elapsed = now - self._start
        if elapsed < self.window_s:
            return False
        f0, n0, d0 = self._base
        self.fps = (frames - f0) / elapsed
        self.load_pct = load_percent(
            nominal - n0, data - d0, elapsed, self.bitrate, self.data_bitrate
        )
        self._start, self._base, self.at = now, (frames, nominal, data), now
        return True

    def current(self, now: float) -> tuple[float, float]:
        """(frames/s, load %); zero when no window closed lately (the reader is not reading)."""
        if now - self.at > 2 * self.window_s:
            return 0.0, 0.0
        return self.fps, self.load_pct
