"""The catalog itself (see :mod:`spi.catalog`): its signals and retired ids, validated, looked up
by name or id, and written out as TOML text."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from spi.types import SpiType

MAX_IDS = 4096
FORMAT = 1


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


def names_of(signals: Iterable[CatalogSignal]) -> list[str]:
    return [s.name for s in signals]
