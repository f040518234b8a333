"""``sdvlog simulate``: send simulated vehicle traffic from a DBC onto a CAN bus.

``--bus`` takes ``interface:channel`` and optional ``,key=value`` options for python-can, e.g.
``virtual:vcan0``, ``socketcan:vcan0,fd=true``, ``udp_multicast:239.0.0.1``,
``pcan:PCAN_USBBUS1,bitrate=500000``. Option values ``true``/``false`` become booleans, numbers
become numbers, anything else stays text.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from types import FrameType

from logger.cli.subcommand import Subcommand
from logger.core.config import BusConfig, BusOption
from logger.core.errors import ConfigError

_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off"}


def parse_option(text: str) -> BusOption:
    """``true`` / ``false`` (also yes/no/on/off) → bool, ints (also 0x…) and floats, else text."""
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    try:
        return int(low, 0)
    except ValueError:
        pass
    try:
        return float(low)
    except ValueError:
        return text.strip()


def parse_bus_spec(spec: str) -> tuple[str, str | None, dict[str, BusOption]]:
    """``interface[:channel][,key=value…]`` → (interface, channel or None, options)."""
    head, *opts = spec.split(",")
    interface, sep, channel = head.partition(":")
    interface, channel = interface.strip(), channel.strip()
    if not interface:
        raise ConfigError("--bus", f"{spec!r}: expected interface:channel, e.g. virtual:vcan0")
    if sep and not channel:
        raise ConfigError("--bus", f"{spec!r}: the channel after ':' is empty")
    options: dict[str, BusOption] = {}
    for opt in opts:
        key, eq, value = opt.partition("=")
        if not eq or not key.strip():
            raise ConfigError("--bus", f"{spec!r}: option {opt!r} is not key=value")
        options[key.strip()] = parse_option(value)
    return interface, channel or None, options


def bus_config(spec: str) -> BusConfig:
    """The ``[[bus]]`` section ``--bus spec`` stands for (opened by :func:`hw.bus.open_bus`)."""
    interface, channel, options = parse_bus_spec(spec)
    return BusConfig(name="simulate", interface=interface, channel=channel, options=options)


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dbc", type=Path, required=True, help="DBC (or other cantools) database")
    p.add_argument(
        "--bus",
        required=True,
        help="interface:channel[,key=value…], e.g. virtual:vcan0 or socketcan:vcan0,fd=true",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds to run (default: until SIGINT/SIGTERM)",
    )
    p.add_argument("--seed", type=int, default=None, help="random seed (default: a random one)")
    p.add_argument(
        "--default-cycle-ms",
        type=int,
        default=100,
        help="period of messages without GenMsgCycleTime (default 100)",
    )


def _run(args: argparse.Namespace) -> int:
    from hw.bus import open_bus  # noqa: PLC0415 - keep `sdvlog --help` fast
    from hw.simulate import Simulator, load_dbc  # noqa: PLC0415

    if args.duration is not None and args.duration < 0:
        raise ConfigError("--duration", f"must not be negative, not {args.duration}")
    db = load_dbc(args.dbc)
    bus = open_bus(bus_config(args.bus))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    in_main = threading.current_thread() is threading.main_thread()
    previous = (
        {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        if in_main
        else {}
    )
    try:
        sim = Simulator(db, bus, seed=args.seed, default_cycle_ms=args.default_cycle_ms)
        stats = sim.run(args.duration, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        bus.shutdown()
    print(f"simulate {args.dbc.name} on {args.bus} (seed {sim.seed}): {stats.summary()}")
    return 0


SUBCOMMANDS: dict[str, Subcommand] = {
    "simulate": Subcommand("send simulated vehicle traffic from a DBC onto a CAN bus", _args, _run),
}
