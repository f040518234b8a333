"""``[upload] transfer = "process"``: the bucket's requests made by a child process
(:mod:`logger.upload.transfer_worker`) at lower priority.

Each call is sent to the child and waits for its answer; the calling thread holds no lock of the
interpreter meanwhile. The child is started when the transfer is made (so a bad credential
setting is a ConfigError before anything else starts) and again, at the next call, after it
died: the calls it had under way fail as ``client`` errors, which the uploader retries like any.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import subprocess
import sys
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import IO, cast

from logger.core.config_upload import UploadConfig
from logger.core.errors import ConfigError
from logger.upload.client import Remote, UploadError
from logger.upload.pipe import Writer, read_message

log = logging.getLogger(__name__)
__all__ = ["ProcessTransfer"]

STOP_TIMEOUT_S = 5.0


class _Child:
    """One transfer process, its pipe and the calls it has not answered."""

    def __init__(self, cfg: UploadConfig, source: Path | None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "logger.upload.transfer_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.stdin = cast(IO[bytes], self.proc.stdin)
        self.stdout = cast(IO[bytes], self.proc.stdout)
        self.writer = Writer(self.stdin)
        self.pending: dict[int, Future[object]] = {}
        self.lock = threading.Lock()
        self.ended = False
        try:
            self.writer.send(("start", cfg, source))
            reply = read_message(self.stdout)
        except OSError:
            reply = None
        if reply is not None and reply[0] == "config":
            self.stop()
            key, problem = reply[1], reply[2]
            raise ConfigError(str(key), str(problem), source)
        if reply != ("ready",):
            self.stop()
            raise UploadError(
                "client",
                f"the upload transfer process did not start (exit code {self.proc.poll()}; "
                "its error is on standard error)",
            )

    def send(self, call_id: int, op: str, args: tuple[object, ...]) -> Future[object]:
        future: Future[object] = Future()
        with self.lock:
            if self.ended:
                raise UploadError("client", "the upload transfer process ended")
            self.pending[call_id] = future
        try:
            self.writer.send(("call", call_id, op, args))
        except OSError as exc:
            self.end()
            raise UploadError("client", f"the upload transfer process ended: {exc}") from exc
        return future

    def read(self) -> None:
        """Answer the calls until the child's output ends; then fail what is left."""
        while (message := read_message(self.stdout)) is not None:
            kind, call_id = message[0], message[1]
            with self.lock:
                future = self.pending.pop(cast(int, call_id), None)
            if future is None:
                continue
            if kind == "ok":
                future.set_result(message[2])
            elif kind == "missing":
                future.set_exception(FileNotFoundError(str(message[2])))
            else:
                future.set_exception(UploadError(str(message[2]), str(message[3])))
        self.end()

    def end(self) -> None:
        with self.lock:
            self.ended = True
            left, self.pending = self.pending, {}
        code = self.proc.poll()
        for future in left.values():
            future.set_exception(
                UploadError("client", f"the upload transfer process ended (exit code {code})")
            )

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.stdin.close()  # the child ends at the end of its input
        try:
            self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stdout.close()


class ProcessTransfer:
    """A :class:`~logger.upload.transfer.Transfer` whose requests a child process makes."""

    def __init__(self, cfg: UploadConfig, source: Path | None = None) -> None:
        self.cfg = cfg
        self.source = source
        self.restarts = 0
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._closed = False
        self._child: _Child | None = None
        self._reader: threading.Thread | None = None
        self._spawn()

    @property
    def pid(self) -> int | None:
        """The transfer process's id, while one runs."""
        child = self._child
        return None if child is None or child.ended else child.proc.pid

    def _spawn(self) -> _Child:
        child = _Child(self.cfg, self.source)
        self._child = child
        self._reader = threading.Thread(target=child.read, name="upload-transfer", daemon=True)
        self._reader.start()
        return child

    def _current(self) -> _Child:
        with self._lock:
            if self._closed:
                raise UploadError("client", "the upload transfer is closed")
            child = self._child
            if child is not None and not child.ended:
                return child
            if child is not None:
                child.stop()
                self.restarts += 1
                log.warning(
                    "upload: the transfer process ended (exit code %s): starting it again",
                    child.proc.returncode,
                )
            try:
                return self._spawn()
            except ConfigError as exc:
                raise UploadError("client", str(exc)) from exc

    def _call(self, op: str, *args: object) -> object:
        return self._current().send(next(self._ids), op, args).result()

    def digests(self, path: Path) -> tuple[bytes, str]:
        return cast(tuple[bytes, str], self._call("digests", path))

    def head(self, key: str) -> Remote | None:
        return cast(Remote | None, self._call("head", key))

    def put_file(
        self, key: str, path: Path, size: int, sha256: bytes, meta: Mapping[str, str]
    ) -> str:
        return cast(str, self._call("put_file", key, path, size, sha256, dict(meta)))

    def create_multipart(self, key: str, sha256: str, meta: Mapping[str, str]) -> str:
        return cast(str, self._call("create_multipart", key, sha256, dict(meta)))

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        return cast(str, self._call("upload_part", key, upload_id, number, data))

    def list_parts(self, key: str, upload_id: str) -> dict[int, str] | None:
        return cast(dict[int, str] | None, self._call("list_parts", key, upload_id))

    def complete_multipart(self, key: str, upload_id: str, etags: list[str]) -> str:
        return cast(str, self._call("complete_multipart", key, upload_id, etags))

    def abort_multipart(self, key: str, upload_id: str) -> None:
        self._call("abort_multipart", key, upload_id)

    def multipart_uploads(self, prefix: str) -> list[tuple[str, str]]:
        return cast(list[tuple[str, str]], self._call("multipart_uploads", prefix))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            child, self._child = self._child, None
        if child is not None:
            child.stop()
        if self._reader is not None:
            self._reader.join(STOP_TIMEOUT_S)
