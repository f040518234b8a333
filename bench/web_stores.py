"""The store of ``bench web`` (:mod:`bench.web`): one service store with two exchanges, built once
and kept in a cache between runs (building them takes minutes on 2 cores).

- ``drive`` (CANP with ``dbc/examples/demo.dbc``): the store of ``bench signals``
  (:func:`bench.signals_store.write_store`): simulated one-hour drives, ``frames`` plus
  ``signals/message=<Name>``, 10 M frames (``--quick``: 1 M).
- ``bench`` (RAW): the store of ``bench query`` (:func:`bench.query.write_store`): 10 M rows of
  64-byte payloads over 24 hours in ~1-minute files (``--quick``: 1 M).

The cache is ``$SDVLOG_BENCH_CACHE`` (default ``~/.cache/sdvlog-bench``), one directory per size
and per fingerprint of the code that writes the stores (the writers, the simulator and the store's
layout): change that code and the next run builds a new store. A store is complete once its
``done`` marker is written; a half-built one is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import EXCHANGE as RAW_EXCHANGE
from bench.common import REPO, VIN, toml_str
from bench.decode import DEMO_DBC
from bench.query import write_store as write_raw
from bench.signals_store import EXCHANGE as DRIVE_EXCHANGE
from bench.signals_store import write_store as write_drive

log = logging.getLogger(__name__)

__all__ = ["DRIVE_EXCHANGE", "RAW_EXCHANGE", "WebStore", "service_config", "web_store"]

#: The code whose output the cache holds.
_FINGERPRINTED = (
    "bench/signals_store.py",
    "bench/query.py",
    "hw/simulate.py",
    "canp/plugin.py",
    "logger/store/layout.py",
    "logger/store/store.py",
    "logger/streams/raw.py",
)


@dataclass(frozen=True)
class WebStore:
    """The built store: its directory, sizes, the drive's time span and the build time."""

    dir: Path
    frames: int
    raw_rows: int
    first_ns: int
    last_ns: int
    build_s: float
    cached: bool


def cache_root() -> Path:
    return Path(os.environ.get("SDVLOG_BENCH_CACHE", Path.home() / ".cache" / "sdvlog-bench"))


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in _FINGERPRINTED:
        path = REPO / name
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.exists() else b"-")
    return digest.hexdigest()[:12]


def service_config(
    store_dir: Path, query_url: str, http_port: int, max_rows: int, *, broker_port: int = 0
) -> str:
    """``sdvlog run`` over the store: an embedded broker, the two exchanges, the channel and the
    HTTP API (``max_rows`` per answer)."""
    return f"""vin = {toml_str(VIN)}

[broker]
url = "embedded"
embedded_port = {broker_port}

[[exchange]]
name = {toml_str(DRIVE_EXCHANGE)}
topic = "bench/drive/#"
stream = "canp"
dbc = {toml_str(DEMO_DBC)}

[[exchange]]
name = {toml_str(RAW_EXCHANGE)}
topic = "bench/raw/#"
stream = "raw"

[parquet]
dir = {toml_str(store_dir)}
compress = "zstd"

[query]
url = {toml_str(query_url)}

[http]
listen = "127.0.0.1:{http_port}"
max_rows = {max_rows}
"""


def web_store(frames: int, raw_rows: int) -> WebStore:
    """The cached store for these sizes, built first when there is none."""
    home = cache_root() / f"web-{frames}-{raw_rows}-{_fingerprint()}"
    marker = home / "done.json"
    if marker.exists():
        info = json.loads(marker.read_text(encoding="utf-8"))
        log.info("reusing the store in %s", home)
        return WebStore(home / "store", frames, raw_rows, info["first_ns"], info["last_ns"], info["build_s"], True)  # fmt: skip
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    store_dir = home / "store"
    started = time.monotonic()
    log.info("building the drive store (%d frames) in %s ...", frames, home)
    drive = write_drive(store_dir, frames)
    config = home / "writer.toml"
    config.write_text(service_config(store_dir, "tcp://127.0.0.1:1", 0, 1), encoding="utf-8")
    log.info("building the RAW store (%d rows) ...", raw_rows)
    write_raw(store_dir, config, raw_rows)
    build_s = time.monotonic() - started
    info = {"first_ns": drive.first_ns, "last_ns": drive.last_ns, "build_s": build_s}
    marker.write_text(json.dumps(info), encoding="utf-8")
    return WebStore(store_dir, frames, raw_rows, drive.first_ns, drive.last_ns, build_s, False)
