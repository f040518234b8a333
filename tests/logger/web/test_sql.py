"""Read-only SQL over live tables: answers against references, limits, every escape, time-outs."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from logger.core.errors import Code, QueryError
from logger.store.chunk import TableChunk, WriteHints
from logger.store.crypto import StoreCrypto
from logger.web.sql import (
    LiveTable,
    SqlError,
    SqlMemoryError,
    SqlRefusedError,
    SqlTimeoutError,
    run_sql,
    truncated,
)
from tests.support.store import BASE_NS, make_store

KEY = bytes(range(32))
ROWS_PER_FILE = 20_000


def frames(start: int, count: int, seed: int) -> pa.Table:
    """Frame-like rows: ``ts`` int64 ns from ``start`` (1 ms apart), ``bus``, ``id``, ``dlc``."""
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "ts": pa.array(BASE_NS + (start + np.arange(count, dtype=np.int64)) * 1_000_000),
            "bus": pa.array(rng.integers(0, 3, count).astype(np.int8)),
            "id": pa.array(rng.integers(0x100, 0x110, count).astype(np.int32)),
            "dlc": pa.array(rng.integers(0, 9, count).astype(np.int8)),
        }
    )


@pytest.fixture
def live(tmp_path: Path) -> tuple[LiveTable, pa.Table]:
    """``can_frames`` over two plain files, one encrypted file and a memory table; all its rows."""
    crypto = StoreCrypto(KEY, "k1")
    parts = [frames(i * ROWS_PER_FILE, ROWS_PER_FILE, i) for i in range(4)]
    paths = [tmp_path / f"{i}.parquet" for i in range(3)]
    pq.write_table(parts[0], paths[0], row_group_size=4096)
    pq.write_table(parts[1], paths[1], row_group_size=4096)
    pq.write_table(
        parts[2],
        paths[2],
        row_group_size=4096,
        encryption_properties=crypto.encryption_properties(),
    )
    table = LiveTable("can_frames", paths, parts[3], crypto.decryption_properties())
    return table, pa.concat_tables(parts)


def ask(tables: list[LiveTable], sql: str, row_limit: int = 1_000_000) -> pa.Table:
    return run_sql(tables, sql, row_limit=row_limit, timeout_s=30.0)


def test_group_by_matches_numpy(live: tuple[LiveTable, pa.Table]) -> None:
    table, everything = live
    answer = ask(
        [table],
        "SELECT bus, id, count(*) AS n, sum(dlc) AS dlc, min(ts) AS first FROM can_frames "
        "GROUP BY bus, id ORDER BY bus, id",
    )
    bus = everything["bus"].to_numpy().astype(np.int64)
    ids = everything["id"].to_numpy().astype(np.int64)
    keys = bus * 0x10000 + ids
    unique, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    dlc = np.bincount(inverse, weights=everything["dlc"].to_numpy().astype(np.float64))
    first = np.full(unique.size, np.iinfo(np.int64).max)
    np.minimum.at(first, inverse, everything["ts"].to_numpy())
    assert answer["bus"].to_pylist() == (unique // 0x10000).tolist()
    assert answer["id"].to_pylist() == (unique % 0x10000).tolist()
    assert answer["n"].to_pylist() == counts.tolist()
    assert answer["dlc"].to_pylist() == dlc.astype(np.int64).tolist()
    assert answer["first"].to_pylist() == first.tolist()
    assert not truncated(answer)


def test_files_and_memory_each_row_once(live: tuple[LiveTable, pa.Table]) -> None:
    table, everything = live
    answer = ask([table], "SELECT ts FROM can_frames ORDER BY ts")
    assert answer["ts"].to_pylist() == everything["ts"].to_pylist()
    memory_only = LiveTable("can_frames", [], table.memory, None)
    assert ask([memory_only], "SELECT count(*) AS n FROM can_frames")["n"][0].as_py() == (
        ROWS_PER_FILE
    )
    files_only = LiveTable("can_frames", table.files, None, table.decryption)
    assert ask([files_only], "SELECT count(*) AS n FROM can_frames")["n"][0].as_py() == (
        3 * ROWS_PER_FILE
    )


def test_filter_is_pushed_into_the_files(live: tuple[LiveTable, pa.Table]) -> None:
    table, everything = live
    plan = ask([table], "EXPLAIN SELECT ts FROM can_frames WHERE id = 258")
    text = "\n".join(str(v) for v in plan.column(plan.num_columns - 1).to_pylist())
    assert "Filters" in text and "258" in text
    answer = ask([table], "SELECT ts FROM can_frames WHERE id = 258 ORDER BY ts")
    expected = everything.filter(pc.equal(everything["id"], 258))["ts"]
    assert answer["ts"].to_pylist() == expected.to_pylist()


def test_store_files_show_int64_times_and_no_tie(tmp_path: Path) -> None:
    store = make_store(tmp_path / "data")
    rows = frames(0, 5_000, 1)
    hints = WriteHints(sort_by=("id",), time_unit="us")
    written = store.write([TableChunk("frames", rows, "ts", hints)], {})
    schema = pq.read_schema(written[0].path)
    assert "_tie" in schema.names and pa.types.is_timestamp(schema.field("ts").type)
    memory = frames(5_000, 10, 2)
    table = LiveTable("can_frames", [f.path for f in written], memory, None)
    answer = ask([table], "SELECT * FROM can_frames ORDER BY ts")
    assert answer.schema.names == ["ts", "bus", "id", "dlc"]
    assert answer.schema.field("ts").type == pa.int64()
    expected = pa.concat_tables([rows, memory])
    for name in expected.column_names:
        assert answer[name].to_pylist() == expected[name].to_pylist()


def test_columns_missing_from_a_part_are_null(tmp_path: Path) -> None:
    path = tmp_path / "old.parquet"
    pq.write_table(frames(0, 10, 0), path)
    memory = frames(10, 5, 1).append_column("note", pa.array(["new"] * 5))
    table = LiveTable("can_frames", [path], memory, None)
    answer = ask([table], "SELECT note, count(*) AS n FROM can_frames GROUP BY note ORDER BY n")
    assert answer.to_pylist() == [{"note": "new", "n": 5}, {"note": None, "n": 10}]


def test_several_views_and_empty_ones(live: tuple[LiveTable, pa.Table]) -> None:
    table, everything = live
    signals = pa.table({"ts": pa.array([BASE_NS], pa.int64()), "Speed": pa.array([12.5])})
    views = [
        table,
        LiveTable("can_EngineData", [], signals, None),
        LiveTable("raw_raw", [], pa.schema([("ts", pa.int64())]).empty_table(), None),
        LiveTable("can_Nothing", [], None, None),
    ]
    answer = ask(
        views,
        "SELECT (SELECT count(*) FROM can_frames) AS f, (SELECT max(Speed) FROM "
        "can_enginedata) AS s, (SELECT count(*) FROM raw_raw) AS r",
    )
    assert answer.to_pylist() == [{"f": everything.num_rows, "s": 12.5, "r": 0}]
    with pytest.raises(SqlError, match="can_Nothing"):
        ask(views, "SELECT * FROM can_Nothing")
    with pytest.raises(SqlError, match="two views"):
        ask([table, table], "SELECT 1")


def test_row_limit_cuts_and_says_so(live: tuple[LiveTable, pa.Table]) -> None:
    table, everything = live
    answer = run_sql([table], "SELECT * FROM can_frames ORDER BY ts", row_limit=100, timeout_s=30)
    assert answer.num_rows == 100 and truncated(answer)
    assert answer["ts"].to_pylist() == everything["ts"].to_pylist()[:100]
    exact = run_sql([table], "SELECT * FROM can_frames LIMIT 100", row_limit=100, timeout_s=30)
    assert exact.num_rows == 100 and not truncated(exact)
    none = run_sql([table], "SELECT * FROM can_frames", row_limit=0, timeout_s=30)
    assert none.num_rows == 0 and truncated(none) and none.schema.names[0] == "ts"
    huge = run_sql([table], "SELECT * FROM range(10000000000) t(x)", row_limit=70_000, timeout_s=30)
    assert huge.num_rows == 70_000 and truncated(huge)
    small = run_sql(
        [table], "SELECT * FROM can_frames", row_limit=10**9, timeout_s=30, byte_limit=100_000
    )
    assert 0 < small.num_rows < everything.num_rows and truncated(small)
    assert small.nbytes <= 100_000


def test_encrypted_files_need_the_key(live: tuple[LiveTable, pa.Table]) -> None:
    table, _ = live
    keyless = LiveTable("can_frames", table.files, None, None)
    with pytest.raises(SqlError, match="encrypted") as err:
        ask([keyless], "SELECT count(*) FROM can_frames")
    assert err.value.disk == Code.FILE_DECODE


ESCAPES = [
    ("CREATE TABLE t AS SELECT 1", "CREATE statement"),
    ("CREATE TEMP TABLE t AS SELECT 1", "CREATE statement"),
    ("CREATE MACRO m() AS 1", "CREATE statement"),
    ("INSERT INTO can_frames SELECT * FROM can_frames", "INSERT statement"),
    ("DELETE FROM can_frames", "DELETE statement"),
    ("UPDATE can_frames SET id = 1", "UPDATE statement"),
    ("DROP VIEW can_frames", "DROP statement"),
    ("COPY (SELECT 1) TO '{tmp}/out.csv'", "COPY statement"),
    ("EXPORT DATABASE '{tmp}/export'", "EXPORT statement"),
    ("ATTACH ':memory:' AS other", "ATTACH statement"),
    ("ATTACH '{tmp}/x.duckdb' AS other", "ATTACH statement"),
    ("INSTALL httpfs", "LOAD statement"),
    ("LOAD httpfs", "LOAD statement"),
    ("SET enable_external_access = true", "SET statement"),
    ("SET lock_configuration = false", "SET statement"),
    ("RESET memory_limit", "SET statement"),
    ("PRAGMA threads = 64", "SET statement"),
    ("PRAGMA enable_profiling", "PRAGMA statement"),
    ("CALL pragma_version()", "CALL statement"),
    ("CHECKPOINT", "statement; only SELECT"),
    ("SELECT 1; DROP VIEW can_frames", "one statement"),
    ("SELECT * FROM read_parquet('{tmp}/0.parquet')", "never files"),
    ("SELECT * FROM '{tmp}/0.parquet'", "never files"),
    ("SELECT * FROM parquet_metadata('{tmp}/0.parquet')", "never files"),
    ("SELECT * FROM read_csv('/etc/passwd')", "never files"),
    ("SELECT * FROM read_text('/etc/passwd')", "never files"),
    ("SELECT * FROM read_blob('/etc/passwd')", "never files"),
    ("SELECT * FROM glob('/etc/*')", "never files"),
    ("SELECT * FROM read_parquet('https://example.com/x.parquet')", "never files"),
    ("SELECT * FROM read_json('s3://bucket/x.json')", "refused"),
    ("SELECT * FROM query('CREATE TABLE t AS SELECT 1')", "bad SQL"),
    ("WITH t AS (INSERT INTO can_frames VALUES (1) RETURNING *) SELECT * FROM t", "bad SQL"),
    ("SELECT getenv('HOME')", "bad SQL"),
    ("SELECT * FROM tables", "bad SQL"),  # a Python variable of run_sql's caller: not scanned
]


@pytest.mark.parametrize(("sql", "message"), ESCAPES, ids=[e[0][:40] for e in ESCAPES])
def test_escapes_are_refused(
    live: tuple[LiveTable, pa.Table], tmp_path: Path, sql: str, message: str
) -> None:
    table, everything = live
    tables = [table]  # noqa: F841 - the name the last escape tries to read
    with pytest.raises(SqlError, match=message) as err:
        ask([table], sql.format(tmp=tmp_path))
    assert isinstance(err.value, QueryError)
    assert err.value.disk == Code.BAD_COMMAND == err.value.memory
    assert "Traceback" not in str(err.value)
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "export").exists()
    answer = ask([table], "SELECT count(*) AS n FROM can_frames")
    assert answer["n"][0].as_py() == everything.num_rows


def test_catalog_functions_show_no_secret(live: tuple[LiveTable, pa.Table]) -> None:
    table, _ = live
    assert ask([table], "SELECT * FROM duckdb_secrets()").num_rows == 0
    settings = ask([table], "SELECT name, value FROM duckdb_settings()").to_pylist()
    values = {row["name"]: row["value"] for row in settings}
    assert values["enable_external_access"] == "false"
    assert values["lock_configuration"] == "true"
    assert values["python_enable_replacements"] == "false"
    assert values["temp_directory"] == ""


def test_refusals_have_their_own_class(live: tuple[LiveTable, pa.Table]) -> None:
    table, _ = live
    for sql in ("SET threads = 1", "SELECT * FROM read_csv('/etc/passwd')", "SELECT 1; SELECT 2"):
        with pytest.raises(SqlRefusedError):
            ask([table], sql)


BAD_SQL = [
    ("SELEC 1", "syntax error"),
    ("SELECT nope FROM can_frames", "nope"),
    ("SELECT * FROM can_nowhere", "can_nowhere"),
    ("SELECT 1 +", "syntax error"),
    ("", "no SQL statement"),
    ("   ;  ", "no SQL statement"),
    ("SELECT CAST('x' AS INTEGER)", "the query failed|Conversion"),
    ("SELECT 1/0 AS x, 'a'::INT", "Conversion|failed"),
]


@pytest.mark.parametrize(("sql", "message"), BAD_SQL)
def test_bad_sql_is_a_bad_command(live: tuple[LiveTable, pa.Table], sql: str, message: str) -> None:
    table, _ = live
    with pytest.raises(SqlError, match=message) as err:
        ask([table], sql)
    assert err.value.disk == Code.BAD_COMMAND
    assert ask([table], "SELECT 1 AS one")["one"].to_pylist() == [1]


def timed(call: Callable[[], object]) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        call()
    except SqlError as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


def test_timeout_interrupts_the_query(live: tuple[LiveTable, pa.Table]) -> None:
    table, everything = live
    cross = "SELECT count(*) FROM can_frames a, can_frames b WHERE a.dlc + b.dlc > 100"
    error, took = timed(lambda: run_sql([table], cross, row_limit=10, timeout_s=1.0))
    assert isinstance(error, SqlTimeoutError), error
    assert error.disk == Code.BAD_COMMAND and "time limit of 1 s" in str(error)
    assert took < 1.0 + 4.0
    streaming = "SELECT a.x FROM range(100000000) a(x), range(1000) b(y) WHERE a.x * b.y = -1"
    error, took = timed(lambda: run_sql([table], streaming, row_limit=10, timeout_s=0.5))
    assert isinstance(error, SqlTimeoutError) and took < 0.5 + 4.0
    answer = run_sql([table], "SELECT count(*) AS n FROM can_frames", row_limit=1, timeout_s=30)
    assert answer["n"][0].as_py() == everything.num_rows


def test_memory_limit(live: tuple[LiveTable, pa.Table]) -> None:
    table, _ = live
    with pytest.raises(SqlMemoryError, match="more memory"):
        run_sql(
            [table],
            "SELECT list(x) FROM range(100000000) t(x)",
            row_limit=1,
            timeout_s=30,
            memory_limit=64 << 20,
        )


def test_bad_limits(live: tuple[LiveTable, pa.Table]) -> None:
    with pytest.raises(SqlError, match="bad limits"):
        run_sql([live[0]], "SELECT 1", row_limit=-1, timeout_s=1)
    with pytest.raises(SqlError, match="bad limits"):
        run_sql([live[0]], "SELECT 1", row_limit=1, timeout_s=0)


def test_several_clients_at_once(live: tuple[LiveTable, pa.Table]) -> None:
    table, everything = live
    counts: list[int] = []
    errors: list[BaseException] = []

    def client() -> None:
        try:
            for _ in range(3):
                answer = run_sql(
                    [table], "SELECT count(*) AS n FROM can_frames", row_limit=1, timeout_s=30
                )
                counts.append(answer["n"][0].as_py())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert counts == [everything.num_rows] * 12


def test_duckdb_loads_on_the_first_query_only() -> None:
    code = (
        "import sys, logger.web.sql\n"
        "assert 'duckdb' not in sys.modules, 'imported at start'\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_a_file_gone_mid_query_is_a_file_error(live: tuple[LiveTable, pa.Table]) -> None:
    table, _ = live
    files = list(table.files)
    gone = files[0].with_name("gone.parquet")
    broken = LiveTable("can_frames", [files[0], gone, files[2]], None, table.decryption)
    with pytest.raises(SqlError, match=r"can_frames \(files\).*gone\.parquet") as err:
        ask([broken], "SELECT count(*) FROM can_frames")
    assert err.value.disk == Code.FILE_DECODE
    truncated_file = files[1].with_name("short.parquet")
    truncated_file.write_bytes(files[1].read_bytes()[:-100])
    with pytest.raises(SqlError, match=r"short\.parquet") as err:
        ask([LiveTable("can_frames", [truncated_file], None, None)], "SELECT 1 FROM can_frames")
    assert err.value.disk == Code.FILE_DECODE
