"""``sdvlog demo``: a simulated vehicle → gateway → embedded broker → exchange → Parquet → query."""

from __future__ import annotations

import argparse
from pathlib import Path

from logger.cli.subcommand import Subcommand


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", type=Path, default=Path("data/demo"), help="store directory")
    p.add_argument("--seconds", type=float, default=10.0, help="how long the vehicle drives")


def _demo(args: argparse.Namespace) -> int:
    from logger.service.demo import run_demo  # noqa: PLC0415

    result = run_demo(args.dir, args.seconds)
    sim = result.simulated
    print(f"simulated vehicle: {sim.summary()}")
    print(f"stored {result.stored} of {sim.total} frames under {args.dir}/can/frames")
    table = result.reply.table()
    print(
        f"query {result.command}: {table.num_rows} rows, end codes {int(result.reply.disk)},{int(result.reply.memory)}"
    )
    for row in table.to_pylist():
        print(
            f"  ts={row['ts']}  bus={row['bus']}  id=0x{row['id']:03X}  dlc={row['dlc']}  data={row['data'].hex(' ')}"
        )
    return 0 if result.stored == sim.total and table.num_rows else 1


SUBCOMMANDS: dict[str, Subcommand] = {
    "demo": Subcommand(
        "simulated vehicle → gateway → embedded broker → exchange → Parquet → query",
        _demo_args,
        _demo,
    ),
}
