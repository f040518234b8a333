"""``sdvlog upload -c FILE [--once]``: a store's files to the ``[upload]`` bucket without the rest of
the service; ``sdvlog upload status -c FILE``: what is not uploaded yet, the last error, counters."""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

from logger.cli.subcommand import Subcommand


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=("status",), help="status: show the backlog")
    p.add_argument("-c", "--config", type=Path, required=True, help="TOML configuration")
    p.add_argument(
        "--once",
        action="store_true",
        help="upload what is stored, then exit (1 when the endpoint kept failing)",
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="first look up every object the ledger has as uploaded; upload again what is missing",
    )
    p.add_argument("--json", action="store_true", help="status as JSON")


def _run(args: argparse.Namespace) -> int:
    from logger.core.config import load_config  # noqa: PLC0415 - keep `sdvlog --help` fast

    cfg = load_config(args.config)
    if args.action == "status":
        from logger.upload.standalone import upload_status  # noqa: PLC0415

        status = upload_status(cfg)
        print(json.dumps(status, indent=2) if args.json else _format(status))
        return 0
    from logger.service.service import stop_on_signals  # noqa: PLC0415
    from logger.upload.standalone import run_upload  # noqa: PLC0415

    stop = threading.Event()
    with stop_on_signals(stop):
        return run_upload(cfg, args.once, stop, verify=args.verify)


def _format(status: dict[str, object]) -> str:
    lines = []
    backlog = status.get("backlog", {})
    assert isinstance(backlog, dict)
    for name, b in backlog.items():
        oldest = b["oldest_ns"]
        lines.append(
            f"{name}: {b['pending_files']} of {b['stored_files']} stored file(s) not uploaded "
            f"({b['pending_bytes']} bytes)" + (f", oldest from {oldest} ns" if oldest else "")
        )
    for key, what in (("uploaded", "uploaded, still stored"), ("lost", "lost (never uploaded)")):
        if isinstance(value := status.get(key), dict):
            lines.append(f"{what}: {value['files']} file(s), {value['bytes']} bytes")
    if "conflicts" in status:
        lines.append(f"conflicts (key holds other bytes): {status['conflicts']}")
    last = status.get("last_run")
    if isinstance(last, dict):
        failures = {k: v for k, v in last.get("failures", {}).items() if v}
        lines.append(f"last run: attempts {last.get('attempts')}, failures {failures or 'none'}")
        if last.get("last_error"):
            lines.append(f"last error: {last['last_error']}")
    return "\n".join(lines)


SUBCOMMANDS: dict[str, Subcommand] = {
    "upload": Subcommand(
        "upload the store's files to the [upload] bucket (without the service); "
        "'upload status' shows what is not uploaded yet",
        _args,
        _run,
    ),
}
