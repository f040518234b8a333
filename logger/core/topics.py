"""MQTT topic filters (``+`` and ``#``) as the ``topic=`` query selector checks and matches them.

Rules (MQTT 3.1.1 §4.7 and 5.0 §4.7):

* A filter is not empty, holds no NUL and is at most 65,535 bytes of UTF-8.
* ``+`` stands for exactly one level (any text between two ``/``, the empty level included) and
  must be a whole level: ``a/+/c`` and ``+`` are filters, ``a+`` and ``a/b+`` are not.
* ``#`` stands for any number of levels, **zero included**, so ``a/#`` matches ``a`` as well as
  ``a/b/c``; it must be the whole last level: ``#`` and ``a/#`` are filters, ``a/#/b`` and ``a#``
  are not.
* A filter whose first level is ``+`` or ``#`` does not match a topic that begins with ``$``
  (``$SYS/...``); ``$SYS/#`` does.
* Anything else in a level matches itself exactly (case-sensitive; empty levels count:
  ``a//b`` has three levels).

Matching a column is vectorised: the column is dictionary-encoded (one hash pass in Arrow), each
*distinct* topic is matched once in Python with one compiled regular expression for all the
filters, and the per-row mask is a ``take`` of those answers by the dictionary indices. A row
whose topic is null never matches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pyarrow as pa

from logger.core.errors import CommandError

__all__ = ["MAX_FILTER_BYTES", "TOPIC_COLUMN", "TopicFilters", "check_filter"]

#: MQTT's limit for a UTF-8 string, topic filters included.
MAX_FILTER_BYTES = 65535
#: The column ``topic=`` filters on, in every table that answers it.
TOPIC_COLUMN = "topic"


def check_filter(text: str) -> str:
    """``text`` if it is an MQTT topic filter; else :class:`CommandError` saying what is wrong."""
    if not text:
        raise CommandError("topic=: an empty topic filter matches nothing; give a filter")
    if "\0" in text:
        raise CommandError(f"topic=: {text[:60]!r} holds a NUL character")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILTER_BYTES:
        raise CommandError(f"topic=: a filter is at most {MAX_FILTER_BYTES} bytes of UTF-8")
    levels = text.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise CommandError(
                f"topic=: in {text[:60]!r}, '#' must be a whole level and the last one "
                "(like 'a/#' or '#')"
            )
        if "+" in level and level != "+":
            raise CommandError(
                f"topic=: in {text[:60]!r}, '+' must be a whole level (like 'a/+/c'), "
                f"not part of {level[:30]!r}"
            )
    return text


def _pattern(text: str) -> str:
    """A regular expression that matches, in full, exactly the topics the filter matches."""
    levels = text.split("/")
    multi = levels[-1] == "#"
    if multi:
        levels = levels[:-1]
    body = "/".join("[^/]*" if level == "+" else re.escape(level) for level in levels)
    if multi:
        body = f"{body}(?:/.*)?" if levels else ".*"
    if text[:1] in ("+", "#"):
        body = r"(?!\$)" + body
    return body


class TopicFilters:
    """A set of MQTT topic filters, checked once; a topic matches when any filter matches it."""

    def __init__(self, filters: Sequence[str]) -> None:
        self.filters = tuple(check_filter(f) for f in filters)
        if not self.filters:
            raise CommandError("topic=: give at least one topic filter")
        joined = "|".join(f"(?:{_pattern(f)})" for f in self.filters)
        self._regex = re.compile(joined, re.DOTALL)

    @classmethod
    def of(cls, filters: Sequence[str]) -> TopicFilters | None:
        """The filters, or None when there are none (every topic)."""
        return cls(filters) if filters else None

    def __repr__(self) -> str:
        return f"TopicFilters({list(self.filters)!r})"

    def matches(self, topic: str) -> bool:
        """Whether one topic matches (per distinct topic; never per row)."""
        return self._regex.fullmatch(topic) is not None

    def mask(self, column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        """Per row: does its topic match? (``column``: string or dictionary of strings; null → False).

        Each chunk is dictionary-encoded (already-encoded chunks are used as they are), each
        distinct topic is matched once (answers kept across chunks), and the mask is the answers
        taken by the indices.
        """
        seen: dict[str, bool] = {}
        if isinstance(column, pa.ChunkedArray):
            chunks = [self._chunk_mask(chunk, seen) for chunk in column.chunks]
            return pa.chunked_array(chunks, pa.bool_())
        return self._chunk_mask(column, seen)

    def filter(self, table: pa.Table) -> pa.Table:
        """The rows of ``table`` whose ``topic`` matches (KeyError when it has no such column).

        A dictionary ``topic`` column (read so from Parquet: its distinct values come without
        hashing) is given back as its plain values, as every other part of an answer has it.
        """
        column = table.column(TOPIC_COLUMN)
        kept = table.filter(self.mask(column))
        if pa.types.is_dictionary(column.type):
            index = kept.schema.get_field_index(TOPIC_COLUMN)
            field = kept.schema.field(index)
            plain = field.with_type(column.type.value_type)
            kept = kept.set_column(index, plain, kept.column(index).cast(plain.type))
        return kept

    def _chunk_mask(self, chunk: pa.Array, seen: dict[str, bool]) -> pa.Array:
        import pyarrow.compute as pc  # noqa: PLC0415 - loaded once data flows

        encoded = chunk if pa.types.is_dictionary(chunk.type) else pc.dictionary_encode(chunk)
        answers = []
        for topic in encoded.dictionary.to_pylist():
            hit = seen.get(topic)
            if hit is None:
                hit = seen[topic] = topic is not None and self.matches(topic)
            answers.append(hit)
        mask = pa.array(answers, pa.bool_()).take(encoded.indices)
        return mask if mask.null_count == 0 else pc.fill_null(mask, False)
