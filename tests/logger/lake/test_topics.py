"""``topic=`` compiled to SQL matches what the core's MQTT matcher matches, ``$`` topics and
multi-line topics included (DuckDB; Spark runs the same predicate text with RLIKE)."""

from __future__ import annotations

import duckdb
import pytest

from logger.core.command import parse_command
from logger.core.topics import TopicFilters
from logger.lake.sql import DUCKDB, _filters

TOPICS = ["a/x", "$SYS/x", "$SYS", "a", "a/b/x", "a\nb/x", "x", "/x", ""]


@pytest.mark.parametrize("filters", ["+/x", "#", "a/#", "$SYS/#", "+", "+/+", "a/+/x"])
def test_compiled_topic_filters_match_as_the_core_does(filters: str) -> None:
    command = parse_command(f"sync-0-1;topic={filters}")
    where = " AND ".join(_filters(DUCKDB, command, 0, ["ts", "topic"]))
    with duckdb.connect() as con:
        con.execute("CREATE TABLE t (ts BIGINT, topic VARCHAR)")
        con.executemany("INSERT INTO t VALUES (0, ?)", [[t] for t in TOPICS])
        found = {row[0] for row in con.execute(f"SELECT topic FROM t WHERE {where}").fetchall()}
    want = {t for t in TOPICS if TopicFilters([filters]).matches(t)}
    assert found == want
