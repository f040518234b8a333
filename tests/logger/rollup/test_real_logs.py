"""Rollups and condition durations on real CAN logs of ``../shared/data``, decoded with their DBCs
by ``sdvlog import --dbc``: against the DuckDB reference and the signal engine, at once and in
spans. The Kona log's ``EMS12`` is multiplexed (signals null where not selected)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from logger.cli.app import main
from logger.core.command import parse_command
from logger.core.config import ParquetConfig
from logger.rollup import (
    RollupState,
    coarsen,
    compile_condition,
    condition_partials,
    merge,
    merge_conditions,
    partials,
    signal_columns,
)
from logger.signals.query import answer_signals, catalog_of
from logger.store import ParquetStore
from tests.logger.rollup.reference import (
    assert_same_partials,
    condition_ns_from_intervals,
    reference_partials,
)

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"
LOGS = {
    "genesis": (
        SHARED / "logs" / "hyundai_genesis_autologgenesis.log",
        SHARED / "dbc" / "matching" / "hyundai_i30_2014.dbc",
    ),
    "kona": (
        SHARED / "logs" / "hyundai_kona_turnonlog.trc",
        SHARED / "dbc" / "matching" / "hyundai_kia_generic.dbc",
    ),
}
S = 1_000_000_000
HOLD = 10 * S


def decoded(directory: Path, name: str) -> dict[str, pa.Table]:
    """The message tables ``sdvlog import --dbc`` writes for the log ``name``."""
    log, dbc = LOGS[name]
    if not (log.exists() and dbc.exists()):
        pytest.skip(f"{log.name} or {dbc.name} is not in ../shared/data")
    assert main(["import", str(log), "--dir", str(directory), "--dbc", str(dbc)]) == 0
    store = ParquetStore(ParquetConfig(dir=directory), "can", {})
    store.recover(read_only=True)
    prefix = "signals/message="
    return {
        table.removeprefix(prefix): pa.concat_tables(store.read_all(table, "ts", 0, 2**63 - 1))
        for table in store.tables()
        if table.startswith(prefix)
    }


@pytest.fixture(scope="module", params=sorted(LOGS))
def messages(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, pa.Table]:
    name = str(request.param)
    return decoded(tmp_path_factory.mktemp(name), name)


def test_every_signal_of_every_message_equals_the_reference(messages: dict[str, pa.Table]) -> None:
    assert len(messages) >= 20
    nulls = 0
    for message, table in messages.items():
        signals = signal_columns(table.schema, message)
        nulls += sum(table.column(c).null_count for c in signals)
        for window_ns, hold_ns in ((S, HOLD), (100_000_000, 250_000_000)):
            got, _ = partials(table, signals, window_ns, hold_ns)
            want = reference_partials(table, signals, window_ns, hold_ns)
            assert_same_partials(got, want)
    if "EMS12" in messages:
        assert nulls > 0  # the multiplexed signals were there


def test_spans_merged_and_coarsened_equal_the_whole(messages: dict[str, pa.Table]) -> None:
    rng = np.random.default_rng(3)
    for message, table in messages.items():
        signals = signal_columns(table.schema, message)
        cuts = sorted(int(c) for c in rng.integers(0, table.num_rows + 1, 6))
        bounds = [0, *cuts, table.num_rows]
        state: RollupState | None = None
        pieces = []
        for lo, hi in itertools.pairwise(bounds):
            piece, state = partials(table.slice(lo, hi - lo), signals, S, HOLD, state)
            pieces.append(piece)
        whole, whole_state = partials(table, signals, S, HOLD)
        assert_same_partials(merge(pieces), whole)
        assert state == whole_state
        ten, _ = partials(table, signals, 10 * S, HOLD)
        assert_same_partials(coarsen(merge(pieces), 10 * S), ten)


CONDITIONS = {
    "genesis": "TCU2.VS_TCU>3,EMS6.TQI>20",
    "kona": "EMS12.CAN_VERS>=15,EMS12.TPS>3.3,CLU11.CF_Clu_AliveCnt1>4",
}


def test_condition_durations_equal_the_engine_intervals(messages: dict[str, pa.Table]) -> None:
    where = next(
        w for w in CONDITIONS.values() if all(c.split(".")[0] in messages for c in w.split(","))
    )
    catalog = catalog_of(messages)
    spec = compile_condition("real", where, catalog)
    end_ms = max(int(pa.compute.max(t.column("ts")).as_py()) for t in messages.values()) // 10**6
    command = parse_command(f"sync-0-{end_ms + 1};where={where};out=intervals")
    intervals = answer_signals(messages, command, catalog)
    involved = {m: messages[m] for m in spec.columns()}
    cut = int(np.median(involved[spec.refs[0].message].column("ts").to_numpy()))
    halves = [
        {m: t.filter(pa.compute.less(t.column("ts"), cut)) for m, t in involved.items()},
        {m: t.filter(pa.compute.greater_equal(t.column("ts"), cut)) for m, t in involved.items()},
    ]
    out = []
    state = None
    for half in halves:
        table, state = condition_partials(half, spec, S, state)
        out.append(table)
    assert state is not None
    out.append(condition_partials({}, spec, S, state, state.horizon_ns + 1)[0])
    merged = merge_conditions(out)
    got = dict(
        zip(
            merged.column("window").to_pylist(),
            merged.column("condition_ns").to_pylist(),
            strict=True,
        )
    )
    assert got == condition_ns_from_intervals(intervals, S)
    assert sum(got.values()) == sum(intervals.column("duration_ns").to_pylist()) > 0
