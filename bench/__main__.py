"""``python -m bench [capture|query|all] [--quick]``: run the benchmarks, print and save results."""

from __future__ import annotations

import argparse
import logging
import sys

from bench.report import Report, emit


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("suite", nargs="?", choices=("capture", "query", "all"), default="all")
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke test under a minute")
    p.add_argument(
        "--profile",
        action="store_true",
        help="sample the service with py-spy (install it into .venv) during the measurements",
    )
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from bench import capture, query  # noqa: PLC0415 - keep --help fast

    reports: list[Report] = []
    if args.suite in ("capture", "all"):
        reports.append(capture.run(args.quick, profile=args.profile, keep=args.keep))
        emit(reports[-1])
    if args.suite in ("query", "all"):
        reports.append(query.run(args.quick, profile=args.profile, keep=args.keep))
        emit(reports[-1])
    return 1 if any(r.failures for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
