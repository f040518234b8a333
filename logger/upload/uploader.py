"""The uploader: every sealed file of the stores it is given, to the bucket, each exactly once.

One dispatcher thread scans the stores' indexes for files not in the ledger and hands up to
``concurrency`` of them to workers, oldest (or newest) first. A worker uploads one file under a
lease (retention cannot delete it meanwhile): SHA-256 of the file, an intent in the ledger, a PUT
with the checksum (which AWS S3 checks) and the hex digest in ``x-amz-meta-sha256``; the PUT's
ETag must be the file's MD5 (what S3 gives for a single PUT without SSE-KMS), else a HEAD must
show the same size and digest; then the ledger's ``uploaded`` row. A file with an intent
left by a process that died, or whose attempt failed, is first looked up (HEAD): if the object is
there with its digest it counts as uploaded without a second PUT. The hashing and the requests
go through the :mod:`~logger.upload.transfer` (by default a child process at lower priority).

Any failure sets back the whole uploader (one endpoint) by the next back-off delay: exponential
with jitter, capped at ``retry_max``. Failures are counted by kind; wrong credentials and a missing
bucket are logged as errors once per outage, others as one warning per outage.

As the stores' :class:`~logger.store.store.RetentionGuard` it keeps every file not uploaded yet
(``on_full = "block"``; counted as ``retention_blocked``), or lets retention delete it and counts
it lost (``"drop_oldest"``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from logger.core.burstlog import BurstLogger
from logger.core.config_upload import UploadConfig
from logger.store.layout import StoredFile
from logger.store.store import ParquetStore, RetentionGuard
from logger.upload.client import KINDS, Backoff, UploadError
from logger.upload.files import ExchangeGuard, FileId, relative
from logger.upload.keys import object_key
from logger.upload.ledger import Ledger
from logger.upload.throttle import Throttle
from logger.upload.transfer import open_transfer

log = logging.getLogger(__name__)
__all__ = ["Uploader"]

POLL_S = 0.2  # how often the stores are looked at for new files when nothing else wakes us


class Uploader:
    """The ``[upload]`` part of the service, or of ``sdvlog upload``; a lifecycle Component."""

    def __init__(
        self, cfg: UploadConfig, vin: str, state_dir: Path, source: Path | None = None
    ) -> None:
        self.cfg = cfg
        self.vin = vin
        self.target = open_transfer(cfg, source)  # a bad credential setting: ConfigError here
        try:
            self.ledger = Ledger(state_dir)
        except BaseException:
            self.target.close()
            raise
        self._done = self.ledger.uploaded()
        self._intents = self.ledger.intents()
        self._settled = self.ledger.settled()
        self._tried: set[FileId] = set()
        self._inflight: set[FileId] = set()
        self._stores: dict[str, ParquetStore] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._throttle = Throttle(cfg.max_bandwidth, self._stop) if cfg.max_bandwidth else None
        self._backoff = Backoff(cap_s=cfg.retry_max_s)
        self._retry_at = 0.0
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._blocked_log = BurstLogger(
            log,
            "upload: retention kept files not uploaded yet "
            "(on_full = block): the store is over its limits",
            60.0,
        )
        self._lost_log = BurstLogger(log, "upload: files deleted before they were uploaded", 60.0)
        self._reported: set[str] = set()
        self._streak = 0
        self._idle = threading.Event()
        self._c: dict[str, int] = dict.fromkeys(
            ("files", "bytes", "already_present", "attempts", "retention_blocked", "conflicts",
             "lost_files", "lost_bytes", "succeeded_since_save"), 0)  # fmt: skip
        self._failures: dict[str, int] = dict.fromkeys(KINDS, 0)
        self._last_error = self._last_error_kind = ""
        self._last_error_ns = 0
        self._last_success_ns = 0
        self._backlog = (0, 0, 0)  # at the last scan: files, bytes, oldest first_ns
        self._at_scan = (0, 0)  # files and bytes uploaded or lost at the last scan

    def guard(self, exchange: str) -> RetentionGuard:
        """The retention guard for the store of ``exchange``: asks :meth:`keep`, tells
        :meth:`deleted`."""
        return ExchangeGuard(self, exchange)

    def add_store(self, exchange: str, store: ParquetStore) -> None:
        with self._lock:
            self._stores[exchange] = store
        self._wake.set()

    def reverify(self) -> int:
        """Look up (HEAD) the object of every uploaded file still stored here; one that is missing
        or holds other bytes (a bucket that lost data) is uploaded again. Returns how many."""
        requeued = 0
        with self._lock:
            roots = {name: store.root for name, store in self._stores.items()}
        for exchange, path, key, size, sha256 in self.ledger.uploaded_rows():
            root = roots.get(exchange)
            if root is None or not (root / path).is_file():
                continue
            self._count("attempts")
            remote = self.target.head(key)
            if remote is None or not remote.matches(size, sha256):
                self.ledger.forget(exchange, path)
                with self._lock:
                    self._done.discard((exchange, path))
                    self._tried.add((exchange, path))
                requeued += 1
        if requeued:
            log.warning(
                "upload: %d uploaded file(s) missing from the bucket: uploading again", requeued
            )
        return requeued

    def start(self) -> None:
        if self._thread is not None:
            return
        self._pool = ThreadPoolExecutor(self.cfg.concurrency, thread_name_prefix="upload")
        self._thread = threading.Thread(target=self._dispatch, name="upload", daemon=True)
        self._thread.start()
        log.info("upload: to %s bucket %s, key %s", self.cfg.endpoint or "AWS S3",
                 self.cfg.bucket, self.cfg.template)  # fmt: skip

    def stop(self) -> None:
        """Start nothing new; wait for the uploads under way (each at most its timeouts)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self.target.close()
        self._save_status()
        self.ledger.close()

    def wait_idle(
        self, timeout: float | None = None, give_up: Callable[[], bool] | None = None
    ) -> bool:
        """Wait until nothing is left to upload (True), ``give_up()`` turns true or ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._idle.wait(0.1):
            if give_up is not None and give_up():
                return False
            if deadline is not None and time.monotonic() > deadline:
                return False
        return True

    def _dispatch(self) -> None:
        """Scan when a store changed or the queue ran dry (a scan is O(files stored)); hand out the
        queue's head to free workers unless backing off."""
        assert self._pool is not None
        queue: list[tuple[str, ParquetStore, StoredFile, FileId]] = []
        seen: tuple[tuple[int, int], ...] | None = None
        while not self._stop.is_set():
            with self._lock:
                stores = list(self._stores.values())
            totals = tuple((s.file_count, s.total_bytes) for s in stores)
            if totals != seen or not queue:
                queue, seen = self._scan(), totals
            wait_s = POLL_S
            with self._lock:
                free = self.cfg.concurrency - len(self._inflight)
                delay = self._retry_at - time.monotonic()
                if delay > 0:
                    wait_s = min(delay, POLL_S)
                while free > 0 and queue and delay <= 0:
                    exchange, store, file, fid = queue.pop(0)
                    if fid in self._done or fid in self._settled or fid in self._inflight:
                        continue
                    self._inflight.add(fid)
                    self._pool.submit(self._work, exchange, store, file, fid)
                    free -= 1
                idle = not queue and not self._inflight and delay <= 0
            if idle:
                self._idle.set()
            else:
                self._idle.clear()
            self._wake.wait(wait_s)
            self._wake.clear()

    def _scan(self) -> list[tuple[str, ParquetStore, StoredFile, FileId]]:
        found: list[tuple[str, ParquetStore, StoredFile, FileId]] = []
        files = size = 0
        oldest = 0
        with self._lock:
            stores = list(self._stores.items())
        for exchange, store in stores:
            page = store.oldest_files()
            while page:
                for f in page:
                    fid = (exchange, relative(store, f))
                    if fid in self._done or fid in self._settled:
                        continue
                    files, size = files + 1, size + f.size
                    oldest = f.first_ns if not oldest else min(oldest, f.first_ns)
                    if fid not in self._inflight:
                        found.append((exchange, store, f, fid))
                page = store.oldest_files(page[-1].key)
        with self._lock:
            c = self._c
            self._backlog = (files, size, oldest)
            self._at_scan = (c["files"] + c["lost_files"], c["bytes"] + c["lost_bytes"])
        found.sort(key=lambda item: item[2].key, reverse=self.cfg.order == "newest")
        return found

    def _work(self, exchange: str, store: ParquetStore, file: StoredFile, fid: FileId) -> None:
        try:
            with store.lease([file]) as held:
                if not held:
                    self._vanished(fid, file)
                    return
                self._upload(exchange, file, fid)
        except FileNotFoundError:
            self._vanished(fid, file)
        except UploadError as exc:
            self._failed(fid, exc)
        except Exception as exc:  # a bug must not end the uploader: counted, retried
            log.exception("upload: %s failed unexpectedly", file.path)
            self._failed(fid, UploadError("client", f"{type(exc).__name__}: {exc}"))
        else:
            self._succeeded()
        finally:
            with self._lock:
                self._inflight.discard(fid)
            self._wake.set()

    def _upload(self, exchange: str, file: StoredFile, fid: FileId) -> None:
        digest, md5 = self.target.digests(file.path)
        hexdigest = digest.hex()
        key = object_key(self.cfg.template, self.vin, exchange, file)
        if fid in self._intents or fid in self._tried:
            self._count("attempts")
            remote = self.target.head(key)
            if remote is not None:
                if remote.matches(file.size, hexdigest):
                    self._count("already_present")
                    self._record(fid, key, file.size, hexdigest)
                    return
                self._conflict(fid, key, hexdigest, remote.sha256)
                return
        if fid not in self._intents:
            self.ledger.intend(*fid, key, hexdigest)
            self._intents.add(fid)
        self._tried.add(fid)
        self._count("attempts")
        meta = {"vin": self.vin, "exchange": exchange, "table": file.table}
        etag = self.target.put_file(key, file.path, file.size, digest, meta)
        if etag != md5:  # the MD5 of what the endpoint stored proves it (not so with SSE-KMS)
            self._count("attempts")
            remote = self.target.head(key)
            if remote is None or not remote.matches(file.size, hexdigest):
                raise UploadError("server", f"{key}: the object does not match after the PUT")
        self._record(fid, key, file.size, hexdigest)

    def _record(self, fid: FileId, key: str, size: int, sha256: str) -> None:
        self.ledger.done(*fid, key, size, sha256)
        with self._lock:
            self._done.add(fid)
            self._intents.discard(fid)
            self._tried.discard(fid)
            self._c["files"] += 1
            self._c["bytes"] += size
        self._last_success_ns = time.time_ns()

    def _conflict(self, fid: FileId, key: str, ours: str, theirs: str) -> None:
        log.error("upload: %s already holds other bytes (sha256 %s, ours %s): not overwritten; "
                  "%s/%s stays local", key, theirs or "unknown", ours, *fid)  # fmt: skip
        self.ledger.conflict(*fid, key, ours)
        with self._lock:
            self._settled.add(fid)
            self._c["conflicts"] += 1
            self._failures["conflict"] += 1

    def _vanished(self, fid: FileId, file: StoredFile) -> None:
        with self._lock:
            if fid in self._done or fid in self._settled:
                return
            self._settled.add(fid)
            self._c["lost_files"] += 1
            self._c["lost_bytes"] += file.size
        self.ledger.lose(*fid, file.size, "vanished")
        self._lost_log.hit(f"{file.path} vanished before it was uploaded")

    def _succeeded(self) -> None:
        with self._lock:
            streak, self._streak = self._streak, 0
            self._reported.clear()
            self._backoff.reset()
            self._c["succeeded_since_save"] += 1
            save = self._c["succeeded_since_save"] >= 100
        if streak:
            log.info("upload: the endpoint answers again after %d failed attempt(s)", streak)
        if save:
            self._save_status()

    def _failed(self, fid: FileId, exc: UploadError) -> None:
        with self._lock:
            self._tried.add(fid)
            self._streak += 1
            self._failures[exc.kind] = self._failures.get(exc.kind, 0) + 1
            self._last_error, self._last_error_kind = str(exc), exc.kind
            self._last_error_ns = time.time_ns()
            delay = self._backoff.next()
            self._retry_at = max(self._retry_at, time.monotonic() + delay)
            first = exc.kind not in self._reported
            self._reported.add(exc.kind)
        if first:
            level = logging.ERROR if exc.kind in ("auth", "bucket") else logging.WARNING
            log.log(level, "upload: %s (retrying with back-off, up to %gs apart)", exc,
                    self.cfg.retry_max_s)  # fmt: skip
        self._save_status()

    def _count(self, name: str) -> None:
        with self._lock:
            self._c[name] += 1

    def keep(self, exchange: str, file: StoredFile) -> bool:
        """Whether retention must keep ``file`` of ``exchange`` (not uploaded, ``block``)."""
        store = self._stores.get(exchange)
        if store is None or (exchange, relative(store, file)) in self._done:
            return False
        if self.cfg.on_full == "drop_oldest":
            return False
        self._count("retention_blocked")
        self._blocked_log.hit(f"{exchange}: {file.path.name} and newer")
        return True

    def deleted(self, exchange: str, file: StoredFile) -> None:
        """Retention deleted ``file``: lost, unless it was uploaded (then the ledger forgets it, so
        that it holds no more rows than the store holds files)."""
        store = self._stores.get(exchange)
        if store is None:
            return
        fid = (exchange, relative(store, file))
        with self._lock:
            uploaded = fid in self._done
            self._done.discard(fid)
            if uploaded or fid in self._settled:
                if uploaded:
                    self.ledger.forget(*fid)
                return
            self._settled.add(fid)
            self._c["lost_files"] += 1
            self._c["lost_bytes"] += file.size
        self.ledger.lose(*fid, file.size, "retention")
        self._lost_log.hit(f"on_full = drop_oldest: {exchange} {file.path.name}")

    def stats(self) -> dict[str, object]:
        with self._lock:
            c = dict(self._c)
            failures = dict(self._failures)
            files, size, oldest = self._backlog
            files -= c["files"] + c["lost_files"] - self._at_scan[0]  # gone since the scan
            size -= c["bytes"] + c["lost_bytes"] - self._at_scan[1]
            if files <= 0:
                files = size = oldest = 0
        return {
            "backlog": {
                "pending_files": files,
                "pending_bytes": size,
                "oldest_timestamp_seconds": oldest / 1e9,
            },
            "files": c["files"],
            "bytes": c["bytes"],
            "already_present": c["already_present"],
            "attempts": c["attempts"],
            "failures": failures,
            "retention_blocked": c["retention_blocked"],
            "lost": {"files": c["lost_files"], "bytes": c["lost_bytes"]},
            "conflicts": c["conflicts"],
            "consecutive_failures": self._streak,
            "last_error": self._last_error,
            "last_error_kind": self._last_error_kind,
            "last_error_timestamp_seconds": self._last_error_ns / 1e9,
            "last_success_timestamp_seconds": self._last_success_ns / 1e9,
        }

    def _save_status(self) -> None:
        with self._lock:
            self._c["succeeded_since_save"] = 0
        try:
            self.ledger.set_status("last", self.stats())
        except Exception as exc:  # a closed or failing ledger must not end an upload thread
            log.warning("upload: cannot save the status to the ledger: %s", exc)
