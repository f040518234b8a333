"""Catalog files: TOML parsed and checked key by key, read, written atomically; and a catalog
source, which is a catalog file or a DBC whose catalog is generated in memory."""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from logger.core.errors import ConfigError
from spi.catalog.generate import catalog_from_dbc
from spi.catalog.model import FORMAT, MAX_IDS, Catalog, CatalogSignal, Retired
from spi.types import SpiType

log = logging.getLogger(__name__)

_TOP_KEYS = frozenset({"format", "source", "source_sha256", "signal", "retired"})
_SIGNAL_KEYS = frozenset({"name", "id", "type", "unit", "min", "max"})
_RETIRED_KEYS = frozenset({"id", "name"})


def _table_list(data: Mapping[str, Any], name: str, file: Path) -> list[Mapping[str, Any]]:
    items = data.get(name, [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigError(name, f"must be an array of tables ([[{name}]])", file)
    return items


def _check_keys(item: Mapping[str, Any], allowed: frozenset[str], where: str, file: Path) -> None:
    for key in item:
        if key not in allowed:
            raise ConfigError(
                f"{where}.{key}", f"unknown key; expected {', '.join(sorted(allowed))}", file
            )


def _get(
    item: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str, file: Path
) -> Any:
    if key not in item:
        raise ConfigError(f"{where}.{key}", "missing", file)
    value = item[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ConfigError(f"{where}.{key}", f"has the wrong type ({type(value).__name__})", file)
    return value


def parse_catalog(data: Mapping[str, Any], file: Path) -> Catalog:
    """A catalog from parsed TOML ``data``; ConfigError names the key (``signal[3].type``)."""
    _check_keys(data, _TOP_KEYS, "catalog", file)
    fmt = data.get("format", FORMAT)
    if fmt != FORMAT:
        raise ConfigError("format", f"catalog format {fmt!r} is not supported (expected 1)", file)
    source = data.get("source", "")
    digest = data.get("source_sha256", "")
    if not isinstance(source, str):
        raise ConfigError("source", "must be a string", file)
    if not isinstance(digest, str):
        raise ConfigError("source_sha256", "must be a string", file)
    signals: list[CatalogSignal] = []
    seen: dict[int, str] = {}
    names: set[str] = set()
    for i, item in enumerate(_table_list(data, "signal", file)):
        where = f"signal[{i}]"
        _check_keys(item, _SIGNAL_KEYS, where, file)
        name = _get(item, "name", str, where, file)
        if not name or name in names:
            raise ConfigError(f"{where}.name", f"{name!r} is empty or listed twice", file)
        names.add(name)
        sid = _check_id(_get(item, "id", int, where, file), f"{where}.id", name, seen, file)
        try:
            type_ = SpiType.from_label(_get(item, "type", str, where, file))
        except ValueError as exc:
            raise ConfigError(f"{where}.type", str(exc), file) from exc
        unit = item.get("unit", "")
        if not isinstance(unit, str):
            raise ConfigError(f"{where}.unit", "must be a string", file)
        bounds = [
            None if k not in item else float(_get(item, k, (int, float), where, file))
            for k in ("min", "max")
        ]
        signals.append(CatalogSignal(name, sid, type_, unit, bounds[0], bounds[1]))
    retired: list[Retired] = []
    for i, item in enumerate(_table_list(data, "retired", file)):
        where = f"retired[{i}]"
        _check_keys(item, _RETIRED_KEYS, where, file)
        name = _get(item, "name", str, where, file)
        rid = _check_id(_get(item, "id", int, where, file), f"{where}.id", name, seen, file)
        retired.append(Retired(rid, name))
    if len(seen) > MAX_IDS:  # unreachable with distinct 12-bit ids; kept for clarity
        raise ConfigError("signal", f"more than {MAX_IDS} ids", file)
    return Catalog(tuple(signals), tuple(retired), source, digest)


def _check_id(value: int, key: str, name: str, seen: dict[int, str], file: Path) -> int:
    if not 0 <= value < MAX_IDS:
        raise ConfigError(key, f"{name!r}: id {value} is not 0..{MAX_IDS - 1} (12 bits)", file)
    if value in seen:
        raise ConfigError(key, f"{name!r}: id {value} is already {seen[value]!r}'s", file)
    seen[value] = name
    return value


def read_catalog(path: Path, key: str = "catalog") -> Catalog:
    """Load a catalog TOML file; ConfigError names the file and the bad key."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(key, f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(key, f"not UTF-8 text: {exc}", path) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(key, f"not valid TOML: {exc}", path) from exc
    return parse_catalog(data, path)


def write_catalog(catalog: Catalog, path: Path) -> None:
    """Write ``catalog`` as TOML, atomically (temporary file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(catalog.to_toml())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError("output", f"cannot write {path}: {exc.strerror or exc}") from exc


def load_catalog_source(path: Path, key: str = "dbc") -> Catalog:
    """A ``.toml`` catalog file as it is, or the catalog generated in memory from a DBC."""
    if path.suffix.lower() == ".toml":
        return read_catalog(path, key)
    catalog, _ = catalog_from_dbc(path, None, key)
    log.info(
        "%s: SPI catalog generated in memory (%d signals, ids in DBC order); a catalog file "
        "from `sdvlog catalog` keeps ids stable when the DBC changes",
        path,
        len(catalog),
    )
    return catalog
