"""The aggregate spool: each aggregate under way compacted once into a file of the state directory,
so that its SHA-256 (needed at CreateMultipartUpload, before the first part) and its parts come
from one compaction instead of two.

A spool is written under a temporary name and renamed; it is not fsynced: the parts sent from it
are hashed again and checked against the recorded digest before the upload completes, so a spool
torn by a power cut only costs starting that aggregate over. It goes when its aggregate completes
or is dropped; spools of no aggregate under way are removed at start.

It is only written while the disk keeps :data:`ROOM` times the size of its files free (it must not
take the space the store records into); otherwise, or when writing it fails, the aggregate is
compacted twice (once for the digest, once for the parts) and needs no disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from logger.core.burstlog import BurstLogger
from logger.upload.compact import write
from logger.upload.digest import digests_of

log = logging.getLogger(__name__)
__all__ = ["ROOM", "SPOOL_DIR", "Spool"]

SPOOL_DIR = "aggregate-spool"
ROOM = 2  # free disk needed to spool: this many times the bytes of the aggregate's files


class Spool:
    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / SPOOL_DIR
        self._failed = BurstLogger(
            log, "upload: cannot spool an aggregate: compacting it twice instead", 60.0
        )

    def path(self, key: str) -> Path:
        # not *.parquet: nothing that looks for stored files under the store directory sees it
        return self.dir / f"{hashlib.sha256(key.encode()).hexdigest()[:40]}.spool"

    def make(self, key: str, paths: Sequence[Path], size: int) -> tuple[int, str] | None:
        """Compact ``paths`` (``size`` bytes) into the spool of ``key``: its size and SHA-256
        (hex); None when the disk has not the room or the spool cannot be written."""
        target = self.path(key)
        tmp = target.with_suffix(".tmp")
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            if shutil.disk_usage(self.dir).free < ROOM * size:
                return None
            write(paths, str(tmp))
            digest, _ = digests_of(tmp)
            os.replace(tmp, target)
            return target.stat().st_size, digest.hex()
        except OSError as exc:  # a full disk, an unwritable directory: no spool
            with contextlib.suppress(OSError):
                tmp.unlink()
            self._failed.hit(f"{key}: {exc}")
            return None

    def get(self, key: str, size: int) -> Path | None:
        """The spool of ``key`` if it is there with ``size`` bytes."""
        path = self.path(key)
        try:
            return path if path.stat().st_size == size else None
        except OSError:
            return None

    def remove(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            self.path(key).unlink()

    def prune(self, keys: Iterable[str]) -> None:
        """Remove every spool but those of ``keys`` (the aggregates under way)."""
        keep = {self.path(k).name for k in keys}
        if not self.dir.is_dir():
            return
        for p in self.dir.iterdir():
            if p.name not in keep:
                p.unlink(missing_ok=True)
