"""``topic=``: MQTT topic filters in the grammar, their matching rules, and the vectorised mask
against a level-by-level reference on generated topics."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logger.core.command import parse_command
from logger.core.errors import Code, CommandError
from logger.core.topics import MAX_FILTER_BYTES, TopicFilters, check_filter


def reference_match(filter_: str, topic: str) -> bool:
    """MQTT's rule written out level by level (the spec's wording, no regular expressions)."""
    f_levels, t_levels = filter_.split("/"), topic.split("/")
    if topic.startswith("$") and f_levels[0] in ("+", "#"):
        return False
    for i, level in enumerate(f_levels):
        if level == "#":
            return True  # the rest, zero levels included
        if i >= len(t_levels):
            return False
        if level != "+" and level != t_levels[i]:
            return False
    return len(f_levels) == len(t_levels)


# --------------------------------------------------------------------------- the grammar


def test_topic_selector_parses_filters() -> None:
    cmd = parse_command("sync-0-5;topic=vehicle/+/canp/#, a/b ,#,+,a//b,/,a/#")
    assert cmd.topics == ("vehicle/+/canp/#", "a/b", "#", "+", "a//b", "/", "a/#")
    assert cmd.names == {"topic"}
    assert parse_command("sync-0-5;topic=a,a").topics == ("a",)  # repeated filters once
    both = parse_command("sync-0-5;topic=$SYS/#;bus=can0")
    assert both.topics == ("$SYS/#",) and both.buses == ("can0",)


@pytest.mark.parametrize(
    ("selector", "words"),
    [
        ("topic=", "no empty items"),
        ("topic=a,,b", "no empty items"),
        ("topic= , ", "no empty items"),
        ("topic=a/#/b", "'#' must be a whole level and the last one"),
        ("topic=a#", "'#' must be a whole level"),
        ("topic=#/a", "'#' must be a whole level"),
        ("topic=a/b#", "'#' must be a whole level"),
        ("topic=a+", "'+' must be a whole level"),
        ("topic=a/+b/c", "'+' must be a whole level"),
        ("topic=++", "'+' must be a whole level"),
        ("topic=a\0b", "NUL"),
        ("topic=a;topic=b", "given twice"),
    ],
)
def test_bad_filters_are_bad_commands_that_say_why(selector: str, words: str) -> None:
    with pytest.raises(CommandError, match=words.replace("+", r"\+")) as caught:
        parse_command(f"sync-0-5;{selector}")
    assert caught.value.disk == Code.BAD_COMMAND == caught.value.memory


def test_filter_length_is_mqtts_limit() -> None:
    assert check_filter("a" * MAX_FILTER_BYTES)
    with pytest.raises(CommandError, match="65535 bytes"):
        check_filter("é" * (MAX_FILTER_BYTES // 2 + 1))
    with pytest.raises(CommandError, match="at least one"):
        TopicFilters([])


# --------------------------------------------------------------------------- the rules


@pytest.mark.parametrize(
    ("filter_", "topic", "hit"),
    [
        ("a/#", "a", True),  # '#' matches the parent level too
        ("a/#", "a/", True),
        ("a/#", "a/b/c", True),
        ("a/#", "ab", False),
        ("a/#", "b/a", False),
        ("#", "a/b", True),
        ("#", "/", True),
        ("+", "a", True),
        ("+", "a/b", False),
        ("+", "", True),
        ("a/+", "a/b", True),
        ("a/+", "a/", True),  # '+' matches an empty level
        ("a/+", "a", False),
        ("a/+", "a/b/c", False),
        ("+/+", "/a", True),
        ("/+", "/a", True),
        ("a/+/c", "a/b/c", True),
        ("a/+/c", "a/b/d", False),
        ("a//b", "a//b", True),
        ("a//b", "a/b", False),
        ("a/b", "A/b", False),  # case-sensitive
        ("a.b", "axb", False),  # no regular-expression meaning in a level
        ("a/b", "a/b/", False),
        ("#", "$SYS/x", False),  # '$' topics: not matched by a leading wildcard
        ("+/x", "$SYS/x", False),
        ("+/#", "$SYS/x", False),
        ("$SYS/#", "$SYS/x", True),
        ("$SYS/+", "$SYS/x", True),
        ("a/#", "a/$x", True),  # '$' matters only at the start
        ("a/+", "a/\nb", True),
        ("#", "line\nbreak", True),
    ],
)
def test_mqtt_rules(filter_: str, topic: str, hit: bool) -> None:
    assert TopicFilters([filter_]).matches(topic) is hit
    assert reference_match(filter_, topic) is hit  # the reference agrees with the rules too


def test_mask_is_per_row_with_nulls_false() -> None:
    filters = TopicFilters(["a/+", "c"])
    column = pa.chunked_array([["a/x", None, "c", "a/x/y"], [], ["c", "b"]], pa.string())
    mask = filters.mask(column)
    assert mask.to_pylist() == [True, False, True, False, True, False]
    assert mask.null_count == 0
    encoded = pa.array(["c", "a/1", None, "c"]).dictionary_encode()
    assert filters.mask(encoded).to_pylist() == [True, True, False, True]
    table = pa.table({"topic": ["c", "b", "a/q"], "n": [1, 2, 3]})
    assert filters.filter(table).column("n").to_pylist() == [1, 3]
    assert filters.mask(pa.array([], pa.string())).to_pylist() == []
    read = pa.table({"topic": pa.array(["c", "b", "c"]).dictionary_encode(), "n": [1, 2, 3]})
    kept = filters.filter(read)  # as read from Parquet: a dictionary, given back as strings
    assert kept.schema.field("topic").type == pa.string()
    assert kept.to_pylist() == [{"topic": "c", "n": 1}, {"topic": "c", "n": 3}]
    assert TopicFilters.of([]) is None and TopicFilters.of(["c"]) is not None


# --------------------------------------------------------------------------- generated topics

_LEVELS = ["a", "b", "", "$x", "$SYS", "ab", "x", "é", "a b"]
level = st.sampled_from(_LEVELS)
topic = st.lists(level, min_size=1, max_size=5).map("/".join)
filter_level = st.one_of(level, st.just("+"))
mqtt_filter = st.builds(
    lambda levels, tail: "/".join([*levels, *tail]),
    st.lists(filter_level, min_size=0, max_size=4),
    st.sampled_from([[], ["#"]]),
).filter(bool)


@settings(max_examples=400, deadline=None)
@given(filters=st.lists(mqtt_filter, min_size=1, max_size=3), topics=st.lists(topic, max_size=40))
def test_vectorised_mask_equals_the_reference(filters: list[str], topics: list[str]) -> None:
    column = pa.chunked_array([topics[: len(topics) // 2], topics[len(topics) // 2 :]], pa.string())
    got = TopicFilters(filters).mask(column).to_pylist()
    want = [any(reference_match(f, t) for f in filters) for t in topics]
    assert got == want
