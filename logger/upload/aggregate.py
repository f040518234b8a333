"""Aggregate mode: the sealed files of one table and hour compacted into one Parquet object, sent
with S3 multipart upload and resumed, not restarted, after a crash.

Grouping: the files not uploaded yet of one exchange, table and UTC hour (an aggregate never spans
an hour, so the lake's ``date=/hour=`` layout holds), in ``(first_ns, seq)`` order, cut where the
next file would pass ``max_records`` rows, ``max_bytes`` (of the local files) or ``interval`` (from
the first file's ``first_ns`` to the last's ``last_ns``). The last group of an hour waits until the
hour is over, ``interval`` has passed since its first row, or ``sdvlog upload --once`` flushes.

Key: the template filled in as for a file with the first file's ``first_ns`` and ``seq`` and the
latest ``last_ns``: deterministic, and the ledger keeps a group's members once it is started.

Upload: compact once into the spool (:mod:`logger.upload.spool`) to learn the object's size and
SHA-256, record the aggregate (:class:`~logger.upload.agg_ledger.AggLedger`), create the
multipart upload with the digest in ``x-amz-meta-sha256``, record its id, then send the spool in
``part_size`` parts, recording each one's ETag before the next. Without a spool (no room on the
disk) the first compaction keeps nothing but the digest and the parts come from compacting again
as it is produced (bounded memory). After a crash the recorded upload is resumed: ListParts, and a
part whose ETag is the MD5 of that part (from the spool, or compacted again) is not sent again.
Complete, verify (size, SHA-256 in HEAD, the multipart ETag computed from the parts' MD5s), and
only then record every member file as uploaded (so retention may delete it). Incomplete uploads
under this vehicle's prefix that the ledger does not hold are aborted at start.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from string import Formatter

from logger.core.config_upload import UploadConfig
from logger.store.layout import StoredFile, partition
from logger.store.store import ParquetStore
from logger.upload.agg_ledger import AggLedger, Pending
from logger.upload.client import UploadError
from logger.upload.compact import PartSink, compact, replay
from logger.upload.files import FileId, relative
from logger.upload.keys import object_key
from logger.upload.spool import Spool
from logger.upload.uploader import Uploader

log = logging.getLogger(__name__)
__all__ = ["AggregateUploader", "make_uploader"]

HOUR_NS = 3_600_000_000_000
_Item = tuple[str, ParquetStore, StoredFile, FileId]
#: The sweep's failures go through the uploaders' accounting as an upload's do (counted by kind,
#: named once per outage, setting back the next attempt) under this id, which names no file.
_SWEEP: FileId = ("", "aggregate:sweep")


def make_uploader(
    cfg: UploadConfig, vin: str, state_dir: Path, source: Path | None = None, flush: bool = False
) -> Uploader:
    """The uploader of ``cfg.mode``; ``flush``: aggregate every window now (``--once``)."""
    if cfg.mode == "aggregate":
        return AggregateUploader(cfg, vin, state_dir, source, flush)
    return Uploader(cfg, vin, state_dir, source)


@dataclass
class Group:
    key: str
    exchange: str
    store: ParquetStore
    files: list[StoredFile]
    fids: list[FileId]


class AggregateUploader(Uploader):
    def __init__(
        self, cfg: UploadConfig, vin: str, state_dir: Path, source: Path | None, flush: bool
    ) -> None:
        super().__init__(cfg, vin, state_dir, source)
        self.flush = flush
        self.aggs = AggLedger(state_dir)
        self._pending = {p.key: p for p in self.aggs.pending()}
        self.spool = Spool(state_dir)
        self.spool.prune(self._pending)
        self._groups: dict[FileId, Group] = {}
        self._rows: dict[FileId, int] = {}
        self._swept = False
        self._c.update(parts=0, parts_resumed=0, aborted=0)

    def stop(self) -> None:
        super().stop()
        self.aggs.close()

    def reverify(self) -> int:
        """One HEAD per aggregate: its files are uploaded again when it is gone or changed."""
        by_key: dict[str, list[tuple[str, str, str]]] = {}
        for exchange, path, key, _size, sha256 in self.ledger.uploaded_rows():
            by_key.setdefault(key, []).append((exchange, path, sha256))
        requeued = 0
        for key, rows in by_key.items():
            self._count("attempts")
            remote = self.target.head(key)
            if remote is not None and all(remote.sha256 == sha for _, _, sha in rows):
                continue
            for exchange, path, _ in rows:
                self.ledger.forget(exchange, path)
                with self._lock:
                    self._done.discard((exchange, path))
                requeued += 1
        if requeued:
            log.warning("upload: %d file(s) of aggregates missing from the bucket: again", requeued)
        return requeued

    def stats(self) -> dict[str, object]:
        out = super().stats()
        with self._lock:
            agg = {n: self._c[n] for n in ("parts", "parts_resumed", "aborted")}
            agg["pending"] = len(self._pending)
        out["aggregate"] = agg
        return out

    # -- grouping ---------------------------------------------------------------------------

    def _scan(self) -> list[_Item]:
        found = super()._scan()
        with self._lock:  # no upload being created meanwhile, and not backing off
            quiet = not self._inflight and self._retry_at <= time.monotonic()
        if not self._swept and quiet:
            self._sweep()
        with self._lock:
            busy = {m for g in self._inflight if g in self._groups for m in self._groups[g].fids}
        items = {fid: item for item in found if (fid := item[3]) not in busy}
        self._rows = {fid: n for fid, n in self._rows.items() if fid in items}
        groups = self._resumed(items)
        taken = {m for g in groups for m in g.fids}
        windows: dict[tuple[str, str, tuple[str, str]], list[_Item]] = {}
        for item in sorted(items.values(), key=lambda i: i[2].key):
            if item[3] not in taken:
                f = item[2]
                windows.setdefault((item[0], f.table, partition(f.first_ns)), []).append(item)
        for window in windows.values():
            groups += self._cut(window)
        groups.sort(key=lambda g: g.files[0].key, reverse=self.cfg.order == "newest")
        with self._lock:
            self._groups = {g: self._groups[g] for g in self._inflight if g in self._groups}
        out: list[_Item] = []
        for g in groups:
            gid = (g.exchange, f"aggregate:{g.key}")
            self._groups[gid] = g
            out.append((g.exchange, g.store, g.files[0], gid))
        return out

    def _resumed(self, items: dict[FileId, _Item]) -> list[Group]:
        """The aggregates the ledger holds, with the same members, first."""
        groups: list[Group] = []
        for p in list(self._pending.values()):
            fids = [(p.exchange, path) for path in p.files]
            with self._lock:
                if (p.exchange, f"aggregate:{p.key}") in self._inflight:
                    continue
            if any(fid in self._done for fid in fids):  # completed and verified, then killed
                self._finish_records(p, [fid for fid in fids if fid not in self._done])
                continue
            if not all(fid in items for fid in fids):  # a member is gone: start over without it
                try:
                    self._drop(p)
                except UploadError as exc:  # the abort is tried again at the next scan
                    log.warning("upload: cannot abort the upload of %s yet: %s", p.key, exc)
                continue
            members = [items[fid] for fid in fids]
            groups.append(Group(p.key, p.exchange, members[0][1], [m[2] for m in members], fids))
        return groups

    def _cut(self, window: list[_Item]) -> list[Group]:
        groups: list[Group] = []
        cur: list[_Item] = []
        rows = size = 0
        for item in window:
            n = self._row_count(item)
            if cur and (
                rows + n > self.cfg.max_records
                or size + item[2].size > self.cfg.max_bytes
                or item[2].last_ns - cur[0][2].first_ns > self.cfg.interval_s * 1e9
            ):
                groups.append(self._group(cur))
                cur, rows, size = [], 0, 0
            cur.append(item)
            rows, size = rows + n, size + item[2].size
        if cur and self._closed(cur):
            groups.append(self._group(cur))
        return groups

    def _closed(self, cur: list[_Item]) -> bool:
        """Whether the last group of a window may go now, or waits for more files."""
        now = time.time_ns()
        first = cur[0][2].first_ns
        return (
            self.flush
            or now >= first - first % HOUR_NS + HOUR_NS
            or now - first >= self.cfg.interval_s * 1e9
        )

    def _row_count(self, item: _Item) -> int:
        n = self._rows.get(item[3])
        if n is None:
            import pyarrow.parquet as pq  # noqa: PLC0415 - heavy

            try:
                n = pq.read_metadata(item[2].path).num_rows
            except OSError:
                n = 0  # vanished or unreadable: the upload finds out
            self._rows[item[3]] = n
        return n

    def _group(self, items: list[_Item]) -> Group:
        files = [i[2] for i in items]
        last = max(f.last_ns for f in files)
        head = files[0]
        shape = StoredFile(head.first_ns, last, head.seq, head.table, head.path, 0)
        key = object_key(self.cfg.template, self.vin, items[0][0], shape)
        return Group(key, items[0][0], items[0][1], files, [i[3] for i in items])

    def _sweep(self) -> None:
        """Abort the incomplete uploads under this vehicle's prefixes that no aggregate holds."""
        keep = {(p.key, p.upload_id) for p in list(self._pending.values())}
        try:
            for prefix in self._prefixes():
                self._count("attempts")
                for key, upload_id in self.target.multipart_uploads(prefix):
                    if (key, upload_id) not in keep:
                        self._count("attempts")
                        self.target.abort_multipart(key, upload_id)
                        self._count("aborted")
                        log.info("upload: aborted stale multipart upload of %s", key)
        except UploadError as exc:  # tried again at a scan after the back-off
            self._failed(_SWEEP, exc)
            return
        self._swept = True
        self._succeeded()

    def _prefixes(self) -> set[str]:
        """The literal start of the key of each exchange, when it holds the VIN (else nothing
        is swept: another vehicle's uploads could be under it)."""
        out = set()
        with self._lock:
            exchanges = list(self._stores)
        for exchange in exchanges:
            text = ""
            for literal, field, _, _ in Formatter().parse(self.cfg.template):
                text += literal
                if field == "vin":
                    text += self.vin
                elif field == "exchange":
                    text += exchange
                elif field is not None:
                    break
            if self.vin in text:
                out.add(text)
        return out

    # -- one aggregate ----------------------------------------------------------------------

    def _work(self, exchange: str, store: ParquetStore, file: StoredFile, fid: FileId) -> None:
        group = self._groups[fid]
        try:
            with store.lease(group.files) as held:
                if len(held) != len(group.files):
                    self._dissolve(group, held)
                    return
                self._send(group)
        except FileNotFoundError:
            self._dissolve(group, [])
        except UploadError as exc:
            self._failed(fid, exc)
        except Exception as exc:  # a bug must not end the uploader: counted, retried
            log.exception("upload: aggregate %s failed unexpectedly", group.key)
            self._failed(fid, UploadError("client", f"{type(exc).__name__}: {exc}"))
        else:
            self._succeeded()
        finally:
            with self._lock:
                self._inflight.discard(fid)
                self._groups.pop(fid, None)
            self._wake.set()

    def _dissolve(self, group: Group, held: list[StoredFile]) -> None:
        for f, fid in zip(group.files, group.fids, strict=True):
            if f not in held:
                self._vanished(fid, f)
        p = self._pending.get(group.key)
        if p is not None:
            self._drop(p)

    def _drop(self, p: Pending) -> None:
        if p.upload_id is not None:
            self.target.abort_multipart(p.key, p.upload_id)
            self._count("aborted")
        self.aggs.finish(p.key)
        self._pending.pop(p.key, None)
        self.spool.remove(p.key)

    def _send(self, g: Group) -> None:
        paths = [f.path for f in g.files]
        rel = [relative(g.store, f) for f in g.files]
        p = self._pending.get(g.key)
        if p is None or p.files != rel:
            if p is not None:
                self._drop(p)
            made = self.spool.make(g.key, paths, sum(f.size for f in g.files))
            if made is None:  # no spool: compacted for the digest, again for the parts
                probe = PartSink(self.cfg.part_size, lambda n, d: None)
                compact(paths, probe)
                made = probe.size, probe.sha256.hexdigest()
            p = Pending(g.key, g.exchange, rel, *made, None)
            self.aggs.intend(p)
            self._pending[g.key] = p
        self._count("attempts")
        remote = self.target.head(g.key)
        if remote is not None:
            if remote.matches(p.size, p.sha256):
                self._count("already_present")
                self._finish_records(p, g.fids)
                return
            for fid in g.fids:
                self._conflict(fid, g.key, p.sha256, remote.sha256)
            self._drop(p)
            return
        self._multipart(g, p, paths)

    def _multipart(self, g: Group, p: Pending, paths: list[Path]) -> None:
        landed: dict[int, str] = {}
        if p.upload_id is not None:
            self._count("attempts")
            server = self.target.list_parts(g.key, p.upload_id)
            if server is None:
                p.upload_id = None
            else:
                landed = server
        if p.upload_id is None:
            self._count("attempts")
            meta = {"vin": self.vin, "exchange": g.exchange, "table": g.files[0].table,
                    "files": str(len(g.files))}  # fmt: skip
            p.upload_id = self.target.create_multipart(g.key, p.sha256, meta)
            self.aggs.started(g.key, p.upload_id)
        upload_id = p.upload_id
        etags: list[str] = []

        def emit(number: int, data: bytes) -> None:
            md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
            if landed.get(number) == md5:
                self.aggs.part(g.key, number, md5)
                self._count("parts_resumed")
            else:
                if self._throttle is not None:
                    self._throttle.take(len(data))
                self._count("attempts")
                etag = self.target.upload_part(g.key, upload_id, number, data)
                if etag != md5:
                    raise UploadError("server", f"{g.key}: part {number} does not match its MD5")
                self.aggs.part(g.key, number, etag)
                self._count("parts")
            etags.append(md5)

        sink = PartSink(self.cfg.part_size, emit)
        spooled = self.spool.get(g.key, p.size)
        if spooled is not None:
            replay(spooled, sink)
        else:
            compact(paths, sink)
        if sink.size != p.size or sink.sha256.hexdigest() != p.sha256:
            self._drop(p)  # a torn spool, or compaction not reproducible (a new pyarrow?)
            raise UploadError("client", f"{g.key}: its bytes differ from the recorded digest")
        self._count("attempts")
        etag = self.target.complete_multipart(g.key, upload_id, etags)
        if etag != sink.multipart_etag():
            self._count("attempts")
            remote = self.target.head(g.key)
            if remote is None or not remote.matches(p.size, p.sha256):
                raise UploadError("server", f"{g.key}: the object does not match after completing")
        self._finish_records(p, g.fids)

    def _finish_records(self, p: Pending, fids: list[FileId]) -> None:
        """The object is verified: its files count as uploaded; the aggregate is done."""
        for exchange, path in fids:
            self.ledger.done(exchange, path, p.key, self._local_size(exchange, path), p.sha256)
        with self._lock:
            self._done.update(fids)
            self._c["files"] += len(fids)
            self._c["bytes"] += p.size
        self._last_success_ns = time.time_ns()
        self.aggs.finish(p.key)
        self._pending.pop(p.key, None)
        self.spool.remove(p.key)

    def _local_size(self, exchange: str, path: str) -> int:
        store = self._stores.get(exchange)
        try:
            return (store.root / path).stat().st_size if store is not None else 0
        except OSError:
            return 0
