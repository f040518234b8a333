"""SocketCAN fixtures: vcan interfaces and vxcan pairs made for one test and removed after it
(:mod:`hw.vcan`). Tests that use them are marked ``vcan`` (see tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from hw import vcan as vcan_lib


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
