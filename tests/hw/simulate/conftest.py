"""The demo DBC, loaded once per test module of the simulator."""

from __future__ import annotations

import pytest
from cantools.database.can import Database

from hw.simulate import load_dbc
from tests.support.simulation import DEMO


@pytest.fixture(scope="module")
def demo() -> Database:
    return load_dbc(DEMO)
