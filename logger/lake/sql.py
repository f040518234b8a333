"""The query grammar compiled to SQL, one dialect per engine (DuckDB, Spark SQL).

Every table is a view with normalised columns: ``vehicle``, ``ts`` (BIGINT ns), ``_f`` / ``_s``
(the file's ``first_ns`` and ``seq``, from its name), ``_r`` (row within the file), then the
file's columns. Rows of one vehicle in the order ``(ts, _f, _s, _r)`` are the order our engine
reads them in (files by ``(first_ns, seq)``, rows as stored, a stable sort by time).

Signal-range semantics (:mod:`logger.signals.query`), per vehicle:

* the involved messages' rows in ``[start - lead, end]`` (``bus=`` / ``topic=`` applied first)
  are unioned, one column per involved signal, null in the other messages' rows;
* each signal is held with ``last_value(… IGNORE NULLS)`` over the union in the order
  ``(ts, message, _f, _s, _r)``; the last row of each distinct ``ts`` is its sample;
* samples before ``start`` only seed the hold; ``where`` holds when every condition holds on the
  held values (null never; NaN only for ``!=``, as IEEE, whereas SQL engines order NaN above all);
* ``out=intervals``: gaps and islands, ``row_number()`` over all samples minus ``row_number()``
  over the matching ones; ``limit=`` counts per vehicle.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from logger.core.command import Command, Condition

__all__ = ["DUCKDB", "SPARK", "Dialect", "SignalPlan", "frames_sql", "rows_sql", "signals_sql"]


@dataclass(frozen=True)
class Dialect:
    """What differs between the engines' SQL."""

    name: str
    quote_char: str
    #: ``{x}``: the held value of column x
    last_ignore_nulls: str
    #: ``{x}`` a column, ``{re}`` a quoted regular expression
    regex_match: str

    def q(self, name: str) -> str:
        c = self.quote_char
        return c + name.replace(c, c + c) + c

    def string(self, text: str) -> str:
        return (
            "'"
            + text.replace("\\", "\\\\" if self.name == "spark" else "\\").replace("'", "''")
            + "'"
        )


DUCKDB = Dialect("duckdb", '"', "last_value({x} IGNORE NULLS)", "regexp_full_match({x}, {re})")
SPARK = Dialect("spark", "`", "last_value({x}, true)", "({x} RLIKE {re})")

_ORDER = "ts, _f, _s, _r"


def topic_regex(topic_filter: str) -> str:
    """An MQTT topic filter as an anchored regular expression (``+`` one level, ``#`` the rest)."""
    parts = []
    for level in topic_filter.split("/"):
        if level == "+":
            parts.append("[^/]*")
        elif level == "#":
            parts.append("\x00")
        else:
            parts.append(re.escape(level))
    text = "/".join(parts)
    if text == "\x00":
        return "(?s)^.*$"
    return "(?s)^" + text.replace("/\x00", "(/.*)?") + "$"


def _filters(d: Dialect, command: Command, lo_ns: int, columns: Sequence[str]) -> list[str]:
    out = [f"ts >= {lo_ns}", f"ts <= {command.end_ns}"]
    if command.buses:
        out.append(f"bus IN ({', '.join(d.string(b) for b in command.buses)})")
    if command.topics:
        if "topic" not in columns:
            out.append("FALSE")
        else:
            # MQTT: a filter that starts with a wildcard does not match a topic starting with $
            alts = [
                "("
                + d.regex_match.format(x="topic", re=d.string(topic_regex(t)))
                + (" AND NOT topic LIKE '$%'" if t[:1] in ("+", "#") else "")
                + ")"
                for t in command.topics
            ]
            out.append("(" + " OR ".join(alts) + ")")
    return out


def limited(
    d: Dialect, select: str, order: str, out_columns: Sequence[str], limit: int | None
) -> str:
    """``select`` in ``(vehicle, order)`` order, at most ``limit`` rows per vehicle."""
    cols = ", ".join(d.q(c) for c in out_columns)
    if limit is None:
        return f"SELECT {cols} FROM ({select}) AS _l ORDER BY vehicle, {order}"
    return (
        f"SELECT {cols} FROM (SELECT *, row_number() OVER (PARTITION BY vehicle ORDER BY {order}) AS _n "
        f"FROM ({select}) AS _l) AS _m WHERE _n <= {limit} ORDER BY vehicle, {order}"
    )


def frames_sql(d: Dialect, view: str, command: Command, columns: Sequence[str]) -> str:
    """``frames`` rows: ``bus=``, ``id=``, ``topic=``, ``limit=`` per vehicle, in time order.

    ``columns``: the table's columns (without ``vehicle``); ``_tie`` orders rows of equal time."""
    where = _filters(d, command, command.start_ns, columns)
    if command.ids:
        spans = [
            f"id = {lo}" if lo == hi else f"id BETWEEN {lo} AND {hi}" for lo, hi in command.ids
        ]
        where.append("(" + " OR ".join(spans) + ")")
    data = [c for c in columns if c not in ("ts", "_tie")]
    out = ["vehicle", "ts", *data]
    tie = "_tie" if "_tie" in columns else "0"
    select = (
        f"SELECT {', '.join(d.q(c) for c in out)}, _f, _s, {tie} AS _t, _r FROM {view} "
        f"WHERE {' AND '.join(where)}"
    )
    return limited(d, select, "ts, _f, _s, _t, _r", out, command.limit)


def rows_sql(d: Dialect, view: str, command: Command, columns: Sequence[str]) -> str:
    """``msg=`` alone (one message): its rows in range (``bus=``, ``topic=``), in time order."""
    where = _filters(d, command, command.start_ns, columns)
    out = ["vehicle", "ts", *(c for c in columns if c != "ts")]
    select = f"SELECT {', '.join(d.q(c) for c in out)}, _f, _s, _r FROM {view} WHERE {' AND '.join(where)}"
    return limited(d, select, _ORDER, out, command.limit)


@dataclass(frozen=True)
class SignalPlan:
    """The involved messages (view, columns present) and, per requested name, its column.

    ``signals``: name → (message index, column) or None for a signal without data."""

    views: Sequence[tuple[str, Sequence[str]]]
    signals: Mapping[str, tuple[int, str] | None]
    out_names: Sequence[str]


def _condition(d: Dialect, column: str, cond: Condition) -> str:
    x = f"CAST({column} AS DOUBLE)"
    v = f"CAST('{cond.value!r}' AS DOUBLE)"
    if cond.op == "!=":
        return f"({x} <> {v} OR isnan({x}))"
    op = "=" if cond.op == "=" else cond.op
    return f"({x} {op} {v} AND NOT isnan({x}))"


def signals_sql(d: Dialect, plan: SignalPlan, command: Command, lead_ns: int) -> str:
    """A signal-range question (``sig=``, ``where=``, ``out=``, ``limit=``) per vehicle."""
    held: dict[tuple[int, str], str] = {}
    for ref in plan.signals.values():
        if ref is not None and ref not in held:
            held[ref] = f"_c{len(held)}"
    lo = max(command.start_ns - lead_ns, 0)
    branches = []
    for i, (view, columns) in enumerate(plan.views):
        cols = [
            (d.q(col) if m == i else "NULL") + f" AS {alias}" for (m, col), alias in held.items()
        ]
        branches.append(
            f"SELECT vehicle, ts, {i} AS _i, _f, _s, _r{''.join(', ' + c for c in cols)} "
            f"FROM {view} WHERE {' AND '.join(_filters(d, command, lo, columns))}"
        )
    window = "PARTITION BY vehicle ORDER BY ts, _i, _f, _s, _r"
    frame = f"OVER ({window} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    filled = ", ".join(f"{d.last_ignore_nulls.format(x=a)} {frame} AS {a}" for a in held.values())
    union = " UNION ALL ".join(branches)
    sql = (
        f"WITH _u AS ({union}), "
        f"_h AS (SELECT vehicle, ts, lead(ts) OVER ({window}) AS _next"
        f"{', ' + filled if filled else ''} FROM _u), "
        f"_smp AS (SELECT * FROM _h WHERE (_next IS NULL OR _next <> ts) AND ts >= {command.start_ns})"
    )
    conds = []
    for cond in command.where:
        ref = plan.signals[cond.signal]
        conds.append("FALSE" if ref is None else _condition(d, held[ref], cond))
    hit = " AND ".join(conds) if conds else "TRUE"
    if command.out == "intervals":
        sql += (
            f", _m AS (SELECT vehicle, ts, CASE WHEN {hit} THEN 1 ELSE 0 END AS _hit FROM _smp), "
            "_g AS (SELECT vehicle, ts, _hit, row_number() OVER (PARTITION BY vehicle ORDER BY ts) "
            "- row_number() OVER (PARTITION BY vehicle, _hit ORDER BY ts) AS _grp FROM _m) "
        )
        select = (
            f"SELECT vehicle, min(ts) AS {d.q('start')}, max(ts) AS {d.q('end')}, "
            f"count(*) AS {d.q('rows')}, max(ts) - min(ts) AS duration_ns "
            "FROM _g WHERE _hit = 1 GROUP BY vehicle, _grp"
        )
        return sql + limited(
            d,
            select,
            d.q("start"),
            ["vehicle", "start", "end", "rows", "duration_ns"],
            command.limit,
        )
    outs = [
        (f"{held[ref]}" if (ref := plan.signals[name]) is not None else "NULL") + f" AS {d.q(name)}"
        for name in plan.out_names
    ]
    select = f"SELECT vehicle, ts, {', '.join(outs)} FROM _smp WHERE {hit}"
    return sql + " " + limited(d, select, "ts", ["vehicle", "ts", *plan.out_names], command.limit)
