"""The query channel: NNG pair0, one UTF-8 command in, Arrow IPC frames and an end frame out.

An optional leading ``exchange=NAME;`` picks the exchange when the service runs several (our
addition to the grammar; without it the first exchange answers). The server runs on its own
thread and sends with a timeout, so a slow or vanished client costs that client its answer and
never holds up capture.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping

import pynng

from logger.errors import Code, QueryError
from logger.query import Answerer, end_frame, parse_for

log = logging.getLogger(__name__)
MAX_COMMAND = 4096


def split_exchange(text: str) -> tuple[str | None, str]:
    """``"exchange=can;sync-0-1"`` → ``("can", "sync-0-1")``; no prefix → ``(None, text)``."""
    head, sep, rest = text.partition(";")
    if head.strip().startswith("exchange="):
        return head.strip()[len("exchange=") :].strip(), rest if sep else ""
    return None, text


class QueryService:
    """Maps a command to the exchange that answers it and yields the reply frames."""

    def __init__(self, answerers: Mapping[str, Answerer]) -> None:
        self._answerers = dict(answerers)
        self.ready = threading.Event()

    def add(self, name: str, answerer: Answerer) -> None:
        self._answerers[name] = answerer

    def reply(self, raw: bytes) -> Iterator[bytes]:
        if not self.ready.is_set():
            yield end_frame(Code.NOT_READY, Code.NOT_READY, "service is starting")
            return
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield end_frame(Code.BAD_COMMAND, Code.BAD_COMMAND, "command is not UTF-8")
            return
        if len(text) > MAX_COMMAND:
            yield end_frame(
                Code.BAD_COMMAND, Code.BAD_COMMAND, f"command longer than {MAX_COMMAND} characters"
            )
            return
        name, text = split_exchange(text)
        if name is None:
            if not self._answerers:
                yield end_frame(Code.NOT_READY, Code.NOT_READY, "no exchange configured")
                return
            name = next(iter(self._answerers))
        answerer = self._answerers.get(name)
        if answerer is None:
            known = ", ".join(self._answerers)
            yield end_frame(
                Code.BAD_COMMAND, Code.BAD_COMMAND, f"no exchange named {name!r} (known: {known})"
            )
            return
        try:
            query = parse_for(answerer.source.plugin, text)
        except QueryError as exc:
            yield end_frame(exc.disk, exc.memory, str(exc))
            return
        yield from answerer.answer(query)


class ChannelServer:
    """Serves :class:`QueryService` on an NNG pair0 socket until :meth:`stop`."""

    def __init__(self, url: str, service: QueryService, send_timeout_ms: int = 5000) -> None:
        self.url = url
        self.service = service
        self._send_timeout = send_timeout_ms
        self._socket: pynng.Pair0 | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.answered = 0
        self.abandoned = 0

    def start(self) -> None:
        try:
            self._socket = pynng.Pair0(
                listen=self.url, recv_timeout=200, send_timeout=self._send_timeout
            )
        except pynng.NNGException as exc:
            from logger.errors import ServiceError  # noqa: PLC0415

            raise ServiceError(f"cannot listen for queries on {self.url}: {exc}") from exc
        self._thread = threading.Thread(target=self._serve, name="query-channel", daemon=True)
        self._thread.start()
        log.info("query channel listening on %s", self.url)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._socket is not None:
            self._socket.close()

    def _serve(self) -> None:
        sock = self._socket
        assert sock is not None
        while not self._stop.is_set():
            try:
                raw = sock.recv()
            except pynng.Timeout:
                continue
            except pynng.Closed:
                return
            except RuntimeError:  # pynng fails to unpack a zero-length message: an empty command
                raw = b""
            try:
                for frame in self.service.reply(raw):
                    sock.send(frame)
                self.answered += 1
            except pynng.Timeout:
                self.abandoned += 1
                log.warning(
                    "query client did not take the answer within %d ms; answer abandoned",
                    self._send_timeout,
                )
            except pynng.Closed:
                return
            except Exception:  # one failing answer must not end the channel
                log.exception("query failed: %r", raw[:200])
                with contextlib.suppress(pynng.NNGException):
                    sock.send(
                        end_frame(
                            Code.FILE_SEARCH,
                            Code.MEMORY_DECODE,
                            "internal error, see the service log",
                        )
                    )
