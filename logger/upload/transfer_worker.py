"""The upload transfer process (``python -m logger.upload.transfer_worker``), started by
:class:`~logger.upload.transfer_process.ProcessTransfer`.

Standard input carries the requests, and the file descriptor that was standard output the
answers (:mod:`logger.upload.pipe`); anything a library prints goes to standard error instead.
The first request is ``("start", UploadConfig, source)``: the process lowers its priority by
``nice``, opens the bucket (:class:`~logger.upload.transfer.LocalTransfer`) and answers
``("ready",)`` or ``("config", key, problem)``. Then each ``("call", id, operation, args)`` runs
on one of ``concurrency`` threads and is answered ``("ok", id, result)``, ``("err", id, kind,
message)`` or ``("missing", id, message)`` (a file that is gone). At the end of standard input
(the service ended, however it ended) the process ends at once: an upload cut short is resumed by
the next run as any interrupted one.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from logger.core.config_upload import UploadConfig
from logger.core.errors import ConfigError
from logger.upload.client import UploadError
from logger.upload.pipe import Writer, read_message
from logger.upload.transfer import LocalTransfer

__all__ = ["OPERATIONS", "main"]

#: What a request may ask: the :class:`~logger.upload.transfer.Transfer` operations.
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
OPERATIONS = frozenset(
    {"digests", "head", "put_file", "create_multipart", "upload_part", "list_parts",
     "complete_multipart", "abort_multipart", "multipart_uploads"}
)  # fmt: skip


def serve(
    local: LocalTransfer, out: Writer, call_id: int, op: str, args: tuple[object, ...]
) -> None:
    """Run one request and send its answer."""
    try:
        if op not in OPERATIONS:
            raise UploadError("client", f"unknown transfer operation {op!r}")
        result = getattr(local, op)(*args)
    except FileNotFoundError as exc:
        out.send(("missing", call_id, str(exc)))
    except UploadError as exc:
        out.send(("err", call_id, exc.kind, str(exc)))
    except Exception as exc:  # a bug answers its caller instead of leaving it waiting
        out.send(("err", call_id, "client", f"{type(exc).__name__}: {exc}"))
    else:
        out.send(("ok", call_id, result))


def die_with_parent() -> None:
    """SIGKILL as soon as the service's process ends, however it ends (``PR_SET_PDEATHSIG``): a
    request of a dead service must not run on beside the next one. The signal comes when the
    thread that started this process ends; the service starts it from threads that last as long
    as its uploader."""
    parent = os.getppid()
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the service ended before the signal was asked for
        os._exit(0)


def main() -> int:
    die_with_parent()
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    out = Writer(answers)
    first = read_message(requests)
    if first is None or first[0] != "start":
        return 2
    _, cfg, source = first
    assert isinstance(cfg, UploadConfig)
    assert source is None or isinstance(source, Path)
    os.nice(cfg.nice)
    try:
        local = LocalTransfer(cfg, source)
    except ConfigError as exc:
        out.send(("config", exc.key, exc.problem))
        return 1
    out.send(("ready",))
    pool = ThreadPoolExecutor(cfg.concurrency + 2, thread_name_prefix="transfer")
    while (message := read_message(requests)) is not None:
        _, call_id, op, args = message
        assert isinstance(call_id, int) and isinstance(op, str) and isinstance(args, tuple)
        pool.submit(serve, local, out, call_id, op, args)
    os._exit(0)  # the service is gone: nobody waits for the answers under way


if __name__ == "__main__":
    sys.exit(main())
