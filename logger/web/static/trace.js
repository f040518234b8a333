// The frame trace: rows held as columns, only the visible ones in the DOM (so a million rows
// scroll), loaded a page at a time as the view scrolls to the end; decoded signals of the
// visible rows come from the channel's msg= query for their time span.
import { getJSON } from "./api.js";
import { NS_PER_MS, b64hex, escapeHtml, hexId, nsText, valueText } from "./format.js";

const ROW_H = 20;
const PAGE = 5000;
const KEEP_LIVE = 200000;

export class Trace {
  // view: { command(fromMs, toMs, selectors) -> params, messageOf(id), onError(err) }
  constructor(scroll, spacer, countEl, view) {
    this.scroll = scroll;
    this.spacer = spacer;
    this.countEl = countEl;
    this.view = view;
    this.rows = { ts: [], bus: [], id: [], dlc: [], data: [] };
    this.decoded = new Map(); // "msg:fromMs:toMs" -> Map(ts|bus -> row)
    this.more = false;
    this.loading = false;
    this.generation = 0;
    this.hit = null;
    scroll.addEventListener("scroll", () => this.render());
  }

  get length() { return this.rows.ts.length; }

  clear() {
    this.rows = { ts: [], bus: [], id: [], dlc: [], data: [] };
    this.decoded.clear();
    this.more = false;
    this.generation++;
  }

  async load(fromMs, toMs) {
    this.clear();
    this.window = [fromMs, toMs];
    await this.page(fromMs, this.generation);
  }

  async page(fromMs, generation) {
    this.loading = true;
    try {
      const [, toMs] = this.window;
      const params = this.view.command(fromMs, toMs, [`limit=${PAGE}`]);
      const got = await getJSON("/api/query", { ...params, format: "json" });
      if (generation !== this.generation) return;
      const lastTs = this.length ? this.rows.ts[this.length - 1] : -Infinity;
      for (const r of got.rows) if (r.ts > lastTs || (r.ts === lastTs && !this.hasRow(r))) this.push(r);
      this.more = got.rows.length >= PAGE;
    } catch (err) {
      if (err.status === 404) this.more = false; else throw err;
    } finally {
      this.loading = false;
      this.render();
    }
  }

  hasRow(r) {
    for (let i = this.length - 1; i >= 0 && this.rows.ts[i] === r.ts; i--) {
      if (this.rows.id[i] === r.id && this.rows.bus[i] === r.bus && this.rows.data[i] === r.data) return true;
    }
    return false;
  }

  push(r) {
    this.rows.ts.push(r.ts); this.rows.bus.push(r.bus); this.rows.id.push(r.id);
    this.rows.dlc.push(r.dlc); this.rows.data.push(r.data);
  }

  append(rows) {
    const atEnd = this.scroll.scrollTop + this.scroll.clientHeight >= this.scroll.scrollHeight - ROW_H * 2;
    for (const r of rows) if ("id" in r) this.push(r);
    const extra = this.length - KEEP_LIVE;
    if (extra > 0) for (const k of Object.keys(this.rows)) this.rows[k].splice(0, extra);
    this.render();
    if (atEnd) this.scroll.scrollTop = this.scroll.scrollHeight;
  }

  scrollToTime(ns) {
    const ts = this.rows.ts;
    let lo = 0, hi = ts.length - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (ts[mid] < ns) lo = mid + 1; else hi = mid; }
    this.hit = lo;
    this.scroll.scrollTop = Math.max(0, lo * ROW_H - this.scroll.clientHeight / 2);
    this.render();
  }

  render() {
    const n = this.length;
    this.spacer.style.height = `${n * ROW_H}px`;
    this.countEl.textContent = `${n.toLocaleString()} frames${this.more ? " (more as you scroll)" : ""}`;
    const first = Math.max(0, Math.floor(this.scroll.scrollTop / ROW_H) - 5);
    const last = Math.min(n, Math.ceil((this.scroll.scrollTop + this.scroll.clientHeight) / ROW_H) + 5);
    const html = [];
    for (let i = first; i < last; i++) html.push(this.rowHtml(i));
    this.spacer.innerHTML = html.join("");
    if (this.more && !this.loading && last >= n - 20 && n) {
      this.page(Math.floor(this.rows.ts[n - 1] / NS_PER_MS), this.generation).catch((err) => this.view.onError(err));
    }
    this.visible = [first, last];
    if (!this.decodeTimer) {
      this.decodeTimer = setTimeout(() => { this.decodeTimer = null; this.decode(...this.visible); }, 120);
    }
  }

  rowHtml(i) {
    const { ts, bus, id, dlc, data } = this.rows;
    const msg = this.view.messageOf(id[i]);
    const signals = msg ? this.signalText(msg, ts[i], bus[i]) : "";
    return `<div class="row${i === this.hit ? " hit" : ""}" style="top:${i * ROW_H}px" data-i="${i}">` +
      `<span>${nsText(ts[i])}</span><span>${escapeHtml(bus[i])}</span><span>${hexId(id[i])}</span>` +
      `<span>${msg ? escapeHtml(msg.name) : ""}</span><span>${dlc[i]}</span><span>${b64hex(data[i])}</span>` +
      `<span title="${escapeHtml(signals)}">${escapeHtml(signals)}</span></div>`;
  }

  signalText(msg, ts, bus) {
    for (const [key, rows] of this.decoded) {
      if (!key.startsWith(msg.name + ":")) continue;
      const row = rows.get(`${ts}|${bus}`);
      if (!row) continue;
      return msg.signals.filter((s) => s.name in row).map((s) => `${s.name}=${valueText(row[s.name], s)}`).join("  ");
    }
    return "";
  }

  // decoded values of the rows first..last: one msg= query per message over its rows' span
  async decode(first, last) {
    const spans = new Map();
    for (let i = first; i < last; i++) {
      const msg = this.view.messageOf(this.rows.id[i]);
      if (!msg) continue;
      const ms = Math.floor(this.rows.ts[i] / NS_PER_MS);
      const span = spans.get(msg.name) || [ms, ms];
      spans.set(msg.name, [Math.min(span[0], ms), Math.max(span[1], ms)]);
    }
    const generation = this.generation;
    let added = false;
    for (const [name, [a, b]] of spans) {
      const covered = [...this.decoded.keys()].some((k) => {
        const [m, x, y] = k.split(":");
        return m === name && Number(x) <= a && Number(y) >= b;
      });
      if (covered) continue;
      const params = this.view.command(a, b, [`msg=${name}`, "limit=2000"]);
      try {
        const got = await getJSON("/api/query", { ...params, format: "json" });
        if (generation !== this.generation) return;
        const rows = new Map(got.rows.map((r) => [`${r.ts}|${r.bus}`, r]));
        this.decoded.set(`${name}:${a}:${b}`, rows);
        added = true;
      } catch { /* a message without a signal table: no decoded values */ }
    }
    if (this.decoded.size > 200) this.decoded.clear();
    if (added) {
      const html = [];
      for (let i = first; i < Math.min(last, this.length); i++) html.push(this.rowHtml(i));
      this.spacer.innerHTML = html.join("");
    }
  }
}
