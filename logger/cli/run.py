"""``sdvlog run [-c FILE]``: every configured part of the service in this process, until a signal."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from logger.cli.subcommand import Subcommand


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-c", "--config", type=Path, help="TOML configuration (default: embedded defaults)"
    )


#: Arrow's allocator for ``sdvlog run`` unless ARROW_DEFAULT_MEMORY_POOL says otherwise. Every
#: batch's Arrow and Parquet buffers come and go; glibc's malloc gives that memory back where the
#: bundled mimalloc keeps it resident (bench capture: about 15 MiB lower peak, same throughput).
RUN_ARROW_POOL = "system"


def _run(args: argparse.Namespace) -> int:
    return run_service(args.config, serve=False)


def _serve(args: argparse.Namespace) -> int:
    return run_service(args.config, serve=True)


def run_service(config: Path | None, *, serve: bool) -> int:
    """The service of ``config`` until a signal. The HTTP API runs as ``[http]`` configures it;
    with ``serve``, or on the embedded defaults (``config`` None), it runs on its defaults
    (loopback, port 8080) when ``[http]`` is absent."""
    if "pyarrow" not in sys.modules:  # Arrow reads the variable when it is first loaded
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", RUN_ARROW_POOL)
    from logger.core.config import Config, load_config  # noqa: PLC0415 - keep `sdvlog --help` fast
    from logger.service.service import Service  # noqa: PLC0415

    cfg = load_config(config) if config else Config()
    if (serve or config is None) and cfg.http is None:
        from logger.core.config import HttpConfig  # noqa: PLC0415

        cfg = dataclasses.replace(cfg, http=HttpConfig())
    if not cfg.buses:  # only the gateway's log formats (asammdf) use pandas
        from logger.core.compat import keep_pandas_unloaded  # noqa: PLC0415

        keep_pandas_unloaded()
    Service(cfg).run_until_signal()
    return 0


SUBCOMMANDS: dict[str, Subcommand] = {
    "run": Subcommand(
        "run every configured part (broker, gateway, exchanges, query channel; the HTTP API "
        "when [http] is configured, and on the embedded defaults)",
        _run_args,
        _run,
    ),
    "serve": Subcommand(
        "run the service with its HTTP API ([http], default loopback port 8080)", _run_args, _serve
    ),
}
