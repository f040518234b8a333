"""The layering contract of pyproject.toml (``[tool.importlinter]``) holds: dependencies point one
way along the pipeline, core ← store ← streams/mqtt/signals/dbc ← rollup ← canp/spi ←
hw/capture/query ← gateway, web ← service ← cli."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_imports_keep_the_layers() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run(
        [str(lint), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "1 kept, 0 broken" in out.stdout


def test_the_log_importer_loads_no_service_broker_or_channel() -> None:
    code = (
        "import json, sys, canp.io.importer\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('paho', 'pynng', 'amqtt', 'logger'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stdout))
    assert not {m for m in loaded if m.split(".")[0] in ("paho", "pynng", "amqtt")}, loaded
    above = ("logger.service", "logger.gateway", "logger.capture", "logger.query", "logger.cli")
    assert not [m for m in loaded if m.startswith(above)], loaded
