"""Small pieces of the uploader: a file's identity, the per-exchange retention guard."""

from __future__ import annotations

from typing import Protocol

from logger.store.layout import StoredFile
from logger.store.store import ParquetStore

__all__ = ["ExchangeGuard", "FileId", "relative"]

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
