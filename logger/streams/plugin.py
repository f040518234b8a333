"""The stream plugin interface: ``encode`` batches to Arrow, ``parse_command``, ``decode``.

A plugin owns the meaning of its stream: which tables it writes, which column is their time,
which query selectors it answers and how. The service core only moves batches and tables.

One selector is answered by the core for every stream that accepts it in :meth:`parse_command`:
``topic=`` (MQTT filters) cuts the tables on their ``topic`` column before :meth:`decode` or
:meth:`answer_joint` sees them (:class:`logger.query.answer.Answerer`). A plugin that accepts it
keeps the message's MQTT topic in a ``topic`` column of every table it answers from.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from logger.core.command import Command, parse_command
from logger.core.config import ExchangeConfig
from logger.core.errors import CommandError, ConfigError
from logger.core.message import MessageBatch
from logger.store.chunk import TableChunk

QUARANTINE = "quarantine"
#: Rows per reply frame (one Arrow IPC stream each).
FRAME_ROWS = 65536

QUARANTINE_SCHEMA = pa.schema(
    [("key", pa.int64()), ("topic", pa.string()), ("payload", pa.binary()), ("reason", pa.string())]
)


@dataclass(frozen=True)
class Query:
    """A parsed command as a plugin understands it. Plugins subclass it to add their selectors."""

    command: Command
    table: str
    time_column: str
    limit: int | None = None
    #: Tables read together and answered at once by :meth:`StreamPlugin.answer_joint` (signal
    #: queries across messages); empty: only ``table``, streamed through :meth:`decode`.
    joint_tables: tuple[str, ...] = ()
    #: How far before ``start`` joint tables are read: sample-and-hold needs the values held
    #: when the window opens.
    lead_ns: int = 0

    @property
    def start_ns(self) -> int:
        return self.command.start_ns

    @property
    def end_ns(self) -> int:
        return self.command.end_ns

    @property
    def is_async(self) -> bool:
        return self.command.mode == "async"


class StreamPlugin(ABC):
    """Base of every stream plugin; one instance per exchange."""

    id: int
    name: str
    schema_version: int = 1
    #: The ``time_unit`` values an exchange of this stream may set; the first is the default.
    time_units: tuple[str, ...] = ("ns",)

    def __init__(self, exchange: ExchangeConfig) -> None:
        self.exchange = exchange
        unit = exchange.time_unit
        if unit is not None and unit not in self.time_units:
            raise ConfigError(
                f"exchange[{exchange.name}].time_unit",
                f"the {self.name} stream stores times in {' or '.join(self.time_units)}, "
                f"not {unit!r}",
            )
        #: The unit this exchange's times are rounded to and stored in.
        self.time_unit = unit or self.time_units[0]

    def metadata(self) -> dict[str, str]:
        """Extra key-value metadata for every file this plugin's exchange writes (e.g. DBC name/hash)."""
        return {}

    def databases(self) -> dict[str, Path]:
        """The databases this plugin decodes with, SHA-256 → file: the store keeps a copy of each."""
        return {}

    @abstractmethod
    def encode(self, batch: MessageBatch) -> list[TableChunk]:
        """Encode one batch of messages to tables; bad messages go to a ``quarantine`` chunk."""

    @abstractmethod
    def parse_command(self, text: str) -> Query:
        """Parse a query command; raise :class:`CommandError` for what this plugin cannot answer."""

    @abstractmethod
    def decode(self, tables: Iterable[pa.Table], query: Query) -> Iterator[pa.Table]:
        """Turn stored or in-memory tables (already cut to the time range, in time order) into reply frames."""

    def joint_columns(self, query: Query) -> Mapping[str, Sequence[str]] | None:
        """The columns :meth:`answer_joint` needs of each joint table (a table not named, or
        None: all of them); the time column is always read. Reads skip the others."""
        return None

    def answer_joint(self, tables: Mapping[str, pa.Table], query: Query) -> pa.Table:
        """Answer a query over several tables at once (``query.joint_tables``), each cut to
        ``[start - lead, end]`` and in time order; absent tables are missing from ``tables``."""
        raise CommandError(f"stream {self.name} answers no queries across tables")


def frame_slices(table: pa.Table) -> Iterator[pa.Table]:
    """``table`` in reply frames of at most :data:`FRAME_ROWS` rows (none for an empty table)."""
    for offset in range(0, table.num_rows, FRAME_ROWS):
        yield table.slice(offset, FRAME_ROWS)


def quarantine_chunk(
    keys: list[int], topics: list[str], payloads: list[bytes], reasons: list[str]
) -> TableChunk:
    table = pa.table([keys, topics, payloads, reasons], schema=QUARANTINE_SCHEMA)
    return TableChunk(QUARANTINE, table, "key")


def quarantine_rows(batch: MessageBatch, reasons: Mapping[int, str]) -> TableChunk:
    """The messages of ``batch`` at the indices of ``reasons``, raw, with why they were refused."""
    rows = sorted(reasons)
    return quarantine_chunk(
        batch.keys[rows].tolist(),
        [batch.topics[i] for i in rows],
        [batch.payloads[i] for i in rows],
        [reasons[i] for i in rows],
    )


def parse_basic(text: str, allowed: frozenset[str]) -> tuple[Command, int | None]:
    """Parse ``text`` and reject selectors outside ``allowed`` (code 5, naming them)."""
    cmd = parse_command(text)
    bad = [name for name, _ in cmd.selectors if name not in allowed]
    if bad:
        raise CommandError(f"selector {bad[0]}= is not supported by this stream")
    limit = cmd.limit
    return cmd, limit
