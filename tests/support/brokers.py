"""MQTT brokers and clients for tests: a real Mosquitto on a free loopback port, addresses that
work for Mosquitto and the embedded broker alike, a collecting subscriber and a publisher.

Mosquitto comes from Debian (``bash tools/setup.sh`` installs it). It runs with
``max_inflight_messages 0`` and ``max_queued_messages 0``, as DESIGN.md (Durability) asks of a
production broker, so a persistent session's window and queue are unbounded.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from paho.mqtt.client import Client, ConnectFlags, MQTTMessage
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from logger.core.config import BrokerConfig
from logger.mqtt.client import connect_with_backoff, make_client, protocol_for

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
CLIENT_TIMEOUT = 10.0
_MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")

BrokerKind = Literal["mosquitto", "embedded"]


class MosquittoMissingError(RuntimeError):
    """The mosquitto binary is not installed."""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on ``host:port`` now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def mosquitto_binary() -> str:
    """Path of the mosquitto binary; a clear error when it is not installed."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in _MOSQUITTO_PATHS:
        if Path(candidate).is_file():
            return candidate
    raise MosquittoMissingError(
        "mosquitto is not installed: run `bash tools/setup.sh` (as root) to install it"
    )


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a TLS listener and for clients that trust it."""

    ca: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class BrokerAddress:
    """Where a test broker listens, and how our clients should talk to it."""

    kind: BrokerKind
    host: str
    port: int
    tls_ca: Path | None = None

    @property
    def url(self) -> str:
        scheme = "mqtts" if self.tls_ca is not None else "mqtt"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def protocol(self) -> MQTTProtocolVersion:
        """The newest MQTT version the broker speaks (amqtt: 3.1.1 only)."""
        return protocol_for(self.broker_config())

    def broker_config(self) -> BrokerConfig:
        """A ``[broker]`` section pointing at this broker (for the embedded one, host and port
        still need passing to ``make_client``: :meth:`client` does)."""
        if self.kind == "embedded":
            return BrokerConfig(url="embedded")
        return BrokerConfig(url=self.url, tls_ca=self.tls_ca)

    def client(
        self,
        client_id: str,
        *,
        clean_start: bool = True,
        manual_ack: bool = False,
        protocol: MQTTProtocolVersion | None = None,
        receive_maximum: int | None = None,
    ) -> Client:
        """An unconnected client for this broker, made by :func:`logger.mqtt.client.make_client`."""
        return make_client(
            self.broker_config(),
            client_id,
            clean_start=clean_start,
            manual_ack=manual_ack,
            protocol=protocol or self.protocol,
            receive_maximum=receive_maximum,
            host=self.host,
            port=self.port,
        )


class MosquittoProcess:
    """A ``mosquitto -c <conf>`` child process on a free loopback port.

    ``start()`` returns once the port accepts connections; ``stop()`` terminates it. The log goes
    to ``<tmp_dir>/mosquitto.log`` and is quoted when it fails to start. ``tls`` makes the listener
    TLS-only; ``users`` (name → password) turns anonymous access off.
    """

    def __init__(
        self,
        tmp_dir: Path,
        *,
        port: int | None = None,
        tls: TlsFiles | None = None,
        users: Mapping[str, str] | None = None,
    ) -> None:
        self.tmp_dir = tmp_dir
        self.host = LOOPBACK
        self.port = port or free_port()
        self.tls = tls
        self.users = dict(users) if users is not None else None
        self.conf_path = tmp_dir / "mosquitto.conf"
        self.log_path = tmp_dir / "mosquitto.log"
        self.stderr_path = tmp_dir / "mosquitto.stderr"
        self.passwd_path = tmp_dir / "mosquitto.passwd"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    @property
    def address(self) -> BrokerAddress:
        return BrokerAddress(
            "mosquitto", self.host, self.port, self.tls.ca if self.tls is not None else None
        )

    def config_text(self) -> str:
        lines = [
            f"listener {self.port} {self.host}",
            f"allow_anonymous {'true' if self.users is None else 'false'}",
            "max_inflight_messages 0",
            "max_queued_messages 0",
            "persistence false",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            f"user {getpass.getuser()}",  # as root: do not switch to a user who cannot read tmp_dir
        ]
        if self.users is not None:
            lines.append(f"password_file {self.passwd_path}")
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.ca}",
                f"certfile {self.tls.cert}",
                f"keyfile {self.tls.key}",
            ]
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        binary = mosquitto_binary()
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(self.config_text(), encoding="utf-8")
        if self.users is not None:
            self._write_passwords(self.users)
        with self.stderr_path.open("wb") as stderr:
            self._proc = subprocess.Popen(
                [binary, "-c", str(self.conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not port_open(self.host, self.port):
            try:
                # Waits on the process: returns at once if it died, else after a short pause.
                code = self._proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"mosquitto did not open port {self.port} within {START_TIMEOUT:g} s"
                        f"\n{self.log_tail()}"
                    ) from None
                continue
            self._proc = None
            raise RuntimeError(
                f"mosquitto exited with {code} before opening port {self.port}\n{self.log_tail()}"
            )

    def _write_passwords(self, users: Mapping[str, str]) -> None:
        passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        self.passwd_path.write_text("", encoding="utf-8")
        for user, password in users.items():
            subprocess.run(
                [passwd, "-b", str(self.passwd_path), user, password],
                check=True,
                capture_output=True,
                timeout=30,
            )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of mosquitto's output and of its log file."""
        tails = []
        for path in (self.stderr_path, self.log_path):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            tails.append("\n".join(text.splitlines()[-lines:]))
        return "\n".join(tails)

    def __enter__(self) -> MosquittoProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def make_tls_files(directory: Path, host: str = LOOPBACK) -> TlsFiles:
    """A throw-away CA and a server certificate for ``host`` (IP SAN), made with openssl."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca = directory / "ca.key", directory / "ca.crt"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "server.ext"
    ext.write_text(
        f"subjectAltName = IP:{host}\nbasicConstraints = CA:FALSE\n"
        "keyUsage = digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\n",
        encoding="utf-8",
    )
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is not installed: run `bash tools/setup.sh`")
    steps = [
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(ca_key), "-out", str(ca), "-subj", "/CN=sdv-logger test CA"],
        [openssl, "req", "-newkey", "rsa:2048", "-nodes",
         "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={host}"],
        [openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
         "-CAcreateserial", "-days", "2", "-out", str(cert), "-extfile", str(ext)],
    ]  # fmt: skip
    for cmd in steps:
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    return TlsFiles(ca=ca, cert=cert, key=key)


def connect(client: Client, address: BrokerAddress, timeout: float = CLIENT_TIMEOUT) -> None:
    """Connect with :func:`connect_with_backoff`, giving up after ``timeout`` seconds."""
    give_up = threading.Event()
    timer = threading.Timer(timeout, give_up.set)
    timer.start()
    try:
        connected = connect_with_backoff(client, address.broker_config(), give_up)
    finally:
        timer.cancel()
    if not connected:
        raise TimeoutError(f"could not connect to {address.url} within {timeout:g} s")


@dataclass(frozen=True)
class Received:
    """One message a :class:`Subscriber` got."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    dup: bool
    retain: bool


class Subscriber:
    """A paho client in its own network loop that collects what it receives.

    ``start()`` returns once the broker has acknowledged the subscription. With
    ``manual_ack=True`` nothing is acknowledged until :meth:`ack` is called.
    """

    def __init__(
        self,
        address: BrokerAddress,
        topic: str,
        *,
        qos: int = 1,
        client_id: str = "",
        clean_start: bool = True,
        manual_ack: bool = False,
        protocol: MQTTProtocolVersion | None = None,
        receive_maximum: int | None = None,
    ) -> None:
        self.address = address
        self.topic = topic
        self.qos = qos
        self._cond = threading.Condition()
        self._received: list[Received] = []
        self._subscribed = threading.Event()
        self.session_present: bool | None = None
        self.client = address.client(
            client_id,
            clean_start=clean_start,
            manual_ack=manual_ack,
            protocol=protocol,
            receive_maximum=receive_maximum,
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(
        self,
        client: Client,
        userdata: object,
        flags: ConnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        if not reason.is_failure:
            self.session_present = flags.session_present
            client.subscribe(self.topic, qos=self.qos)

    def _on_subscribe(
        self,
        client: Client,
        userdata: object,
        mid: int,
        reasons: list[ReasonCode],
        props: Properties | None,
    ) -> None:
        if all(not r.is_failure for r in reasons):
            self._subscribed.set()

    def _on_message(self, client: Client, userdata: object, msg: MQTTMessage) -> None:
        item = Received(msg.topic, bytes(msg.payload), msg.qos, msg.mid, bool(msg.dup), msg.retain)
        with self._cond:
            self._received.append(item)
            self._cond.notify_all()

    def start(self, timeout: float = CLIENT_TIMEOUT) -> Subscriber:
        connect(self.client, self.address, timeout)
        self.client.loop_start()
        if not self._subscribed.wait(timeout):
            self.stop()
            raise RuntimeError(f"no SUBACK for {self.topic!r} from {self.address.url}")
        return self

    def wait_for(self, count: int, timeout: float = CLIENT_TIMEOUT) -> list[Received]:
        """Block until ``count`` messages arrived; all received so far. Raises on timeout."""
        return self.wait_until(lambda got: len(got) >= count, timeout, f"{count} messages")

    def wait_until(
        self,
        condition: Callable[[list[Received]], bool],
        timeout: float = CLIENT_TIMEOUT,
        what: str = "the expected messages",
    ) -> list[Received]:
        """Block until ``condition(received)`` holds; all received so far. Raises on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: condition(self._received), timeout):
                raise TimeoutError(
                    f"no {what} on {self.topic!r} within {timeout:g} s"
                    f" ({len(self._received)} received)"
                )
            return list(self._received)

    @property
    def received(self) -> list[Received]:
        with self._cond:
            return list(self._received)

    def clear(self) -> None:
        with self._cond:
            self._received.clear()

    def ack(self, messages: Iterable[Received]) -> None:
        for msg in messages:
            self.client.ack(msg.mid, msg.qos)

    def stop(self, *, clean: bool = True) -> None:
        """Disconnect (``clean=False``: drop the connection without a DISCONNECT packet)."""
        if clean:
            self.client.disconnect()
            self.client.loop_stop()
        else:
            self.client.loop_stop()  # first, or paho's loop would reconnect
            sock = self.client.socket()
            if sock is not None:
                sock.close()

    def __enter__(self) -> Subscriber:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def publish(
    address: BrokerAddress,
    topic: str,
    payloads: Sequence[bytes],
    *,
    qos: int = 1,
    client_id: str = "",
    timeout: float = CLIENT_TIMEOUT,
) -> None:
    """Publish ``payloads`` in order and return once every one has been sent (QoS 0) or
    acknowledged by the broker (QoS 1)."""
    client = address.client(client_id)
    connect(client, address, timeout)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=qos) for payload in payloads]
        deadline = time.monotonic() + timeout
        for info in infos:
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise RuntimeError(f"publish to {topic!r} failed: {info.rc.name}")
            info.wait_for_publish(max(deadline - time.monotonic(), 0.001))
            if not info.is_published():
                raise TimeoutError(f"message {info.mid} to {topic!r} not published in {timeout} s")
    finally:
        client.disconnect()
        client.loop_stop()


def numbered(n: int, prefix: str = "m") -> list[bytes]:
    """``[b"m0", b"m1", ...]``: payloads whose order and completeness are easy to check."""
    return [f"{prefix}{i}".encode() for i in range(n)]
