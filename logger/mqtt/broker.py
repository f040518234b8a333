"""The embedded MQTT broker: amqtt on loopback, in its own thread with its own asyncio loop.

``broker.url = "embedded"`` starts one of these inside the service, so a vehicle without a broker
of its own still works. Clients reach it at ``EmbeddedBroker.host`` / ``EmbeddedBroker.port``.

What amqtt 0.12.1 supports that matters for sdv-logger (read in its source and checked by
experiment, see tests/logger/mqtt/test_broker.py):

- **MQTT 3.1.1 only.** A CONNECT with protocol level 5 and no properties is refused (CONNACK
  "unacceptable protocol version"); one with properties (paho sends SessionExpiryInterval) is
  misparsed and never answered. :func:`logger.mqtt.client.make_client` therefore refuses MQTT 5 for
  ``url = "embedded"``. No receive maximum, no session expiry property, no reason codes.
- **Persistent sessions** (``clean_session=False``) keep their subscriptions and queue QoS 1/2
  messages that arrive while the client is away, and deliver them after it reconnects, but only for
  clients that are not marked anonymous. amqtt's own ``AnonymousAuthPlugin`` marks every client
  anonymous when it lets it in without a user name, and drops anonymous sessions' offline queues,
  so we replace it with :class:`LoopbackAuthPlugin`, which accepts every client as a named one
  (the broker listens on loopback only).
- **No redelivery of in-flight messages.** A QoS 1 message the broker sent but the client did not
  acknowledge is forgotten when the client disconnects (the PUBACK waiter is cancelled and the
  message removed from the session's in-flight table), and also when no PUBACK comes within
  5 seconds (hard-coded in ``amqtt.mqtt.protocol.handler``; it logs "Timeout waiting for PUBACK").
  So "acknowledge after the durable write" gives no crash safety through amqtt, and a durable
  write slower than 5 s loses the messages outright. Only messages queued while the session was
  offline survive a reconnect.
- **No in-flight limit.** The broker starts one delivery task per message and subscriber; the only
  bound is the 65535 packet ids of a session. Offline queues are unbounded (memory), and sessions
  never expire unless ``session_expiry_interval`` is configured (we leave it unset).
- Everything lives in this process's memory: when the service dies, so does the broker and every
  message it held. Durability across a crash needs an external broker (Mosquitto).
- Throughput (2 cores, 200-byte payloads, paho publisher and subscriber in the same process):
  about 5,000 msg/s end to end at QoS 0 and 3,300 msg/s at QoS 1, against 37,000 and 10,700
  through Mosquitto with the same clients. The gateway publishes batches of up to 256 frames,
  so its message rate stays far below that.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import threading
from types import TracebackType
from typing import Any

from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin

from logger.core.errors import BrokerError

_log = logging.getLogger(__name__)

DEFAULT_START_TIMEOUT = 10.0
DEFAULT_STOP_TIMEOUT = 15.0
_PICK_PORT_TRIES = 5
_QUIET_LOGGERS = ("amqtt", "transitions")


class LoopbackAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]  # amqtt ships no type hints
    """Accept every client as a named (not anonymous) one, so persistent sessions keep a queue."""

    async def authenticate(self, *, session: Any) -> bool:
        del session
        return True


def _address_in_use(exc: BaseException) -> bool:
    """Whether ``exc`` or anything it was raised from is EADDRINUSE."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno == errno.EADDRINUSE:
            return True
        current = current.__cause__ or current.__context__
    return False


def _pick_port(host: str) -> int:
    """A port that was free on ``host`` a moment ago (the kernel's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _quiet_library_logging() -> None:
    """amqtt and its state machine library log every connection at INFO: keep them to WARNING."""
    for name in _QUIET_LOGGERS:
        lib_logger = logging.getLogger(name)
        if lib_logger.level == logging.NOTSET:
            lib_logger.setLevel(logging.WARNING)


class _Run:
    """One run of the broker thread: its loop, its stop signal, and how starting went."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None


class EmbeddedBroker:
    """An amqtt MQTT 3.1.1 broker listening on ``host:port``, run in a background thread.

    ``port=0`` picks a free port. ``start()`` returns once the broker accepts connections;
    ``stop()`` disconnects every client and closes the listener. Also a context manager.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        start_timeout: float = DEFAULT_START_TIMEOUT,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
    ) -> None:
        if not 0 <= port <= 65535:
            raise BrokerError(f"embedded broker: port must be 0..65535, got {port}")
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._thread: threading.Thread | None = None
        self._run: _Run | None = None

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The port the broker listens on (known once started, or when a fixed port was given)."""
        if self._port is not None:
            return self._port
        if self._requested_port:
            return self._requested_port
        raise BrokerError("embedded broker: port 0 is only resolved by start()")

    @property
    def url(self) -> str:
        return f"mqtt://{self._host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the broker (idempotent); raise :class:`BrokerError` when the port is taken or it
        fails."""
        if self.running:
            return
        _quiet_library_logging()
        tries = _PICK_PORT_TRIES if self._requested_port == 0 else 1
        for attempt in range(1, tries + 1):
            port = self._requested_port or _pick_port(self._host)
            try:
                self._start_on(port)
            except BrokerError as exc:
                if attempt < tries and _address_in_use(exc):
                    _log.debug("port %d was taken before the broker bound it, trying another", port)
                    continue
                raise
            self._port = port
            _log.info("embedded MQTT broker listening on %s:%d", self._host, port)
            return

    def _start_on(self, port: int) -> None:
        run = _Run()
        thread = threading.Thread(
            target=self._thread_main,
            args=(run, port),
            name=f"embedded-mqtt-broker-{port}",
            daemon=True,
        )
        thread.start()
        where = f"{self._host}:{port}"
        if not run.ready.wait(self._start_timeout):
            self._signal_stop(run)
            thread.join(self._stop_timeout)
            raise BrokerError(
                f"embedded broker on {where} did not start within {self._start_timeout:g} s"
            )
        if run.error is not None:
            thread.join(self._stop_timeout)
            raise BrokerError(
                f"embedded broker cannot listen on {where}: {run.error}"
            ) from run.error
        self._run = run
        self._thread = thread

    def stop(self) -> None:
        """Disconnect all clients and close the listener; a no-op when not running."""
        run, thread = self._run, self._thread
        self._run = None
        self._thread = None
        if run is None or thread is None:
            return
        self._signal_stop(run)
        thread.join(self._stop_timeout)
        if thread.is_alive():
            raise BrokerError(
                f"embedded broker on {self._host}:{self._port} did not stop within "
                f"{self._stop_timeout:g} s"
            )
        if run.error is not None:
            raise BrokerError(f"embedded broker failed while stopping: {run.error}") from run.error
        _log.info("embedded MQTT broker on %s:%s stopped", self._host, self._port)

    def stats(self) -> dict[str, object]:
        return {"running": self.running, "port": self._port}

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @staticmethod
    def _signal_stop(run: _Run) -> None:
        loop, stop = run.loop, run.stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                loop.call_soon_threadsafe(stop.set)

    def _thread_main(self, run: _Run, port: int) -> None:
        try:
            asyncio.run(self._serve(run, port))
        except BaseException as exc:  # reported to start()/stop() in the caller's thread
            run.error = exc
        finally:
            run.ready.set()

    async def _serve(self, run: _Run, port: int) -> None:
        run.loop = asyncio.get_running_loop()
        run.stop = asyncio.Event()
        config: dict[str, Any] = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self._host}:{port}"}},
            "plugins": {f"{__name__}.{LoopbackAuthPlugin.__name__}": {}},
        }
        broker = Broker(config, loop=run.loop)
        try:
            await broker.start()
        except Exception as exc:  # reported to start() in the caller's thread
            run.error = exc
            return
        run.ready.set()
        await run.stop.wait()
        try:
            await asyncio.wait_for(broker.shutdown(), self._stop_timeout)
        except TimeoutError:
            _log.warning(
                "embedded broker on %s:%d took over %g s to shut down; abandoning it",
                self._host,
                port,
                self._stop_timeout,
            )
