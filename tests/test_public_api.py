"""The public API, imported as a user would: every package states its public names in
``__all__``, each resolves, and importing a package loads none of its heavy neighbours."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [
    str(p.parent.relative_to(ROOT)).replace("/", ".")
    for top in ("logger", "canp", "spi", "dbc", "hw")
    for p in sorted((ROOT / top).rglob("__init__.py"))
]


@pytest.mark.parametrize("name", PACKAGES)
def test_every_package_states_its_public_names(name: str) -> None:
    package = importlib.import_module(name)
    public = getattr(package, "__all__", None)
    assert public, f"{name}/__init__.py has no __all__"
    missing = [n for n in public if getattr(package, n, None) is None]
    assert missing == [], f"{name}: {missing} do not resolve"


def test_a_program_uses_the_top_level_names(tmp_path: Path) -> None:
    from logger import Code, Config, ConfigError, SdvLoggerError, load_config  # noqa: PLC0415
    from logger.core import parse_command  # noqa: PLC0415

    path = tmp_path / "sdvlog.toml"
    path.write_text('[[exchange]]\nname = "raw"\ntopic = "t/#"\nqos = 3\n')
    with pytest.raises(ConfigError, match=r"sdvlog.toml: exchange\[0\]\.qos") as caught:
        load_config(path)
    assert isinstance(caught.value, SdvLoggerError)
    assert Config().exchanges[0].name == "raw"
    assert parse_command("sync-0-10;limit=3").mode == "sync"
    assert int(Code.BAD_COMMAND) == 5


def test_importing_a_package_loads_only_what_it_uses() -> None:
    code = (
        "import json, sys\n"
        "import logger, logger.gateway, logger.service, logger.core, hw, dbc\n"
        "from logger.gateway import bus_stats\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stdout))
    heavy = {"can", "cantools", "amqtt", "asammdf", "pandas", "pynng", "paho"}
    assert loaded & heavy == set(), sorted(loaded & heavy)
