// What the service holds: its exchanges (tables, time spans) and each exchange's messages and
// signals (units, value tables), with the look-ups the page needs.
import { getJSON } from "./api.js";

export class Catalog {
  constructor() {
    this.exchanges = [];
    this.messages = [];
    this.byId = new Map();
    this.bySignal = new Map();
  }

  async load(state) {
    const [exchanges, signals] = await Promise.all([getJSON("/api/exchanges"), getJSON("/api/signals")]);
    this.exchanges = exchanges;
    if (!state.ex || !this.exchanges.some((e) => e.name === state.ex)) {
      const canp = this.exchanges.find((e) => e.stream === "canp");
      state.ex = (canp || this.exchanges[0] || { name: "" }).name;
    }
    this.useSignals(signals, state.ex);
  }

  async loadSignals(name) {
    this.useSignals(await getJSON("/api/signals"), name);
  }

  useSignals(signals, name) {
    this.messages = signals[name] || [];
    this.byId = new Map(this.messages.map((m) => [m.id, m]));
    this.bySignal = new Map(this.messages.flatMap((m) => m.signals.map((s) => [s.name, s])));
  }

  exchange(name) { return this.exchanges.find((e) => e.name === name) || this.exchanges[0]; }

  messageOfSignal(sig) {
    return this.messages.find((m) => m.signals.some((s) => s.name === sig || `${m.name}.${s.name}` === sig));
  }

  // [first, last] ms of the exchange's data: files, and now when the ring holds messages
  bounds(name, lastSeenNs) {
    const ex = this.exchange(name);
    let first = Infinity, last = -Infinity;
    for (const t of Object.values(ex ? ex.tables : {})) {
      if (t.first_ns !== null) first = Math.min(first, t.first_ns / 1e6);
      if (t.last_ns !== null) last = Math.max(last, t.last_ns / 1e6);
    }
    if ((ex && ex.in_memory > 0) || !Number.isFinite(last)) last = Math.max(last, Date.now());
    if (lastSeenNs) last = Math.max(last, lastSeenNs / 1e6);
    if (!Number.isFinite(first)) first = last - 60e3;
    return [first, last];
  }

  // the signals to plot on a first visit: two speeds when there are, else the first two
  defaultSignals() {
    const all = this.messages.flatMap((m) => m.signals.map((s) => s.name));
    const speeds = all.filter((s) => /speed/i.test(s)).slice(0, 2);
    return speeds.length ? speeds : all.slice(0, 2);
  }
}
