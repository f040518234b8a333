// Signal plots: one uPlot per panel, cursors synchronised across panels, the x scale shared
// (zoom or pan in one moves all and asks for that window's M4 points), where= intervals drawn as
// bands and cursors A/B as lines through uPlot's draw hooks.
import { nsText, valueText } from "./format.js";
import { bandsPlugin, cursorsPlugin } from "./plot_plugins.js";

const AXIS_PX = 60;

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];
const SYNC_KEY = "sdvlog";

export function colorOf(index) { return COLORS[index % COLORS.length]; }

export class Plots {
  // host: the panels' container; view: { onWindow(fromMs, toMs), onPick(u, sig, tSec), onCursor(which, tSec),
  // intervals(), cursors(), info(sig) }
  constructor(host, view) {
    this.host = host;
    this.view = view;
    this.panels = [];
    this.series = {}; // signal -> { ts: [s], values: [] }
    this.active = 0;
    this.xRange = null; // [fromSec, toSec]
    }

  layout(panelSigs) {
    for (const p of this.panels) if (p.plot) p.plot.destroy();
    this.host.textContent = "";
    this.panels = panelSigs.map((sigs, i) => this.makePanel(sigs, i));
    this.active = Math.min(this.active, this.panels.length - 1);
    this.markActive();
  }

  makePanel(sigs, index) {
    const el = document.createElement("div");
    el.className = "panel";
    el.dataset.panel = index;
    const chips = document.createElement("div");
    chips.className = "chips";
    sigs.forEach((sig, k) => {
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.style.background = colorOf(k);
      const info = this.view.info(sig);
      chip.textContent = info && info.unit ? `${sig} [${info.unit}]` : sig;
      const x = document.createElement("b");
      x.textContent = "×";
      x.title = "remove";
      x.onclick = (e) => { e.stopPropagation(); this.view.onRemove(index, sig); };
      chip.append(x);
      chips.append(chip);
    });
    const body = document.createElement("div");
    el.append(chips, body);
    el.addEventListener("mousedown", () => { this.active = index; this.markActive(); });
    this.host.append(el);
    const panel = { el, body, sigs, plot: null };
    if (!sigs.length) {
      body.innerHTML = '<div class="empty">no signal: click one in the list to plot it here</div>';
      return panel;
    }
    if (typeof uPlot === "undefined") {
      body.innerHTML = '<div class="empty">the plotting library is not installed (see the notice above)</div>';
      return panel;
    }
    panel.plot = new uPlot(this.options(sigs, el), this.dataFor(sigs), body);
    this.attach(panel);
    return panel;
  }

  markActive() {
    this.panels.forEach((p, i) => p.el.classList.toggle("active", i === this.active));
  }

  width() { return Math.max(300, this.host.clientWidth - 12); }

  options(sigs) {
    const series = [{ value: (u, v) => (v === null || v === undefined ? "–" : nsText(v * 1e9)) }];
    const axes = [{}];
    const scales = { x: { time: true, range: (u, min, max) => (min === null || max === null ? this.emptyX() : [min, max]) } };
    sigs.forEach((sig, k) => {
      scales[sig] = { range: (u, min, max) => (min === null || max === null ? [0, 1] : uPlot.rangeNum(min, max, 0.1, true)) };
      const info = this.view.info(sig);
      const stepped = info && info.choices && Object.keys(info.choices).length > 0;
      series.push({
        label: sig, scale: sig, stroke: colorOf(k), width: 1.25, spanGaps: true,
        points: { show: false },
        paths: stepped ? uPlot.paths.stepped({ align: 1 }) : undefined,
        value: (u, v) => valueText(v, info),
      });
      if (k < 2) axes.push({ scale: sig, side: k === 0 ? 3 : 1, stroke: colorOf(k), size: AXIS_PX, grid: { show: k === 0 } });
    });
    // every panel keeps room for a right-hand axis, so that all panels' time axes line up
    if (sigs.length === 1) axes.push({ scale: sigs[0], side: 1, size: AXIS_PX, grid: { show: false }, ticks: { show: false }, values: (u, vals) => vals.map(() => "") });
    return {
      width: this.width(), height: 200,
      series, axes,
      scales,
      cursor: { sync: { key: SYNC_KEY }, drag: { x: true, y: false, setScale: false }, focus: { prox: 30 } },
      legend: { live: true },
      plugins: [bandsPlugin(() => this.view.intervals()), cursorsPlugin(() => this.view.cursors())],
      hooks: {
        // a drag selects a span: it becomes the window (the scale moves only through setWindow)
        setSelect: [(u) => this.selected(u)],
      },
    };
  }

  emptyX() { return this.xRange || [Date.now() / 1000 - 60, Date.now() / 1000]; }

  attach(panel) {
    const u = panel.plot;
    const over = u.over;
    over.addEventListener("wheel", (e) => {
      e.preventDefault();
      const { min, max } = u.scales.x;
      if (min === undefined || max === undefined) return;
      const span = max - min;
      if (e.shiftKey) {
        const shift = span * 0.2 * Math.sign(e.deltaY || e.deltaX);
        this.view.onWindow((min + shift) * 1000, (max + shift) * 1000);
        return;
      }
      const at = u.posToVal(e.offsetX, "x");
      const k = e.deltaY > 0 ? 1.25 : 0.8;
      this.view.onWindow((at - (at - min) * k) * 1000, (at + (max - at) * k) * 1000);
    }, { passive: false });
    let down = null;
    over.addEventListener("mousedown", (e) => { down = [e.clientX, e.clientY]; });
    over.addEventListener("mouseup", (e) => {
      if (!down || Math.abs(e.clientX - down[0]) > 3 || Math.abs(e.clientY - down[1]) > 3) return;
      const t = u.posToVal(u.cursor.left, "x");
      if (e.shiftKey) this.view.onCursor("a", t);
      else if (e.altKey) this.view.onCursor("b", t);
      else this.pick(panel, e);
    });
    over.tabIndex = 0;
    over.addEventListener("mouseenter", () => over.focus({ preventScroll: true }));
    over.addEventListener("keydown", (e) => {
      if (e.key !== "a" && e.key !== "b") return;
      const left = u.cursor.left;
      if (left === undefined || left < 0) return;
      this.view.onCursor(e.key, u.posToVal(left, "x"));
    });
  }

  pick(panel, e) {
    const u = panel.plot;
    const idx = u.cursor.idx;
    if (idx === null || idx === undefined) return;
    const top = e.offsetY;
    let best = null;
    panel.sigs.forEach((sig, k) => {
      const v = u.data[k + 1][idx];
      if (v === null || v === undefined) return;
      const d = Math.abs(u.valToPos(v, sig) - top);
      if (!best || d < best.d) best = { sig, d };
    });
    if (best) this.view.onPick(best.sig, u.data[0][idx]);
  }

  selected(u) {
    const { left, width } = u.select;
    if (width < 3) return;
    const from = u.posToVal(left, "x");
    const to = u.posToVal(left + width, "x");
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    this.view.onWindow(from * 1000, to * 1000);
  }

  dataFor(sigs) {
    const tables = sigs.map((s) => {
      const got = this.series[s] || { ts: [], values: [] };
      return [got.ts, got.values];
    });
    if (!tables.length) return [[]];
    const data = uPlot.join(tables);
    return data;
  }

  setSeries(series) { this.series = series; this.redrawData(); }

  redrawData() {
    for (const p of this.panels) {
      if (!p.plot) continue;
      p.plot.setData(this.dataFor(p.sigs));
      if (this.xRange) p.plot.setScale("x", { min: this.xRange[0], max: this.xRange[1] });
    }
  }

  setWindow(fromMs, toMs) {
    this.xRange = [fromMs / 1000, toMs / 1000];
    for (const p of this.panels) if (p.plot) p.plot.setScale("x", { min: this.xRange[0], max: this.xRange[1] });
  }

  redraw() { for (const p of this.panels) if (p.plot) p.plot.redraw(false, false); }

  resize() { for (const p of this.panels) if (p.plot) p.plot.setSize({ width: this.width(), height: 200 }); }

  // value of sig at or before t (seconds), from the data the page holds
  valueAt(sig, t) {
    const got = this.series[sig];
    if (!got || !got.ts.length) return null;
    let lo = 0, hi = got.ts.length - 1, at = -1;
    while (lo <= hi) { const mid = (lo + hi) >> 1; if (got.ts[mid] <= t) { at = mid; lo = mid + 1; } else hi = mid - 1; }
    return at < 0 ? null : got.values[at];
  }
}
