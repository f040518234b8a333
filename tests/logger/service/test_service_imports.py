"""The service imports only what its configured parts use (idle memory stays small)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import numbered, publish
from tests.support.ports import free_port
from tests.support.service import WAIT_S, ServiceProcess, count_rows, wait_until

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
    "logger.gateway.gateway",
)

SCRIPT = """
import json, sys
from pathlib import Path
from logger.core.config import BrokerConfig, Config, ParquetConfig, QueryConfig
from logger.service.service import Service

cfg = Config(
    broker=BrokerConfig(url="embedded", embedded_port=0),
    parquet=ParquetConfig(dir=Path(sys.argv[1])),
    query=QueryConfig(url=sys.argv[2]),
)
service = Service(cfg)
service.start()
try:
    from logger.query import client
    reply = client.query(sys.argv[2], "sync-0-9223372036854775807")  # nothing stored yet
    assert reply.table().num_rows == 0
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
        check=False,
    )
    assert out.returncode == 0, f"the service failed to start and answer:\n{out.stderr}"
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_the_embedded_defaults_start_and_answer_without_the_heavy_modules(tmp_path: Path) -> None:
    modules = started_modules(tmp_path)
    assert "logger.service.service" in modules and "pyarrow" in modules
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
