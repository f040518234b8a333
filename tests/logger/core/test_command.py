from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logger.core.command import INT64_MAX, Condition, parse_command
from logger.core.errors import Code, CommandError


def test_original_raw_form() -> None:
    cmd = parse_command("sync-1700000000000-1700000060000")
    assert (cmd.mode, cmd.start_ms, cmd.end_ms, cmd.selectors) == (
        "sync",
        1700000000000,
        1700000060000,
        (),
    )
    assert cmd.start_ns == 1700000000000 * 10**6
    assert cmd.end_ns == 1700000060000 * 10**6 + 999_999  # the end millisecond is included


def test_every_selector() -> None:
    cmd = parse_command(
        "async-0-10;bus=can0,can1;id=0x1A0,0x100-0x1FF;msg=EngineData;sig=EngineSpeed,Chassis.VehicleSpeed;"
        "where=EngineSpeed>4000,VehicleSpeed<5,Gear!=-1.5e0;out=intervals;limit=25"
    )
    assert cmd.mode == "async" and cmd.buses == ("can0", "can1")
    assert cmd.ids == ((0x1A0, 0x1A0), (0x100, 0x1FF))
    assert cmd.msgs == ("EngineData",) and cmd.sigs == ("EngineSpeed", "Chassis.VehicleSpeed")
    assert cmd.where == (
        Condition("EngineSpeed", ">", 4000.0),
        Condition("VehicleSpeed", "<", 5.0),
        Condition("Gear", "!=", -1.5),
    )
    assert cmd.out == "intervals" and cmd.limit == 25
    assert cmd.names == {"bus", "id", "msg", "sig", "where", "out", "limit"}


def test_extreme_range_clamps_to_int64() -> None:
    cmd = parse_command(f"sync-0-{INT64_MAX}")
    assert cmd.end_ns == INT64_MAX


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ("", Code.BAD_COMMAND, "empty"),
        ("sync-10-5", Code.BAD_KEY_RANGE, "before start"),
        (f"sync-0-{INT64_MAX + 1}", Code.BAD_KEY_RANGE, "at most"),
        ("fetch-0-5", Code.BAD_COMMAND, "expected"),
        ("sync-0-5;colour=red", Code.BAD_COMMAND, "unknown selector"),
        ("sync-0-5;limit=-1", Code.BAD_COMMAND, "limit"),
        ("sync-0-5;limit=1;limit=2", Code.BAD_COMMAND, "twice"),
        ("sync-0-5;id=0x200-0x100", Code.BAD_COMMAND, "ends before"),
        ("sync-0-5;id=12", Code.BAD_COMMAND, "hex"),
        ("sync-0-5;where=Speed>>3", Code.BAD_COMMAND, "not a number"),
        ("sync-0-5;where=Speed", Code.BAD_COMMAND, "signal op number"),
        ("sync-0-5;out=table", Code.BAD_COMMAND, "rows or intervals"),
        ("sync-0-5;bus=", Code.BAD_COMMAND, "empty"),
        ("sync--1-5", Code.BAD_COMMAND, "expected"),
    ],
)
def test_bad_commands_say_what_is_wrong(text: str, code: Code, words: str) -> None:
    with pytest.raises(CommandError) as err:
        parse_command(text)
    assert err.value.disk == code and err.value.memory == code
    assert words in str(err.value)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_any_text_parses_or_raises_command_error(text: str) -> None:
    try:
        parse_command(text)
    except CommandError as exc:
        assert exc.disk in (Code.BAD_COMMAND, Code.BAD_KEY_RANGE)
