"""Where sdv-logger relies on how another library behaves beyond its documented API.

Each entry names the version it was checked against; its tests (``tests/logger/core/test_compat.py``)
fail when a release changes the behaviour.

- :func:`keep_pandas_unloaded` (pyarrow 26.0.1, pandas 3.1.1): the first time pyarrow builds an
  array from Python or numpy data it imports pandas, if installed, to check whether the input is
  a pandas object (``pandas-shim.pxi``: ``_have_pandas_internal``). That import costs about 50 MiB
  of resident memory in a process that never uses pandas. pyarrow tries that implicit import
  once; when it fails, pyarrow treats pandas as absent for such checks, and explicit
  conversions (``Table.to_pandas``, ``Table.from_pandas``) still import it when called.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

import pyarrow as pa


class RefuseImport:
    """A meta path finder (``sys.meta_path``) that makes importing ``package`` or any of its
    modules fail with ImportError, as if it were not installed, while it is installed."""

    def __init__(self, package: str, why: str) -> None:
        self.package, self.why = package, why

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name == self.package or name.startswith(self.package + "."):
            raise ImportError(f"{self.package} is not loaded: {self.why}")
        return None


def keep_pandas_unloaded() -> bool:
    """Stop pyarrow from importing pandas on its own; True when it took effect.

    Nothing changes when pandas is already imported. Call it before anything builds an Arrow
    array, in a process whose configured parts do not use pandas.
    """
    if "pandas" in sys.modules:
        return False
    refuse = RefuseImport("pandas", "no configured part of this process needs it")
    sys.meta_path.insert(0, refuse)
    try:
        pa.array([0])  # pyarrow's one implicit attempt to import pandas happens (and fails) here
    finally:
        sys.meta_path.remove(refuse)
    return "pandas" not in sys.modules


def mqtt_topic_bytes(msg: object) -> bytes:
    """The raw topic bytes of a paho ``MQTTMessage`` (checked against paho-mqtt 2.2.0: ``_topic``), for a topic
    that is not valid UTF-8, where paho's ``topic`` property raises UnicodeDecodeError."""
    raw = getattr(msg, "_topic", None)
    if not isinstance(raw, bytes | bytearray):
        raise TypeError(f"{type(msg).__name__} keeps no raw topic bytes (_topic)")
    return bytes(raw)
