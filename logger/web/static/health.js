// The health panel: per exchange its ring, drops by reason, writer backlog and disk; per bus its
// frame rate, load and drops (gateway and kernel); the upload backlog when there is one.
import { escapeHtml } from "./format.js";

function meter(pct) {
  const p = Math.max(0, Math.min(100, pct));
  return `<span class="meter"><i style="width:${p}%"></i></span> ${pct.toFixed(1)} %`;
}

function bytes(n) {
  if (n === undefined || n === null) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function drops(map) {
  const items = Object.entries(map || {}).filter(([, n]) => n);
  return items.length ? items.map(([k, n]) => `${escapeHtml(k)}: ${n}`).join(", ") : "none";
}

export function renderHealth(el, health, exchanges) {
  const rows = [];
  const row = (k, v) => rows.push(`<tr><td>${k}</td><td>${v}</td></tr>`);
  for (const ex of exchanges) {
    const h = health[ex.name];
    if (!h) continue;
    row(`<b>${escapeHtml(ex.name)}</b>`, escapeHtml(ex.stream));
    const cap = h.ring_cap;
    row("ring fill", cap ? meter((100 * h.ring_size) / cap) + ` (${h.ring_size} of ${cap})` : `${h.ring_size} messages`);
    row("accepted", h.ring.accepted.toLocaleString());
    row("dropped", drops(h.ring.dropped));
    row("flush lag", `${(h.flush_lag_seconds ?? 0).toFixed(1)} s; ${h.backlog_batches} batches waiting, ${h.unwritten_batches} unwritten`);
    const disk = Object.values(ex.tables || {}).reduce((s, t) => s + t.bytes, 0);
    const keep = h.retention || {};
    const share = keep.max_bytes ? ` (${((100 * disk) / keep.max_bytes).toFixed(1)} % of ${bytes(keep.max_bytes)})` : "";
    row("disk use", `${bytes(disk)}${share} in ${h.writer.files} files written`);
    if (h.disk_free_bytes !== undefined && h.disk_free_bytes !== null) row("disk free", bytes(h.disk_free_bytes));
    row("retention", `${h.writer.retention_deleted} files deleted; keeps ${keep.max_files ?? "–"} files at most`);
    if (h.quarantined && h.quarantined.total) row("quarantined", drops(h.quarantined.by_reason));
  }
  const gw = health.gateway;
  if (gw) {
    row("<b>gateway</b>", gw.connected ? "connected" : "<span style='color:#dc2626'>not connected</span>");
    for (const [name, b] of Object.entries(gw.buses || {})) {
      row(`bus ${escapeHtml(name)}`, `${escapeHtml(b.state)}, ${b.fps.toFixed(0)} frames/s, load ${meter(b.load_pct)}`);
      row(`${escapeHtml(name)} drops`, `gateway ${b.dropped}, kernel ${b.kernel_dropped}, lost ${b.lost}`);
    }
  }
  const up = health.upload;
  if (up) row("<b>upload backlog</b>", escapeHtml(JSON.stringify(up.backlog ?? up)));
  el.innerHTML = `<table>${rows.join("")}</table>`;
}
