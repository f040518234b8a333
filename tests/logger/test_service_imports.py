"""The service imports only what its configured parts use (idle memory stays small)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.brokers import free_port

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
