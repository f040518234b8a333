"""Getting a query's answer from a running service (``--url``) or a store directory (``--dir``), and
writing it out: what ``sdvlog query`` and ``sdvlog export`` share."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from logger.core.config import EncryptionConfig, ExchangeConfig, ParquetConfig
from logger.core.errors import ConfigError, QueryError
from logger.query import client
from logger.query.answer import Answerer, StoreSource, parse_for
from logger.query.channel import split_exchange
from logger.query.client import Reply, parse_end, read_frame
from logger.query.encodings import csv_bytes, json_rows, printable
from logger.store.databases import kept_database
from logger.store.recovery import exchange_metadata
from logger.store.store import ParquetStore, stored_exchanges
from logger.streams.registry import PluginRegistry


def offline_source(
    directory: Path,
    exchange: str | None,
    key_file: Path | None,
    key_id: str | None,
    dbc: Path | None = None,
) -> StoreSource:
    """A store directory as a query source; the plugin comes from the files' metadata, and the
    database for signal queries from ``dbc`` or else from the store's kept copy."""
    found = stored_exchanges(directory)
    if not found:
        raise ConfigError("--dir", f"no sdv-logger exchange found under {directory}")
    if exchange is None:
        if len(found) > 1:
            raise ConfigError(
                "--exchange", f"{directory} holds several exchanges: {', '.join(sorted(found))}"
            )
        exchange = next(iter(found))
    if exchange not in found:
        raise ConfigError(
            "--exchange",
            f"no exchange {exchange!r} under {directory} (found: {', '.join(sorted(found))})",
        )
    if dbc is None:  # the database the store kept, named by the hash its files carry
        meta = exchange_metadata(directory / exchange)
        if "sdvlog.dbc_hash" in meta or not meta:
            dbc = kept_database(directory / exchange, meta.get("sdvlog.dbc_hash"))
    enc = EncryptionConfig(key_id=key_id or "k1", key_file=key_file) if key_file else None
    cfg = ParquetConfig(dir=directory, encryption=enc)
    plugin_name = found[exchange]
    ex = ExchangeConfig(name=exchange, stream=plugin_name, dbc=dbc)
    plugin = PluginRegistry().get(plugin_name)(ex)
    store = ParquetStore(cfg, exchange, {})
    store.recover(read_only=True)
    return StoreSource(exchange, plugin, store)


def run_offline(args: argparse.Namespace) -> Reply:
    name, text = split_exchange(args.command)
    source = offline_source(
        args.dir, args.exchange or name, args.key_file, args.key_id, getattr(args, "dbc", None)
    )
    reply = Reply()
    try:
        query = parse_for(source.plugin, text)
    except QueryError as exc:
        reply.disk, reply.memory, reply.message = exc.disk, exc.memory, str(exc)
        return reply
    for frame in Answerer(source).answer(query):
        if frame[:2] == b"\x0b\xad":
            reply.disk, reply.memory, reply.message = parse_end(frame)
        else:
            reply.tables.append(read_frame(frame))
    return reply


def fetch(args: argparse.Namespace) -> Reply:
    """The answer to ``args.command`` from ``--url`` (a running service) or ``--dir`` (offline)."""
    if args.url:
        command = args.command if not args.exchange else f"exchange={args.exchange};{args.command}"
        return client.query(args.url, command)
    return run_offline(args)


def run_query(args: argparse.Namespace) -> Reply:
    reply = fetch(args)
    with _output(args.out, binary=args.format == "arrow") as out:
        WRITERS[args.format](reply.table(), out)
    return reply


@contextlib.contextmanager
def _output(path: Path | None, binary: bool) -> Iterator[IO[Any]]:
    if path is not None:
        with open(path, "wb" if binary else "w", encoding=None if binary else "utf-8") as fh:
            yield fh
    else:
        yield sys.stdout.buffer if binary else sys.stdout


def _hex_ids(table: pa.Table) -> pa.Table:
    """CAN ids as engineers read them (0x2B0) in the human-readable table."""
    if "id" not in table.column_names or not pa.types.is_integer(table.schema.field("id").type):
        return table
    ids = [None if v is None else f"0x{v:X}" for v in table.column("id").to_pylist()]
    return table.set_column(table.column_names.index("id"), "id", pa.array(ids, pa.string()))


def _write_table(table: pa.Table, out: IO[Any]) -> None:
    t = printable(_hex_ids(table))
    if not t.num_columns:
        out.write("(no rows)\n")
        return
    rows = [[("" if v is None else str(v)) for v in r.values()] for r in t.to_pylist()]
    header = t.column_names
    widths = [min(60, max([len(h), *(len(r[i]) for r in rows)])) for i, h in enumerate(header)]
    out.write("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + "\n")
    for r in rows:
        out.write("  ".join(v[:60].ljust(w) for v, w in zip(r, widths, strict=True)) + "\n")
    out.write(f"({t.num_rows} rows)\n")


def _write_csv(table: pa.Table, out: IO[Any]) -> None:
    out.write(csv_bytes(table).decode("utf-8"))


def _write_jsonl(table: pa.Table, out: IO[Any]) -> None:
    for row in json_rows(table):
        out.write(json.dumps(row, default=str) + "\n")


def _write_arrow(table: pa.Table, out: IO[Any]) -> None:
    with pa.ipc.new_stream(out, table.schema) as writer:
        writer.write_table(table)


WRITERS: dict[str, Callable[[pa.Table, IO[Any]], None]] = {
    "table": _write_table,
    "csv": _write_csv,
    "jsonl": _write_jsonl,
    "arrow": _write_arrow,
}
