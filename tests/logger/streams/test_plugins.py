from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from logger.core.config import ExchangeConfig
from logger.core.errors import PluginError
from logger.core.message import MessageBatch
from logger.streams.raw import RawPlugin
from logger.streams.registry import PluginRegistry

PLUGIN_SOURCE = """
from __future__ import annotations
import pyarrow as pa
from logger.streams.plugin import Query, StreamPlugin, parse_basic
from logger.store.chunk import TableChunk

class UpperPlugin(StreamPlugin):
    id = 42
    name = "upper"

    def encode(self, batch):
        payloads = [p.upper() for p in batch.payloads]
        return [TableChunk("upper", pa.table({"key": batch.keys, "payload": pa.array(payloads, pa.binary())}), "key")]

    def parse_command(self, text):
        cmd, limit = parse_basic(text, frozenset({"limit"}))
        return Query(cmd, "upper", "key", limit)

    def decode(self, tables, query):
        yield from tables
"""


@pytest.fixture
def plugin_package(tmp_path: Path) -> Iterator[Path]:
    """A separately 'installed' distribution declaring an entry point in sdv_logger.streams."""
    (tmp_path / "upperstream").mkdir()
    (tmp_path / "upperstream" / "__init__.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    info = tmp_path / "upperstream-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: upperstream\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[sdv_logger.streams]\nupper = upperstream:UpperPlugin\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("upperstream", None)


def test_builtins_by_name_and_id() -> None:
    reg = PluginRegistry()
    assert reg.get("raw") is RawPlugin and reg.get(0) is RawPlugin and reg.get("0") is RawPlugin
    assert {"raw", "spi", "canp"} <= set(reg.names())


def test_entry_point_plugin_from_a_test_package(plugin_package: Path) -> None:
    reg = PluginRegistry()
    assert "upper" in reg.names()
    cls = reg.get(42)  # by id: found by loading entry points
    assert cls.name == "upper" and reg.get("upper") is cls
    plugin = cls(ExchangeConfig(name="u", stream="upper"))
    chunks = plugin.encode(MessageBatch(np.array([1, 2], np.int64), ["a", "b"], [b"x", b"y"]))
    assert chunks[0].table.column("payload").to_pylist() == [b"X", b"Y"]


def test_register_in_code_and_clashes() -> None:
    class Mine(RawPlugin):
        id = 17
        name = "mine"

    class Clash(RawPlugin):
        id = 17
        name = "other"

    class LowId(RawPlugin):
        id = 3
        name = "low"

    reg = PluginRegistry(eps=[])
    reg.register(Mine)
    assert reg.get("mine") is Mine and reg.get(17) is Mine
    with pytest.raises(PluginError, match="id 17 is already taken"):
        reg.register(Clash)
    with pytest.raises(PluginError, match="needs an id >= 16"):
        reg.register(LowId)


def test_unknown_plugins_are_clear_errors() -> None:
    reg = PluginRegistry(eps=[])
    with pytest.raises(PluginError, match="unknown stream 'nope'"):
        reg.get("nope")
    with pytest.raises(PluginError, match="unknown stream id 99"):
        reg.get(99)


def test_raw_plugin_rows() -> None:
    plugin = RawPlugin(ExchangeConfig())
    [chunk] = plugin.encode(
        MessageBatch(np.array([5, 6], np.int64), ["a/b", "c"], [b"\x00\x01", b""])
    )
    assert chunk.table.schema == pa.schema(
        [("key", pa.int64()), ("topic", pa.string()), ("payload", pa.binary())]
    )
    assert chunk.table.to_pylist()[0] == {"key": 5, "topic": "a/b", "payload": b"\x00\x01"}
    with pytest.raises(PluginError):
        PluginRegistry(eps=[]).get("bogus")
    query = plugin.parse_command("sync-0-1;limit=3")
    assert (query.table, query.time_column, query.limit) == ("raw", "key", 3)


def test_built_in_streams_are_named_and_numbered_in_one_place() -> None:
    from logger.core.stream_ids import BUILTIN_STREAMS  # noqa: PLC0415
    from logger.streams.registry import BUILTIN  # noqa: PLC0415

    assert set(BUILTIN) == set(BUILTIN_STREAMS)
    registry = PluginRegistry()
    for name, sid in BUILTIN_STREAMS.items():
        assert registry.get(name).id == sid
        assert registry.get(sid).name == name
