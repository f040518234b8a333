// Formatting of times, ids, payloads and values for the page.
export const NS_PER_MS = 1e6;
export const MAX_MS = "9223372036854";

export function timeText(ms) {
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
}

export function nsText(ns) {
  const ms = Math.floor(ns / NS_PER_MS);
  const us = Math.floor((ns - ms * NS_PER_MS) / 1000);
  return `${timeText(ms)}${String(Math.max(0, us)).padStart(3, "0")}`;
}

export function spanText(ms) {
  const s = Math.abs(ms) / 1000;
  if (s < 1) return `${(ms).toFixed(3)} ms`;
  if (s < 120) return `${(ms / 1000).toFixed(3)} s`;
  if (s < 7200) return `${(ms / 60000).toFixed(2)} min`;
  return `${(ms / 3600000).toFixed(2)} h`;
}

export function hexId(id) {
  return "0x" + id.toString(16).toUpperCase().padStart(3, "0");
}

export function b64hex(b64) {
  const raw = atob(b64 || "");
  let out = "";
  for (let i = 0; i < raw.length; i++) out += (i ? " " : "") + raw.charCodeAt(i).toString(16).padStart(2, "0").toUpperCase();
  return out;
}

export function valueText(value, info) {
  if (value === null || value === undefined) return "–";
  const label = info && info.choices ? info.choices[String(Number(value))] : undefined;
  if (label !== undefined) return `${label} (${Number(value)})`;
  const text = typeof value === "number" ? String(Math.round(value * 1e6) / 1e6) : String(value);
  return info && info.unit ? `${text} ${info.unit}` : text;
}

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
