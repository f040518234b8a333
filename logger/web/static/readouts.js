// Readouts: cursors A and B (times, each plotted signal's value at both and the differences)
// and the raw frame a clicked point came from.
import { b64hex, escapeHtml, hexId, nsText, spanText, timeText, valueText } from "./format.js";

export function showCursors(el, state, plots) {
  const { a, b } = state;
  if (a === null && b === null) {
    el.innerHTML = '<span class="muted">cursors A / B: hover a plot and press a or b</span>';
    return;
  }
  const t = (v) => (v === null ? "–" : timeText(v * 1000));
  const sigs = [...new Set(state.panels.flat())];
  const num = (v) => (v === null || v === undefined ? "–" : String(Math.round(v * 1e4) / 1e4));
  const rows = sigs.map((sig) => {
    const va = a === null ? null : plots.valueAt(sig, a);
    const vb = b === null ? null : plots.valueAt(sig, b);
    const d = va !== null && vb !== null ? vb - va : null;
    return `<tr><th>${escapeHtml(sig)}</th><td>${num(va)}</td><td>${num(vb)}</td><td data-delta="${escapeHtml(sig)}">${num(d)}</td></tr>`;
  });
  const dt = a !== null && b !== null ? spanText((b - a) * 1000) : "–";
  el.innerHTML = `<table><tr><th></th><th>A ${t(a)}</th><th>B ${t(b)}</th><th id="delta-t">Δt ${dt}</th></tr>${rows.join("")}</table>`;
  window.sdvlog.cursors = { a, b, dt: a !== null && b !== null ? b - a : null };
}

export function showFrame(el, msg, frame, values) {
  const signals = msg.signals.filter((s) => s.name in values)
    .map((s) => `${escapeHtml(s.name)} = ${escapeHtml(valueText(values[s.name], s))}`).join("<br>");
  el.hidden = false;
  el.innerHTML = `<b>frame</b> ${escapeHtml(nsText(frame.ts))} bus ${escapeHtml(frame.bus)} id ${hexId(frame.id)} ` +
    `${escapeHtml(msg.name)} dlc ${frame.dlc} data ${b64hex(frame.data)}<br>${signals}`;
}
