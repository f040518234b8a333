"""SPI catalog: generation from the demo DBC, stable ids across regenerations, TOML, errors, CLI."""

from __future__ import annotations

import tomllib
from pathlib import Path

import cantools
import pytest
from cantools.database.can import Database

from logger.cli.app import main
from logger.core.errors import ConfigError
from spi.catalog import (
    Catalog,
    CatalogSignal,
    Retired,
    catalog_from_dbc,
    generate,
    load_catalog_source,
    read_catalog,
    write_catalog,
)
from spi.types import SpiType

DEMO = Path(__file__).resolve().parents[2] / "dbc" / "examples" / "demo.dbc"
DEMO_TEXT = DEMO.read_text()


def dbc_variant(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_demo_catalog_types_ids_units() -> None:
    catalog, _ = catalog_from_dbc(DEMO)
    db = cantools.database.load_file(DEMO)
    assert isinstance(db, Database)
    assert len(catalog) == sum(len(m.signals) for m in db.messages)
    assert [s.id for s in catalog.signals] == list(range(len(catalog)))
    by = catalog.by_name
    assert by["EngineData.EngineSpeed"].id == 0
    assert by["EngineData.EngineSpeed"].type is SpiType.F32
    assert by["EngineData.EngineSpeed"].unit == "rpm"
    assert (by["EngineData.EngineSpeed"].minimum, by["EngineData.EngineSpeed"].maximum) == (
        0.0,
        8000.0,
    )
    assert by["EngineData.EngineRunning"].type is SpiType.BOOL
    assert by["EngineData.CoolantTemp"].type is SpiType.I16  # 8 bits, offset -40
    assert by["TransmissionData.Gear"].type is SpiType.U8
    assert by["EcuDiagnostics.UptimeS"].type is SpiType.U32
    assert by["EcuDiagnostics.LastDtc"].type is SpiType.U16
    assert by["EcuDiagnostics.Odometer"].type is SpiType.F64  # 32 bits * 0.1: beyond float32
    assert by["ImuData.LongAccel"].type is SpiType.F32  # IEEE float signal
    assert catalog.source == "demo.dbc" and len(catalog.source_sha256) == 64


def test_find_by_full_or_short_name() -> None:
    catalog, _ = catalog_from_dbc(DEMO)
    assert [s.name for s in catalog.find("Gear")] == ["TransmissionData.Gear"]
    assert [s.name for s in catalog.find("BrakeStatus.VehicleSpeed")] == [
        "BrakeStatus.VehicleSpeed"
    ]
    assert catalog.find("Nope") == [] and catalog.find("EngineData.Gear") == []


def test_ids_stay_stable_when_signals_are_removed_added_and_come_back(tmp_path: Path) -> None:
    first, _ = catalog_from_dbc(DEMO)
    # remove ThrottlePos (id 2) and FuelRate (id 5), add two signals to ClimateStatus
    removed = DEMO_TEXT.replace(
        ' SG_ ThrottlePos : 28|8@1+ (0.4,0) [0|100] "%" TCM,GW\n', ""
    ).replace(' SG_ FuelRate : 48|16@1+ (0.01,0) [0|100] "l/h" GW\n', "")
    added = removed.replace(
        ' SG_ HeadlightsOn : 32|1@1+ (1,0) [0|1] "" GW\n',
        ' SG_ HeadlightsOn : 32|1@1+ (1,0) [0|1] "" GW\n'
        ' SG_ FogLightsOn : 33|1@1+ (1,0) [0|1] "" GW\n'
        ' SG_ Humidity : 40|8@1+ (0.5,0) [0|100] "%" GW\n',
    )
    second, changes = catalog_from_dbc(dbc_variant(tmp_path, "v2.dbc", added), first)
    assert changes.removed == ("EngineData.FuelRate", "EngineData.ThrottlePos")
    assert changes.added == ("ClimateStatus.FogLightsOn", "ClimateStatus.Humidity")
    for sig in second.signals:
        if sig.name in first.by_name:
            assert sig.id == first.by_name[sig.name].id, sig.name
    assert second.retired == (
        Retired(2, "EngineData.ThrottlePos"),
        Retired(5, "EngineData.FuelRate"),
    )
    new_ids = [second.by_name[n].id for n in changes.added]
    assert new_ids == [len(first), len(first) + 1]  # lowest never-used ids, retired ones skipped
    assert second.by_name["ClimateStatus.Humidity"].type is SpiType.F32

    # round trip through the file, then one signal comes back: it reclaims its id
    path = tmp_path / "catalog.toml"
    write_catalog(second, path)
    third, changes = catalog_from_dbc(
        dbc_variant(
            tmp_path,
            "v3.dbc",
            added.replace(
                ' SG_ CoolantTemp : 36|8@1+ (1,-40) [-40|150] "degC" GW\n',
                ' SG_ CoolantTemp : 36|8@1+ (1,-40) [-40|150] "degC" GW\n'
                ' SG_ ThrottlePos : 28|8@1+ (0.4,0) [0|100] "%" TCM,GW\n',
            ),
        ),
        read_catalog(path),
    )
    assert changes.reclaimed == ("EngineData.ThrottlePos",) and changes.added == ()
    assert third.by_name["EngineData.ThrottlePos"].id == 2
    assert third.retired == (Retired(5, "EngineData.FuelRate"),)


def test_type_change_keeps_the_id_and_is_reported(tmp_path: Path) -> None:
    first, _ = catalog_from_dbc(DEMO)
    changed = DEMO_TEXT.replace(
        'SG_ Gear : 0|4@1+ (1,0) [0|15] ""', 'SG_ Gear : 0|4@1+ (0.5,0) [0|7.5] ""'
    )
    second, changes = catalog_from_dbc(dbc_variant(tmp_path, "g.dbc", changed), first)
    assert changes.retyped == ("TransmissionData.Gear",)
    assert second.by_name["TransmissionData.Gear"].id == first.by_name["TransmissionData.Gear"].id
    assert second.by_name["TransmissionData.Gear"].type is SpiType.F32


def test_toml_round_trip_with_odd_text(tmp_path: Path) -> None:
    catalog = Catalog(
        (
            CatalogSignal('M."q"\\x.S', 7, SpiType.UTF8, "µ\t\x7f", None, None),
            CatalogSignal("M.Big", 0, SpiType.F64, "", -1e300, float("inf")),
            CatalogSignal("M.Flag", 4095, SpiType.BOOL, "", 0.0, 1.0),
        ),
        (Retired(3, "Old.Gone"),),
        "demo.dbc",
        "ab" * 32,
    )
    path = tmp_path / "c.toml"
    write_catalog(catalog, path)
    assert read_catalog(path) == catalog
    assert tomllib.loads(path.read_text())["signal"][0]["name"] == "M.Big"


def test_too_many_ids_is_an_error() -> None:
    lines = ['VERSION ""', "BS_:", "BU_: N"]
    for m in range(1100):
        lines.append(f"BO_ {m} M{m}: 8 N")
        lines += [f' SG_ S{k} : {k * 16}|16@1+ (1,0) [0|1] "" N' for k in range(4)]
    db = cantools.database.load_string("\n".join(lines) + "\n", "dbc", strict=False)
    assert isinstance(db, Database)
    with pytest.raises(ConfigError, match="4400 ids"):
        generate(db)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("format = 2\n", "format"),
        ("colour = 1\n", "catalog.colour"),
        ('[[signal]]\nname = "A.B"\nid = 1\n', "signal[0].type"),
        ('[[signal]]\nname = "A.B"\nid = 4096\ntype = "u8"\n', "signal[0].id"),
        ('[[signal]]\nname = "A.B"\nid = 1\ntype = "u9"\n', "signal[0].type"),
        ('[[signal]]\nname = "A.B"\nid = "1"\ntype = "u8"\n', "signal[0].id"),
        ('[[signal]]\nname = "A.B"\nid = 1\ntype = "u8"\nmin = "x"\n', "signal[0].min"),
        ('[[signal]]\nname = "A.B"\nid = 1\ntype = "u8"\nscale = 1\n', "signal[0].scale"),
        (
            '[[signal]]\nname = "A.B"\nid = 1\ntype = "u8"\n[[retired]]\nid = 1\nname = "C.D"\n',
            "retired[0].id",
        ),
        ("signal = 3\n", "signal"),
        ("not toml [", "catalog"),
    ],
)
def test_bad_catalog_file_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        read_catalog(path)
    assert info.value.key == key
    assert str(path) in str(info.value)


def test_catalog_source_is_a_toml_or_a_dbc(tmp_path: Path) -> None:
    from_dbc = load_catalog_source(DEMO)
    path = tmp_path / "c.toml"
    write_catalog(from_dbc, path)
    assert load_catalog_source(path) == from_dbc
    with pytest.raises(ConfigError, match="exchange"):
        load_catalog_source(tmp_path / "missing.dbc", "exchange[spi].dbc")
    junk = dbc_variant(tmp_path, "junk.dbc", "this is not a dbc at all {")
    with pytest.raises(ConfigError):
        load_catalog_source(junk)


def test_cli_writes_then_keeps_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "catalog.toml"
    assert main(["catalog", "--dbc", str(DEMO), "-o", str(out)]) == 0
    assert "98 signals from demo.dbc" in capsys.readouterr().out
    smaller = dbc_variant(
        tmp_path,
        "small.dbc",
        DEMO_TEXT.replace(' SG_ FuelRate : 48|16@1+ (0.01,0) [0|100] "l/h" GW\n', ""),
    )
    assert main(["catalog", "--dbc", str(smaller), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "ids kept from" in text and "EngineData.FuelRate" in text
    assert read_catalog(out).retired == (Retired(5, "EngineData.FuelRate"),)
    other = tmp_path / "fresh.toml"
    assert main(["catalog", "--dbc", str(smaller), "-o", str(other), "--previous", str(out)]) == 0
    assert read_catalog(other) == read_catalog(out)
    assert main(["catalog", "--dbc", str(tmp_path / "none.dbc"), "-o", str(other)]) == 1
    assert "--dbc" in capsys.readouterr().err
