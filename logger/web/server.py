"""The HTTP API served by uvicorn on a thread of the service's process (a lifecycle
:class:`~logger.core.lifecycle.Component`)."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import threading
import time
from pathlib import Path

import uvicorn

from logger.core.config import HttpConfig
from logger.core.errors import ConfigError, ServiceError
from logger.web.app import make_app
from logger.web.live import Live

__all__ = ["HttpServer", "check_tls", "read_token"]

log = logging.getLogger(__name__)
START_S = 30.0
"""Longest :meth:`HttpServer.start` waits for the socket to listen."""


def read_token(cfg: HttpConfig, source: Path | None = None) -> str | None:
    """The bearer token ``cfg`` names (``token_env`` or ``token_file``), or None when it names
    none; a :class:`ConfigError` naming the key when it cannot be had or is empty."""
    if cfg.token_env is not None:
        value = os.environ.get(cfg.token_env, "").strip()
        if not value:
            raise ConfigError(
                "http.token_env", f"the variable {cfg.token_env} is not set or empty", source
            )
        return value
    if cfg.token_file is not None:
        try:
            value = cfg.token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                "http.token_file", f"cannot read {cfg.token_file}: {exc}", source
            ) from exc
        if not value:
            raise ConfigError("http.token_file", f"{cfg.token_file} is empty", source)
        return value
    return None


def check_tls(cfg: HttpConfig, source: Path | None = None) -> None:
    """Load ``cfg``'s certificate and key as the server will; a :class:`ConfigError` naming
    ``http.tls_cert`` when they cannot be read, are not PEM, or do not belong together."""
    if cfg.tls_cert is None or cfg.tls_key is None:
        return
    for key, path in (("http.tls_cert", cfg.tls_cert), ("http.tls_key", cfg.tls_key)):
        if not path.is_file():
            raise ConfigError(key, f"{path} is not a readable file", source)
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            cfg.tls_cert, cfg.tls_key
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            "http.tls_cert",
            f"cannot use {cfg.tls_cert} with {cfg.tls_key} for HTTPS: {exc}",
            source,
        ) from exc


class HttpServer:
    """uvicorn serving :func:`~logger.web.app.make_app` over ``live`` on ``cfg.listen``."""

    def __init__(self, live: Live, cfg: HttpConfig, token: str | None) -> None:
        self.cfg = cfg
        app = make_app(live, cfg, token)
        config = uvicorn.Config(
            app,
            host=cfg.host,
            port=cfg.port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            ssl_certfile=cfg.tls_cert,
            ssl_keyfile=cfg.tls_key,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self.port = cfg.port

    @property
    def url(self) -> str:
        host = f"[{self.cfg.host}]" if ":" in self.cfg.host else self.cfg.host
        scheme = "https" if self.cfg.tls else "http"
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> None:
        """Listen, and serve on a thread of its own; raises :class:`ServiceError` if it cannot."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)
        self._thread.start()
        gave_up = time.monotonic() + START_S  # uvicorn has no event for this: look every 10 ms
        while not self._server.started and self._thread.is_alive() and time.monotonic() < gave_up:
            time.sleep(0.01)
        if not self._server.started:
            raise ServiceError(f"the HTTP API could not listen on {self.cfg.listen}")
        sockets = [s for server in self._server.servers for s in server.sockets]
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("HTTP API on %s", self.url)

    def _run(self) -> None:
        asyncio.run(self._server.serve())

    def stop(self) -> None:
        """Stop accepting, let answers in flight end, and join the thread; idempotent."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def stats(self) -> dict[str, object]:
        return {"listening": bool(self._server.started), "url": self.url}
