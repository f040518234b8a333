"""``sdvlog upload``: a store's files to the bucket without the rest of the service, and
``sdvlog upload status``: what is not uploaded yet, from the store and the ledger alone."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from logger.core.config import Config
from logger.core.errors import ConfigError
from logger.store.recovery import scan
from logger.store.store import ParquetStore
from logger.upload.aggregate import make_uploader
from logger.upload.ledger import LEDGER_NAME, Ledger
from logger.upload.uploader import Uploader

log = logging.getLogger(__name__)
__all__ = ["RESCAN_S", "run_upload", "state_dir", "upload_status"]

RESCAN_S = 5.0  # without the service, files written by others are found this often
#: ``--once`` gives up after this many failed attempts in a row (about a minute of back-off).
ONCE_FAILURES = 10


def state_dir(cfg: Config) -> Path:
    """Where the ledger lives: ``[upload] state_dir``, by default ``<parquet.dir>/.upload``."""
    if cfg.upload is None:
        raise ConfigError("upload", "no [upload] section", cfg.source)
    return cfg.upload.state_dir or Path(cfg.parquet.dir) / ".upload"


def _open_stores(cfg: Config) -> dict[str, ParquetStore]:
    stores: dict[str, ParquetStore] = {}
    for ex in cfg.exchanges:
        store = ParquetStore(cfg.parquet, ex.name, {})
        store.recover(read_only=True)
        stores[ex.name] = store
    return stores


def run_upload(cfg: Config, once: bool, stop: threading.Event, verify: bool = False) -> int:
    """Upload every stored file of ``cfg``'s exchanges; with ``once`` until none is left (0) or
    the endpoint failed :data:`ONCE_FAILURES` times in a row (1), else until ``stop``. With
    ``verify``, first check that every file the ledger says is uploaded is in the bucket."""
    if cfg.upload is None:
        raise ConfigError("upload", "no [upload] section: nothing to upload to", cfg.source)
    uploader = make_uploader(cfg.upload, cfg.vin, state_dir(cfg), cfg.source, flush=once)
    stores = _open_stores(cfg)
    for name, store in stores.items():
        uploader.add_store(name, store)
    if verify:
        try:
            uploader.reverify()
        except BaseException:
            uploader.stop()
            raise
    uploader.start()
    try:
        if once:
            done = uploader.wait_idle(give_up=lambda: stop.is_set() or _failing(uploader))
            stats = uploader.stats()
            log.info("upload: %s", stats)
            return 0 if done else 1
        while not stop.wait(RESCAN_S):
            for store in stores.values():
                store.recover(read_only=True)  # indexes files written since; known ones stay
        return 0
    finally:
        uploader.stop()


def upload_status(cfg: Config) -> dict[str, object]:
    """The backlog per exchange (files and bytes not uploaded, the oldest), the ledger's totals and
    the last saved counters (last error included)."""
    if cfg.upload is None:
        raise ConfigError("upload", "no [upload] section", cfg.source)
    directory = state_dir(cfg)
    ledger = Ledger(directory, read_only=True) if (directory / LEDGER_NAME).exists() else None
    done = ledger.uploaded() | ledger.settled() if ledger else set()
    backlog: dict[str, object] = {}
    for ex in cfg.exchanges:
        root = Path(cfg.parquet.dir) / ex.name
        files = [] if not root.is_dir() else list(scan(root, read_only=True).files)
        waiting = [f for f in files if (ex.name, f.path.relative_to(root).as_posix()) not in done]
        backlog[ex.name] = {
            "stored_files": len(files),
            "pending_files": len(waiting),
            "pending_bytes": sum(f.size for f in waiting),
            "oldest_ns": min((f.first_ns for f in waiting), default=None),
        }
    out: dict[str, object] = {"backlog": backlog}
    if ledger is not None:
        totals = ledger.totals()
        out["uploaded"] = {"files": totals.uploaded_files, "bytes": totals.uploaded_bytes}
        out["lost"] = {"files": totals.lost_files, "bytes": totals.lost_bytes}
        out["conflicts"] = totals.conflicts
        out["last_run"] = ledger.status().get("last")
        ledger.close()
    return out


def _failing(uploader: Uploader) -> bool:
    streak = uploader.stats()["consecutive_failures"]
    return isinstance(streak, int) and streak >= ONCE_FAILURES
