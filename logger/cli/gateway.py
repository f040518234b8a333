"""``sdvlog gateway -c FILE``: only the gateway (buses → CANP → MQTT) until SIGTERM / SIGINT.

With ``broker.url = "embedded"`` the embedded broker belongs to ``sdvlog run``: by default the
gateway connects to the one a running ``sdvlog run`` holds on ``127.0.0.1:broker.embedded_port``
(MQTT 3.1.1), and says so; ``--start-broker`` runs an embedded broker in this process instead
(then ``sdvlog run`` cannot hold one on the same port: point its ``broker.url`` at this one).
A broker started here lives and dies with this process, like every embedded broker.

``--until-replayed`` (every ``[[bus]]`` a replay): exit once every frame has been replayed and
confirmed by the broker, so a log can be pushed through the pipeline as one command.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from logger.cli.subcommand import Subcommand
from logger.core.config import Config
from logger.core.errors import ConfigError

if TYPE_CHECKING:
    from logger.gateway.bus_stats import BusStats, GatewayStats

log = logging.getLogger(__name__)

STATS_EVERY_S = 10.0
_WATCH_S = 1.0


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", type=Path, required=True, help="TOML configuration")
    p.add_argument(
        "--start-broker",
        action="store_true",
        help="with broker.url = 'embedded': run the embedded broker in this process "
        "(default: connect to the one a running `sdvlog run` holds)",
    )
    p.add_argument(
        "--stats-every",
        type=float,
        default=STATS_EVERY_S,
        metavar="SECONDS",
        help=f"log the counters every SECONDS at INFO level (-v; 0: never; default {STATS_EVERY_S:g})",
    )
    p.add_argument(
        "--until-replayed",
        action="store_true",
        help="every [[bus]] a replay: exit once every frame was replayed and confirmed",
    )


def _run(args: argparse.Namespace) -> int:
    from logger.core.config import load_config  # noqa: PLC0415 - keep `sdvlog --help` fast

    return run_gateway(
        load_config(args.config),
        start_broker=args.start_broker,
        stats_every=args.stats_every,
        until_replayed=args.until_replayed,
    )


def run_gateway(
    cfg: Config, *, start_broker: bool, stats_every: float, until_replayed: bool
) -> int:
    """Run the gateway of ``cfg`` until a signal (or the end of every replay); the exit code."""
    from logger.gateway.gateway import Gateway  # noqa: PLC0415
    from logger.mqtt.broker import EmbeddedBroker  # noqa: PLC0415
    from logger.mqtt.client import protocol_for  # noqa: PLC0415
    from logger.service.service import stop_on_signals  # noqa: PLC0415

    if not cfg.buses:
        raise ConfigError("bus", "no [[bus]] is configured: the gateway has nothing to read")
    if until_replayed and any(b.replay is None for b in cfg.buses):
        raise ConfigError("bus", "--until-replayed needs every [[bus]] to be a replay")
    broker: EmbeddedBroker | None = None
    host, port = cfg.broker.host, cfg.broker.port
    if cfg.broker.embedded and start_broker:
        broker = EmbeddedBroker("127.0.0.1", cfg.broker.embedded_port)
    elif cfg.broker.embedded:
        if cfg.broker.embedded_port == 0:
            raise ConfigError(
                "broker.embedded_port",
                "0 (any free port) cannot be found by `sdvlog gateway`: "
                "set a fixed port, or pass --start-broker",
            )
        log.warning(
            "broker.url = 'embedded': connecting to the embedded broker of a running "
            "`sdvlog run` at 127.0.0.1:%d (`sdvlog gateway` starts none without --start-broker)",
            port,
        )
    elif start_broker:
        raise ConfigError("broker.url", "--start-broker needs broker.url = 'embedded'")

    stop = threading.Event()
    gateway: Gateway | None = None
    with stop_on_signals(stop):
        try:
            if broker is not None:
                broker.start()
                host, port = broker.host, broker.port
                log.warning("embedded broker running at mqtt://%s:%d", host, port)
            gateway = Gateway(cfg, host, port, protocol_for(cfg.broker))
            gateway.start()
            gw = gateway

            def watch() -> None:
                def done(stats: GatewayStats) -> bool:
                    return gw.failure is not None or (until_replayed and gw.replayed(stats))

                while not stop.is_set():
                    if gw.wait_until(done, _WATCH_S):
                        stop.set()

            threading.Thread(target=watch, name="gateway-watch", daemon=True).start()
            interval = stats_every if stats_every > 0 else None
            while not stop.wait(interval):
                log.info("gateway: %s", gw.stats().as_dict())
        finally:
            if gateway is not None:
                gateway.stop()
            if broker is not None:
                broker.stop()
    assert gateway is not None  # Gateway() raised otherwise
    if gateway.failure is not None:
        raise gateway.failure
    if until_replayed:
        return _report_replay(gateway.stats().buses)
    return 0


def _report_replay(buses: dict[str, BusStats]) -> int:
    from logger.gateway.bus_stats import FAILED  # noqa: PLC0415

    ok = True
    for stats in buses.values():
        print(
            f"{stats.name}: {stats.frames} frames replayed, {stats.published} confirmed, "
            f"{stats.dropped} dropped, {stats.lost} lost"
            + (f"; failed: {stats.failure}" if stats.state == FAILED else "")
        )
        ok = ok and stats.state != FAILED and stats.published == stats.frames
    if not ok:
        print("sdvlog gateway: not every frame was delivered", file=sys.stderr)
    return 0 if ok else 1


SUBCOMMANDS: dict[str, Subcommand] = {
    "gateway": Subcommand(
        "read the configured CAN buses (or replay logs) and publish CANP batches to the broker",
        _args,
        _run,
    ),
}
