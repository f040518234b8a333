"""The Parquet store: crash-safe, hour-partitioned, optionally encrypted files per exchange."""

from logger.store.index import StoreIndex
from logger.store.layout import StoredFile
from logger.store.recovery import RecoveryReport, SkippedFile
from logger.store.store import ParquetStore

__all__ = ["ParquetStore", "RecoveryReport", "SkippedFile", "StoreIndex", "StoredFile"]
