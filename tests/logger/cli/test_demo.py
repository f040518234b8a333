"""``sdvlog demo``, README's first command, as a child process: every frame the simulated
vehicle sends is stored and queried back; then the dashboard's address, served until Ctrl-C
while the vehicle keeps driving."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pyarrow as pa

from tests.support.service import WAIT_S, run_cli, wait_until

_STORED = re.compile(r"stored (\d+) of (\d+) frames")


def test_demo_stores_every_frame_and_queries_it_back(tmp_path: Path) -> None:
    done = run_cli("demo", "--seconds", "2", "--no-serve", "--dir", str(tmp_path / "demo"))
    assert done.returncode == 0, done.stdout + done.stderr
    stored = _STORED.search(done.stdout)
    assert stored is not None and stored[1] == stored[2] and int(stored[1]) > 500, done.stdout
    # 1 is "none": after two seconds the rows may all still be in memory, or all on disk
    assert re.search(r": 8 rows, end codes [01],[01]\n", done.stdout), done.stdout
    assert "dashboard:" not in done.stdout


def _lines(proc: subprocess.Popen[str], into: queue.Queue[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        into.put(line)
    into.put("")  # end of output


def test_demo_serves_the_dashboard_on_live_data_until_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "logger.cli.app", "demo", "--seconds", "1"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(proc, lines), daemon=True).start()
    try:
        output: list[str] = []
        while not output or not output[-1].startswith("dashboard: "):
            line = lines.get(timeout=WAIT_S)
            assert line, "".join(output) + (proc.stderr.read() if proc.stderr else "")
            output.append(line)
        url = output[-1].split()[1]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url), url
        page = httpx.get(url, timeout=WAIT_S)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        stored = _STORED.search("".join(output))
        assert stored is not None
        command = "exchange=can;sync-0-9223372036854775807"
        with httpx.Client(base_url=url, timeout=WAIT_S) as client:
            first = _rows(client, command)
            assert first >= int(stored[1])
            # the vehicle keeps driving: more frames come (asked every 5 ms, WAIT_S at most)
            wait_until(lambda: _rows(client, command) > first, what="frames after the report")
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(WAIT_S)
    rest = []
    while line := lines.get(timeout=WAIT_S):
        rest.append(line)
    assert code == 0, "".join(rest)
    assert rest and rest[-1].startswith("stopped; the vehicle sent "), rest


def _rows(client: httpx.Client, command: str) -> int:
    answer = client.get("/api/query", params={"command": command})
    assert answer.status_code == 200, answer.text
    rows: int = pa.ipc.open_stream(answer.content).read_all().num_rows
    return rows
