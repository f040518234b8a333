"""Loopback TCP ports for tests: a free one to listen on, and whether one accepts connections."""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOOPBACK = "127.0.0.1"
_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10_000


def _ephemeral_start() -> int:
    try:
        return int(_EPHEMERAL.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free on ``host`` a moment ago, below the kernel's ephemeral range.

    A client that connects to a loopback port in the ephemeral range while nothing listens there
    can be given that same port as its own and connect to itself (TCP simultaneous open); the
    port is then taken when the server starts. Ports below the range are never given to clients.
    """
    high = _ephemeral_start()
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(_LOWEST, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free TCP port on {host} in {_LOWEST}..{high - 1}")


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on ``host:port`` now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
