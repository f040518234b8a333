"""Rollups: per-signal aggregates per time window, and condition durations, computed incrementally.

The computation only: tables in, tables out. Where the input comes from (the exchange's write
path, an import, the frames of a range) and where the output goes (the store, a query answer)
is the caller's.

**Input.** One message's table as the CANP plugin's DBC codec or the SPI plugin writes it: an
int64 ``ts`` column (ns; a timestamp column, as files store it, is converted), other columns that are not signals (``bus``, ``topic``,
``source_address``, SPI's ``source`` and ``updated``), then one column per signal (integers,
floats, booleans; a multiplexed signal is null in rows that do not select it).
:func:`signal_columns` picks the signals (numeric and boolean columns) and names them
``Message.Signal``. Rows may be in any order: they are sorted stably by ``ts`` (rows with equal
``ts`` keep their order). All messages' buses and sources count as one stream, as in a signal
query without ``bus=``.

**Windows.** Epoch-aligned UTC windows ``[W, W + w)``, ``W = floor(ts / w) * w``, of a size
``parse_window`` reads (``"1s"``, ``"1m"``, ``"1h"``, any ``<n>s|m|h|d`` that divides a day).

**Aggregates** (one row per window and signal, :func:`logger.rollup.schema.partials_schema`):

* a *sample* is a non-null, non-NaN value; nulls and NaN are not samples, and they neither
  replace the held value nor end its hold (as in the signal engine, where a null does not
  overwrite the held value); booleans are 0 and 1 (for ``min``/``max`` too), integers are
  converted to float64;
* ``count``: samples in the window; ``min``, ``max``, ``first``, ``last``, ``mean`` of them
  (float64); ``ts_min``/``ts_max``: the time of the first sample equal to ``min``/``max``;
* *hold*: sample ``i`` holds its value over ``[t_i, min(t_next, t_i + hold_ns))``, ``t_next``
  the time of the signal's next sample (samples at equal times: the last one holds);
* ``coverage_ns`` = Σ |hold ∩ window|; ``twa`` (time-weighted mean) = Σ value·|hold ∩ window| /
  ``coverage_ns``, null when nothing is covered;
* a window gets a row when it has a sample or coverage; one covered only by a value held from
  before has ``count`` 0, null ``min``/``max``/``first``/``last``/``mean``/``ts_min``/``ts_max``,
  and a ``twa`` and ``coverage_ns``.

**Incremental and mergeable.** :func:`partials` computes a span (a batch) of one message, given
the :class:`RollupState` the previous span returned (``lead_in``; None at the start): the
samples whose hold is still open, and the horizon (every later row has ``ts`` at or after it;
equal times across spans are allowed, an earlier row is late data and raises
:class:`RollupError`). A hold is accounted once its end is known: at the signal's next sample,
or when the horizon reaches ``t + hold_ns``; until then it is carried. :func:`merge` (consecutive
spans' partials, in time order) gives exactly what one :func:`partials` over the whole gives
(``count``, ``min``, ``max``, ``first``, ``last``, ``ts_*``, ``coverage_ns``; ``mean`` and ``twa``
to float rounding), and :func:`coarsen` re-keys partials to a coarser window (a multiple of
theirs) and merges: ``1s`` → ``1m`` → ``1h``.

**Final windows.** A window ``[W, W + w)`` of a signal is final once data at or after ``W + w +
hold_ns`` has been seen (:func:`final_before`, :meth:`RollupState.final_before`); before that a
later span may still add to it.

**Condition durations** (:func:`compile_condition`, :func:`condition_partials`,
:func:`logger.rollup.schema.condition_schema`): per window, ``condition_ns`` is the time during
which a named ``where=`` condition held, with the semantics of ``where=`` + ``out=intervals``:
the involved messages' rows aligned by sample-and-hold (no hold limit), runs of consecutive
matching aligned rows, each lasting from its first to its last matching row (a one-row run lasts
0), and ``condition_ns`` = Σ |run ∩ window|; only windows with ``condition_ns > 0`` get a row.
As in ``where=``, NaN is a value there (it compares as IEEE: only ``!=`` matches it).
Incremental like the aggregates (:class:`ConditionState`), merged by :func:`merge_conditions` and
:func:`coarsen_conditions`; a window is final once it ends at or before
:attr:`ConditionState.settled_ns` (:meth:`ConditionState.final_before`). To close the last run
at the end of the data, call :func:`condition_partials` with no tables and a horizon past the
last row.

**Use.** Per message, the finest window from the tables in hand, coarser ones by coarsening::

    signals = signal_columns(table.schema, "EngineData")
    second, state = partials(table, signals, parse_window("1s"), hold_ns, state)
    # keep `second`; merge([...]) what belongs to one window as it comes, then
    minute = coarsen(merge(seconds_of_the_minute), parse_window("1m"))
    final = state.final_before(parse_window("1s"), hold_ns)  # windows before it are final

    spec = compile_condition("high_rpm_standstill", "EngineSpeed>4000,VehicleSpeed<5", catalog)
    seconds, cstate = condition_partials({"EngineData": t1, "BrakeStatus": t2}, spec, w, cstate)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from logger.rollup.compute import partials
    from logger.rollup.conditions import ConditionSpec, compile_condition, condition_partials
    from logger.rollup.merging import coarsen, coarsen_conditions, merge, merge_conditions
    from logger.rollup.schema import (
        condition_schema,
        partials_schema,
        signal_columns,
        window_of,
    )
    from logger.rollup.state import ConditionState, Held, RollupError, RollupState
    from logger.rollup.windows import final_before, is_final, parse_window, window_name

__all__ = [
    "ConditionSpec",
    "ConditionState",
    "Held",
    "RollupError",
    "RollupState",
    "coarsen",
    "coarsen_conditions",
    "compile_condition",
    "condition_partials",
    "condition_schema",
    "final_before",
    "is_final",
    "merge",
    "merge_conditions",
    "parse_window",
    "partials",
    "partials_schema",
    "signal_columns",
    "window_name",
    "window_of",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "ConditionSpec": "logger.rollup.conditions",
        "compile_condition": "logger.rollup.conditions",
        "condition_partials": "logger.rollup.conditions",
        "coarsen": "logger.rollup.merging",
        "coarsen_conditions": "logger.rollup.merging",
        "merge": "logger.rollup.merging",
        "merge_conditions": "logger.rollup.merging",
        "partials": "logger.rollup.compute",
        "condition_schema": "logger.rollup.schema",
        "partials_schema": "logger.rollup.schema",
        "signal_columns": "logger.rollup.schema",
        "window_of": "logger.rollup.schema",
        "ConditionState": "logger.rollup.state",
        "Held": "logger.rollup.state",
        "RollupError": "logger.rollup.state",
        "RollupState": "logger.rollup.state",
        "final_before": "logger.rollup.windows",
        "is_final": "logger.rollup.windows",
        "parse_window": "logger.rollup.windows",
        "window_name": "logger.rollup.windows",
    },
)
