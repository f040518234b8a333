"""The service's counters in Prometheus' text format (version 0.0.4).

Every number in ``Service.stats()`` becomes a sample named ``sdvlog_<path>`` in snake case; an
exchange's counters carry an ``exchange`` label, a bus's a ``bus`` label, and a mapping of reasons
(drops by reason, quarantined by reason, upload failures by kind) a ``reason`` label. Counters
that only grow end in ``_total`` and are typed ``counter``; the rest are gauges.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

__all__ = ["prometheus_text"]

_COUNTERS = frozenset(
    {
        "accepted", "dropped", "flushed_batches", "flushed_messages", "batches", "messages",
        "files", "bytes", "write_errors", "disk_full", "encode_errors", "retention_deleted",
        "redelivered", "capture_errors", "quarantined", "answered", "abandoned", "refused",
        "frames", "published", "lost", "rejected", "read_errors", "reopens", "gaps",
        "kernel_dropped", "records", "undecodable",
        "already_present", "attempts", "failures", "retention_blocked", "conflicts",
    }
)  # fmt: skip
_NAME = re.compile(r"[^a-zA-Z0-9_]")
_LABEL_KEYS = {"buses": "bus"}


def _name(parts: list[str]) -> str:
    return "sdvlog_" + "_".join(_NAME.sub("_", p).lower() for p in parts if p)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _samples(
    value: object, path: list[str], labels: dict[str, str]
) -> Iterator[tuple[list[str], dict[str, str], float]]:
    if isinstance(value, int | float):  # bool included: 0 or 1
        yield path, labels, float(value)
    elif isinstance(value, Mapping):
        label = _LABEL_KEYS.get(path[-1]) if path else None
        reasons = path and path[-1] in ("dropped", "quarantined", "flushed_batches", "failures")
        for key, inner in value.items():
            if label is not None:
                yield from _samples(inner, path[:-1], {**labels, label: str(key)})
            elif reasons and isinstance(inner, int | float):
                yield path, {**labels, "reason": str(key)}, float(inner)
            else:
                yield from _samples(inner, [*path, str(key)], labels)


def prometheus_text(stats: Mapping[str, object], exchanges: frozenset[str]) -> str:
    """``stats`` (as ``Service.stats()`` gives them) as Prometheus exposition text."""
    families: dict[str, list[str]] = {}
    for key, value in stats.items():
        if key in exchanges:
            found = _samples(value, ["exchange"], {"exchange": key})
        else:
            found = _samples(value, [key], {})
        for path, labels, number in found:
            counter = path[-1] in _COUNTERS
            name = _name(path) + ("_total" if counter else "")
            text = ",".join(f'{k}="{_label(v)}"' for k, v in sorted(labels.items()))
            kind = "counter" if counter else "gauge"
            lines = families.setdefault(name, [f"# TYPE {name} {kind}"])
            lines.append(f"{name}{{{text}}} {number:g}" if text else f"{name} {number:g}")
    return "".join(line + "\n" for lines in families.values() for line in lines)
