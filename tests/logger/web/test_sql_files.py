"""Plain store files read by DuckDB itself (``read_parquet`` over exactly the leased files,
``allowed_paths``): the same answers as through pyarrow, and still no other file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logger.core.errors import Code
from logger.web.sql import (
    LiveTable,
    SqlError,
    SqlRefusedError,
    SqlTimeoutError,
    run_sql,
    views_named,
)
from tests.logger.web.test_sql import ROWS_PER_FILE, ask, frames


@pytest.fixture
def plain(tmp_path: Path) -> tuple[LiveTable, pa.Table, Path]:
    """``can_frames`` over three plain files in ``store/`` and a memory table; all its rows; and
    a Parquet file outside the store (``other/secret.parquet``)."""
    store, other = tmp_path / "store", tmp_path / "other"
    store.mkdir()
    other.mkdir()
    parts = [frames(i * ROWS_PER_FILE, ROWS_PER_FILE, i) for i in range(4)]
    paths = [store / f"{i}.parquet" for i in range(3)]
    for part, path in zip(parts, paths, strict=False):
        pq.write_table(part, path, row_group_size=4096)
    pq.write_table(frames(0, 10, 99), other / "secret.parquet")
    return LiveTable("can_frames", paths, parts[3]), pa.concat_tables(parts), other


def test_duckdb_reads_the_plain_files_itself(plain: tuple[LiveTable, pa.Table, Path]) -> None:
    table, everything, _ = plain
    plan = ask([table], "EXPLAIN SELECT id FROM can_frames WHERE id = 258")
    text = "\n".join(str(v) for v in plan.column(plan.num_columns - 1).to_pylist())
    assert "PARQUET" in text.upper() and "258" in text
    answer = ask([table], "SELECT * FROM can_frames ORDER BY ts")
    assert answer.schema.names == everything.schema.names
    for name in everything.column_names:
        assert answer[name].to_pylist() == everything[name].to_pylist()
    grouped = ask([table], "SELECT id, count(*) AS n FROM can_frames GROUP BY id ORDER BY id")
    ids, counts = np.unique(everything["id"].to_numpy(), return_counts=True)
    assert grouped["id"].to_pylist() == ids.tolist()
    assert grouped["n"].to_pylist() == counts.tolist()


ESCAPES = [
    "SELECT * FROM read_parquet('{other}/secret.parquet')",
    "SELECT * FROM read_parquet('{store}/../other/secret.parquet')",
    "SELECT * FROM read_parquet('{store}/*.parquet')",
    "SELECT * FROM read_parquet('{store}/0.parquet/../../other/secret.parquet')",
    "SELECT * FROM read_blob('{other}/secret.parquet')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM glob('{store}/*')",
    "SELECT * FROM parquet_metadata('{other}/secret.parquet')",
    "SELECT * FROM '{other}/secret.parquet'",
]


@pytest.mark.parametrize("sql", ESCAPES)
def test_files_outside_the_leased_ones_are_refused(
    plain: tuple[LiveTable, pa.Table, Path], sql: str
) -> None:
    table, everything, other = plain
    store = Path(table.files[0]).parent
    with pytest.raises(SqlRefusedError, match="never files") as err:
        ask([table], sql.format(store=store, other=other))
    assert err.value.disk == Code.BAD_COMMAND
    assert ask([table], "SELECT count(*) AS n FROM can_frames")["n"][0].as_py() == len(everything)


def test_only_the_leased_files_are_allowed_and_settings_stay_locked(
    plain: tuple[LiveTable, pa.Table, Path], tmp_path: Path
) -> None:
    table, _, _ = plain
    settings = ask([table], "SELECT name, value FROM duckdb_settings()").to_pylist()
    values = {row["name"]: row["value"] for row in settings}
    assert values["enable_external_access"] == "false"
    assert values["lock_configuration"] == "true"
    assert values["allowed_directories"] == "[]"
    allowed = sorted(values["allowed_paths"].strip("[]").split(", "))
    assert allowed == sorted(str(p) for p in table.files)
    for sql in (
        f"SET allowed_paths = ['{tmp_path}']",
        f"SET allowed_directories = ['{tmp_path}']",
        "SET enable_external_access = true",
        f"COPY (SELECT 1) TO '{table.files[0]}'",
        f"ATTACH '{table.files[0]}' AS other",
    ):
        with pytest.raises(SqlRefusedError):
            ask([table], sql)
    # A leased file is part of the store: reading it by its path is allowed (its raw columns).
    direct = ask([table], f"SELECT count(*) AS n FROM read_parquet('{table.files[0]}')")
    assert direct["n"][0].as_py() == ROWS_PER_FILE


def test_a_query_makes_only_the_views_it_names(plain: tuple[LiveTable, pa.Table, Path]) -> None:
    table, everything, other = plain
    broken = other / "broken.parquet"
    broken.write_bytes(b"not parquet")
    bad = LiveTable("can_broken", [broken])
    answer = ask([bad, table], "SELECT count(*) AS n FROM can_frames")
    assert answer["n"][0].as_py() == len(everything)
    with pytest.raises(SqlError, match=r"broken\.parquet") as err:
        ask([bad, table], "SELECT * FROM information_schema.tables")
    assert err.value.disk == Code.FILE_DECODE
    names = ask([table], "SELECT table_name FROM information_schema.tables")["table_name"]
    assert "can_frames" in names.to_pylist()


def test_schemas_differing_between_files_are_unified(tmp_path: Path) -> None:
    old, mid, new = (tmp_path / f"{n}.parquet" for n in ("old", "mid", "new"))
    pq.write_table(frames(0, 10, 0), old)
    pq.write_table(frames(10, 10, 1).append_column("note", pa.array(["mid"] * 10)), mid)
    pq.write_table(frames(20, 10, 2).append_column("note", pa.array(["new"] * 10)), new)
    sql = "SELECT note, count(*) AS n FROM can_frames GROUP BY note ORDER BY note"
    expected = [{"note": "mid", "n": 10}, {"note": "new", "n": 10}, {"note": None, "n": 10}]
    # the oldest and newest differ: DuckDB unifies by name from the start
    assert ask([LiveTable("can_frames", [old, mid, new])], sql).to_pylist() == expected
    # they agree, a file between them does not: the query is asked again, unified
    agree = tmp_path / "agree.parquet"
    pq.write_table(frames(30, 10, 3), agree)
    answer = ask(
        [LiveTable("can_frames", [old, mid, agree])], "SELECT count(*) AS n FROM can_frames"
    )
    assert answer["n"][0].as_py() == 30


def test_a_plain_file_gone_is_a_file_error(plain: tuple[LiveTable, pa.Table, Path]) -> None:
    table, _, _ = plain
    files = list(table.files)
    gone = LiveTable("can_frames", [files[0], files[0].with_name("gone.parquet"), files[2]])
    with pytest.raises(SqlError, match=r"gone\.parquet") as err:
        ask([gone], "SELECT count(*) FROM can_frames")
    assert err.value.disk == Code.FILE_DECODE


def test_the_time_limit_holds_on_plain_files(plain: tuple[LiveTable, pa.Table, Path]) -> None:
    table, _, _ = plain
    cross = "SELECT count(*) FROM can_frames a, can_frames b WHERE a.dlc + b.dlc > 100"
    with pytest.raises(SqlTimeoutError, match="time limit of 1 s"):
        run_sql([table], cross, row_limit=10, timeout_s=1.0)


def test_views_named_says_which_views_a_query_reads() -> None:
    assert views_named("SELECT * FROM can_frames a JOIN Raw_Raw b ON a.ts = b.ts") == {
        "can_frames",
        "raw_raw",
    }
    assert views_named("SELECT 1") is None  # names nothing: every view is made
    assert views_named("SELECT * FROM read_parquet('/etc/passwd')") is None  # refused later
    assert views_named("SELECT 1; SELECT 2") is None
