"""The service: every configured part in one process (``sdvlog run``)."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING

from logger.capture.exchange import Exchange
from logger.capture.source import Endpoint, MqttSource
from logger.core.config import Config, ExchangeConfig
from logger.core.errors import SdvLoggerError
from logger.core.message import MessageBatch
from logger.mqtt.client import protocol_for
from logger.query.answer import Answerer
from logger.query.channel import ChannelServer, QueryService
from logger.service.preflight import prepare
from logger.store.layout import StoredFile
from logger.store.metadata import file_metadata
from logger.store.store import ParquetStore
from logger.streams.plugin import StreamPlugin
from logger.streams.registry import PluginRegistry

if TYPE_CHECKING:  # imported only when configured: the gateway (python-can, cantools) for
    # buses, the embedded broker (amqtt) for broker.url = "embedded", boto3 for [upload]
    from logger.gateway.gateway import Gateway
    from logger.mqtt.broker import EmbeddedBroker
    from logger.upload.uploader import Uploader
    from logger.web.server import HttpServer

log = logging.getLogger(__name__)


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` (logged) inside the block; the old handlers after it."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class LiveSource:
    """A running exchange as a query source: files plus what is in memory."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.name = exchange.name
        self.plugin = exchange.plugin
        self.store = exchange.store

    def snapshot(
        self, table: str, start_ns: int, end_ns: int
    ) -> tuple[list[StoredFile], list[MessageBatch]]:
        """Called with the exchange lock held."""
        return self.store.files(table, start_ns, end_ns), self.exchange.memory_snapshot()


class Service:
    """Embedded broker (optional), one exchange per data path, and the query channel."""

    def __init__(self, cfg: Config, registry: PluginRegistry | None = None) -> None:
        self.cfg = cfg
        self.registry = registry or PluginRegistry()
        self.broker: EmbeddedBroker | None = None
        self.gateway: Gateway | None = None
        self.exchanges: dict[str, Exchange] = {}
        self.http: HttpServer | None = None
        self.uploader: Uploader | None = None
        self.queries = QueryService({})
        self.channel = ChannelServer(cfg.query.url, self.queries, max_clients=cfg.query.max_clients)
        self.stopped = threading.Event()
        self._stop_requested = threading.Event()
        self._started = False

    def _endpoint(self) -> Endpoint:
        b = self.cfg.broker
        protocol = protocol_for(b)
        if self.broker is not None:
            return Endpoint("127.0.0.1", self.broker.port, protocol, durable_acks=False)
        return Endpoint(b.host, b.port, protocol)

    def start(self) -> None:
        """Check the configuration against this machine (:mod:`logger.service.preflight`: nothing has
        started when that fails), then start the channel, the broker, the exchanges, the gateway."""
        if self._started:
            return
        plugins = prepare(self.cfg, self.registry)
        token = None
        if self.cfg.http is not None:
            from logger.web.server import check_tls, read_token  # noqa: PLC0415 - uvicorn

            token = read_token(self.cfg.http, self.cfg.source)
            check_tls(self.cfg.http, self.cfg.source)
        if self.cfg.upload is not None:  # its credentials are checked here, before anything starts
            from logger.upload.aggregate import make_uploader  # noqa: PLC0415
            from logger.upload.standalone import state_dir  # noqa: PLC0415 - boto3

            self.uploader = make_uploader(
                self.cfg.upload, self.cfg.vin, state_dir(self.cfg), self.cfg.source
            )
        self._started = True
        try:
            self.channel.start()
            if self.cfg.broker.embedded:
                from logger.mqtt.broker import EmbeddedBroker  # noqa: PLC0415 - amqtt

                self.broker = EmbeddedBroker("127.0.0.1", self.cfg.broker.embedded_port)
                self.broker.start()
            for ex_cfg in self.cfg.exchanges:
                self._start_exchange(ex_cfg, plugins[ex_cfg.name])
            if self.uploader is not None:
                self.uploader.start()
            if self.cfg.buses:
                from logger.gateway.gateway import Gateway  # noqa: PLC0415 - python-can, cantools: heavy

                ep = self._endpoint()
                self.gateway = Gateway(self.cfg, ep.host, ep.port, ep.protocol)
                self.gateway.start()
            if self.cfg.http is not None:
                from logger.web.server import HttpServer  # noqa: PLC0415

                self.http = HttpServer(self, self.cfg.http, token)
                self.http.start()
        except SdvLoggerError:
            self.stop()
            raise
        self.queries.ready.set()
        log.info(
            "service running: %d exchange(s), queries on %s",
            len(self.exchanges),
            self.cfg.query.url,
        )

    def _start_exchange(self, ex_cfg: ExchangeConfig, plugin: StreamPlugin) -> None:
        guard = None if self.uploader is None else self.uploader.guard(ex_cfg.name)
        metadata = file_metadata(self.cfg, ex_cfg, plugin)
        store = ParquetStore(self.cfg.parquet, ex_cfg.name, metadata, guard)
        report = store.recover()
        if self.uploader is not None:
            self.uploader.add_store(ex_cfg.name, store)
        store.keep_databases(plugin.databases())
        log.info("%s: store recovered: %s", ex_cfg.name, report)
        client_id = f"sdvlog-{self.cfg.vin}-{ex_cfg.name}"
        memory = self.cfg.limits.per_exchange(len(self.cfg.exchanges))
        source = MqttSource(ex_cfg, self.cfg.broker, self._endpoint(), client_id)
        exchange = Exchange(ex_cfg, source, plugin, store, memory)
        exchange.start()
        self.exchanges[ex_cfg.name] = exchange
        self.queries.add(ex_cfg.name, Answerer(LiveSource(exchange), exchange.lock))

    def stop(self) -> None:
        """Flush every ring, write and acknowledge what is held, then close everything."""
        if self.stopped.is_set() or not self._started:
            return
        if self.http is not None:
            self.http.stop()  # no new answers while the parts below stop
        if self.gateway is not None:
            self.gateway.stop()  # first: what it holds reaches the broker, then the exchanges
        for exchange in self.exchanges.values():
            try:
                exchange.stop()
            except SdvLoggerError as exc:
                log.error("%s: stop failed: %s", exchange.name, exc)
            log.info("%s: final counters %s", exchange.name, exchange.stats())
        if self.uploader is not None:
            self.uploader.stop()  # after the exchanges: their last files wait for the next start
            log.info("upload: final counters %s", self.uploader.stats())
        self.channel.stop()
        log.info("query channel: final counters %s", self.channel.stats().as_dict())
        if self.broker is not None:
            self.broker.stop()
        self.stopped.set()
        log.info("service stopped")

    def run_until_signal(self) -> None:
        """Start, wait for SIGTERM / SIGINT, stop cleanly."""
        with stop_on_signals(self._stop_requested):
            try:
                self.start()
                self._stop_requested.wait()
            finally:
                self.stop()

    def stats(self) -> dict[str, object]:
        out: dict[str, object] = {name: ex.stats() for name, ex in self.exchanges.items()}
        if self.gateway is not None:
            out["gateway"] = self.gateway.stats().as_dict()
        out["channel"] = self.channel.stats().as_dict()
        if self.http is not None:
            out["http"] = self.http.stats()
        if self.uploader is not None:
            out["upload"] = self.uploader.stats()
        return out
