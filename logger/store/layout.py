"""Where a stored file lives and what its name says.

Layout (Hive-style, UTC)::

    <dir>/<exchange>/<table>/date=YYYY-MM-DD/hour=H/<first_ns>-<last_ns>-<seq>.parquet

``hour`` is the UTC hour without a leading zero (``hour=7``, ``hour=20``), so that every engine
that reads Hive partitions (pyarrow, DuckDB, polars, Spark) types it as an integer; a zero-padded
``hour=07`` is read as a string by DuckDB. ``date`` is ISO 8601 (DuckDB and polars read it as a
date). Stores written before used ``hour=HH`` (zero-padded); their files are still found and read.
:func:`partition` is the one place that decides the partition of a time.

``<table>`` may contain slashes (``signals/message=EngineData``). ``first_ns`` / ``last_ns`` are
the smallest and largest value of the table's time column in the file, ``seq`` a per-exchange
counter. A file is written under the temporary name ``.<name>.tmp`` in the same directory first.
A name that does not follow this layout is *foreign*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from logger.core.errors import StoreError

#: The folder under an exchange that keeps the databases its tables were decoded with
#: (:mod:`logger.store.databases`); not a table.
DATABASES_DIR = "_databases"

HOUR_NS = 3_600_000_000_000
SUFFIX = ".parquet"
_NAME_RE = re.compile(r"^(\d{1,19})-(\d{1,19})-(\d{1,19})\.parquet$")
_TEMP_RE = re.compile(r"^\.(.+)\.tmp$")
_DATE_RE = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_HOUR_RE = re.compile(r"^hour=(\d{1,2})$")  # also the zero-padded hour=HH of older stores
_TABLE_PART_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=-]*$")
_INT64_MAX = (1 << 63) - 1

#: Order among rows with the same time, for files a write hint re-sorted: readers sort by
#: (time, _tie) to get the rows back in their original order. Almost always 0, so it costs
#: next to nothing on disk.
TIE_COLUMN = "_tie"
TIE_DOC = "order among rows with the same time: sort by (time, _tie) for the order they came in"


@dataclass(frozen=True, eq=True)
class StoredFile:
    """One durable file of the store; ordered by ``(first_ns, seq)``."""

    first_ns: int
    last_ns: int
    seq: int
    table: str
    path: Path
    size: int

    @property
    def key(self) -> tuple[int, int]:
        """The sort key ``(first_ns, seq)``."""
        return (self.first_ns, self.seq)

    def __lt__(self, other: StoredFile) -> bool:
        return self.key < other.key

    def __le__(self, other: StoredFile) -> bool:
        return self.key <= other.key

    def __gt__(self, other: StoredFile) -> bool:
        return self.key > other.key

    def __ge__(self, other: StoredFile) -> bool:
        return self.key >= other.key


@dataclass(frozen=True)
class FileName:
    """The three numbers of a conforming file name."""

    first_ns: int
    last_ns: int
    seq: int


def check_table_name(table: str) -> None:
    """Reject table names that are not safe relative directory paths."""
    parts = table.split("/")
    if not table or not all(_TABLE_PART_RE.match(p) for p in parts):
        raise StoreError(
            f"invalid table name {table!r}: use [A-Za-z0-9_.=-] parts separated by '/'"
        )
    if any(_DATE_RE.match(p) or p.startswith("hour=") for p in parts):
        raise StoreError(f"invalid table name {table!r}: 'date=' and 'hour=' are reserved")


def format_name(first_ns: int, last_ns: int, seq: int) -> str:
    """``<first_ns>-<last_ns>-<seq>.parquet``."""
    if not 0 <= first_ns <= last_ns <= _INT64_MAX or seq < 0:
        raise StoreError(f"cannot name a file for range [{first_ns}, {last_ns}] seq {seq}")
    return f"{first_ns}-{last_ns}-{seq}{SUFFIX}"


def parse_name(name: str) -> FileName | None:
    """The numbers of a conforming name, or ``None`` for a foreign one."""
    m = _NAME_RE.match(name)
    if m is None:
        return None
    first, last, seq = (int(g) for g in m.groups())
    if first > last or last > _INT64_MAX:
        return None
    return FileName(first, last, seq)


def temp_name(name: str) -> str:
    """The temporary name a file is written under before it is renamed into place."""
    return f".{name}.tmp"


def parse_temp_name(name: str) -> str | None:
    """The final name behind a temporary name, or ``None`` if ``name`` is not one."""
    m = _TEMP_RE.match(name)
    return m.group(1) if m else None


def partition(time_ns: int) -> tuple[str, str]:
    """``("date=YYYY-MM-DD", "hour=H")`` of a UTC time in nanoseconds (hour 0..23, unpadded)."""
    moment = datetime.fromtimestamp((time_ns // HOUR_NS) * 3600, tz=UTC)
    return f"date={moment:%Y-%m-%d}", f"hour={moment.hour}"


def partition_hour(date_part: str, hour_part: str) -> int | None:
    """The UTC hour (``time_ns // HOUR_NS``) that a ``date=…``/``hour=…`` pair of directory names
    stands for, in the current or the older zero-padded form; None when they are not a partition."""
    date_m, hour_m = _DATE_RE.match(date_part), _HOUR_RE.match(hour_part)
    if date_m is None or hour_m is None:
        return None
    hour = int(hour_m.group(1))
    try:
        day = datetime.strptime(date_m.group(1), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    if hour > 23:
        return None
    return int(day.timestamp()) // 3600 + hour


def partition_dir(root: Path, table: str, time_ns: int) -> Path:
    """The directory of the hour holding ``time_ns`` under an exchange root."""
    date, hour = partition(time_ns)
    return root.joinpath(*table.split("/"), date, hour)


def file_path(root: Path, table: str, first_ns: int, last_ns: int, seq: int) -> Path:
    """Where the file ``[first_ns, last_ns]`` number ``seq`` of ``table`` lives."""
    return partition_dir(root, table, first_ns) / format_name(first_ns, last_ns, seq)


def parse_path(root: Path, path: Path, size: int) -> StoredFile | str:
    """A :class:`StoredFile` for ``path`` under exchange ``root``, or why it is foreign."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return f"not under {root}"
    if len(parts) < 4:
        return "not inside <table>/date=YYYY-MM-DD/hour=H/"
    name = parse_name(parts[-1])
    if name is None:
        return "name does not follow <first_ns>-<last_ns>-<seq>.parquet"
    hour = partition_hour(parts[-3], parts[-2])
    if hour is None:
        return "not inside date=YYYY-MM-DD/hour=H/ (H: 0..23)"
    table = "/".join(parts[:-3])
    try:
        check_table_name(table)
    except StoreError:
        return f"table directory {table!r} is not a valid table name"
    if name.first_ns // HOUR_NS != hour or name.last_ns // HOUR_NS != hour:
        return f"time range of the name is outside its partition {parts[-3]}/{parts[-2]}"
    return StoredFile(name.first_ns, name.last_ns, name.seq, table, path, size)
