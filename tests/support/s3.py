"""A real S3 HTTP endpoint for tests: moto's server (``python -m moto.server``) as a child process
on a free loopback port, that a test can kill and start again on the same port (its buckets are
in memory: a restart starts empty unless ``keep`` is used by the caller to re-create them).

``s3_client(server)`` is a boto3 client on it with the test credentials.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from tests.support.ports import LOOPBACK, free_port, port_open

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
ACCESS_KEY = "sdvlog-test-key"
SECRET_KEY = "sdvlog-test-secret"
REGION = "eu-central-1"


class MotoServer:
    """``python -m moto.server`` on a free loopback port; ``start()`` returns once it answers."""

    def __init__(self, tmp_dir: Path, port: int | None = None) -> None:
        self.tmp_dir = tmp_dir
        self.host = LOOPBACK
        self.port = port or free_port()
        self.log_path = tmp_dir / "moto.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> MotoServer:
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not port_open(self.host, self.port):  # moto has no readiness signal but its port
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                text = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"moto's S3 server did not start on {self.endpoint}:\n{text}")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        """SIGKILL: the endpoint goes away mid-request, as a crashed server does."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(STOP_TIMEOUT)
        self._proc = None

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(STOP_TIMEOUT)
        self._proc = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def s3_client(server: MotoServer) -> S3Client:
    """A boto3 S3 client on ``server`` with the test credentials."""
    import boto3  # noqa: PLC0415 - only the tests that talk S3 load it

    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )
