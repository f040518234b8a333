"""The behaviour of other libraries that ``logger.core.compat`` relies on: each test fails when a
release changes it (pandas in a fresh process)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from logger.core.compat import (
    asc_header_date,
    httpfs_extension_path,
    iceberg_file_statistics,
    mf4_extend,
    mf4_set_start,
    mqtt_topic_bytes,
)

SCRIPT = """
import json, sys
import pyarrow as pa, pyarrow.parquet as pq, numpy as np
from logger.core.compat import keep_pandas_unloaded

took = keep_pandas_unloaded()
table = pa.table({"a": pa.array(np.arange(3)), "s": pa.array(["x", "y", "z"])})
pq.write_table(table, sys.argv[1])
after_use = "pandas" in sys.modules
frame = pq.read_table(sys.argv[1]).to_pandas()  # explicit conversions still work
import pandas as pd
back = pa.Table.from_pandas(frame, preserve_index=False).to_pylist() == table.to_pylist()
series = pa.array(pd.Series([1.5, None])).to_pylist()
print(json.dumps([took, after_use, type(frame).__name__, back, series]))
"""

PLAIN = """
import sys, pyarrow as pa
pa.array([0])
print("pandas" in sys.modules)
"""


def run(script: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()[-1]


def test_pyarrow_alone_imports_pandas_which_is_why_compat_exists() -> None:
    assert run(PLAIN) == "True"


def test_pandas_stays_unloaded_and_explicit_conversions_still_work(tmp_path: Path) -> None:
    took, after_use, frame, back, series = json.loads(run(SCRIPT, f"{tmp_path}/t.parquet"))
    assert took is True and after_use is False
    assert frame == "DataFrame" and back is True and series == [1.5, None]


def test_asc_header_dates_parse_as_python_cans_asc_reader_parses_them() -> None:
    local = datetime(2023, 11, 9, 20, 36, 33, 153000).timestamp()  # naive: local time
    assert asc_header_date("Nov 09 08:36:33.153 pm 2023") == local
    assert asc_header_date("Nov 09 20:36:33.153 2023") == local
    assert asc_header_date("Dez 09 20:36:33 2023") == datetime(2023, 12, 9, 20, 36, 33).timestamp()
    with pytest.raises(ValueError):
        asc_header_date("Thu, 09 Nov 2023 20:36:33 GMT")


def test_mf4_records_written_in_bulk_read_back_from_the_start_time(tmp_path: Path) -> None:
    pytest.importorskip("asammdf")
    from can.io.mf4 import ERR_DTYPE, RTR_DTYPE, STD_DTYPE, MF4Reader, MF4Writer  # noqa: PLC0415

    path = tmp_path / "bulk.mf4"
    start = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    writer = MF4Writer(path)
    try:
        mf4_set_start(writer, start)
        groups = ((0, "CAN_DataFrame", STD_DTYPE), (1, "CAN_ErrorFrame", ERR_DTYPE))
        for group, name, dtype in groups:
            rec = np.zeros(2, dtype=dtype)
            rec[f"{name}.BusChannel"] = [1, 2]
            rec[f"{name}.ID"] = [0x100 + group, 0x200 + group]
            rec[f"{name}.DLC"] = rec[f"{name}.DataLength"] = [1, 2]
            rec[f"{name}.DataBytes"][:, :2] = [[7, 0], [8, 9]]
            mf4_extend(writer, group, np.array([0.5, 1.5]) + group * 0.1, rec)
        rec = np.zeros(1, dtype=RTR_DTYPE)
        rec["CAN_RemoteFrame.ID"] = 0x300
        mf4_extend(writer, 2, np.array([2.0]), rec)
    finally:
        writer.stop()
    reader = MF4Reader(path)
    try:
        got = sorted(
            (round(m.timestamp - start.timestamp(), 6), m.arbitration_id, bytes(m.data), m.channel)
            for m in reader
        )
    finally:
        reader.stop()
    assert [g[:2] for g in got] == [
        (0.5, 0x100),
        (0.6, 0x101),
        (1.5, 0x200),
        (1.6, 0x201),
        (2.0, 0x300),
    ]
    assert got[0][2:] == (b"\x07", 1) and got[2][2:] == (b"\x08\x09", 2)


def test_an_mqtt_topic_that_is_not_utf8_is_kept_as_its_bytes() -> None:
    from paho.mqtt.client import MQTTMessage  # noqa: PLC0415

    msg = MQTTMessage(mid=1, topic=b"v/\xff/can0")
    with pytest.raises(UnicodeDecodeError):
        _ = msg.topic
    assert mqtt_topic_bytes(msg) == b"v/\xff/can0"
    assert mqtt_topic_bytes(MQTTMessage(topic=b"v/1")) == b"v/1"


def test_compat_loads_neither_python_can_nor_paho_until_used() -> None:
    script = (
        "import sys, logger.core.compat; "
        "print(sorted({'can', 'asammdf', 'paho'} & {m.split('.')[0] for m in sys.modules}))"
    )
    assert run(script) == "[]"


def test_duckdb_loads_the_httpfs_extension_from_its_pypi_package_offline() -> None:
    import duckdb  # noqa: PLC0415

    with duckdb.connect() as con:
        con.execute(f"LOAD '{httpfs_extension_path()}'")
        loaded = con.execute(
            "SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'httpfs'"
        ).fetchall()
    assert loaded == [(True,)]


def test_iceberg_statistics_of_a_parquet_footer(tmp_path: Path) -> None:
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415
    from pyiceberg.catalog.sql import SqlCatalog  # noqa: PLC0415

    table = pa.table(
        {"ts": pa.array([3, 1, 2], pa.int64()), "id": pa.array([7, 8, 9], pa.uint64())}
    )
    pq.write_table(table, tmp_path / "f.parquet")
    catalog = SqlCatalog("t", uri=f"sqlite:///{tmp_path / 'c.db'}", warehouse=f"file://{tmp_path}")
    catalog.create_namespace("n")
    iceberg = catalog.create_table("n.t", schema=table.schema)
    stats = iceberg_file_statistics(iceberg.metadata, pq.read_metadata(tmp_path / "f.parquet"))
    ts_id = iceberg.metadata.schema().find_field("ts").field_id
    id_id = iceberg.metadata.schema().find_field("id").field_id
    assert stats["record_count"] == 3
    assert stats["value_counts"] == {ts_id: 3, id_id: 3}
    assert ts_id in stats["lower_bounds"] and id_id not in stats["lower_bounds"]  # uint64: counts
