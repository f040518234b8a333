"""``sdvlog import`` and ``sdvlog export``: CAN log files into a store and back out.

``sdvlog import LOG... --dir DIR`` reads every format python-can reads into the store layout of a
CANP exchange (see :mod:`canp.io.importer`); ``sdvlog export COMMAND (--url URL | --dir DIR) --to FILE``
writes the frames a query answers to a log file (see :mod:`canp.io.exporter`).

Exit codes. import: 0 when every file was imported completely; 1 when any file could not be read
to its end (each named, with the line where known; the frames before the error are imported and
the other files still are), or on a usage, store or configuration error. export: 0 when the file
was written (also with no frames); 1 when the query fails (its codes and message are printed, as
``sdvlog query`` does) or the file cannot be written.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from canp.io.formats import FORMATS, Use, suffixes
from logger.cli.subcommand import Subcommand


def _titles(use: Use) -> str:
    return ", ".join(FORMATS[suffix].title for suffix in suffixes(use))


_IMPORT_HELP = f"import CAN log files ({_titles('import')}) into a store"
_EXPORT_HELP = f"export the frames a query answers to a CAN log file ({_titles('export')})"


def _say(text: str) -> None:
    """A message for the user on stderr (clear of a progress bar, when one is showing)."""
    try:
        from tqdm import tqdm  # noqa: PLC0415 - optional

        tqdm.write(text, file=sys.stderr)
    except ImportError:
        print(text, file=sys.stderr)


@contextlib.contextmanager
def _progress(path: Path) -> Iterator[Callable[[int, int | None], None] | None]:
    """A progress bar on stderr while ``path`` is read, when stderr is a terminal: bytes read,
    or frames read for formats whose reader does not tell its position (MF4)."""
    if not sys.stderr.isatty():
        yield None
        return
    try:
        from tqdm import tqdm  # noqa: PLC0415 - optional
    except ImportError:
        yield None
        return
    bars: list[tqdm[Any]] = []

    def update(frames: int, position: int | None) -> None:
        if not bars:
            by_bytes = position is not None
            try:
                size = path.stat().st_size if by_bytes else None
            except OSError:
                size = None
            bars.append(
                tqdm(
                    total=size,
                    unit="B" if by_bytes else " frames",
                    unit_scale=by_bytes,
                    desc=path.name,
                    file=sys.stderr,
                    leave=False,
                )
            )
        bar = bars[0]
        bar.update((frames if position is None else position) - bar.n)
        if position is not None:
            bar.set_postfix_str(f"{frames:,} frames", refresh=False)

    try:
        yield update
    finally:
        for bar in bars:
            bar.close()


def _import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("logs", nargs="+", type=Path, metavar="LOG", help="log files to import")
    p.add_argument("--dir", type=Path, required=True, help="store directory")
    p.add_argument("--exchange", default="can", help="exchange to import into (default: can)")
    p.add_argument("--bus", help="bus name for every frame (default: from the log's channels)")
    p.add_argument("--vin", default="", help="vehicle id for the file metadata")
    p.add_argument(
        "--start",
        help="time 0 of logs with relative timestamps: ISO 8601 (naive = local time) or Unix "
        "seconds (default: the ASC header date, else the file's mtime as its last frame)",
    )
    p.add_argument("--key-file", type=Path, help="key of an encrypted store")
    p.add_argument("--key-id", default=None, help="key id of an encrypted store (default k1)")
    p.add_argument(
        "--dbc",
        type=Path,
        help="CAN database (DBC, KCD, ARXML, SYM): also write the signals/message=<Name> tables",
    )
    p.add_argument(
        "--time-unit",
        choices=("us", "ns", "ms"),
        help="resolution the frame times are stored at (default: the exchange's, else us)",
    )


def _import(args: argparse.Namespace) -> int:
    from canp.io.anchor import parse_start  # noqa: PLC0415
    from canp.io.formats import LogFormatError  # noqa: PLC0415
    from canp.io.importer import LogImporter  # noqa: PLC0415
    from logger.core.config import EncryptionConfig, ParquetConfig  # noqa: PLC0415

    enc = (
        EncryptionConfig(key_id=args.key_id or "k1", key_file=args.key_file)
        if args.key_file
        else None
    )
    importer = LogImporter(
        args.dir,
        args.exchange,
        bus=args.bus,
        vin=args.vin,
        start_ns=parse_start(args.start) if args.start else None,
        parquet=ParquetConfig(dir=args.dir, encryption=enc),
        note=_say,
        dbc=args.dbc,
        time_unit=args.time_unit,
    )
    failed = 0
    for path in args.logs:
        try:
            with _progress(path) as progress:
                result = importer.import_file(path, progress)
        except LogFormatError as exc:
            failed += 1
            print(f"sdvlog import: {exc}", file=sys.stderr)
            continue
        buses = ", ".join(f"{bus} ({n:,})" for bus, n in sorted(result.buses.items()))
        print(
            f"{path}: {result.frames:,} frames from {result.format.title} into "
            f"{args.dir / args.exchange} ({result.files} file(s)); buses {buses}; "
            f"{_span(result.first_ns, result.last_ns)}"
        )
        if args.dbc is not None:
            decoded = sum(result.signals.values())
            print(
                f"  signals: {decoded:,} frame(s) decoded into {len(result.signals)} message "
                f"table(s); {result.frames - decoded:,} not in the DBC, too short, remote or error"
            )
    if failed:
        print(
            f"sdvlog import: {failed} of {len(args.logs)} file(s) not imported completely",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _span(first: int | None, last: int | None) -> str:
    if first is None or last is None:
        return "no frames"
    from canp.io.anchor import format_ns  # noqa: PLC0415

    return f"{format_ns(first)} … {format_ns(last)}"


def _channel(text: str) -> tuple[str, int]:
    bus, sep, number = text.rpartition("=")
    if not sep or not bus or not number.isdigit():
        raise argparse.ArgumentTypeError(f"expected BUS=N, got {text!r}")
    return bus, int(number)


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("command", help="a query, e.g. sync-0-9999999999999;bus=can0")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="query channel of a running service")
    where.add_argument("--dir", type=Path, help="a store directory, read offline")
    p.add_argument("--exchange", help="exchange name (default: the only or first one)")
    p.add_argument(
        "--to",
        type=Path,
        required=True,
        help=f"output file; its extension picks the format: {' '.join(suffixes('export'))}",
    )
    p.add_argument(
        "--channel",
        type=_channel,
        action="append",
        default=[],
        metavar="BUS=N",
        help="channel number of a bus in ASC/BLF/TRC/MF4 (default: the name's trailing number, "
        "else the lowest free from 1)",
    )
    p.add_argument("--key-file", type=Path, help="key of an encrypted store (with --dir)")
    p.add_argument("--key-id", default=None, help="key id of an encrypted store (with --dir)")


def _export(args: argparse.Namespace) -> int:
    from canp.io.exporter import export_format, export_table  # noqa: PLC0415

    export_format(args.to)  # a bad extension fails before the query runs
    from logger.cli.answers import fetch  # noqa: PLC0415

    reply = fetch(args)
    if not reply.ok:
        print(
            f"sdvlog export: query failed ({int(reply.disk)},{int(reply.memory)}): "
            f"{reply.message or ''}",
            file=sys.stderr,
        )
        return 1
    channels: dict[str, int] = dict(args.channel)
    result = export_table(reply.table(), args.to, channels=channels, note=_say)
    print(
        f"{args.to}: {result.frames:,} frames as {result.format.title}; "
        f"{_span(result.first_ns, result.last_ns)}"
    )
    return 0


SUBCOMMANDS: dict[str, Subcommand] = {
    "import": Subcommand(_IMPORT_HELP, _import_args, _import),
    "export": Subcommand(_EXPORT_HELP, _export_args, _export),
}
