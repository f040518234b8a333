"""``sdvlog gateway``: a log replayed to the broker until replayed, the embedded broker, no buses."""

from __future__ import annotations

from pathlib import Path

import can

from tests.support.gateway import (
    TOPIC,
    VIN,
    decoded,
    expected,
    mixed_frames,
    wait_frames,
)
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import Subscriber
from tests.support.service import run_cli


def write_log(path: Path, msgs: list[can.Message]) -> Path:
    with can.Logger(path) as writer:
        for m in msgs:
            writer.on_message_received(m)
    return path


def test_cli_replays_a_log_to_the_broker_until_replayed(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    msgs = [m for m in mixed_frames(600) if not m.is_error_frame]
    log = write_log(tmp_path / "drive.log", msgs)
    conf = tmp_path / "gw.toml"
    conf.write_text(
        f'vin = "{VIN}"\n[broker]\nurl = "{mosquitto.url}"\n'
        f'[[bus]]\nname = "can1"\nreplay = "{log}"\npace = "fast"\n',
        encoding="utf-8",
    )
    with Subscriber(mosquitto.address, TOPIC) as sub:
        done = run_cli("gateway", "-c", str(conf), "--until-replayed")
        assert done.returncode == 0, done.stderr
        got = wait_frames(sub, len(msgs))
    assert f"can1: {len(msgs)} frames replayed, {len(msgs)} confirmed" in done.stdout
    assert decoded(got) == expected(msgs)


def test_cli_with_the_embedded_broker(tmp_path: Path) -> None:
    log = write_log(tmp_path / "drive.log", mixed_frames(50)[:5])
    conf = tmp_path / "gw.toml"
    conf.write_text(
        f'[broker]\nurl = "embedded"\nembedded_port = 0\n'
        f'[[bus]]\nname = "can0"\nreplay = "{log}"\npace = "fast"\n',
        encoding="utf-8",
    )
    refused = run_cli("gateway", "-c", str(conf), "--until-replayed")
    assert refused.returncode == 1 and "embedded_port" in refused.stderr
    started = run_cli("gateway", "-c", str(conf), "--until-replayed", "--start-broker")
    assert started.returncode == 0, started.stderr
    assert "5 frames replayed, 5 confirmed" in started.stdout


def test_cli_without_buses_says_so(tmp_path: Path) -> None:
    conf = tmp_path / "gw.toml"
    conf.write_text('[broker]\nurl = "mqtt://127.0.0.1:1"\n', encoding="utf-8")
    done = run_cli("gateway", "-c", str(conf))
    assert done.returncode == 1 and "no [[bus]]" in done.stderr
