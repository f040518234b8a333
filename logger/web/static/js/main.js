// The dashboard's wiring: pickers, the time window, plots, trace, where= bands, cursors, health,
// live mode, export and the shared link. window.sdvlog holds the page's state and the data it
// received (what is plotted, the intervals, the live counters).
import { getJSON, getBlob, takeToken } from "./api.js";
import { MAX_MS, hexId, spanText, timeText } from "./format.js";
import { renderHealth } from "./health.js";
import { Live } from "./live.js";
import { Plots } from "./plots.js";
import { readState, writeState } from "./state.js";
import { Trace } from "./trace.js";
import { Where } from "./where.js";
import { showCursors, showFrame } from "./readouts.js";
import { fillSignalList } from "./signal_list.js";

const PRESETS = { "1m": 60e3, "10m": 600e3, "1h": 3600e3, "1d": 86400e3, all: null };
const $ = (id) => document.getElementById(id);
takeToken();
const S = readState();
const page = window.sdvlog = Object.assign(window.sdvlog || {}, {
  state: S, series: {}, intervals: [], seriesLoads: 0, errors: [], ready: false,
  live: { events: 0, rows: 0, samples: 0, lastRowTs: null },
});
let exchanges = [], messages = [], health = {}, win = [0, 0], byId = new Map(), bySignal = new Map();
let seriesAbort = null, reloadTimer = null;

function notice(text, error = true) {
  const el = $("notice");
  el.hidden = !text;
  el.className = error ? "banner error" : "banner";
  el.textContent = text || "";
  if (text && error) page.errors.push(text);
}

function exchange() { return exchanges.find((e) => e.name === S.ex) || exchanges[0]; }

function selectors() {
  const sel = [];
  const ex = exchange();
  if (S.topic && ex && S.topic !== ex.topic) sel.push(`topic=${S.topic}`);
  if (S.bus) sel.push(`bus=${S.bus}`);
  return sel;
}

export function command(fromMs, toMs, extra = []) {
  const head = `sync-${Math.max(0, Math.floor(fromMs))}-${typeof toMs === "string" ? toMs : Math.ceil(toMs)}`;
  return { command: [`exchange=${S.ex}`, head, ...selectors(), ...extra].join(";") };
}

function traceSelectors() {
  const ids = S.tid ? S.tid.split(",").map((s) => s.trim()).filter(Boolean) : [];
  const msg = messages.find((m) => m.name === S.tmsg);
  if (msg) ids.push(hexId(msg.id));
  return ids.length ? [`id=${ids.join(",")}`] : [];
}

function bounds() {
  const ex = exchange();
  let first = Infinity, last = -Infinity;
  for (const t of Object.values(ex ? ex.tables : {})) {
    if (t.first_ns !== null) first = Math.min(first, t.first_ns / 1e6);
    if (t.last_ns !== null) last = Math.max(last, t.last_ns / 1e6);
  }
  if ((ex && ex.in_memory > 0) || !Number.isFinite(last)) last = Math.max(last, Date.now());
  if (page.live.lastRowTs) last = Math.max(last, page.live.lastRowTs / 1e6);
  if (!Number.isFinite(first)) first = last - 60e3;
  return [first, last];
}

function resolveWindow() {
  if (S.preset) {
    const [first, last] = bounds();
    const span = PRESETS[S.preset];
    win = [span ? last - span : first, last];
  } else win = [S.from ?? bounds()[0], S.to ?? bounds()[1]];
  if (win[1] <= win[0]) win[1] = win[0] + 1;
  page.window = { from: win[0], to: win[1] };
  $("window-text").textContent = `${timeText(win[0])} + ${spanText(win[1] - win[0])}`;
  for (const b of $("presets").children) b.classList.toggle("active", b.dataset.preset === S.preset);
}

function info(sig) { return bySignal.get(sig); }

const plots = new Plots($("panels"), {
  info,
  intervals: () => where.bands(),
  cursors: () => [["A", S.a, "#0f766e"], ["B", S.b, "#be185d"]],
  onWindow: (fromMs, toMs) => setWindow(fromMs, toMs),
  onRemove: (panel, sig) => { S.panels[panel] = S.panels[panel].filter((s) => s !== sig); if (!S.panels[panel].length && S.panels.length > 1) S.panels.splice(panel, 1); relayout(); },
  onCursor: (which, t) => { S[which] = t; writeState(S); plots.redraw(); showCursors($("cursors"), S, plots); },
  onPick: (sig, t) => pick(sig, t),
});
const trace = new Trace($("trace-scroll"), $("trace-spacer"), $("trace-count"), {
  command: (fromMs, toMs, extra) => command(fromMs, toMs, [...traceSelectors(), ...extra]),
  messageOf: (id) => byId.get(id),
});
const where = new Where($("where-list"), $("where-summary"), {
  jump: (startNs, endNs) => {
    const pad = Math.max((endNs - startNs) / 1e6, 1000);
    setWindow(startNs / 1e6 - pad, endNs / 1e6 + pad);
  },
});
const live = new Live({
  params: () => ({ ...command(Date.now() - 1000, MAX_MS, traceSelectors()), sig: [...new Set(S.panels.flat())].join(",") }),
  onData: (data) => liveData(data),
  onError: (err) => { notice(`live: ${err.message}`); setLive(false); },
});

function setWindow(fromMs, toMs) {
  S.preset = "";
  S.from = Math.floor(fromMs);
  S.to = Math.ceil(toMs);
  resolveWindow();
  writeState(S);
  plots.setWindow(win[0], win[1]);
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => reload(false), 150);
}

async function loadSeries() {
  const sigs = [...new Set(S.panels.flat())];
  if (seriesAbort) seriesAbort.abort();
  seriesAbort = new AbortController();
  const [from, to] = win;
  plots.xRange = [from / 1000, to / 1000];
  if (!sigs.length) { plots.setSeries({}); return; }
  const points = Math.min(8000, Math.max(400, plots.width() * 4));
  const params = { sig: sigs.join(","), start: Math.max(0, Math.floor(from)), end: Math.ceil(to), points, exchange: S.ex };
  const got = await getJSON("/api/series", params, seriesAbort.signal);
  page.series = got.signals;
  page.seriesRequest = params;
  const inSeconds = {};
  for (const [sig, s] of Object.entries(got.signals)) inSeconds[sig] = { ts: s.ts.map((t) => t / 1e9), values: s.values };
  plots.setSeries(inSeconds);
  page.seriesLoads++;
  if (!page.firstPlot) {
    requestAnimationFrame(() => { performance.mark("sdvlog-first-plot"); page.firstPlot = performance.now(); });
  }
}

async function loadWhere() {
  $("where").value = S.where;
  if (!S.where) { where.set([], ""); page.intervals = []; plots.redraw(); return; }
  try {
    const got = await getJSON("/api/query", { ...command(win[0], win[1], [`where=${S.where}`, "out=intervals"]), format: "json" });
    where.set(got.rows, S.where);
    page.intervals = got.rows;
  } catch (err) {
    where.set([], "");
    page.intervals = [];
    if (err.status !== 404) notice(`where=: ${err.message}`);
  }
  plots.redraw();
}

async function loadHealth() {
  health = await getJSON("/api/health");
  page.health = health;
  renderHealth($("health"), health, exchanges, {});
}

async function reload(withTrace = true) {
  try {
    await Promise.all([loadSeries(), loadWhere(), withTrace || !S.live ? trace.load(win[0], win[1]) : null]);
    notice("");
  } catch (err) {
    if (err.name !== "AbortError") notice(err.message);
  }
}

function relayout() {
  writeState(S);
  plots.layout(S.panels);
  fillSignalList($("signal-list"), messages, S, plots.active, { toggle: toggleSignal, where: addWhere });
  if (S.live) live.restart();
  reload(false);
}

function toggleSignal(sig) {
  const panel = S.panels[plots.active] || (S.panels[0] = []);
  const at = panel.indexOf(sig);
  if (at >= 0) panel.splice(at, 1); else panel.push(sig);
  relayout();
}

function addWhere(sig) {
  const box = $("where");
  box.value = box.value ? `${box.value},${sig}>` : `${sig}>`;
  box.focus();
}

async function pick(sig, tSec) {
  const msg = messages.find((m) => m.signals.some((s) => s.name === sig || `${m.name}.${s.name}` === sig));
  if (!msg) return;
  const ms = Math.floor(tSec * 1000);
  const [frames, decoded] = await Promise.all([
    getJSON("/api/query", { ...command(ms - 5, ms + 5, [`id=${hexId(msg.id)}`]), format: "json" }),
    getJSON("/api/query", { ...command(ms - 5, ms + 5, [`msg=${msg.name}`]), format: "json" }).catch(() => ({ rows: [] })),
  ]);
  const near = (rows) => rows.reduce((best, r) => (!best || Math.abs(r.ts / 1e9 - tSec) < Math.abs(best.ts / 1e9 - tSec) ? r : best), null);
  const frame = near(frames.rows);
  if (!frame) return;
  const values = decoded.rows.find((r) => r.ts === frame.ts && r.bus === frame.bus) || {};
  page.picked = { sig, frame, values };
  showFrame($("frame"), msg, frame, values);
  trace.scrollToTime(frame.ts);
}

function liveData(data) {
  page.live.events++;
  page.live.rows += data.rows.length;
  for (const r of data.rows) if (r.ts > (page.live.lastRowTs || 0)) page.live.lastRowTs = r.ts;
  trace.append(data.rows);
  for (const [sig, s] of Object.entries(data.signals)) {
    page.live.samples += s.ts.length;
    const mine = plots.series[sig] || (plots.series[sig] = { ts: [], values: [] });
    s.ts.forEach((t, i) => { mine.ts.push(t / 1e9); mine.values.push(s.values[i]); });
    const last = s.ts[s.ts.length - 1];
    if (last > (page.live.lastRowTs || 0)) page.live.lastRowTs = last;
  }
  if (!live.frame) live.frame = requestAnimationFrame(() => { live.frame = null; follow(); });
}

function follow() {
  const span = win[1] - win[0];
  const to = Math.max(win[1], (page.live.lastRowTs || 0) / 1e6);
  win = [to - span, to];
  page.window = { from: win[0], to: win[1] };
  for (const s of Object.values(plots.series)) {
    let cut = 0;
    while (cut < s.ts.length && s.ts[cut] < (win[0] - span) / 1000) cut++;
    if (cut) { s.ts.splice(0, cut); s.values.splice(0, cut); }
    const order = s.ts.map((t, i) => [t, s.values[i]]);
    if (order.some((p, i) => i && p[0] < order[i - 1][0])) {
      order.sort((a, b) => a[0] - b[0]);
      s.ts = order.map((p) => p[0]); s.values = order.map((p) => p[1]);
    }
  }
  plots.xRange = [win[0] / 1000, win[1] / 1000];
  plots.redrawData();
  $("window-text").textContent = `${timeText(win[0])} + ${spanText(span)} (live)`;
  if (!live.healthAt || Date.now() - live.healthAt > 2000) { live.healthAt = Date.now(); loadHealth().catch(() => {}); }
}

function setLive(on) {
  S.live = on;
  $("live").checked = on;
  writeState(S);
  if (on) { trace.clear(); trace.render(); live.start(); } else { live.stop(); reload(); }
}

async function exportWindow() {
  const fmt = $("export-format").value;
  const blob = await getBlob("/api/export", { ...command(win[0], win[1], traceSelectors()), format: fmt });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `sdvlog-${Math.floor(win[0])}-${Math.ceil(win[1])}.${fmt}`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

function fillPickers() {
  const opt = (v, t = v) => `<option value="${v}">${t}</option>`;
  $("exchange").innerHTML = exchanges.map((e) => opt(e.name, `${e.name} (${e.stream})`)).join("");
  $("exchange").value = S.ex;
  const ex = exchange();
  $("topic").innerHTML = ex ? opt(ex.topic) : "";
  if (S.topic && ex && S.topic !== ex.topic) $("topic").innerHTML += opt(S.topic);
  $("topic").value = S.topic || (ex ? ex.topic : "");
  const buses = Object.keys((health.gateway && health.gateway.buses) || {});
  if (S.bus && !buses.includes(S.bus)) buses.push(S.bus);
  $("bus").innerHTML = opt("", "all") + buses.map((b) => opt(b)).join("");
  $("bus").value = S.bus;
  $("trace-msg").innerHTML = opt("", "all") + messages.map((m) => opt(m.name, `${m.name} (${hexId(m.id)})`)).join("");
  $("trace-msg").value = S.tmsg;
  $("trace-id").value = S.tid;
}

function defaultPanels() {
  if (S.panels.flat().length || !messages.length) return;
  const all = messages.flatMap((m) => m.signals.map((s) => s.name));
  const speeds = all.filter((s) => /speed/i.test(s)).slice(0, 2);
  S.panels = [speeds.length ? speeds : all.slice(0, 2)];
}

function wire() {
  $("exchange").onchange = (e) => { S.ex = e.target.value; S.topic = ""; loadCatalog().then(relayout); };
  $("topic").onchange = (e) => { S.topic = e.target.value; writeState(S); reload(); };
  $("bus").onchange = (e) => { S.bus = e.target.value; writeState(S); reload(); };
  for (const b of $("presets").children) b.onclick = () => { S.preset = b.dataset.preset; resolveWindow(); writeState(S); plots.setWindow(win[0], win[1]); reload(); };
  const zoom = (k, shift = 0) => { const span = win[1] - win[0]; const mid = (win[0] + win[1]) / 2 + shift * span; setWindow(mid - (span * k) / 2, mid + (span * k) / 2); };
  $("zoom-in").onclick = () => zoom(0.5);
  $("zoom-out").onclick = () => zoom(2);
  $("pan-left").onclick = () => zoom(1, -0.5);
  $("pan-right").onclick = () => zoom(1, 0.5);
  $("live").onchange = (e) => setLive(e.target.checked);
  $("export").onclick = () => exportWindow().catch((err) => notice(`export: ${err.message}`));
  $("share").onclick = () => {
    page.shareUrl = writeState(S);
    navigator.clipboard?.writeText(page.shareUrl).catch(() => {});
    notice(`link to this view (copied): ${page.shareUrl}`, false);
  };
  $("add-panel").onclick = () => { S.panels.push([]); plots.active = S.panels.length - 1; relayout(); };
  $("where-form").onsubmit = (e) => { e.preventDefault(); S.where = $("where").value.trim(); writeState(S); loadWhere(); };
  $("where-next").onclick = () => where.next();
  $("where-prev").onclick = () => where.prev();
  $("where-clear").onclick = () => { S.where = ""; writeState(S); loadWhere(); };
  $("health-refresh").onclick = () => loadHealth().catch((err) => notice(err.message));
  $("signal-filter").oninput = () => fillSignalList($("signal-list"), messages, S, plots.active, { toggle: toggleSignal, where: addWhere }, $("signal-filter").value);
  const traceFilter = () => { S.tid = $("trace-id").value.trim(); S.tmsg = $("trace-msg").value; writeState(S); if (S.live) { trace.clear(); live.restart(); } else trace.load(win[0], win[1]).catch((err) => notice(err.message)); };
  $("trace-id").onchange = traceFilter;
  $("trace-msg").onchange = traceFilter;
  window.addEventListener("resize", () => plots.resize());
}

async function loadCatalog() {
  const signals = await getJSON("/api/signals");
  messages = signals[S.ex] || [];
  byId = new Map(messages.map((m) => [m.id, m]));
  bySignal = new Map(messages.flatMap((m) => m.signals.map((s) => [s.name, s])));
  page.messages = messages;
}

async function init() {
  try {
    [exchanges, health] = await Promise.all([getJSON("/api/exchanges"), getJSON("/api/health")]);
    if (!exchanges.length) { notice("the service has no exchange"); return; }
    if (!S.ex || !exchanges.some((e) => e.name === S.ex)) S.ex = (exchanges.find((e) => e.stream === "canp") || exchanges[0]).name;
    await loadCatalog();
    defaultPanels();
    fillPickers();
    wire();
    resolveWindow();
    writeState(S);
    plots.layout(S.panels);
    fillSignalList($("signal-list"), messages, S, plots.active, { toggle: toggleSignal, where: addWhere });
    renderHealth($("health"), health, exchanges, {});
    showCursors($("cursors"), S, plots);
    await reload();
    if (S.live) setLive(true);
    page.ready = true;
  } catch (err) {
    notice(err.message);
  }
}

init();
