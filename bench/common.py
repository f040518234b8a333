"""Shared pieces of the benchmarks: a Mosquitto, the service as a child process, a store opened as
the service opens one, store counting."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pynng

from logger.core.config import Config, ExchangeConfig
from logger.core.errors import Code, QueryError
from logger.query import client
from logger.query.client import Reply
from logger.store.layout import parse_name
from logger.store.metadata import file_metadata
from logger.store.store import ParquetStore
from logger.streams.plugin import StreamPlugin
from tests.support.mosquitto import MosquittoProcess
from tests.support.ports import free_port

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
SDVLOG = VENV_BIN / "sdvlog"
PY_SPY = VENV_BIN / "py-spy"
RESULTS = Path(__file__).resolve().parent / "results"
VIN = "BENCH0000000000001"
EXCHANGE = "bench"
TOPIC_FILTER = "bench/#"
ALL_MS = "0-9223372036854775807"


class BenchMosquitto(MosquittoProcess):
    """The test suite's Mosquitto (``max_inflight_messages 0``, ``max_queued_messages 0``,
    ``persistence false``) that also logs subscriptions, so we know when the exchange listens."""

    def config_text(self) -> str:
        return super().config_text() + "log_type subscribe\n"

    def __enter__(self) -> BenchMosquitto:
        self.start()
        return self

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return None if proc is None else proc.pid

    def wait_subscribed(self, client_id: str, topic: str, timeout: float = 30.0) -> None:
        """Block until Mosquitto logged ``client_id`` subscribing to ``topic``."""
        needle = f" {client_id} "
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                text = self.log_path.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                text = ""
            for line in text.splitlines():
                if needle in line and line.rstrip().endswith(f" {topic}"):
                    return
            time.sleep(0.02)
        raise RuntimeError(f"{client_id} did not subscribe to {topic!r}\n{self.log_tail()}")


def client_id(exchange: str = EXCHANGE) -> str:
    """The MQTT client id the service uses for an exchange (``logger.service.service``)."""
    return f"sdvlog-{VIN}-{exchange}"


def toml_str(text: str | Path) -> str:
    """A TOML basic string (JSON string syntax is a subset of it for our paths)."""
    return json.dumps(str(text))


def service_toml(
    *,
    broker_url: str,
    store_dir: Path,
    query_url: str,
    cap: int = 20000,
    flush_ms: int = 1000,
    qos: int = 1,
    receive_maximum: int | None = None,
    memory: str | None = None,
) -> str:
    """A ``sdvlog run`` configuration with one RAW exchange on ``bench/#`` (``memory``: its
    ``[limits] memory``, left to the default when None)."""
    limits = "" if memory is None else f"\n[limits]\nmemory = {toml_str(memory)}\n"
    return f"""vin = {toml_str(VIN)}

[broker]
url = {toml_str(broker_url)}

[[exchange]]
name = {toml_str(EXCHANGE)}
topic = {toml_str(TOPIC_FILTER)}
stream = "raw"
qos = {qos}
{"" if receive_maximum is None else f"receive_maximum = {receive_maximum}"}
[exchange.ringbus]
cap = {cap}
flush_ms = {flush_ms}

[parquet]
dir = {toml_str(store_dir)}
compress = "zstd"

[query]
url = {toml_str(query_url)}
{limits}"""


def query_url() -> str:
    return f"tcp://127.0.0.1:{free_port()}"


@dataclass(frozen=True)
class ProcStatus:
    """Memory (bytes) and CPU time (seconds) of a process, from /proc."""

    hwm: int
    rss: int
    cpu_s: float


def proc_status(pid: int) -> ProcStatus:
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                fields[name] = int(value.split()[0]) * 1024
    return ProcStatus(fields.get("VmHWM", 0), fields.get("VmRSS", 0), cpu_seconds(pid))


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds a process has used so far (0 when gone)."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            stat = fh.read()
    except FileNotFoundError:
        return 0.0
    rest = stat.rsplit(")", 1)[1].split()
    ticks = int(rest[11]) + int(rest[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


class ServiceProcess:
    """``sdvlog run -c CONFIG`` as a child process, its log in ``log_path`` (``sdvlog``: the
    command of this checkout, or of a peer checkout measured beside it)."""

    def __init__(self, config_path: Path, log_path: Path, url: str, sdvlog: Path = SDVLOG) -> None:
        self.config_path = config_path
        self.sdvlog = sdvlog
        self.log_path = log_path
        self.url = url
        self._proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    @property
    def pid(self) -> int:
        assert self._proc is not None, "service not started"
        return self._proc.pid

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.started_at = time.monotonic()
            self._proc = subprocess.Popen(
                [str(self.sdvlog), "run", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                cwd=REPO,
            )
        log.info("service pid %d: %s", self._proc.pid, self.config_path)

    def wait_ready(self, timeout: float = 120.0) -> float:
        """Block until the query channel answers a command; seconds since :meth:`start`."""
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"service exited with {self._proc.returncode}\n{self.log_tail()}"
                )
            try:
                reply = client.query(self.url, "sync-0-0", timeout_ms=1000)
            except QueryError:
                continue
            if reply.disk is not Code.NOT_READY and reply.memory is not Code.NOT_READY:
                return time.monotonic() - self.started_at
            time.sleep(0.005)
        raise RuntimeError(f"service not ready within {timeout:g} s\n{self.log_tail()}")

    def status(self) -> ProcStatus:
        return proc_status(self.pid)

    def stop(self, timeout: float = 60.0) -> int:
        proc, self._proc = self._proc, None
        if proc is None:
            return 0
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.error("service did not stop within %g s: killing it", timeout)
            proc.kill()
            return proc.wait(timeout=timeout)

    def log_marks(self) -> dict[str, float]:
        """Seconds (epoch, ms resolution) of the start-up milestones in the service log, from
        its latest start: ``listening`` (query channel), ``recovered`` (store index rebuilt),
        ``running`` (every exchange started)."""
        patterns = {
            "listening": "query channel listening on",
            "recovered": f"{EXCHANGE}: store recovered:",
            "running": "service running:",
        }
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        marks: dict[str, float] = {}
        for line in text.splitlines():
            for name, needle in patterns.items():
                if needle in line:
                    stamp = dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
                    marks[name] = stamp.timestamp()  # the last occurrence wins
        missing = set(patterns) - set(marks)
        if missing:
            raise RuntimeError(f"no {sorted(missing)} in the service log\n{self.log_tail()}")
        return marks

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_lines(self, *levels: str) -> list[str]:
        """Lines of the service log at the given levels (e.g. ``WARNING``, ``ERROR``)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if any(f" {lv} " in line for lv in levels)]


def open_store(
    cfg: Config,
    ex: ExchangeConfig,
    plugin: StreamPlugin,
    store_cls: type[ParquetStore] = ParquetStore,
) -> ParquetStore:
    """The store of exchange ``ex`` under ``cfg.parquet``, its files labelled with the service's
    metadata for ``plugin``, recovered: as the service opens it."""
    store = store_cls(cfg.parquet, ex.name, file_metadata(cfg, ex, plugin))
    store.recover()
    return store


class StoreCounter:
    """Rows in the final (renamed into place) Parquet files under a table directory.

    Files are immutable once renamed, so each is read (its footer only) once.
    """

    def __init__(self, table_dir: Path) -> None:
        self.table_dir = table_dir
        self.rows_by_file: dict[Path, int] = {}
        self.rows = 0

    def poll(self) -> int:
        for dirpath, _dirs, names in os.walk(self.table_dir):
            for name in names:
                if parse_name(name) is None:
                    continue  # temporaries (.<name>.tmp) and foreign files
                path = Path(dirpath) / name
                if path not in self.rows_by_file:
                    n = pq.read_metadata(path).num_rows
                    self.rows_by_file[path] = n
                    self.rows += n
        return self.rows

    @property
    def files(self) -> list[Path]:
        return sorted(self.rows_by_file)


class QuerySocket:
    """One pair0 connection kept open across queries (``logger.query.client.exchange`` on it)."""

    def __init__(self, url: str) -> None:
        self.sock = pynng.Pair0(recv_timeout=100, send_timeout=30000)
        self.sock.dial(url, block=True)

    def ask(self, command: str, timeout_s: float = 30.0) -> Reply:
        return client.exchange(self.sock, command, timeout_s)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> QuerySocket:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


@contextlib.contextmanager
def scratch_dir(keep: bool = False) -> Iterator[Path]:
    """A temporary directory for one benchmark, removed afterwards unless ``keep``."""
    path = Path(tempfile.mkdtemp(prefix="sdvlog-bench-"))
    try:
        yield path
    finally:
        if keep:
            print(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)
