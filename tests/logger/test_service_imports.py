"""The service imports only what its configured parts use (idle memory stays small)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from logger import client
from logger.errors import QueryError
from tests.brokers import MosquittoProcess, free_port, numbered, publish
from tests.logger.service_util import ALL, WAIT_S, ServiceProcess, wait_until

#: Modules the embedded defaults (one RAW exchange, embedded broker, no bus) never need.
NOT_FOR_DEFAULTS = (
    "pandas",
    "asammdf",
    "cantools",
    "can",
    "duckdb",
    "numexpr",
    "polars",
    "scipy",
    "pyarrow.compute",
    "pyarrow.dataset",
    "logger.gateway",
)

SCRIPT = """
import json, sys
from pathlib import Path
from logger.config import BrokerConfig, Config, ParquetConfig, QueryConfig
from logger.service import Service

cfg = Config(
    broker=BrokerConfig(url="embedded", embedded_port=0),
    parquet=ParquetConfig(dir=Path(sys.argv[1])),
    query=QueryConfig(url=sys.argv[2]),
)
service = Service(cfg)
service.start()
try:
    print(json.dumps(sorted(sys.modules)))
finally:
    service.stop()
"""


def started_modules(tmp_path: Path) -> set[str]:
    url = f"tcp://127.0.0.1:{free_port()}"
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "store"), url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_the_embedded_defaults_start_without_the_heavy_modules(tmp_path: Path) -> None:
    modules = started_modules(tmp_path)
    assert "logger.service" in modules and "pyarrow" in modules
    loaded = [m for m in NOT_FOR_DEFAULTS if m in modules]
    assert loaded == [], f"imported at start-up with the embedded defaults: {loaded}"


RUN_CONFIG = """
[broker]
url = "{url}"
[[exchange]]
name = "raw"
topic = "mem/#"
[exchange.ringbus]
flush_ms = 20
[parquet]
dir = "{store}"
[query]
url = "{query}"
"""


def count_rows(url: str) -> int:
    try:
        rows: int = client.query(url, ALL, timeout_ms=10000).table().num_rows
        return rows
    except QueryError:
        return -1


def mapped_packages(pid: int) -> set[str]:
    """The site-packages top-level packages whose files the process has mapped."""
    out = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        _, sep, rest = line.partition("site-packages/")
        if sep:
            out.add(rest.split("/")[0])
    return out


def test_sdvlog_run_stores_and_answers_without_pandas_or_amqtt(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    query = f"tcp://127.0.0.1:{free_port()}"
    config = tmp_path / "sdvlog.toml"
    config.write_text(RUN_CONFIG.format(url=mosquitto.url, store=tmp_path / "store", query=query))
    service = ServiceProcess(config)
    try:
        assert service.subscribed.wait(WAIT_S), "".join(service.log)
        payloads = numbered(300)
        publish(mosquitto.address, "mem/a", payloads, qos=1)
        wait_until(lambda: count_rows(query) == len(payloads), what="300 rows answered")
        mapped = mapped_packages(service.proc.pid)
        assert "pyarrow" in mapped  # the check sees what the process loaded
        assert not mapped & {"pandas", "amqtt", "yaml", "can", "cantools", "asammdf"}, mapped
    finally:
        assert service.terminate() == 0
