"""Fleet fixtures for the lake tests: simulated vehicles' stores (the demo DBC, two buses), put
into a bucket (or a local lake directory) under the lake's key layout, and our own engine's
answer per vehicle."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from bench.decode import DEMO_DBC, simulated_frames
from canp.plugin import CanpPlugin
from canp.schema import FRAMES, TIME_COLUMN
from logger.core.config import Config, ExchangeConfig, ParquetConfig
from logger.query.answer import END_MARK, Answerer, StoreSource
from logger.store import ParquetStore
from logger.store.chunk import TableChunk
from logger.store.metadata import file_metadata

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

EXCHANGE = "can"
START_S = 1_717_200_000.0  # 2024-06-01T00:00:00Z
CHUNK = 5_000


def exchange(dbc: Path = DEMO_DBC) -> ExchangeConfig:
    return ExchangeConfig(name=EXCHANGE, topic="vehicle/+/canp/#", stream="canp", dbc=dbc)


def open_vehicle_store(
    root: Path, vin: str, dbc: Path = DEMO_DBC
) -> tuple[ParquetStore, CanpPlugin]:
    ex = exchange(dbc)
    plugin = CanpPlugin(ex)
    cfg = Config(vin=vin, exchanges=(ex,), parquet=ParquetConfig(dir=root / vin))
    store = ParquetStore(cfg.parquet, ex.name, file_metadata(cfg, ex, plugin))
    store.recover()
    return store, plugin


def two_buses(frames: pa.Table) -> pa.Table:
    """Ids with bit 4 set (0x110, 0x210, ...) on ``body``, the others on ``powertrain``."""
    odd = pc.equal(pc.bit_wise_and(frames.column("id"), pa.scalar(0x10, pa.uint32())), 0x10)
    bus = pc.if_else(odd, pa.scalar("body"), pa.scalar("powertrain"))
    return frames.set_column(frames.schema.get_field_index("bus"), "bus", bus)


def write_frames(store: ParquetStore, plugin: CanpPlugin, frames: pa.Table) -> None:
    """``frames`` stored as the CANP exchange stores them (frames plus signal tables)."""
    for offset in range(0, frames.num_rows, CHUNK):
        part = frames.slice(offset, CHUNK)
        chunks = [TableChunk(FRAMES, part, TIME_COLUMN, plugin.frames_hints)]
        chunks += plugin.signal_chunks(part)
        store.publish(store.write(chunks))


def simulated_vehicle(
    root: Path, vin: str, seed: int, seconds: float, start_s: float = START_S
) -> Path:
    """A store of ``seconds`` of the demo vehicle (seed ``seed``) under ``root/vin``."""
    store, plugin = open_vehicle_store(root, vin)
    write_frames(store, plugin, two_buses(simulated_frames(seconds, seed, start_s)))
    return root / vin


def lake_keys(store_dir: Path, vin: str) -> Iterator[tuple[str, Path]]:
    """(object key, file) of every Parquet file of a vehicle's store, in the lake layout."""
    for path in sorted(store_dir.rglob("*.parquet")):
        rel = path.relative_to(store_dir).as_posix()
        exchange_name, _, rest = rel.partition("/")
        yield f"vehicle={vin}/exchange={exchange_name}/{rest}", path


def put_store(client: S3Client, bucket: str, store_dir: Path, vin: str) -> int:
    n = 0
    for key, path in lake_keys(store_dir, vin):
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        n += 1
    return n


def copy_store(lake_dir: Path, store_dir: Path, vin: str) -> int:
    n = 0
    for key, path in lake_keys(store_dir, vin):
        target = lake_dir / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        n += 1
    return n


def our_answer(root: Path, vin: str, command: str, dbc: Path = DEMO_DBC) -> pa.Table:
    """Our engine's answer over one vehicle's store."""
    store, plugin = open_vehicle_store(root, vin, dbc)
    replies = list(
        Answerer(StoreSource(EXCHANGE, plugin, store)).answer(plugin.parse_command(command))
    )
    *data, end = replies
    assert end.startswith(END_MARK), end
    assert end[2:3] in (b"0", b"1"), end
    tables = [pa.ipc.open_stream(frame).read_all() for frame in data]
    return pa.concat_tables(tables) if tables else pa.table({})


REAL_LOG = Path("/work/shared/data/logs/ford_gt350_vsslog.trc")
REAL_DBC = Path("/work/shared/data/dbc/matching/ford_lincoln_base_pt.dbc")


def imported_vehicle(root: Path, vin: str) -> Path:
    """The real GT350 log (``../shared/data``) imported with its DBC as vehicle ``vin``."""
    from canp.io.importer import LogImporter  # noqa: PLC0415

    LogImporter(root / vin, EXCHANGE, vin=vin, dbc=REAL_DBC).import_file(REAL_LOG)
    return root / vin


def per_vehicle(answer: pa.Table, vin: str) -> pa.Table:
    """The rows of one vehicle, without the ``vehicle`` column."""
    if "vehicle" not in answer.column_names:
        return pa.table({})
    return answer.filter(pc.equal(answer.column("vehicle"), vin)).drop(["vehicle"])


def normalised(table: pa.Table) -> list[dict[str, object]]:
    """Rows with ``ts`` as int64 ns (our engine answers int64; files keep microseconds)."""
    if "ts" in table.column_names and not pa.types.is_int64(table.schema.field("ts").type):
        table = table.set_column(
            table.schema.get_field_index("ts"), "ts", table.column("ts").cast(pa.int64())
        )
    rows: list[dict[str, object]] = table.to_pylist()
    return rows
