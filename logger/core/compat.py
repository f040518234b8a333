"""Where sdv-logger relies on how another library behaves beyond its documented API.

Each entry names the version it was checked against; its tests (``tests/logger/core/test_compat.py``)
fail when a release changes the behaviour.

- :func:`keep_pandas_unloaded` (pyarrow 26.0.1, pandas 3.1.1): the first time pyarrow builds an
  array from Python or numpy data it imports pandas, if installed, to check whether the input is
  a pandas object (``pandas-shim.pxi``: ``_have_pandas_internal``). That import costs about 50 MiB
  of resident memory in a process that never uses pandas. pyarrow tries that implicit import
  once; when it fails, pyarrow treats pandas as absent for such checks, and explicit
  conversions (``Table.to_pandas``, ``Table.from_pandas``) still import it when called.
- :func:`asc_header_date` (python-can 4.6.1): ``can.ASCReader._datetime_to_timestamp``, a static
  method, parses the dates of Vector ASC headers (``Nov 09 08:36:33.153 pm 2023``, also German
  month names) as local time, and raises ValueError for any other text. python-can has no public
  function for it.
- :func:`mf4_set_start` and :func:`mf4_extend` (python-can 4.6.1, asammdf 8.8.28): python-can's
  ``MF4Writer`` keeps its asammdf ``MDF`` in ``_mdf``, with one channel group per frame kind (0
  data, 1 error, 2 remote frames) holding records of ``can.io.mf4``'s ``STD_DTYPE``,
  ``ERR_DTYPE`` and ``RTR_DTYPE`` at offsets in seconds from ``header.start_time``. Writing whole
  record arrays there is ~30x faster than the writer's ``on_message_received``, and its start
  time is otherwise "now".
- :func:`mqtt_topic_bytes` (paho-mqtt 2.2.0): ``MQTTMessage`` keeps the topic as received in
  ``_topic`` (bytes); its ``topic`` property decodes that as UTF-8 and raises UnicodeDecodeError
  for a topic that is not, so the raw bytes are the only way to keep such a message.

- :func:`httpfs_extension_path` (duckdb-extension-httpfs 1.5.5): the PyPI package ships DuckDB's
  httpfs extension as ``extensions/v<duckdb version>/httpfs.duckdb_extension`` inside its package
  directory; ``LOAD '<path>'`` loads it offline (no download from DuckDB's extension server).
- :func:`iceberg_file_statistics` (pyiceberg 0.12.0): ``pyiceberg.io.pyarrow``'s
  ``compute_statistics_plan``, ``match_metrics_mode``, ``parquet_path_to_id_mapping`` and
  ``data_file_statistics_from_parquet_metadata`` turn a Parquet footer into an Iceberg data
  file's column statistics, as ``add_files`` does; they are module functions, not documented API.

Third-party modules other than pyarrow are imported inside the functions that use them: the
service imports this module and must not load python-can or asammdf unless a part uses them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from logger.core.errors import LakeError

if TYPE_CHECKING:
    import pyarrow.parquet as pq
    from can.io.mf4 import MF4Writer
    from paho.mqtt.client import MQTTMessage
    from pyiceberg.table.metadata import TableMetadata


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


def asc_header_date(text: str) -> float:
    """Unix seconds of a Vector ASC header date without its weekday (``Nov 09 08:36:33.153 pm
    2023``), as local time, the way python-can's ASC reader parses it; ValueError otherwise."""
    import can  # noqa: PLC0415 - python-can is loaded only where logs are read

    return float(can.ASCReader._datetime_to_timestamp(text))


def mf4_set_start(writer: MF4Writer, when: datetime) -> None:
    """Make ``when`` time 0 of the file python-can's MF4 writer writes (it takes "now")."""
    writer._mdf.header.start_time = when


def mf4_extend(writer: MF4Writer, group: int, offsets: Any, records: Any) -> None:
    """Append ``records`` (a numpy record array of the group's dtype) at ``offsets`` (seconds from
    the start, float64) to channel group ``group`` of python-can's MF4 writer."""
    writer._mdf.extend(group, [(offsets, None), (records, None)])


def mqtt_topic_bytes(msg: MQTTMessage) -> bytes:
    """The topic of a paho message as the broker sent it (also when it is not valid UTF-8)."""
    return bytes(msg._topic)


def httpfs_extension_path() -> Path:
    """The httpfs extension matching the installed DuckDB; :class:`LakeError` when missing."""
    import duckdb  # noqa: PLC0415
    import duckdb_extension_httpfs  # type: ignore[import-untyped]  # noqa: PLC0415

    version = duckdb.__version__
    base = Path(duckdb_extension_httpfs.__file__).parent / "extensions"
    path = base / f"v{version}" / "httpfs.duckdb_extension"
    if not path.is_file():
        found = sorted(p.name for p in base.iterdir()) if base.is_dir() else []
        raise LakeError(
            f"DuckDB {version} has no matching httpfs extension (duckdb-extension-httpfs has "
            f"{', '.join(found) or 'none'}): install duckdb-extension-httpfs=={version}"
        )
    return path


def iceberg_file_statistics(metadata: TableMetadata, footer: pq.FileMetaData) -> dict[str, Any]:
    """The column statistics of a Parquet file (its footer) as ``DataFile.from_args`` takes them,
    computed as pyiceberg's ``add_files`` does; ``uint64`` columns get counts only (their values
    do not fit Iceberg's long bounds)."""
    from pyiceberg.io.pyarrow import (  # noqa: PLC0415
        compute_statistics_plan,
        data_file_statistics_from_parquet_metadata,
        match_metrics_mode,
        parquet_path_to_id_mapping,
    )

    schema = metadata.schema()
    plan = compute_statistics_plan(schema, metadata.properties)
    arrow = footer.schema.to_arrow_schema()
    for name in arrow.names:
        if pa.types.is_uint64(arrow.field(name).type):
            fid = schema.find_field(name).field_id
            plan[fid] = replace(plan[fid], mode=match_metrics_mode("counts"))
    stats = data_file_statistics_from_parquet_metadata(
        parquet_metadata=footer,
        stats_columns=plan,
        parquet_column_mapping=parquet_path_to_id_mapping(schema),
    )
    found: dict[str, Any] = stats.to_serialized_dict()
    return found
