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

Modules: :mod:`~spi.catalog.model` (the catalog, its TOML text), :mod:`~spi.catalog.generate`
(from a DBC) and :mod:`~spi.catalog.files` (reading, writing, a catalog source).
"""

from spi.catalog.files import load_catalog_source, parse_catalog, read_catalog, write_catalog
from spi.catalog.generate import catalog_from_dbc, generate, load_dbc, signal_type
from spi.catalog.model import FORMAT, MAX_IDS, Catalog, CatalogSignal, Changes, Retired, names_of

__all__ = [
    "FORMAT",
    "MAX_IDS",
    "Catalog",
    "CatalogSignal",
    "Changes",
    "Retired",
    "catalog_from_dbc",
    "generate",
    "load_catalog_source",
    "load_dbc",
    "names_of",
    "parse_catalog",
    "read_catalog",
    "signal_type",
    "write_catalog",
]
