// The dashboard's wiring: pickers, the time window, plots, trace, where= bands, cursors, health,
// live mode, export and the shared link. window.sdvlog holds the page's state and the data it
// received (what is plotted, the intervals, the live counters).
import { download, frameAt } from "./actions.js";
import { getJSON, takeToken } from "./api.js";
import { Catalog } from "./catalog.js";
import { MAX_MS, escapeHtml, hexId, spanText, timeText } from "./format.js";
import { renderHealth } from "./health.js";
import { Live } from "./live.js";
import { appendSamples, trimAndSort } from "./live_merge.js";
import { Plots } from "./plots.js";
import { showCursors, showFrame } from "./readouts.js";
import { fillSignalList } from "./signal_list.js";
import { readState, writeState } from "./state.js";
import { Trace } from "./trace.js";
import { Where } from "./where.js";

const PRESETS = { "1m": 60e3, "10m": 600e3, "1h": 3600e3, "1d": 86400e3, all: null };
const $ = (id) => document.getElementById(id);
takeToken();
const S = readState();
const page = window.sdvlog = Object.assign(window.sdvlog || {}, {
  state: S, series: {}, intervals: [], seriesLoads: 0, errors: [], ready: false,
  live: { events: 0, rows: 0, samples: 0, lastRowTs: null },
});
const catalog = new Catalog();
let win = [0, 0], seriesAbort = null, reloadTimer = null, healthAt = 0;

function notice(text, error = true) {
  const el = $("notice");
  el.hidden = !text;
  el.className = error ? "banner error" : "banner";
  el.textContent = text || "";
  if (text && error) page.errors.push(text);
}

function command(fromMs, toMs, extra = []) {
  const sel = [];
  const ex = catalog.exchange(S.ex);
  if (S.topic && ex && S.topic !== ex.topic) sel.push(`topic=${S.topic}`);
  if (S.bus) sel.push(`bus=${S.bus}`);
  const end = typeof toMs === "string" ? toMs : Math.ceil(toMs);
  return { command: [`exchange=${S.ex}`, `sync-${Math.max(0, Math.floor(fromMs))}-${end}`, ...sel, ...extra].join(";") };
}

function traceSelectors() {
  const ids = S.tid ? S.tid.split(",").map((s) => s.trim()).filter(Boolean) : [];
  const msg = catalog.messages.find((m) => m.name === S.tmsg);
  if (msg) ids.push(hexId(msg.id));
  return ids.length ? [`id=${ids.join(",")}`] : [];
}

function resolveWindow() {
  const [first, last] = catalog.bounds(S.ex, page.live.lastRowTs);
  if (S.preset) win = [PRESETS[S.preset] ? last - PRESETS[S.preset] : first, last];
  else win = [S.from ?? first, S.to ?? last];
  if (win[1] <= win[0]) win[1] = win[0] + 1;
  showWindow();
  for (const b of $("presets").children) b.classList.toggle("active", b.dataset.preset === S.preset);
}

function showWindow(suffix = "") {
  page.window = { from: win[0], to: win[1] };
  $("window-text").textContent = `${timeText(win[0])} + ${spanText(win[1] - win[0])}${suffix}`;
}

const plots = new Plots($("panels"), {
  info: (sig) => catalog.bySignal.get(sig),
  intervals: () => where.bands(),
  cursors: () => [["A", S.a, "#0f766e"], ["B", S.b, "#be185d"]],
  onWindow: (fromMs, toMs) => setWindow(fromMs, toMs),
  onRemove: (panel, sig) => {
    S.panels[panel] = S.panels[panel].filter((s) => s !== sig);
    if (!S.panels[panel].length && S.panels.length > 1) S.panels.splice(panel, 1);
    relayout();
  },
  onCursor: (which, t) => { S[which] = t; writeState(S); plots.redraw(); showCursors($("cursors"), S, plots); },
  onPick: (sig, t) => pick(sig, t).catch((err) => notice(`frame: ${err.message}`)),
});
const trace = new Trace($("trace-scroll"), $("trace-spacer"), $("trace-count"), {
  command: (fromMs, toMs, extra) => command(fromMs, toMs, [...traceSelectors(), ...extra]),
  messageOf: (id) => catalog.byId.get(id),
  onError: (err) => notice(`trace: ${err.message}`),
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
  reloadTimer = setTimeout(() => reload(), 150);
}

async function loadSeries() {
  const sigs = [...new Set(S.panels.flat())];
  if (seriesAbort) seriesAbort.abort();
  seriesAbort = new AbortController();
  plots.xRange = [win[0] / 1000, win[1] / 1000];
  if (!sigs.length) { plots.setSeries({}); return; }
  const points = Math.min(8000, Math.max(400, plots.width() * 4));
  const params = { sig: sigs.join(","), start: Math.max(0, Math.floor(win[0])), end: Math.ceil(win[1]), points, exchange: S.ex };
  const ex = catalog.exchange(S.ex);
  if (S.topic && ex && S.topic !== ex.topic) params.topic = S.topic;
  if (S.bus) params.bus = S.bus;
  const got = await getJSON("/api/series", params, seriesAbort.signal);
  page.series = got.signals;
  page.seriesRequest = params;
  const inSeconds = {};
  for (const [sig, s] of Object.entries(got.signals)) inSeconds[sig] = { ts: s.ts.map((t) => t / 1e9), values: s.values };
  plots.setSeries(inSeconds);
  const cut = Object.entries(got.signals).filter(([, s]) => s.truncated).map(([sig]) => sig);
  if (cut.length) notice(`${cut.join(", ")}: the window holds more samples than the service reads for a plot (http.max_rows); only its start is drawn. Zoom in to see the rest.`, false);
  page.seriesLoads++;
  if (!page.firstPlot) {
    requestAnimationFrame(() => { performance.mark("sdvlog-first-plot"); page.firstPlot = performance.now(); });
  }
}

async function loadWhere() {
  $("where").value = S.where;
  let rows = [];
  if (S.where) {
    try {
      const params = { ...command(win[0], win[1], [`where=${S.where}`, "out=intervals"]), format: "json" };
      rows = (await getJSON("/api/query", params)).rows;
    } catch (err) {
      if (err.status !== 404) notice(`where=: ${err.message}`);
    }
  }
  where.set(rows, S.where);
  page.intervals = rows;
  plots.redraw();
}

async function loadHealth() {
  page.health = await getJSON("/api/health");
  renderHealth($("health"), page.health, catalog.exchanges);
}

async function reload() {
  try {
    await loadSeries(); // the plots first: they are what the page is opened for
    await Promise.all([loadWhere(), S.live ? null : trace.load(win[0], win[1])]);
    notice("");
  } catch (err) {
    if (err.name !== "AbortError") notice(err.message);
  }
}

function signalList() {
  fillSignalList($("signal-list"), catalog.messages, S, plots.active, { toggle: toggleSignal, where: addWhere }, $("signal-filter").value);
}

function relayout() {
  writeState(S);
  plots.layout(S.panels);
  signalList();
  if (S.live) live.restart();
  reload();
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
  const msg = catalog.messageOfSignal(sig);
  const found = msg ? await frameAt(command, msg, tSec) : null;
  if (!found) return;
  page.picked = { sig, ...found };
  showFrame($("frame"), msg, found.frame, found.values);
  trace.scrollToTime(found.frame.ts);
}

function liveData(data) {
  page.live.events++;
  page.live.rows += data.rows.length;
  for (const r of data.rows) page.live.lastRowTs = Math.max(page.live.lastRowTs || 0, r.ts);
  for (const s of Object.values(data.signals)) page.live.lastRowTs = Math.max(page.live.lastRowTs || 0, ...s.ts);
  trace.append(data.rows);
  page.live.samples += appendSamples(plots.series, data.signals);
  if (!live.frame) live.frame = requestAnimationFrame(() => { live.frame = null; follow(); });
}

function follow() {
  const span = win[1] - win[0];
  const to = Math.max(win[1], (page.live.lastRowTs || 0) / 1e6);
  win = [to - span, to];
  trimAndSort(plots.series, (win[0] - span) / 1000);
  plots.xRange = [win[0] / 1000, win[1] / 1000];
  plots.redrawData();
  showWindow(" (live)");
  if (Date.now() - healthAt > 2000) { // with the pushes, not on a timer
    healthAt = Date.now();
    loadHealth().catch(() => {});
    if (S.where) loadWhere();
  }
}

function setLive(on) {
  S.live = on;
  $("live").checked = on;
  writeState(S);
  if (on) { trace.clear(); trace.render(); live.start(); } else { live.stop(); reload(); }
}

function fillPickers() {
  const opt = (v, t = v) => `<option value="${escapeHtml(v)}">${escapeHtml(t)}</option>`;
  $("exchange").innerHTML = catalog.exchanges.map((e) => opt(e.name, `${e.name} (${e.stream})`)).join("");
  $("exchange").value = S.ex;
  const ex = catalog.exchange(S.ex);
  const topics = ex ? [ex.topic, ...(ex.topics || []).filter((t) => t !== ex.topic)] : [];
  if (S.topic && !topics.includes(S.topic)) topics.push(S.topic);
  $("topic").innerHTML = topics.map((t) => opt(t)).join("");
  $("topic").value = S.topic || topics[0] || "";
  const buses = Object.keys((page.health && page.health.gateway && page.health.gateway.buses) || {});
  if (S.bus && !buses.includes(S.bus)) buses.push(S.bus);
  $("bus").innerHTML = opt("", "all") + buses.map((b) => opt(b)).join("");
  $("bus").value = S.bus;
  $("trace-msg").innerHTML = opt("", "all") + catalog.messages.map((m) => opt(m.name, `${m.name} (${hexId(m.id)})`)).join("");
  $("trace-msg").value = S.tmsg;
  $("trace-id").value = S.tid;
}

function wire() {
  $("exchange").onchange = (e) => {
    S.ex = e.target.value; S.topic = ""; S.panels = [[]];
    catalog.loadSignals(S.ex).then(() => { S.panels = [catalog.defaultSignals()]; fillPickers(); resolveWindow(); relayout(); });
  };
  $("topic").onchange = (e) => { S.topic = e.target.value; writeState(S); reload(); };
  $("bus").onchange = (e) => { S.bus = e.target.value; writeState(S); reload(); };
  for (const b of $("presets").children) {
    b.onclick = () => { S.preset = b.dataset.preset; resolveWindow(); writeState(S); plots.setWindow(win[0], win[1]); reload(); };
  }
  const zoom = (k, shift = 0) => {
    const span = win[1] - win[0];
    const mid = (win[0] + win[1]) / 2 + shift * span;
    setWindow(mid - (span * k) / 2, mid + (span * k) / 2);
  };
  $("zoom-in").onclick = () => zoom(0.5);
  $("zoom-out").onclick = () => zoom(2);
  $("pan-left").onclick = () => zoom(1, -0.5);
  $("pan-right").onclick = () => zoom(1, 0.5);
  $("live").onchange = (e) => setLive(e.target.checked);
  $("export").onclick = () => {
    const fmt = $("export-format").value;
    download({ ...command(win[0], win[1], traceSelectors()), format: fmt }, `sdvlog-${Math.floor(win[0])}-${Math.ceil(win[1])}.${fmt}`)
      .catch((err) => notice(`export: ${err.message}`));
  };
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
  $("signal-filter").oninput = signalList;
  const traceFilter = () => {
    S.tid = $("trace-id").value.trim();
    S.tmsg = $("trace-msg").value;
    writeState(S);
    if (S.live) { trace.clear(); live.restart(); } else trace.load(win[0], win[1]).catch((err) => notice(err.message));
  };
  $("trace-id").onchange = traceFilter;
  $("trace-msg").onchange = traceFilter;
  window.addEventListener("resize", () => plots.resize());
}

async function init() {
  try {
    [page.health] = await Promise.all([getJSON("/api/health"), catalog.load(S)]);
    if (!catalog.exchanges.length) { notice("the service has no exchange"); return; }
    if (!S.panels.flat().length) S.panels = [catalog.defaultSignals()];
    fillPickers();
    wire();
    resolveWindow();
    writeState(S);
    plots.layout(S.panels);
    signalList();
    renderHealth($("health"), page.health, catalog.exchanges);
    showCursors($("cursors"), S, plots);
    await reload();
    if (S.live) setLive(true);
    page.ready = true;
  } catch (err) {
    notice(err.message);
  }
}

init();
