"""Real SocketCAN, real peers: can-utils (``cangen``, ``cansend``, ``canplayer``) put frames on a
vcan bus (or a vxcan pair), ``candump -l`` records them, and the gateway reads the same bus
(opened by python-can's socketcan interface, read in bulk with kernel timestamps) → Mosquitto →
CANP exchange → Parquet. The stored frames must equal candump's log, every one.

Marked ``vcan``: run through ``python -m hw.testbed.vm`` where the kernel has no CAN (tests/conftest.py).
Under TCG the guest is slow, so generators are paced (``-g 1``) and candump's own count is
checked against what was sent: the reference loses nothing.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path

import can
import pytest

from hw.bus import frame_bits
from hw.testbed import vcan as vcan_lib
from hw.testbed.canutils import (
    Candump,
    LoggedFrame,
    cangen,
    canplayer,
    cansend,
    first_difference,
    read_candump_log,
    stored_frames,
)
from logger.cli import app as cli
from logger.gateway.bus_stats import DOWN, READING
from tests.hw.vcan.capture import (
    WAIT_S,
    accounts,
    bus_stats,
    capture_config,
    gateway_of,
    parquet_frames,
    wait_stored,
)
from tests.support.mosquitto import MosquittoProcess
from tests.support.service import ALL, running

pytestmark = pytest.mark.vcan

LOGS = Path(__file__).resolve().parents[4] / "shared" / "data" / "logs"
KONA = LOGS / "kona_ev_bms_idle_30sec.asc"  # 5,934 classic frames over 30 s, in bursts
PROBE_ID = 0x1FFFFFFF  # an extended id: cangen makes none without -e


def as_message(f: LoggedFrame) -> can.Message:
    """A candump log line as the python-can message it was on the bus."""
    return can.Message(
        arbitration_id=f.arbitration_id,
        is_extended_id=f.extended,
        is_remote_frame=f.remote,
        is_error_frame=f.error,
        is_fd=f.fd,
        bitrate_switch=f.brs,
        error_state_indicator=f.esi,
        data=f.data,
    )


@pytest.mark.parametrize("link", ["vcan", "vxcan_pair"])
def test_cangen_frames_are_stored_exactly_as_candump_logged_them(
    tmp_path: Path, mosquitto: MosquittoProcess, link: str, request: pytest.FixtureRequest
) -> None:
    if link == "vcan":
        send_on = read_on = request.getfixturevalue("vcan")
    else:  # a vxcan pair: cangen on one end, the gateway and candump on the other
        send_on, read_on = request.getfixturevalue("vxcan_pair")
    count = 1500 if link == "vcan" else 500
    with (
        running(capture_config(tmp_path, mosquitto.address, read_on)) as service,
        Candump(read_on, tmp_path / "candump", count=count) as dump,
    ):
        # -m mixes classic and FD (with BRS and ESI), 11- and 29-bit ids and remote frames,
        # with random ids, lengths and data.
        cangen(send_on, count, gap_ms=1, options=["-m"])
        assert dump.wait(WAIT_S), accounts(bus_stats(service, read_on), sent=count, dump=dump)
        table = wait_stored(service, read_on, count, sent=count, dump=dump)
    logged = dump.frames
    stats = bus_stats(service, read_on)
    where = accounts(stats, sent=count, dump=dump, stored=table.num_rows)
    assert len(logged) == count, where
    assert first_difference(table, logged) is None, where  # answered while running
    from_files = parquet_frames(tmp_path, read_on)
    assert first_difference(from_files, logged) is None, where  # from the files
    kinds = Counter(
        kind
        for f in logged
        for kind, present in (
            ("fd", f.fd),
            ("classic", not f.fd),
            ("extended", f.extended),
            ("standard", not f.extended),
            ("remote", f.remote),
            ("brs", f.brs),
            ("esi", f.esi),
        )
        if present
    )
    assert set(kinds) == {"fd", "classic", "extended", "standard", "remote", "brs", "esi"}
    assert len({f.length for f in logged if f.fd}) > 5 and len({f.length for f in logged}) > 5
    assert stats.dropped == stats.kernel_dropped == stats.read_errors == stats.lost == 0, where
    assert stats.frames == count, where
    # The bus load counts every frame's bits as hw.bus.frame_bits has them.
    bits = [frame_bits(as_message(f)) for f in logged]
    assert (stats.bits_nominal, stats.bits_data) == tuple(map(sum, zip(*bits, strict=True)))


def test_remote_and_error_frames_from_cansend_keep_their_flags(
    tmp_path: Path, mosquitto: MosquittoProcess, vcan: str
) -> None:
    sent = [
        "123#R",  # remote, 11-bit
        "00000123#R3",  # remote, 29-bit, requesting 3 bytes
        "20000080#0000000000000000",  # error frame (cansend sets no EFF flag): restarted
        "20000004#0004000000000000",  # error frame: controller problem (rx warning)
        "1F334455#1122334455667788",  # data, 29-bit
        "213##311223344",  # CAN FD with BRS and ESI
    ]
    with (
        running(capture_config(tmp_path, mosquitto.address, vcan)) as service,
        Candump(vcan, tmp_path / "candump", count=len(sent)) as dump,
    ):
        for frame in sent:
            cansend(vcan, frame)
        assert dump.wait(WAIT_S)
        table = wait_stored(service, vcan, len(sent))
    assert first_difference(table, dump.frames) is None
    rows = table.select(["id", "extended", "remote", "error", "fd", "brs", "esi", "dlc"])
    assert rows.to_pylist() == [
        {"id": 0x123, "extended": False, "remote": True, "error": False}
        | {"fd": False, "brs": False, "esi": False, "dlc": 0},
        {"id": 0x123, "extended": True, "remote": True, "error": False}
        | {"fd": False, "brs": False, "esi": False, "dlc": 0},
        {"id": 0x80, "extended": False, "remote": False, "error": True}
        | {"fd": False, "brs": False, "esi": False, "dlc": 8},
        {"id": 0x04, "extended": False, "remote": False, "error": True}
        | {"fd": False, "brs": False, "esi": False, "dlc": 8},
        {"id": 0x1F334455, "extended": True, "remote": False, "error": False}
        | {"fd": False, "brs": False, "esi": False, "dlc": 8},
        {"id": 0x213, "extended": False, "remote": False, "error": False}
        | {"fd": True, "brs": True, "esi": True, "dlc": 4},
    ]
    assert table.column("data").to_pylist()[2] == bytes(8)
    assert table.column("data").to_pylist()[3] == bytes.fromhex("0004000000000000")


def test_interface_down_and_up_while_capturing_is_recovered_and_the_gap_reported(
    tmp_path: Path, mosquitto: MosquittoProcess, vcan: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="logger.gateway.bus_reader")
    count = 300
    numbered = ["-I", "i", "-D", "i", "-L", "8"]  # 11-bit ids and data counting up
    with (
        running(capture_config(tmp_path, mosquitto.address, vcan)) as service,
        Candump(vcan, tmp_path / "candump", keep_going=True) as dump,  # -D: survives the down
    ):
        gateway = gateway_of(service)
        cangen(vcan, count, gap_ms=1, options=numbered)
        assert gateway.wait_until(lambda s: s.buses[vcan].frames >= count, WAIT_S)

        vcan_lib.set_down(vcan)
        # Down long enough for the reader to reopen a few times: binding to a down interface
        # works, reading fails at once (ENETDOWN), and the back-off grows meanwhile.
        assert gateway.wait_until(lambda s: s.buses[vcan].read_errors >= 3, WAIT_S)
        assert gateway.wait_until(lambda s: s.buses[vcan].state == DOWN, WAIT_S)
        vcan_lib.set_up(vcan)
        # Frames sent before the gateway has its socket again are lost to it, not to candump:
        # probe until the gateway reads one, then send the second part.
        deadline = time.monotonic() + WAIT_S
        probes = 0
        while not gateway.wait_until(lambda s: s.buses[vcan].frames > count, 0.5):
            assert time.monotonic() < deadline, "the gateway did not read the bus again"
            cansend(vcan, f"{PROBE_ID:08X}#{probes % 256:02X}")
            probes += 1
        cangen(vcan, count, gap_ms=1, options=numbered)
        table = wait_stored(service, vcan, 2 * count, without_id=PROBE_ID)
        stats = bus_stats(service, vcan)
    logged = dump.frames
    assert len(logged) == 2 * count + probes
    # The gateway read the last few probes: drop from candump's log the ones it missed.
    read = sum(1 for _ts, _bus, f in stored_frames(table) if f.can_id & 0x1FFFFFFF == PROBE_ID)
    missed = {i for i, f in enumerate(logged) if f.arbitration_id == PROBE_ID}
    missed = set(sorted(missed)[: probes - read])
    assert 1 <= read <= probes
    assert first_difference(table, [f for i, f in enumerate(logged) if i not in missed]) is None
    assert stats.state == READING
    assert stats.read_errors >= 1 and stats.reopens >= 1 and stats.gaps >= 1
    assert stats.last_gap_s is not None and stats.last_gap_s > 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert sum("read failed" in w for w in warnings) == 1  # not once per reopen
    assert sum("without frames" in w for w in warnings) == 1, "the gap is reported once"


def test_real_log_exported_to_candump_format_and_replayed_by_canplayer_comes_back(
    tmp_path: Path, mosquitto: MosquittoProcess, vcan: str
) -> None:
    if not KONA.exists():
        pytest.skip(f"{KONA} is not here (shared/data is optional outside CI)")
    store, log = tmp_path / "imported", tmp_path / "kona.log"
    # The project's own conversion: sdvlog import (ASC → Parquet), sdvlog export (→ candump).
    assert cli.main(["import", str(KONA), "--dir", str(store), "--bus", "can0"]) == 0
    assert (
        cli.main(["export", ALL, "--dir", str(store), "--exchange", "can", "--to", str(log)]) == 0
    )
    exported = read_candump_log(log)
    assert len(exported) > 5000 and {f.iface for f in exported} == {"can0"}
    with running(capture_config(tmp_path, mosquitto.address, vcan)) as service:
        canplayer(log, [f"{vcan}=can0"])  # at the log's own pace: 30 s, in bursts
        table = wait_stored(service, vcan, len(exported), sent=len(exported))
        stats = bus_stats(service, vcan)
    where = accounts(stats, sent=len(exported), stored=table.num_rows)
    assert stats.kernel_dropped == 0, where
    assert first_difference(table, exported, bus=vcan, times=False) is None, where
    replayed = [ts for ts, _bus, _frame in stored_frames(table)]
    assert replayed == sorted(replayed)  # kernel times of a live replay, in order
    span_s = (replayed[-1] - replayed[0]) / 1e9
    logged_s = (exported[-1].ts_us - exported[0].ts_us) / 1e6
    assert span_s >= logged_s - 0.5  # played at the log's pace, not in one burst
