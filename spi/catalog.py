"""The SPI signal catalog: ``Message.Signal`` → 12-bit id, value type, unit, range.

SPI records carry a 12-bit id and a type instead of a name; the catalog is the shared key between
the publisher (the gateway) and the logger. It is generated from a DBC and kept as a TOML file::

    format = 1
    source = "demo.dbc"
    source_sha256 = "…"

    [[signal]]
    name = "EngineData.EngineSpeed"
    id = 0
    type = "f32"            # bool u8 i8 u16 i16 u32 i32 u64 i64 f32 f64 utf8
    unit = "rpm"
    min = 0.0               # the DBC's [min|max], when it has one
    max = 8000.0

    [[retired]]             # ids of signals that left the DBC: never given out again
    id = 41
    name = "Old.Signal"

**Ids are stable across regenerations** when the previous catalog is passed in: a name keeps its
id (a name that comes back reclaims its retired id), new names take the lowest ids never used,
and removed names' ids are retired, not reused. Without a previous catalog ids follow DBC order.
At most 4096 ids (12 bits), retired ones included.

**Types** follow the signal's physical values: ``bool`` for a 1-bit signal with scale 1 and
offset 0; the smallest integer type (unsigned when it can be) holding the physical range of every
raw value when scale and offset are integral; otherwise ``f32`` when float32 still resolves one
raw step over the whole range (and the raw value is not a 64-bit float), else ``f64``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cantools.database.can import Database

from dbc.load import DbcError, load_database
from logger.core.errors import ConfigError
from spi.types import INTEGER_RANGES, SpiType

log = logging.getLogger(__name__)

MAX_IDS = 4096
FORMAT = 1
_F32_STEPS = 1 << 23  # raw steps float32 resolves over a range (24-bit significand, with margin)
_TOP_KEYS = frozenset({"format", "source", "source_sha256", "signal", "retired"})
_SIGNAL_KEYS = frozenset({"name", "id", "type", "unit", "min", "max"})
_RETIRED_KEYS = frozenset({"id", "name"})


@dataclass(frozen=True)
class CatalogSignal:
    """One signal: full name ``Message.Signal``, its wire id and type, unit and DBC range."""

    name: str
    id: int
    type: SpiType
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None

    @property
    def short(self) -> str:
        """The signal part of the name (after the message)."""
        return self.name.rpartition(".")[2]


@dataclass(frozen=True)
class Retired:
    """An id that belonged to a signal no longer in the DBC."""

    id: int
    name: str


@dataclass(frozen=True)
class Changes:
    """What a regeneration changed against the previous catalog (names)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    retyped: tuple[str, ...] = ()  # kept their id, but their type changed
    reclaimed: tuple[str, ...] = ()  # came back and took their retired id again


@dataclass(frozen=True)
class Catalog:
    """Signals (sorted by id) and retired ids; validated on construction."""

    signals: tuple[CatalogSignal, ...]
    retired: tuple[Retired, ...] = ()
    source: str = ""
    source_sha256: str = ""
    by_name: Mapping[str, CatalogSignal] = field(init=False, repr=False, compare=False)
    by_id: Mapping[int, CatalogSignal] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        signals = tuple(sorted(self.signals, key=lambda s: s.id))
        retired = tuple(sorted(self.retired, key=lambda r: r.id))
        object.__setattr__(self, "signals", signals)
        object.__setattr__(self, "retired", retired)
        by_name: dict[str, CatalogSignal] = {}
        by_id: dict[int, CatalogSignal] = {}
        used: dict[int, str] = {}
        for sig in signals:
            if sig.name in by_name:
                raise ValueError(f"signal {sig.name!r} is listed twice")
            by_name[sig.name] = sig
            by_id[sig.id] = sig
        for key, name in [(s.id, s.name) for s in signals] + [(r.id, r.name) for r in retired]:
            if not 0 <= key < MAX_IDS:
                raise ValueError(f"{name!r}: id {key} is not 0..{MAX_IDS - 1}")
            if key in used:
                raise ValueError(f"id {key} is given to both {used[key]!r} and {name!r}")
            used[key] = name
        object.__setattr__(self, "by_name", by_name)
        object.__setattr__(self, "by_id", by_id)

    def __len__(self) -> int:
        return len(self.signals)

    def find(self, name: str) -> list[CatalogSignal]:
        """Signals a query name means: ``Message.Signal`` exactly, or every ``Signal`` of that name."""
        exact = self.by_name.get(name)
        if exact is not None:
            return [exact]
        if "." in name:
            return []
        return [s for s in self.signals if s.short == name]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_toml().encode()).hexdigest()

    def to_toml(self) -> str:
        lines = [
            "# SPI signal catalog of sdv-logger (`sdvlog catalog`). Ids are stable across",
            "# regenerations: keep this file and pass it back (--previous, or -o onto itself).",
            "# Retired ids belonged to signals that left the DBC; they are never given out again.",
            f"format = {FORMAT}",
            f"source = {_toml_str(self.source)}",
            f"source_sha256 = {_toml_str(self.source_sha256)}",
        ]
        for sig in self.signals:
            lines += [
                "",
                "[[signal]]",
                f"name = {_toml_str(sig.name)}",
                f"id = {sig.id}",
                f'type = "{sig.type.label}"',
                f"unit = {_toml_str(sig.unit)}",
            ]
            if sig.minimum is not None:
                lines.append(f"min = {_toml_float(sig.minimum)}")
            if sig.maximum is not None:
                lines.append(f"max = {_toml_float(sig.maximum)}")
        for ret in self.retired:
            lines += ["", "[[retired]]", f"id = {ret.id}", f"name = {_toml_str(ret.name)}"]
        return "\n".join(lines) + "\n"


def _toml_str(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_float(value: float) -> str:
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


# ---- types from a DBC signal ----------------------------------------------------------------


def _integral(value: float) -> bool:
    return float(value).is_integer()


def signal_type(signal: Any) -> SpiType:
    """The SPI type for a cantools ``Signal`` (see the module doc for the rules)."""
    length: int = signal.length
    scale = float(signal.scale)
    offset = float(signal.offset)
    if signal.is_float:
        return SpiType.F32 if length == 32 and scale == 1 and offset == 0 else SpiType.F64
    if length == 1 and scale == 1 and offset == 0:
        return SpiType.BOOL
    raw_lo, raw_hi = (
        (-(1 << (length - 1)), (1 << (length - 1)) - 1)
        if signal.is_signed
        else (
            0,
            (1 << length) - 1,
        )
    )
    if _integral(scale) and _integral(offset):
        ends = (raw_lo * int(scale) + int(offset), raw_hi * int(scale) + int(offset))
        lo, hi = min(ends), max(ends)
        for type_, tmin, tmax in INTEGER_RANGES:
            if tmin <= lo and hi <= tmax:
                return type_
        return SpiType.F64
    extent = max(abs(raw_lo * scale + offset), abs(raw_hi * scale + offset))
    return SpiType.F32 if scale and extent / abs(scale) < _F32_STEPS else SpiType.F64


# ---- generation ------------------------------------------------------------------------------


def load_dbc(path: Path, key: str = "dbc") -> Database:
    """A cantools CAN database (:func:`dbc.load.load_database`); ConfigError names ``key``."""
    try:
        return load_database(path)
    except DbcError as exc:
        raise ConfigError(key, str(exc)) from exc


def _dbc_signals(db: Database, key: str) -> list[CatalogSignal]:
    """Every signal of ``db`` in DBC order, id -1 (assigned later)."""
    out: list[CatalogSignal] = []
    seen: set[str] = set()
    for msg in db.messages:
        for sig in msg.signals:
            name = f"{msg.name}.{sig.name}"
            if name in seen:
                raise ConfigError(key, f"signal {name!r} is defined twice")
            seen.add(name)
            out.append(
                CatalogSignal(
                    name,
                    -1,
                    signal_type(sig),
                    sig.unit or "",
                    None if sig.minimum is None else float(sig.minimum),
                    None if sig.maximum is None else float(sig.maximum),
                )
            )
    return out


def generate(
    db: Database,
    previous: Catalog | None = None,
    *,
    source: str = "",
    source_sha256: str = "",
    key: str = "dbc",
) -> tuple[Catalog, Changes]:
    """The catalog of ``db``, keeping ``previous``'s ids (see the module doc)."""
    fresh = _dbc_signals(db, key)
    prev_sigs = {s.name: s for s in previous.signals} if previous else {}
    prev_retired = {r.name: r.id for r in previous.retired} if previous else {}
    names = {s.name for s in fresh}
    taken: set[int] = set()
    ids: dict[str, int] = {}
    reclaimed: list[str] = []
    for sig in fresh:
        if sig.name in prev_sigs:
            ids[sig.name] = prev_sigs[sig.name].id
        elif sig.name in prev_retired:
            ids[sig.name] = prev_retired[sig.name]
            reclaimed.append(sig.name)
    taken.update(ids.values())
    retired = [Retired(rid, name) for name, rid in prev_retired.items() if name not in names]
    retired += [Retired(s.id, s.name) for s in prev_sigs.values() if s.name not in names]
    taken.update(r.id for r in retired)
    total = len(fresh) + len(retired)
    if total > MAX_IDS:
        raise ConfigError(
            key,
            f"the catalog needs {total} ids ({len(fresh)} signals, {len(retired)} retired); "
            f"SPI ids have 12 bits ({MAX_IDS})",
        )
    free = (i for i in range(MAX_IDS) if i not in taken)
    added: list[str] = []
    signals: list[CatalogSignal] = []
    retyped: list[str] = []
    for sig in fresh:
        if sig.name not in ids:
            ids[sig.name] = next(free)
            if previous is not None:
                added.append(sig.name)
        old = prev_sigs.get(sig.name)
        if old is not None and old.type is not sig.type:
            retyped.append(sig.name)
        signals.append(
            CatalogSignal(sig.name, ids[sig.name], sig.type, sig.unit, sig.minimum, sig.maximum)
        )
    catalog = Catalog(tuple(signals), tuple(retired), source, source_sha256)
    removed = tuple(sorted(n for n in prev_sigs if n not in names))
    return catalog, Changes(tuple(added), removed, tuple(retyped), tuple(reclaimed))


def catalog_from_dbc(
    path: Path, previous: Catalog | None = None, key: str = "dbc"
) -> tuple[Catalog, Changes]:
    """Generate the catalog of the DBC at ``path`` (see :func:`generate`)."""
    db = load_dbc(path, key)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return generate(db, previous, source=path.name, source_sha256=digest, key=key)


# ---- TOML ------------------------------------------------------------------------------------


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


def names_of(signals: Iterable[CatalogSignal]) -> list[str]:
    return [s.name for s in signals]
