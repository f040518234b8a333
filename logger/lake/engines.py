"""The engines that answer the lake's SQL: DuckDB (httpfs for S3) and Spark (local paths here).

An engine is given views, name → (file addresses, whether they are Parquet of the lake), builds
each as the normalised view :mod:`logger.lake.sql` expects, runs one statement and returns Arrow.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlparse

import pyarrow as pa

from logger.core.compat import httpfs_extension_path
from logger.core.errors import LakeError
from logger.lake.source import LakeSource
from logger.lake.sql import DUCKDB, SPARK, Dialect

__all__ = ["DuckDbEngine", "Engine", "SparkEngine", "make_engine"]

log = logging.getLogger(__name__)

_VEHICLE_RE = "vehicle=([^/]+)/"
_FIRST_RE = "/([0-9]+)-[0-9]+-[0-9]+\\.parquet$"
_SEQ_RE = "-([0-9]+)\\.parquet$"


class Engine(Protocol):
    dialect: Dialect

    def run(self, views: Mapping[str, Sequence[str]], sql: str) -> pa.Table: ...

    def close(self) -> None: ...


class DuckDbEngine:
    """One in-memory DuckDB; S3 through the httpfs extension packaged on PyPI, loaded by path."""

    dialect = DUCKDB

    def __init__(self, source: LakeSource, threads: int | None = None) -> None:
        import duckdb  # noqa: PLC0415 - only the lake needs it

        self._con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False})
        if threads is not None:
            self._con.execute(f"SET threads = {int(threads)}")
        if source.is_s3:
            self._con.execute(f"LOAD '{httpfs_extension_path()}'")
            self._con.execute(_duckdb_secret(source))

    def run(self, views: Mapping[str, Sequence[str]], sql: str) -> pa.Table:
        import duckdb  # noqa: PLC0415

        try:
            for name, files in views.items():
                listed = ", ".join(_quoted(f) for f in files)
                view = '"' + name.replace('"', '""') + '"'
                self._con.execute(
                    f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * EXCLUDE (ts, filename, "
                    f"file_row_number), regexp_extract(filename, '{_VEHICLE_RE}', 1) AS vehicle, "
                    "epoch_ns(ts) AS ts, "
                    f"CAST(regexp_extract(filename, '{_FIRST_RE}', 1) AS BIGINT) AS _f, "
                    f"CAST(regexp_extract(filename, '{_SEQ_RE}', 1) AS BIGINT) AS _s, "
                    "file_row_number AS _r "
                    f"FROM read_parquet([{listed}], filename = true, file_row_number = true, "
                    "union_by_name = true)"
                )
            log.debug("duckdb: %s", sql)
            return self._con.execute(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise LakeError(f"DuckDB could not answer: {exc}") from exc

    def close(self) -> None:
        self._con.close()


def _quoted(text: str) -> str:
    """``text`` as a DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def _duckdb_secret(source: LakeSource) -> str:
    parts = ["TYPE s3", f"REGION {_quoted(source.region)}"]
    pair = source.credentials()
    if pair is not None:
        parts += [f"KEY_ID {_quoted(pair[0])}", f"SECRET {_quoted(pair[1])}"]
    else:
        parts.append("PROVIDER credential_chain")
    if source.endpoint:
        url = urlparse(source.endpoint)
        parts += [f"ENDPOINT {_quoted(url.netloc)}", "URL_STYLE 'path'"]
        parts.append(f"USE_SSL {'true' if url.scheme == 'https' else 'false'}")
    return f"CREATE OR REPLACE SECRET lake ({', '.join(parts)})"


class SparkEngine:
    """A local Spark session (``local[N]``); reads local paths (its S3 connector jars are not
    installed here)."""

    dialect = SPARK

    def __init__(self, source: LakeSource, master: str = "local[2]") -> None:
        if source.is_s3:
            raise LakeError(
                "--engine spark reads the lake through a local path here (Spark's S3 connector "
                "jars, hadoop-aws, are not installed): give --lake-dir"
            )
        from pyspark.sql import SparkSession  # noqa: PLC0415 - starts a JVM

        self._spark: Any = (
            SparkSession.builder.master(master)
            .appName("sdvlog-lake")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .getOrCreate()
        )

    def run(self, views: Mapping[str, Sequence[str]], sql: str) -> pa.Table:
        from pyspark.errors import PySparkException  # noqa: PLC0415
        from pyspark.sql import functions as F  # noqa: PLC0415

        try:
            for name, files in views.items():
                df = self._spark.read.option("mergeSchema", "true").parquet(*files)
                path = F.col("_metadata.file_path")
                df = (
                    df.withColumn("vehicle", F.regexp_extract(path, _VEHICLE_RE, 1))
                    .withColumn("ts", F.unix_micros(F.col("ts")) * F.lit(1000))
                    .withColumn("_f", F.regexp_extract(path, _FIRST_RE, 1).cast("bigint"))
                    .withColumn("_s", F.regexp_extract(path, _SEQ_RE, 1).cast("bigint"))
                    .withColumn("_r", F.col("_metadata.row_index"))
                )
                df.createOrReplaceTempView(name)
            log.debug("spark: %s", sql)
            table: pa.Table = self._spark.sql(sql).toArrow()
            return table
        except PySparkException as exc:
            raise LakeError(f"Spark could not answer: {exc}") from exc

    def close(self) -> None:
        self._spark.stop()


def make_engine(name: str, source: LakeSource) -> Engine:
    if name == "duckdb":
        return DuckDbEngine(source)
    if name == "spark":
        return SparkEngine(source)
    raise LakeError(f"unknown engine {name!r}: duckdb or spark")
