"""``python -m bench [capture|query|gateway|exchange|storage|decode|signals|lake|vcan|web|web_page|upload|all] [--quick]``:
run the benchmarks, print and save results (``vcan`` needs SocketCAN: run it through
``python -m hw.testbed.vm``; ``all`` leaves out vcan, web, web_page and upload)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from bench.report import Report, emit

log = logging.getLogger("bench")

#: Benchmarks in the order ``all`` runs them; each is ``bench.<name>.run(quick, profile=, keep=)``.
SUITES = ("capture", "query", "gateway", "exchange", "storage", "decode", "signals", "lake")
#: Benchmarks run only by name.
EXTRA = ("vcan", "web", "web_page", "upload")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("suite", nargs="?", choices=(*SUITES, *EXTRA, "all"), default="all")
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke test under a minute")
    p.add_argument(
        "--profile",
        action="store_true",
        help="sample with py-spy (install it into .venv) during the measurements: the service "
        "(capture, query) or this process (gateway, exchange)",
    )
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    reports: list[Report] = []
    for suite in SUITES if args.suite == "all" else (args.suite,):
        module = importlib.import_module(f"bench.{suite}")  # here: keeps --help fast
        try:
            report = module.run(args.quick, profile=args.profile, keep=args.keep)
        except Exception as exc:  # one benchmark failing must not stop the others
            log.exception("benchmark %s crashed", suite)
            report = Report(suite, args.quick, profiled=args.profile)
            report.failures.append(f"crashed: {type(exc).__name__}: {exc}")
        reports.append(report)
        emit(report)
    return 1 if any(r.failures for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
