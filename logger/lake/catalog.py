"""The lake's Iceberg catalog and ``sdvlog lake register``.

One Iceberg table per table kind (``frames``, ``raw``, ``signals__<Message>``) in the lake's
namespace (``fleet`` by default) of its Iceberg catalog (:mod:`logger.lake.catalogs`: SQL on
SQLite by default, Glue or REST). Uploaded files are added as they are (no rewrite): their footers give the
column statistics, and the partition (``vehicle`` identity, ``hour(ts)``) is set from the object
key. ``vehicle`` is not a column of the files: Iceberg readers fill an identity partition column
that a data file lacks from the partition value (Iceberg spec, "Column Projection").

Registering is idempotent: a file whose path the table already references is skipped.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from logger.core.compat import iceberg_file_statistics
from logger.core.config_lake import DEFAULT_NAMESPACE, LakeConfig
from logger.core.errors import EncryptionError, LakeError
from logger.lake.catalogs import open_lake_catalog
from logger.lake.decrypt import decrypt_object, decrypted_key
from logger.lake.keys import ObjectKey, iceberg_name, parse_key
from logger.lake.source import LakeSource
from logger.store.crypto import read_error

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.io import FileIO
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table

__all__ = ["NAMESPACE", "TIME_COLUMN", "VEHICLE", "RegisterResult", "open_catalog", "register"]

log = logging.getLogger(__name__)

NAMESPACE = DEFAULT_NAMESPACE
VEHICLE = "vehicle"
TIME_COLUMN = "ts"
_HOUR_NS = 3_600_000_000_000


@dataclass
class RegisterResult:
    """What one ``register`` did, per Iceberg table: files added, already there, and skipped."""

    added: dict[str, int] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)
    #: key → why it was not registered (encrypted, no timestamp ``ts``, foreign name)
    skipped: dict[str, str] = field(default_factory=dict)


def open_catalog(directory: Path, source: LakeSource, create: bool = False) -> Catalog:
    """The SQL catalog in ``directory``; :class:`LakeError` when it is missing (and not
    ``create``). Other kinds of catalog: :func:`logger.lake.catalogs.open_lake_catalog`."""
    return open_lake_catalog(LakeConfig(catalog_dir=directory), source, create)


def _footer(io: FileIO, uri: str) -> pq.FileMetaData:
    with io.new_input(uri).open() as stream:
        return pq.read_metadata(stream)


def _readable(
    io: FileIO, source: LakeSource, obj: ObjectKey, keys_dir: Path | None
) -> tuple[ObjectKey, pq.FileMetaData]:
    """The object (or its decrypted copy) and its footer; :class:`LakeError`: why not."""
    try:
        return obj, _footer(io, source.uri(obj.key))
    except (OSError, pa.ArrowException) as exc:
        # the store's own reading of an error: encrypted (no key given), or anything else
        if not isinstance(read_error(Path(obj.key), exc, keyed=False), EncryptionError):
            raise LakeError(f"footer unreadable: {' '.join(str(exc).split())}") from exc
        if keys_dir is None:
            raise LakeError(
                "encrypted (Parquet modular encryption): give the vehicle's key (--keys) to "
                "decrypt it into the lake"
            ) from exc
    copy = decrypt_object(source, obj, keys_dir)
    return copy, _footer(io, source.uri(copy.key))


def _lake_schema(arrow: pa.Schema, where: str) -> pa.Schema:
    """The file's schema as the table keeps it: ``ts`` a UTC timestamp, plus ``vehicle``."""
    if TIME_COLUMN not in arrow.names:
        raise LakeError(f"{where}: no {TIME_COLUMN!r} column")
    ts = arrow.field(TIME_COLUMN).type
    if not pa.types.is_timestamp(ts) or ts.unit == "ns":
        raise LakeError(
            f"{where}: {TIME_COLUMN!r} is {ts}; the lake partitions by hour(ts) and needs a "
            "timestamp in us or ms (the exchange's time_unit, us by default)"
        )
    fields = [
        (f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f).with_nullable(
            True
        )
        for f in arrow
    ]
    return pa.schema([*fields, pa.field(VEHICLE, pa.string())])


def _table(catalog: Catalog, ident: tuple[str, str], schema: pa.Schema) -> Table:
    from pyiceberg.exceptions import NoSuchTableError  # noqa: PLC0415
    from pyiceberg.table import TableProperties  # noqa: PLC0415
    from pyiceberg.transforms import HourTransform, IdentityTransform  # noqa: PLC0415

    try:
        table = catalog.load_table(ident)
    except NoSuchTableError:
        table = catalog.create_table(ident, schema=schema)
        with table.update_spec() as spec:
            spec.add_field(VEHICLE, IdentityTransform(), VEHICLE)
            spec.add_field(TIME_COLUMN, HourTransform(), "ts_hour")
        log.info("created Iceberg table %s", ".".join(ident))
    missing = [n for n in schema.names if n not in table.schema().column_names]
    if missing:
        with table.update_schema() as update:
            update.union_by_name(schema)
    mapping = table.schema().name_mapping.model_dump_json()
    if table.properties.get(TableProperties.DEFAULT_NAME_MAPPING) != mapping:
        with table.transaction() as tx:
            tx.set_properties({TableProperties.DEFAULT_NAME_MAPPING: mapping})
    return catalog.load_table(ident)


def _data_file(table: Table, uri: str, obj: ObjectKey, footer: pq.FileMetaData) -> DataFile:
    """The Iceberg data file of one object: its footer's statistics, the key's partition."""
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat  # noqa: PLC0415
    from pyiceberg.typedef import Record  # noqa: PLC0415

    meta = table.metadata
    stats = iceberg_file_statistics(meta, footer)
    return DataFile.from_args(
        content=DataFileContent.DATA,
        file_path=uri,
        file_format=FileFormat.PARQUET,
        partition=Record(obj.vehicle, obj.first_ns // _HOUR_NS),
        file_size_in_bytes=len(table.io.new_input(uri)),
        sort_order_id=None,
        spec_id=meta.default_spec_id,
        equality_ids=None,
        key_metadata=None,
        **stats,
    )


def _registered(table: Table) -> set[str]:
    if table.current_snapshot() is None:
        return set()
    return {task.file.file_path for task in table.scan().plan_files()}


def _check(obj: ObjectKey, footer: pq.FileMetaData) -> str | None:
    """Why this file cannot join the lake as it is (None: it can)."""
    meta = footer.metadata or {}
    vin = meta.get(b"sdvlog.vin")
    named = None if vin is None else vin.decode("utf-8", "replace")
    if named is not None and named != obj.vehicle:
        return f"its metadata names vehicle {named!r}, its key {obj.vehicle!r}"
    if obj.first_ns // _HOUR_NS != obj.last_ns // _HOUR_NS:
        return "its rows span more than one hour"
    return None


def register(
    catalog: Catalog,
    source: LakeSource,
    keys: Iterable[str] | None = None,
    keys_dir: Path | None = None,
    namespace: str = NAMESPACE,
) -> RegisterResult:
    """Add every conforming object of ``source`` not yet in its table (in ``namespace``); see
    the module docstring.

    With ``keys_dir``, encrypted objects are decrypted into the lake first
    (:mod:`logger.lake.decrypt`); without, they are reported in ``skipped``."""
    result = RegisterResult()
    by_table: dict[str, list[ObjectKey]] = defaultdict(list)
    for key in source.keys() if keys is None else keys:
        obj = parse_key(key)
        if obj is None:
            if key.endswith(".parquet"):
                result.skipped[key] = "its key does not follow the lake layout"
            continue
        try:
            by_table[iceberg_name(obj.table)].append(obj)
        except LakeError as exc:  # a table name Iceberg cannot take: this file only
            result.skipped[key] = str(exc)
    from pyiceberg.io import load_file_io  # noqa: PLC0415

    io = load_file_io({**catalog.properties, **source.fileio_properties()})
    for name, objs in sorted(by_table.items()):
        _register_table(catalog, io, (namespace, name), objs, result, keys_dir, source)
    return result


def _register_table(
    catalog: Catalog,
    io: FileIO,
    ident: tuple[str, str],
    objs: list[ObjectKey],
    result: RegisterResult,
    keys_dir: Path | None,
    source: LakeSource,
) -> None:
    from pyiceberg.exceptions import NoSuchTableError  # noqa: PLC0415

    name = ident[1]
    table: Table | None = None
    try:
        table = catalog.load_table(ident)
    except NoSuchTableError:
        table = None
    known = _registered(table) if table is not None else set()
    listed = {o.key for o in objs}
    fresh = [
        o
        for o in objs
        if source.uri(o.key) not in known
        and source.uri(decrypted_key(o.key)) not in known
        and decrypted_key(o.key) not in listed
    ]
    result.present[name] = len(objs) - len(fresh)
    footers: list[tuple[ObjectKey, pq.FileMetaData, pa.Schema]] = []
    for original in fresh:
        try:
            obj, footer = _readable(io, source, original, keys_dir)
        except LakeError as exc:
            result.skipped[original.key] = str(exc)
            log.warning("%s not registered: %s", original.key, exc)
            continue
        uri = source.uri(obj.key)
        problem = _check(obj, footer)
        if problem is None:
            try:
                schema = _lake_schema(footer.schema.to_arrow_schema(), uri)
            except LakeError as exc:
                problem = str(exc)
        if problem is not None:
            result.skipped[obj.key] = problem
            log.warning("%s not registered: %s", uri, problem)
            continue
        footers.append((obj, footer, schema))
    if not footers:
        result.added[name] = 0
        return
    merged = pa.unify_schemas([s for _, _, s in footers], promote_options="permissive")
    table = _table(catalog, ident, merged)
    with table.transaction() as tx, tx.update_snapshot().fast_append() as append:
        for obj, footer, _ in footers:
            append.append_data_file(_data_file(table, source.uri(obj.key), obj, footer))
    result.added[name] = len(footers)
    log.info("%s: %d files registered", name, len(footers))
