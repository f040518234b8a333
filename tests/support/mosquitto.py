"""A real Mosquitto for tests, on a free loopback port, optionally TLS-only or with passwords.

Mosquitto comes from Debian (``bash tools/setup.sh`` installs it). It runs with
``max_inflight_messages 0`` and ``max_queued_messages 0``, as DESIGN.md (Durability) asks of a
production broker, so a persistent session's window and queue are unbounded.
"""

from __future__ import annotations

import getpass
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tests.support.mqtt_clients import BrokerAddress
from tests.support.ports import LOOPBACK, free_port, port_open

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
_MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


class MosquittoMissingError(RuntimeError):
    """The mosquitto binary is not installed."""


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
