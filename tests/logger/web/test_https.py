"""HTTPS (``tls_cert`` / ``tls_key``): the API over TLS with a certificate made by openssl, and
the configurations that cannot serve it refused before anything starts, naming the key."""

from __future__ import annotations

import dataclasses
import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from logger.core.config import HttpConfig, parse_config
from logger.core.errors import ConfigError
from logger.service.service import Service
from tests.support.service import WAIT_S, running, service_config

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    request = "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1"
    san = ["-addext", "subjectAltName=IP:127.0.0.1"]
    files = ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(["openssl", *request.split(), *san, *files], check=True, capture_output=True)
    return cert, key


def test_the_api_answers_over_https_only(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path, "server")
    http = HttpConfig(listen="127.0.0.1:0", tls_cert=cert, tls_key=key)
    cfg = dataclasses.replace(service_config(tmp_path, None), http=http)
    with running(cfg) as service:
        assert service.http is not None and service.http.url.startswith("https://127.0.0.1:")
        trusted = ssl.create_default_context(cafile=str(cert))
        health = httpx.get(f"{service.http.url}/api/health", verify=trusted, timeout=WAIT_S)
        assert health.status_code == 200 and "raw" in health.json()
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{service.http.url}/api/health", timeout=WAIT_S)  # not a trusted CA
        plain = service.http.url.replace("https://", "http://")
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{plain}/api/health", timeout=WAIT_S).raise_for_status()


def test_a_certificate_without_its_key_is_refused_when_parsed() -> None:
    with pytest.raises(ConfigError, match=r"http\.tls_key: HTTPS needs both"):
        parse_config({"http": {"tls_cert": "/etc/sdvlog/cert.pem"}})
    with pytest.raises(ConfigError, match=r"http\.tls_cert: HTTPS needs both"):
        parse_config({"http": {"tls_key": "/etc/sdvlog/cert.key"}})
    with pytest.raises(ConfigError, match=r"http\.tls_cert: expected str"):
        parse_config({"http": {"tls_cert": 7, "tls_key": "k"}})


@pytest.mark.parametrize("fault", ["missing", "not pem", "wrong key"])
def test_unusable_certificates_start_nothing(tmp_path: Path, fault: str) -> None:
    cert, key = _certificate(tmp_path, "server")
    if fault == "missing":
        cert = tmp_path / "absent.pem"
    elif fault == "not pem":
        cert.write_text("not a certificate\n")
    else:
        key = _certificate(tmp_path, "other")[1]
    http = HttpConfig(listen="127.0.0.1:0", tls_cert=cert, tls_key=key)
    service = Service(dataclasses.replace(service_config(tmp_path, None), http=http))
    with pytest.raises(ConfigError, match=r"http\.tls_cert: "):
        service.start()
    assert service.channel.port == 0 and service.exchanges == {} and service.http is None
