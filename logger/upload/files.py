"""Small pieces of the uploader: a file's identity and digest, the per-exchange retention guard."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

from logger.store.layout import StoredFile
from logger.store.store import ParquetStore

__all__ = ["ExchangeGuard", "FileId", "digests_of", "relative"]

_HASH_CHUNK = 1 << 20
FileId = tuple[str, str]  # (exchange, path under the exchange's directory)


class Judge(Protocol):
    def keep(self, exchange: str, file: StoredFile) -> bool: ...

    def deleted(self, exchange: str, file: StoredFile) -> None: ...


class ExchangeGuard:
    """One exchange's :class:`~logger.store.store.RetentionGuard`, backed by the uploader."""

    def __init__(self, uploader: Judge, exchange: str) -> None:
        self._uploader = uploader
        self._exchange = exchange

    def keep(self, file: StoredFile) -> bool:
        return self._uploader.keep(self._exchange, file)

    def deleted(self, file: StoredFile) -> None:
        self._uploader.deleted(self._exchange, file)


def relative(store: ParquetStore, file: StoredFile) -> str:
    return file.path.relative_to(store.root).as_posix()


def digests_of(path: Path) -> tuple[bytes, str]:
    """The file's SHA-256 (bytes) and MD5 (hex: what S3 gives as a single PUT's ETag), one read."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            sha.update(chunk)
            md5.update(chunk)
    return sha.digest(), md5.hexdigest()
