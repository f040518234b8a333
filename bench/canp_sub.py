"""A plain MQTT subscriber that counts CANP frames: the far end of ``python -m bench gateway``.

``python -m bench.canp_sub --port PORT --topic FILTER --frames N [--qos 1] [--timeout S]``

It runs in its own process (so it does not compete with the gateway for the GIL), prints
``ready`` once the broker granted the subscription, counts frames from each payload's CANP header
as messages arrive, and stops at the message that brings the count to N (or at the timeout, or
on SIGTERM). Then
it decodes every payload it received (:func:`canp.wire.decode_payloads`) to check the count and
prints one JSON line: frames, messages, ``time.monotonic()`` of the first and the last message
(CLOCK_MONOTONIC is system-wide, so the parent can compare it with its own clock), frames per
arbitration id (with the SocketCAN flag bits) and payloads that did not decode.
"""

from __future__ import annotations

import argparse
import json
import signal
import struct
import sys
import threading
import time
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from canp.wire import HEADER, decode_payloads

_COUNT = struct.Struct("<I")


class Counter:
    """Collects payloads and counts their frames until ``target`` frames arrived."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.payloads: list[bytes] = []
        self.frames = 0
        self.first_s: float | None = None
        self.last_s: float | None = None
        self.subscribed = threading.Event()
        self.done = threading.Event()

    def on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if getattr(reason, "is_failure", False):
            print(f"connection refused: {reason}", file=sys.stderr)
            self.done.set()

    def on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        if any(getattr(c, "is_failure", False) for c in codes):
            print(f"subscription refused: {codes}", file=sys.stderr)
            self.done.set()
            return
        self.subscribed.set()

    def on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        if self.first_s is None:
            self.first_s = now
        payload = bytes(msg.payload)
        self.payloads.append(payload)
        if len(payload) >= HEADER.size:
            self.frames += _COUNT.unpack_from(payload, 4)[0]
        if self.frames >= self.target and self.last_s is None:
            self.last_s = now
            self.done.set()

    def result(self) -> dict[str, object]:
        decoded = decode_payloads(self.payloads)
        ids, counts = np.unique(decoded.frames.can_id, return_counts=True)
        return {
            "frames": self.frames,
            "decoded_frames": len(decoded.frames),
            "messages": len(self.payloads),
            "bytes": sum(map(len, self.payloads)),
            "first_s": self.first_s,
            "last_s": self.last_s,
            "complete": self.last_s is not None,
            "ids": {str(i): c for i, c in zip(ids.tolist(), counts.tolist(), strict=True)},
            "rejected": len(decoded.rejected),
        }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.canp_sub", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--frames", type=int, required=True, help="stop once this many arrived")
    p.add_argument("--qos", type=int, default=1, choices=(0, 1))
    p.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
    p.add_argument("--client-id", default="bench-canp-sub")
    args = p.parse_args(argv)
    counter = Counter(args.frames)
    signal.signal(signal.SIGTERM, lambda *_: counter.done.set())  # stop early, still report
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=args.client_id,
        protocol=MQTTProtocolVersion.MQTTv311,
    )
    client.on_connect = counter.on_connect
    client.on_subscribe = counter.on_subscribe
    client.on_message = counter.on_message
    client.connect(args.host, args.port, keepalive=60)
    client.subscribe(args.topic, qos=args.qos)
    client.loop_start()
    try:
        if not counter.subscribed.wait(30):
            print("not subscribed within 30 s", file=sys.stderr)
            return 2
        print("ready", flush=True)
        counter.done.wait(args.timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    print(json.dumps(counter.result()), flush=True)
    return 0 if counter.last_s is not None else 1


if __name__ == "__main__":
    sys.exit(main())
