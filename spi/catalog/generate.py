"""A catalog generated from a DBC: each signal's SPI type, and ids kept stable against a previous
catalog (see :mod:`spi.catalog` for the rules)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from cantools.database.can import Database

from dbc.load import DbcError, load_database
from logger.core.errors import ConfigError
from spi.catalog.model import MAX_IDS, Catalog, CatalogSignal, Changes, Retired
from spi.types import INTEGER_RANGES, SpiType

_F32_STEPS = 1 << 23  # raw steps float32 resolves over a range (24-bit significand, with margin)


def _integral(value: float) -> bool:
    return float(value).is_integer()


def signal_type(signal: Any) -> SpiType:
    """The SPI type for a cantools ``Signal`` (see :mod:`spi.catalog` for the rules)."""
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
    """The catalog of ``db``, keeping ``previous``'s ids (see :mod:`spi.catalog`)."""
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
