"""The fleet lake: uploaded Parquet files registered in Apache Iceberg tables and asked questions
in the query grammar by an existing engine (DuckDB, Spark).

Design (README, "Fleet lake"):

* **Layout.** ``vehicle=<VIN>/exchange=<name>/<table>/date=/hour=/<first>-<last>-<seq>.parquet``,
  the store's own layout under a vehicle and exchange prefix (:mod:`logger.lake.keys`).
* **ts.** The CANP stream already stores ``ts`` as a Parquet ``timestamp[us, UTC]`` (its default
  ``time_unit``), which Iceberg's ``timestamptz`` and its ``hour`` transform take as it is; no
  file changes. Exchanges with ``time_unit = "ns"`` store int64 ns and RAW stores an int64
  ``key``: such files are not registered (the reason is reported), because Iceberg v2 has no
  nanosecond timestamp and the files must not be rewritten.
* **vehicle.** Not a column of the files: the key (``vehicle=``) gives the identity partition
  value, cross-checked with the ``sdvlog.vin`` footer metadata; Iceberg readers fill the column
  from the partition, and the SQL engines read it from the file path.
* **Catalog.** ``[lake] catalog``: pyiceberg's SQL catalog on SQLite (default), AWS Glue or an
  Iceberg REST catalog (:mod:`logger.lake.catalogs`).
* **Encrypted files** (Parquet modular encryption): engines cannot read them, so they are
  decrypted at registration with the vehicle's key (``register --keys DIR``) into a plaintext copy
  under ``decrypted/`` that the bucket stores with server-side encryption; the upload itself is
  never changed (:mod:`logger.lake.decrypt`). Without a key they are reported, not registered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from logger.lake.catalog import RegisterResult, open_catalog, register
    from logger.lake.catalogs import open_lake_catalog
    from logger.lake.engines import DuckDbEngine, SparkEngine, make_engine
    from logger.lake.query import Fleet
    from logger.lake.source import LakeSource

__all__ = [
    "DuckDbEngine",
    "Fleet",
    "LakeSource",
    "RegisterResult",
    "SparkEngine",
    "make_engine",
    "open_catalog",
    "open_lake_catalog",
    "register",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "DuckDbEngine": "logger.lake.engines",
        "Fleet": "logger.lake.query",
        "LakeSource": "logger.lake.source",
        "RegisterResult": "logger.lake.catalog",
        "SparkEngine": "logger.lake.engines",
        "make_engine": "logger.lake.engines",
        "open_catalog": "logger.lake.catalog",
        "open_lake_catalog": "logger.lake.catalogs",
        "register": "logger.lake.catalog",
    },
)
