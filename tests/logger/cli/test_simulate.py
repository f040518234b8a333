"""``sdvlog simulate``: bus specs, a timed run's summary, a clean stop on a signal, clear errors."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from logger.cli.app import main
from logger.cli.simulate import parse_bus_spec
from logger.core.errors import ConfigError
from tests.support.simulation import DEMO, ROOT, WAIT_S, channel

# -- sdvlog simulate ---------------------------------------------------------------------------


def test_bus_specs() -> None:
    assert parse_bus_spec("virtual:vcan0") == ("virtual", "vcan0", {})
    assert parse_bus_spec("socketcan:vcan0,fd=true,bitrate=500000,data_bitrate=2e6") == (
        "socketcan",
        "vcan0",
        {"fd": True, "bitrate": 500000, "data_bitrate": 2e6},
    )
    assert parse_bus_spec("udp_multicast:239.0.0.1") == ("udp_multicast", "239.0.0.1", {})
    assert parse_bus_spec("udp_multicast:ff15:7079:7468:6f6e:6465:6d6f:6d63:6173")[1] == (
        "ff15:7079:7468:6f6e:6465:6d6f:6d63:6173"
    )
    assert parse_bus_spec("pcan,receive_own_messages=no,name=x") == (
        "pcan",
        None,
        {"receive_own_messages": False, "name": "x"},
    )
    for bad in (":vcan0", "virtual:", "virtual:x,fd", "virtual:x,=1"):
        with pytest.raises(ConfigError, match="--bus"):
            parse_bus_spec(bad)


def sdvlog(*args: str) -> list[str]:
    return [sys.executable, "-m", "logger.cli.app", *args]


def test_cli_runs_for_a_second_and_prints_a_summary() -> None:
    result = subprocess.run(
        sdvlog(
            "simulate",
            "--dbc",
            str(DEMO),
            "--bus",
            f"virtual:{channel()}",
            "--duration",
            "1",
            "--seed",
            "3",
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert "seed 3" in lines[0] and "EngineData=100" in lines[0] and "ClimateStatus=1" in lines[0]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_stops_cleanly_on_a_signal(signum: signal.Signals) -> None:
    proc = subprocess.Popen(
        sdvlog("-v", "simulate", "--dbc", str(DEMO), "--bus", f"virtual:{channel()}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None
    stderr = proc.stderr

    def read() -> None:
        for line in stderr:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        while "simulating" not in lines.get(timeout=WAIT_S):
            pass
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    # the signal may come before the first frame: only the summary line is certain
    assert re.fullmatch(
        r"simulate demo\.dbc on virtual:\S+ \(seed \d+\): sent \d+ frames .*\n", out
    )


def test_cli_bad_dbc_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "typo.dbc"
    bad.write_text('VERSION ""\n\nBO_ x Foo: 8 A\n')
    assert main(["simulate", "--dbc", str(bad), "--bus", f"virtual:{channel()}"]) == 1
    err = capsys.readouterr().err
    assert "typo.dbc" in err and "line 3" in err and "Traceback" not in err
    assert main(["simulate", "--dbc", str(DEMO), "--bus", "no_such_interface:x"]) == 1
    assert "no_such_interface" in capsys.readouterr().err
