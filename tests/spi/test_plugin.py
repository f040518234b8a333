"""The SPI plugin: encode (wide table + quarantine), commands, decode, store round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from pyarrow import ipc

from logger.core.config import ExchangeConfig, ParquetConfig
from logger.core.errors import Code, CommandError, ConfigError
from logger.core.message import MessageBatch
from logger.query.answer import END_MARK, Answerer, StoreSource
from logger.store import ParquetStore
from logger.store.chunk import TableChunk
from logger.streams.plugin import QUARANTINE, QUARANTINE_SCHEMA
from logger.streams.registry import PluginRegistry
from spi.catalog import catalog_from_dbc, write_catalog
from spi.plugin import SPI, SpiPlugin, SpiQuery, spi_schema
from spi.types import SpiType
from spi.wire import HEADER, Record, encode_batch

DEMO = Path(__file__).resolve().parents[2] / "dbc" / "examples" / "demo.dbc"
T0 = 1_710_072_000_000_000_000
MS = 1_000_000


@pytest.fixture(scope="module")
def plugin() -> SpiPlugin:
    return SpiPlugin(ExchangeConfig(name="sig", topic="vehicle/+/spi/#", stream="spi", dbc=DEMO))


def topic(source: str) -> str:
    return f"vehicle/V1/spi/{source}"


def batch(*messages: tuple[str, bytes]) -> MessageBatch:
    keys = T0 + np.arange(len(messages), dtype=np.int64)
    return MessageBatch(keys, [t for t, _ in messages], [p for _, p in messages])


def rec(p: SpiPlugin, name: str, value: bool | float | str, update: bool = True) -> Record:
    sig = p.catalog.by_name[name]
    return Record(sig.id, sig.type, value, update)


def table_of(chunks: list[TableChunk]) -> pa.Table:
    [table] = [c.table for c in chunks if c.name == SPI]
    return table


def test_registered_by_name_and_id() -> None:
    assert PluginRegistry().get("spi") is SpiPlugin
    assert PluginRegistry().get(1) is SpiPlugin


def test_needs_a_catalog() -> None:
    with pytest.raises(ConfigError, match=r"exchange\[sig\]\.dbc"):
        SpiPlugin(ExchangeConfig(name="sig", stream="spi"))


def test_encode_one_row_per_batch_typed_columns_in_time_order(plugin: SpiPlugin) -> None:
    a = encode_batch(
        T0 + 20 * MS,
        [
            rec(plugin, "EngineData.EngineSpeed", 1500.25),
            rec(plugin, "TransmissionData.Gear", 3, update=False),
            rec(plugin, "EngineData.EngineRunning", True),
            rec(plugin, "EcuDiagnostics.UptimeS", 4_000_000_000),
            rec(plugin, "EngineData.CoolantTemp", -40),
        ],
    )
    b = encode_batch(T0 + 10 * MS, [rec(plugin, "EngineData.EngineSpeed", 800.0)])
    chunks = plugin.encode(batch((topic("gw"), a), (topic("adas"), b)))
    assert [c.name for c in chunks] == [SPI]
    table = table_of(chunks)
    assert table.schema == spi_schema(plugin.catalog)
    assert table.num_columns == 4 + len(plugin.catalog)
    assert sorted(table.column("topic").to_pylist()) == [topic("adas"), topic("gw")]
    assert table.schema.field("EngineData.EngineSpeed").metadata == {
        b"spi_id": b"0",
        b"unit": b"rpm",
    }
    assert table.schema.field("EcuDiagnostics.UptimeS").type == pa.uint32()
    rows = table.to_pylist()
    assert [r["ts"] for r in rows] == [T0 + 10 * MS, T0 + 20 * MS]
    assert [r["source"] for r in rows] == ["adas", "gw"]
    assert rows[0]["EngineData.EngineSpeed"] == 800.0
    assert rows[0]["TransmissionData.Gear"] is None
    assert rows[1]["EngineData.EngineSpeed"] == 1500.25
    assert rows[1]["TransmissionData.Gear"] == 3
    assert rows[1]["EngineData.EngineRunning"] is True
    assert rows[1]["EcuDiagnostics.UptimeS"] == 4_000_000_000
    assert rows[1]["EngineData.CoolantTemp"] == -40
    assert rows[1]["updated"] == [
        "EngineData.EngineSpeed",
        "EngineData.CoolantTemp",
        "EngineData.EngineRunning",
        "EcuDiagnostics.UptimeS",
    ]
    assert rows[0]["updated"] == ["EngineData.EngineSpeed"]


def test_quarantine_keeps_good_records_and_names_the_bad(plugin: SpiPlugin) -> None:
    speed = rec(plugin, "EngineData.EngineSpeed", 10.0)
    gear_id = plugin.catalog.by_name["TransmissionData.Gear"].id
    partial = encode_batch(
        T0, [speed, Record(4000, SpiType.U8, 1), Record(gear_id, SpiType.U16, 3)]
    )
    twice = encode_batch(T0 + 1, [speed, speed])
    broken = encode_batch(T0 + 2, [speed])[:-1]
    good = encode_batch(T0 + 3, [speed])
    before = plugin.quarantined
    b = batch(
        (topic("a"), partial),
        (topic("b"), twice),
        (topic("c"), broken),
        (topic("d"), good),
        ("vehicle/V1/spi/", good),
    )
    chunks = plugin.encode(b)
    table = table_of(chunks)
    assert table.column("source").to_pylist() == ["a", "d"]
    assert table.column("TransmissionData.Gear").null_count == 2
    [quarantine] = [c for c in chunks if c.name == QUARANTINE]
    assert quarantine.table.schema == QUARANTINE_SCHEMA
    rows = quarantine.table.to_pylist()
    assert [r["topic"] for r in rows] == [topic("a"), topic("b"), topic("c"), "vehicle/V1/spi/"]
    assert [r["payload"] for r in rows] == [partial, twice, broken, good]
    assert [r["key"] for r in rows] == [T0, T0 + 1, T0 + 2, T0 + 4]
    reasons = [r["reason"] for r in rows]
    assert "2 record(s) not stored" in reasons[0]
    assert "id 0xFA0 is not in the catalog" in reasons[0]
    assert "TransmissionData.Gear) is u8 in the catalog, the record says u16" in reasons[0]
    assert "appears more than once" in reasons[1]
    assert "ends at byte" in reasons[2]
    assert "no source level" in reasons[3]
    assert plugin.quarantined == before + 4


def test_all_bad_gives_only_quarantine(plugin: SpiPlugin) -> None:
    chunks = plugin.encode(batch((topic("a"), b"nonsense")))
    assert [c.name for c in chunks] == [QUARANTINE]
    assert plugin.encode(batch((topic("a"), HEADER.pack(b"SP", 1, 0, T0, 0)))) == []
    assert plugin.encode(MessageBatch.empty()) == []


def test_utf8_and_catalog_file(tmp_path: Path) -> None:
    catalog, _ = catalog_from_dbc(DEMO)
    from spi.catalog import Catalog, CatalogSignal  # noqa: PLC0415

    extended = Catalog(
        (*catalog.signals, CatalogSignal("Infotainment.Track", 200, SpiType.UTF8, "")),
        catalog.retired,
        catalog.source,
        catalog.source_sha256,
    )
    path = tmp_path / "catalog.toml"
    write_catalog(extended, path)
    p = SpiPlugin(ExchangeConfig(name="sig", stream="spi", dbc=path))
    assert p.metadata()["sdvlog.dbc_name"] == "demo.dbc"
    payload = encode_batch(T0, [Record(200, SpiType.UTF8, "Autobahn ♫")])
    table = table_of(p.encode(batch((topic("hu"), payload))))
    assert table.column("Infotainment.Track").to_pylist() == ["Autobahn ♫"]
    assert table.schema.field("Infotainment.Track").type == pa.string()


def test_parse_command(plugin: SpiPlugin) -> None:
    q = plugin.parse_command("sync-0-10;sig=Gear,EngineData.EngineSpeed;limit=5")
    assert isinstance(q, SpiQuery)
    assert q.signals == ("TransmissionData.Gear", "EngineData.EngineSpeed")
    assert (q.table, q.time_column, q.limit) == (SPI, "ts", 5)
    assert plugin.parse_command("async-0-10").signals == ()  # type: ignore[attr-defined]
    for text, message in [
        ("sync-0-1;sig=Nope", "unknown signal 'Nope'"),
        ("sync-0-1;sig=EngineData.Gear", "unknown signal 'EngineData.Gear'"),
        ("sync-0-1;msg=EngineData", "not answered by the SPI stream"),
        ("sync-0-1;where=Gear>3", "not answered by the SPI stream"),
        ("sync-0-1;out=intervals", "not answered by the SPI stream"),
        ("sync-0-1;bus=can0", "bus="),
        ("sync-0-1;id=0x100", "id="),
    ]:
        with pytest.raises(CommandError, match=message) as info:
            plugin.parse_command(text)
        assert info.value.disk is Code.BAD_COMMAND


def test_ambiguous_short_name(tmp_path: Path) -> None:
    text = DEMO.read_text().replace(
        ' SG_ HeadlightsOn : 32|1@1+ (1,0) [0|1] "" GW\n',
        ' SG_ HeadlightsOn : 32|1@1+ (1,0) [0|1] "" GW\n SG_ Gear : 40|4@1+ (1,0) [0|15] "" GW\n',
    )
    dbc = tmp_path / "amb.dbc"
    dbc.write_text(text)
    p = SpiPlugin(ExchangeConfig(name="sig", stream="spi", dbc=dbc))
    with pytest.raises(CommandError, match="ambiguous"):
        p.parse_command("sync-0-1;sig=Gear")
    assert p.parse_command("sync-0-1;sig=ClimateStatus.Gear").signals == (  # type: ignore[attr-defined]
        "ClimateStatus.Gear",
    )


def test_decode_selects_signals_and_rows_that_carry_them(plugin: SpiPlugin) -> None:
    payloads = [
        (topic("a"), encode_batch(T0, [rec(plugin, "TransmissionData.Gear", 1, update=False)])),
        (topic("a"), encode_batch(T0 + MS, [rec(plugin, "EngineData.EngineSpeed", 5.0)])),
        (
            topic("b"),
            encode_batch(
                T0 + 2 * MS,
                [
                    rec(plugin, "EngineData.EngineSpeed", 6.0),
                    rec(plugin, "TransmissionData.Gear", 2),
                ],
            ),
        ),
    ]
    table = table_of(plugin.encode(batch(*payloads)))
    q = plugin.parse_command(f"sync-0-{T0 // MS + 10};sig=Gear")
    [out] = list(plugin.decode([table], q))
    assert out.column_names == ["ts", "source", "topic", "updated", "TransmissionData.Gear"]
    assert out.to_pylist() == [
        {"ts": T0, "source": "a", "topic": topic("a"), "updated": [], "TransmissionData.Gear": 1},
        {
            "ts": T0 + 2 * MS,
            "source": "b",
            "topic": topic("b"),
            "updated": ["TransmissionData.Gear"],
            "TransmissionData.Gear": 2,
        },
    ]
    # a table written under an older catalog lacks a column: it reads as nulls
    older = table.drop_columns(["TransmissionData.Gear"])
    assert list(plugin.decode([older], q)) == []
    # a table of schema version 1 has no topic column: answered without one
    [first] = list(plugin.decode([table.drop_columns(["topic"])], q))
    assert first.column_names == ["ts", "source", "updated", "TransmissionData.Gear"]
    [everything] = list(plugin.decode([table], plugin.parse_command("sync-0-1")))
    assert everything.equals(table)


def make_store(directory: Path) -> ParquetStore:
    store = ParquetStore(ParquetConfig(dir=directory), "sig", {"sdvlog.plugin": "spi"})
    store.recover()
    return store


def answer(p: SpiPlugin, store: ParquetStore, command: str) -> tuple[pa.Table | None, bytes]:
    frames = list(Answerer(StoreSource("sig", p, store)).answer(p.parse_command(command)))
    end = frames[-1]
    assert end.startswith(END_MARK)
    tables = [ipc.open_stream(f).read_all() for f in frames[:-1]]
    return (pa.concat_tables(tables) if tables else None), end


def test_store_round_trip(plugin: SpiPlugin, tmp_path: Path) -> None:
    store = make_store(tmp_path)
    rng = np.random.default_rng(5)
    speeds = rng.uniform(0, 8000, 200).astype(np.float32)
    messages = [
        (
            topic("gw"),
            encode_batch(
                T0 + i * 10 * MS,
                [
                    rec(plugin, "EngineData.EngineSpeed", float(speeds[i])),
                    *([rec(plugin, "TransmissionData.Gear", i % 9)] if i % 2 else []),
                ],
            ),
        )
        for i in range(200)
    ]
    for part in (messages[:100], messages[100:]):
        store.publish(store.write(plugin.encode(batch(*part))))
    files = store.files(SPI)
    assert len(files) == 2
    meta = store.read_metadata(files[0])
    assert meta[b"sdvlog.plugin"] == b"spi"

    table, end = answer(plugin, store, f"sync-{T0 // MS}-{T0 // MS + 1000};sig=EngineSpeed")
    assert end == END_MARK + b"0,1"
    assert table is not None
    assert table.column("ts").to_pylist() == [T0 + i * 10 * MS for i in range(101)]
    assert np.array_equal(table.column("EngineData.EngineSpeed").to_numpy(), speeds[:101])

    table, _ = answer(plugin, store, f"sync-0-{T0 // MS + 5000};sig=Gear;limit=10")
    assert table is not None
    assert table.column("TransmissionData.Gear").to_pylist() == [i % 9 for i in range(1, 20, 2)]

    whole, _ = answer(plugin, store, f"async-0-{T0 // MS + 5000}")
    assert whole is not None and whole.num_rows == 200
    assert whole.schema.names == spi_schema(plugin.catalog).names
