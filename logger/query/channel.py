"""The query channel: pair0, one UTF-8 command in, Arrow IPC frames and an end frame out.

An optional leading ``exchange=NAME;`` picks the exchange when the service runs several (our
addition to the grammar; without it the first exchange answers).

Every connection is its own pair0 peer (:mod:`logger.query.pair0`) with its own thread, and its
answers go to it alone. Up to ``max_clients`` answers are computed at once; a command that
arrives while all of them are busy waits for the first to finish, and is never lost. A peer that
leaves, or takes nothing for ``send_timeout_ms``, ends its answer there: the rest is dropped and
counted (``abandoned``), its connection closed, and nobody else is held up, capture least of all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass

from logger.core.burstlog import BurstLogger
from logger.core.errors import Code, QueryError, ServiceError
from logger.query.answer import Answerer, end_frame, parse_for
from logger.query.pair0 import Connection, Listener, MessageTooLong, WireError

log = logging.getLogger(__name__)
MAX_COMMAND = 4096
MAX_MESSAGE = 1 << 16
"""Longest request read; a longer one is skipped and answered code 5."""
HANDSHAKE_S = 10.0
ACCEPT_POLL_S = 0.2


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


@dataclass(frozen=True)
class ChannelStats:
    """The channel's counters (``Service.stats()["channel"]``)."""

    answered: int  # answers sent whole
    abandoned: int  # answers cut short because their client left or stopped reading
    refused: int  # connections that were not pair0 peers, or over max_connections
    connected: int  # peers connected now
    answering: int  # answers being computed or sent now

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class ChannelServer:
    """Serves :class:`QueryService` to every pair0 peer that connects, until :meth:`stop`."""

    def __init__(
        self,
        url: str,
        service: QueryService,
        send_timeout_ms: int = 5000,
        max_clients: int = 4,
        max_connections: int = 64,
    ) -> None:
        self.url = url
        self.service = service
        self._send_timeout_s = send_timeout_ms / 1000
        self._slots = threading.BoundedSemaphore(max_clients)
        self._max_connections = max_connections
        self._listener: Listener | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._connections: dict[Connection, threading.Thread] = {}
        self._answered = 0
        self._abandoned = 0
        self._refused = 0
        self._answering = 0
        self._refusals = BurstLogger(log, "query channel refused a connection")

    @property
    def port(self) -> int:
        """The TCP port listened on (useful with port 0); 0 before start and for IPC."""
        return 0 if self._listener is None else self._listener.port

    def start(self) -> None:
        """Listen and answer in the background (idempotent)."""
        if self._thread is not None:
            return
        try:
            self._listener = Listener(self.url)
        except (OSError, ValueError) as exc:
            raise ServiceError(f"cannot listen for queries on {self.url}: {exc}") from exc
        self._thread = threading.Thread(target=self._accept, name="query-channel", daemon=True)
        self._thread.start()
        log.info("query channel listening on %s", self.url)

    def stop(self) -> None:
        """Stop listening, then end every connection (an answer being sent is abandoned)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            pending = dict(self._connections)
        for conn, thread in pending.items():
            conn.close()
            thread.join(timeout=self._send_timeout_s + 1)

    def stats(self) -> ChannelStats:
        with self._lock:
            return ChannelStats(
                self._answered,
                self._abandoned,
                self._refused,
                len(self._connections),
                self._answering,
            )

    def _accept(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stop.is_set():
            try:
                conn = listener.accept(ACCEPT_POLL_S)
            except OSError as exc:
                log.error("query channel stopped accepting: %s", exc)
                return
            if conn is None:
                continue
            with self._lock:
                full = len(self._connections) >= self._max_connections
                if full:
                    self._refused += 1
                else:
                    thread = threading.Thread(
                        target=self._serve, args=(conn,), name="query-client", daemon=True
                    )
                    self._connections[conn] = thread
            if full:
                self._refusals.hit(f"{conn.peer}: {self._max_connections} peers already")
                conn.close()
                continue
            thread.start()

    def _serve(self, conn: Connection) -> None:
        try:
            conn.handshake(HANDSHAKE_S)
        except WireError as exc:
            with self._lock:
                self._refused += 1
            self._refusals.hit(f"{conn.peer}: {exc}")
            self._forget(conn)
            return
        try:
            while not self._stop.is_set():
                try:
                    raw = conn.receive(MAX_MESSAGE)
                except MessageTooLong as exc:
                    raw = None
                    frames: Iterator[bytes] = iter(
                        [end_frame(Code.BAD_COMMAND, Code.BAD_COMMAND, f"command: {exc}")]
                    )
                else:
                    if raw is None:
                        return
                    frames = self.service.reply(raw)
                if not self._take_slot():
                    return
                try:
                    if not self._answer(conn, frames, raw):
                        return
                finally:
                    self._slots.release()
        except (OSError, WireError) as exc:
            log.debug("query client %s: %s", conn.peer, exc)
        finally:
            self._forget(conn)

    def _take_slot(self) -> bool:
        while not self._stop.is_set():
            if self._slots.acquire(timeout=ACCEPT_POLL_S):
                return True
        return False

    def _answer(self, conn: Connection, frames: Iterator[bytes], raw: bytes | None) -> bool:
        """Send every frame to ``conn``; False when the answer was abandoned (conn closed)."""
        with self._lock:
            self._answering += 1
        try:
            with contextlib.closing(_guarded(frames, raw)) as guarded:
                for frame in guarded:
                    if conn.gone():
                        return self._abandon(conn, "client left")
                    conn.send(frame, self._send_timeout_s)
        except TimeoutError:
            return self._abandon(conn, f"client took nothing for {self._send_timeout_s:g} s")
        except OSError as exc:
            return self._abandon(conn, f"client left ({exc.strerror or exc})")
        finally:
            with self._lock:
                self._answering -= 1
        with self._lock:
            self._answered += 1
        return True

    def _abandon(self, conn: Connection, why: str) -> bool:
        with self._lock:
            self._abandoned += 1
        log.info("query answer to %s abandoned: %s", conn.peer, why)
        conn.close()
        return False

    def _forget(self, conn: Connection) -> None:
        conn.close()
        with self._lock:
            self._connections.pop(conn, None)


def _guarded(frames: Iterator[bytes], raw: bytes | None) -> Generator[bytes, None, None]:
    """``frames``, ended by an error end frame if producing them fails (the channel goes on)."""
    try:
        yield from frames
    except Exception:  # one failing answer must not end the channel
        log.exception("query failed: %r", (raw or b"")[:200])
        yield end_frame(Code.FILE_SEARCH, Code.MEMORY_DECODE, "internal error, see the service log")
