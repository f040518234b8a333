"""Loading a CAN database (DBC, ARXML, KCD, SYM) with cantools, and its identity for the store.

:func:`load_database` tries cantools' strict mode first (it refuses overlapping signals and other
sloppiness that real-world DBCs often have), then ``strict=False`` with one warning. A file cantools
cannot load at all is a :class:`DbcError` naming the file and, where cantools' message or the file
lets us find it, the line.

:func:`database_identity` gives the name and the sha256 of the file bytes, which the Parquet store
records in its file metadata.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import cantools
from cantools.database.can import Database

from logger.core.errors import SdvLoggerError

log = logging.getLogger(__name__)

__all__ = ["DatabaseIdentity", "DbcError", "database_identity", "load_database"]

_LINE_RE = re.compile(r"\bline (\d+)")
_MESSAGE_RE = re.compile(r"in message (\w+)")
_VAL_RE = re.compile(r"(VAL_ \d+ \w+)")


class DbcError(SdvLoggerError):
    """A CAN database cannot be loaded or used; names the file and, when known, the line."""

    def __init__(self, file: Path | str, problem: str, line: int | None = None) -> None:
        where = f"{file}:{line}" if line is not None else f"{file}"
        super().__init__(f"{where}: {problem}")
        self.file = file
        self.problem = problem
        self.line = line


@dataclass(frozen=True)
class DatabaseIdentity:
    """What the store records about the database a table was decoded with."""

    name: str
    sha256: str


def _find_line(path: Path, needle: str) -> int | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None


def _line_of(path: Path, message: str) -> int | None:
    """The line cantools' error message refers to: stated, or found by the name it quotes."""
    if match := _LINE_RE.search(message):
        return int(match.group(1))
    if match := _VAL_RE.search(message):
        return _find_line(path, match.group(1))
    if match := _MESSAGE_RE.search(message):
        return _find_line(path, f" {match.group(1)}:")
    return None


def _load(path: Path, strict: bool) -> Database:
    loaded = cantools.database.load_file(path, strict=strict)
    if not isinstance(loaded, Database):
        raise DbcError(path, f"not a CAN database ({type(loaded).__name__})")
    return loaded


def load_database(path: Path | str) -> Database:
    """The CAN database in ``path``: strictly if cantools can, else with ``strict=False``."""
    path = Path(path)
    if not path.is_file():
        raise DbcError(path, "no such file")
    try:
        return _load(path, strict=True)
    except DbcError:
        raise
    except Exception as strict_exc:  # cantools raises many types for a bad file
        try:
            db = _load(path, strict=False)
        except DbcError:
            raise
        except Exception as exc:
            problem = " ".join(str(exc).split()) or type(exc).__name__
            raise DbcError(path, problem, _line_of(path, str(exc))) from exc
        log.warning(
            "%s: loaded with strict=False (%s)", path, " ".join(str(strict_exc).split())[:200]
        )
        return db


def database_identity(path: Path | str, db: Database | None = None) -> DatabaseIdentity:
    """Name (the DBC's ``DBName`` attribute, else the file stem) and sha256 of the file bytes."""
    p = Path(path)
    try:
        digest = hashlib.sha256(p.read_bytes()).hexdigest()
    except OSError as exc:
        raise DbcError(p, f"cannot read: {exc}") from exc
    if db is None:
        db = load_database(p)
    name = p.stem
    if db.dbc is not None:
        attr = db.dbc.attributes.get("DBName")
        if attr is not None and str(attr.value):
            name = str(attr.value)
    return DatabaseIdentity(name=name, sha256=digest)
