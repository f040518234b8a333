"""The measurements of ``bench web`` (:mod:`bench.web`): each HTTP route against its peer on the
same rows, taking turns run by run, so both see the same host."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

import duckdb
import httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pynng

from bench.common import ALL_MS
from bench.signals_engines import WHERE
from logger.core.errors import Code
from logger.query.answer import END_MARK
from logger.query.client import answer_table, parse_end, read_frame
from logger.web.sql import LiveTable, run_sql

#: The four signals plotted, one per message (100, 50, 50 and 10 Hz in demo.dbc's traffic).
SIGNALS = ("EngineSpeed", "VehicleSpeed", "SteeringAngle", "SOC")
POINTS = 2000
QUESTION = WHERE
"""``bench signals``' question: EngineSpeed > 4000 while VehicleSpeed < 40."""
GROUP_BY = "SELECT bus, id, count(*) AS n, avg(dlc) AS dlc FROM {source} GROUP BY bus, id"


@dataclass
class Runs:
    """Seconds per run of one way of answering, and what it answered."""

    what: str
    seconds: list[float] = field(default_factory=list)
    rows: int = 0

    @property
    def median(self) -> float:
        return median(self.seconds)


def alternate(runs: int, *ways: tuple[Runs, Callable[[], int]]) -> None:
    """Each way once per run, in turn; a way's call returns the rows it answered."""
    for _ in range(runs):
        for result, call in ways:
            started = time.perf_counter()
            rows = call()
            result.seconds.append(time.perf_counter() - started)
            result.rows = rows


class _Body:
    """An HTTP body as a file-like object for pyarrow's IPC reader (reads as it arrives; each
    read copies only the bytes it returns)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._held = memoryview(b"")
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        parts: list[memoryview | bytes] = []
        need = size if size >= 0 else 1 << 62
        while need > 0:
            if not self._held:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._held = memoryview(chunk)
            part = self._held[:need]
            parts.append(part)
            self._held = self._held[len(part) :]
            need -= len(part)
        return b"".join(parts)


def http_arrow_rows(response: httpx.Response) -> int:
    """Rows of an Arrow IPC stream answer, read batch by batch as it streams."""
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.read()[:300]!r}")
    reader = pa.ipc.open_stream(_Body(response.iter_raw()))
    return sum(batch.num_rows for batch in reader)


def _reply(sock: pynng.Pair0, command: str, timeout_s: float) -> Iterator[bytes]:
    """The channel's frames answering ``command`` (data, then the end frame), as they come."""
    sock.send(command.encode())
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            frame = sock.recv()
        except pynng.Timeout:
            if time.monotonic() > deadline:
                raise
            continue
        yield frame
        if frame[: len(END_MARK)] == END_MARK:
            return


def channel_rows(sock: pynng.Pair0, command: str, timeout_s: float = 600.0) -> int:
    """Rows of the channel's answer to ``command``, each frame read and let go as it comes."""
    rows = 0
    for frame in _reply(sock, command, timeout_s):
        if frame[: len(END_MARK)] == END_MARK:
            disk, memory, message = parse_end(frame)
            if disk not in (Code.OK, Code.NONE) or memory not in (Code.OK, Code.NONE):
                raise RuntimeError(f"{command}: end codes {disk},{memory} {message}")
        else:
            rows += read_frame(frame).num_rows
    return rows


def channel_table(sock: pynng.Pair0, command: str, timeout_s: float = 600.0) -> pa.Table:
    """The channel's whole answer to ``command`` as one table (:func:`answer_table`)."""
    table = answer_table(_reply(sock, command, timeout_s))
    if table is None:
        raise RuntimeError(f"{command}: no rows")
    return table


# --------------------------------------------------------------------------- the figures


def series_figure(
    http: httpx.Client, sock: pynng.Pair0, exchange: str, span_ms: tuple[int, int], runs: int
) -> tuple[Runs, Runs, int, list[str]]:
    """``/api/series`` for :data:`SIGNALS` over ``span_ms`` at :data:`POINTS` points, against
    the channel's signal query over the same signals and window: ``bench signals``' question
    (:data:`QUESTION`, intervals) with the four signals in ``sig=``, so that it reads and aligns
    all four; the signals' rows in the window; and the problems found comparing the points
    with each signal's rows."""
    first_ms, last_ms = span_ms
    params = {
        "exchange": exchange,
        "sig": ",".join(SIGNALS),
        "start": str(first_ms),
        "end": str(last_ms),
        "points": str(POINTS),
    }
    window = f"exchange={exchange};sync-{first_ms}-{last_ms}"
    question = f"{window};sig={','.join(SIGNALS)};{QUESTION};out=intervals"
    answers: list[dict[str, Any]] = []

    def ours() -> int:
        response = http.get("/api/series", params=params)
        if response.status_code != 200:
            raise RuntimeError(f"/api/series: HTTP {response.status_code}: {response.text[:300]}")
        answers[:] = [response.json()]
        return sum(len(s["ts"]) for s in answers[0]["signals"].values())

    http_runs = Runs("/api/series (HTTP, JSON)")
    channel_runs = Runs("channel: sig= the 4 signals; where=, intervals (NNG)")
    alternate(
        runs, (http_runs, ours), (channel_runs, lambda: channel_table(sock, question).num_rows)
    )
    rows = {name: channel_table(sock, f"{window};sig={name}") for name in SIGNALS}
    total = sum(t.num_rows for t in rows.values())
    return http_runs, channel_runs, total, _series_problems(answers[0], rows)


def _series_problems(answer: dict[str, Any], rows: dict[str, pa.Table]) -> list[str]:
    """Where the M4 points disagree with each signal's rows: the same min and max, and at
    most :data:`POINTS` points."""
    problems = []
    for name in SIGNALS:
        values = np.asarray(answer["signals"][name]["values"], dtype=np.float64)
        extremes = pc.min_max(rows[name].column(name)).as_py()
        if len(values) > POINTS or not len(values):
            problems.append(f"{name}: {len(values)} points")
        elif (float(np.nanmin(values)), float(np.nanmax(values))) != (
            float(extremes["min"]),
            float(extremes["max"]),
        ):
            problems.append(f"{name}: M4 range differs from the signal's rows")
    return problems


def query_figure(
    http: httpx.Client, sock: pynng.Pair0, exchange: str, rows: int, runs: int
) -> list[Runs]:
    """The full range of ``exchange`` as an Arrow stream over HTTP (``/api/query``) against the
    same command over the channel; both read frame by frame as they arrive. Beside them: the
    same request with its own ``limit=`` (the route streams it as it is read, where it holds an
    answer without one until it knows it is within ``max_rows``), and, when curl is installed,
    the plain request read by curl into nothing (what serving it costs without a Python
    client). First the HTTP request, then the channel, then the others."""
    command = f"exchange={exchange};sync-{ALL_MS}"
    params = {"command": command, "format": "arrow"}
    limited = {"command": f"{command};limit={rows}", "format": "arrow"}

    def over_http(query: dict[str, str]) -> Callable[[], int]:
        def ask() -> int:
            with http.stream("GET", "/api/query", params=query) as response:
                return http_arrow_rows(response)

        return ask

    http_runs, channel_runs = Runs("/api/query (HTTP, Arrow, httpx)"), Runs("channel (NNG)")
    limit_runs = Runs(f"/api/query ...;limit={rows:,} (streamed), httpx")
    ways = [
        (http_runs, over_http(params)),
        (channel_runs, lambda: channel_rows(sock, command)),
        (limit_runs, over_http(limited)),
    ]
    curl = shutil.which("curl")
    if curl is not None:
        url = str(http.build_request("GET", "/api/query", params=params).url)
        curl_runs = Runs("/api/query (HTTP, Arrow, curl to /dev/null)")

        def by_curl() -> int:
            subprocess.run([curl, "-sSf", "-o", os.devnull, url], check=True, timeout=600)
            return rows

        ways.append((curl_runs, by_curl))
    alternate(runs, *ways)
    for result in (http_runs, channel_runs, limit_runs):
        if result.rows != rows:
            raise RuntimeError(f"{result.what}: {result.rows} rows, expected {rows}")
    return [way for way, _ in ways]


def sql_figure(
    http: httpx.Client, view: str, files: Sequence[Path], runs: int
) -> tuple[Runs, Runs, Runs, Runs, Runs]:
    """The GROUP BY through ``POST /api/sql`` (one DuckDB thread, as the route runs it) and
    through ``run_sql`` in this process (DuckDB's default threads), against DuckDB reading
    the same files itself in one session with one thread and with its default threads; and
    DuckDB on one thread in a new database per query (as the route opens one per query)."""
    listed = ", ".join(f"'{p}'" for p in files)
    direct = GROUP_BY.format(source=f"read_parquet([{listed}])")
    table = LiveTable(view, list(files))

    def ours() -> int:
        response = http.post("/api/sql", json={"sql": GROUP_BY.format(source=view)})
        if response.status_code != 200:
            raise RuntimeError(f"/api/sql: HTTP {response.status_code}: {response.text[:300]}")
        return int(pa.ipc.open_stream(response.content).read_all().num_rows)

    def in_process() -> int:
        answer = run_sql([table], GROUP_BY.format(source=view), row_limit=100_000, timeout_s=600)
        return int(answer.num_rows)

    def fresh() -> int:
        with duckdb.connect(config={"threads": 1}) as con:
            return len(con.sql(direct).fetchall())

    route, engine = Runs("/api/sql (HTTP, 1 DuckDB thread)"), Runs("run_sql (default threads)")
    one, default = Runs("DuckDB on the files, 1 thread"), Runs("DuckDB on the files, default")
    new = Runs("DuckDB, 1 thread, a new database per query")
    with duckdb.connect(config={"threads": 1}) as con1, duckdb.connect() as con:
        alternate(
            runs,
            (route, ours),
            (one, lambda: len(con1.sql(direct).fetchall())),
            (new, fresh),
            (engine, in_process),
            (default, lambda: len(con.sql(direct).fetchall())),
        )
    if len({r.rows for r in (route, engine, one, default, new)}) != 1:
        raise RuntimeError("the GROUP BY answers differ in rows between the engines")
    return route, engine, one, default, new
