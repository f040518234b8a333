"""SocketCAN fixtures: vcan interfaces and vxcan pairs made for one test and removed after it
(:mod:`hw.testbed.vcan`). Tests that use them are marked ``vcan`` (see tests/conftest.py).

A run of only these tests (``-m vcan tests/hw/vcan``, in a VM under emulation, where loading a
large library from the shared disk takes minutes) keeps asammdf and pandas unloaded: nothing here
reads or writes MF4, which is all python-can imports asammdf (and with it pandas and polars) for.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hw.testbed import vcan as vcan_lib


def pytest_configure(config: pytest.Config) -> None:
    here = Path(__file__).resolve().parent
    start = config.invocation_params.dir
    paths = [(start / arg.split("::")[0]).resolve() for arg in config.args]
    if paths and all(path.is_relative_to(here) for path in paths) and "can" not in sys.modules:
        from logger.core.compat import RefuseImport, keep_pandas_unloaded  # noqa: PLC0415

        sys.meta_path.insert(0, RefuseImport("asammdf", "a run of only the SocketCAN tests"))
        keep_pandas_unloaded()


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"  # unique, and within IFNAMSIZ


@pytest.fixture
def vcan() -> Iterator[str]:
    """A CAN FD capable vcan interface, up, with a unique name."""
    with vcan_lib.vcan(_name("vcan")) as name:
        yield name


@pytest.fixture
def vxcan_pair() -> Iterator[tuple[str, str]]:
    """A vxcan pair (what one end sends the other receives), both ends up."""
    with vcan_lib.vxcan_pair(_name("vxa"), _name("vxb")) as pair:
        yield pair
