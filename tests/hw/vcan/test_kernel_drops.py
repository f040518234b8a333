"""Frames the kernel drops from the gateway's socket are counted and placed, and the default
receive buffer holds a second of a saturated 1 Mbit/s bus.

The gateway is made to fall behind deterministically, whatever the machine's speed: a tiny
``rcvbuf`` (about five frames) and a ``cangen -g 0`` burst, longer than the drain's ring, sent
while every Python thread of this process (the service's gateway among them) is held, so that
the drain fills its ring and stops reading. Then every frame is accounted for:
stored + kernel-dropped == sent == what candump (the reference, with a large buffer) logged,
and the stored frames are candump's with whole runs missing, one per loss.
"""

from __future__ import annotations

import ctypes
import logging
import os
import socket
from collections.abc import Sequence
from pathlib import Path

import pytest

from hw.socketcan_ring import RING_SLOTS
from hw.socketcan_socket import (
    DEFAULT_RCVBUF,
    FRAME_TRUESIZE,
    SATURATED_FPS,
    configure,
    queued_bytes,
)
from hw.testbed.canutils import Candump, cangen, missing_runs, stored_frames, tool
from logger.gateway.bus_stats import GatewayStats
from tests.hw.vcan.capture import (
    WAIT_S,
    accounts,
    bus_stats,
    capture_config,
    gateway_of,
    parquet_frames,
    reading,
    wait_stored,
)
from tests.support.mosquitto import MosquittoProcess
from tests.support.service import running

pytestmark = pytest.mark.vcan

TINY_RCVBUF = 4096  # bytes: five frames, as the kernel charges them (768 bytes each)
NUMBERED = ["-I", "i", "-L", "8", "-D", "i"]  # 11-bit ids and data counting up: no two alike


def held_while(args: Sequence[str]) -> None:
    """Run a program to its end while every Python thread of this process waits for it: libc's
    ``waitpid`` called through ``ctypes.PyDLL``, which keeps the GIL, as if this process were
    stopped (the program runs meanwhile, in its own process)."""
    pid = os.posix_spawn(args[0], list(args), dict(os.environ))
    status = ctypes.c_int()
    ctypes.PyDLL(None).waitpid(pid, ctypes.byref(status), 0)
    assert os.waitstatus_to_exitcode(status.value) == 0, f"{args} failed"


def test_frames_the_kernel_drops_are_counted_placed_and_logged(
    tmp_path: Path, mosquitto: MosquittoProcess, vcan: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="logger.gateway.bus_reader")
    burst, paced = RING_SLOTS + 2000, 100
    sent = burst + paced
    cfg = capture_config(tmp_path, mosquitto.address, vcan, rcvbuf=TINY_RCVBUF)
    with running(cfg) as service, Candump(vcan, tmp_path / "candump", count=sent) as dump:
        gateway = gateway_of(service)
        assert reading(service, vcan).rcvbuf == TINY_RCVBUF  # granted as asked (root)
        held_while([tool("cangen"), vcan, "-n", str(burst), "-g", "0", "-p", "100", *NUMBERED])
        cangen(vcan, paced, gap_ms=1, options=NUMBERED)  # read as it comes, after the loss

        def seen(s: GatewayStats) -> bool:
            bus = s.buses[vcan]
            return bus.frames + bus.kernel_dropped >= sent and bus.backlog == 0

        settled = gateway.wait_until(seen, WAIT_S)
        stats = bus_stats(service, vcan)
        assert settled and dump.wait(WAIT_S), accounts(stats, sent=sent, dump=dump)
        wait_stored(service, vcan, stats.frames, sent=sent, dump=dump)
    stored = parquet_frames(tmp_path, vcan)
    where = accounts(stats, sent=sent, dump=dump, stored=stored.num_rows)
    logged = dump.frames
    assert len(logged) == sent and dump.dropped == 0, f"the reference lost frames: {where}"
    assert stats.kernel_dropped > 0, f"the gateway did not fall behind: {where}"
    assert stats.dropped == stats.lost == stats.rejected == 0, where
    assert stored.num_rows + stats.kernel_dropped == sent, where
    assert stats.frames == stored.num_rows, where
    runs = missing_runs(stored, logged)
    assert runs is not None, f"the stored frames are not candump's with some missing: {where}"
    assert sum(length for _first, length in runs) == stats.kernel_dropped, f"{runs}: {where}"
    # The last loss is placed after a stored frame that a missing run follows.
    times = {ts for ts, _bus, _frame in stored_frames(stored)}
    assert stats.kernel_drop_after_ns is not None
    after = stats.kernel_drop_after_ns
    near = sorted(times, key=lambda ts: abs(ts - after))[:3]
    stored_at = (after + 500) // 1000 * 1000  # the store keeps µs, rounded
    assert stored_at in times, f"the last loss placed after {after}, stored {near}: {where}"
    before_run = {logged[first - 1].ts_us for first, _length in runs if first > 0}
    assert stats.kernel_drop_after_ns // 1000 in before_run, f"{runs}: {where}"
    warnings = [r.getMessage() for r in caplog.records if "the kernel dropped" in r.getMessage()]
    assert warnings, "kernel drops were not logged"
    assert " read at 20" in warnings[0] and f"receive buffer {TINY_RCVBUF}" in warnings[0]
    assert len(warnings) <= len(runs)  # once per burst at most, not once per frame


def test_the_default_receive_buffer_holds_a_second_of_a_saturated_1_mbit_bus(
    tmp_path: Path, mosquitto: MosquittoProcess, vcan: str
) -> None:
    # What the kernel charges a socket per frame waiting: a socket that reads nothing.
    frames = 200
    charged = []
    for options in (["-L", "0"], ["-L", "8", "-e"], ["-f"]):
        with socket.socket(socket.PF_CAN, socket.SOCK_RAW, socket.CAN_RAW) as sock:
            sock.setsockopt(socket.SOL_CAN_RAW, socket.CAN_RAW_FD_FRAMES, 1)
            configure(sock, 4 << 20)
            sock.bind((vcan,))
            cangen(vcan, frames, gap_ms=0, options=options)
            charged.append(queued_bytes(sock) / frames)
    truesize = max(charged)
    assert truesize <= FRAME_TRUESIZE, f"per frame: {charged}"
    with running(capture_config(tmp_path, mosquitto.address, vcan)) as service:
        granted = reading(service, vcan).rcvbuf
    assert granted is not None and granted >= DEFAULT_RCVBUF // 2 * 2
    assert granted // truesize >= SATURATED_FPS, f"{granted} bytes, {charged} per frame"
