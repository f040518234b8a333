"""``sdvlog demo``: a simulated vehicle → gateway → embedded broker → exchange → Parquet → query,
then the dashboard over it while the vehicle keeps driving, until Ctrl-C."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from logger.cli.subcommand import Subcommand

if TYPE_CHECKING:
    from logger.service.demo import DemoResult


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", type=Path, default=Path("data/demo"), help="store directory")
    p.add_argument("--seconds", type=float, default=10.0, help="how long the vehicle drives")
    p.add_argument(
        "--no-serve",
        action="store_true",
        help="stop after the query instead of serving the dashboard until Ctrl-C",
    )


def _demo(args: argparse.Namespace) -> int:
    import threading  # noqa: PLC0415

    from logger.service.demo import Demo  # noqa: PLC0415
    from logger.service.service import stop_on_signals  # noqa: PLC0415

    with Demo(args.dir) as demo:
        result = demo.drive(args.seconds)
        ok = _report(args.dir, result)
        if args.no_serve or not ok:
            return 0 if ok else 1
        print(f"dashboard: {demo.dashboard}  (the vehicle keeps driving; Ctrl-C stops)", flush=True)
        stop = threading.Event()
        with stop_on_signals(stop):
            sim = demo.drive_on(stop)
        print(f"stopped; the vehicle sent {sim.total} more frames")
    return 0


def _report(directory: Path, result: DemoResult) -> bool:
    """Print what the demo stored and the query's rows; whether every frame was stored."""
    sim = result.simulated
    print(f"simulated vehicle: {sim.summary()}")
    print(f"stored {result.stored} of {sim.total} frames under {directory}/can/frames")
    table = result.reply.table()
    print(
        f"query {result.command}: {table.num_rows} rows, end codes {int(result.reply.disk)},{int(result.reply.memory)}"
    )
    for row in table.to_pylist():
        print(
            f"  ts={row['ts']}  bus={row['bus']}  id=0x{row['id']:03X}  dlc={row['dlc']}  data={row['data'].hex(' ')}"
        )
    return result.stored == sim.total and table.num_rows > 0


SUBCOMMANDS: dict[str, Subcommand] = {
    "demo": Subcommand(
        "simulated vehicle → gateway → embedded broker → exchange → Parquet → query, then the "
        "dashboard until Ctrl-C",
        _demo_args,
        _demo,
    ),
}
