// Signal-range questions: the where= grammar answered as intervals (out=intervals), drawn as
// bands on every plot, listed, with previous / next jumps.
import { escapeHtml, nsText, spanText } from "./format.js";

export class Where {
  constructor(listEl, summaryEl, view) {
    this.listEl = listEl;
    this.summaryEl = summaryEl;
    this.view = view; // { jump(startNs, endNs) }
    this.intervals = []; // [{start, end, rows}] in ns
    this.current = -1;
  }

  set(rows, text) {
    this.intervals = rows;
    this.current = -1;
    const total = rows.reduce((s, r) => s + (r.end - r.start), 0) / 1e6;
    this.summaryEl.textContent = text ? `${rows.length} intervals, ${spanText(total)} in all` : "";
    this.listEl.innerHTML = rows.slice(0, 500).map((r, i) =>
      `<li data-i="${i}">${escapeHtml(nsText(r.start))} + ${escapeHtml(spanText((r.end - r.start) / 1e6))}</li>`).join("");
    for (const li of this.listEl.children) li.onclick = () => this.go(Number(li.dataset.i));
  }

  bands() { return this.intervals.map((r) => [r.start / 1e9, r.end / 1e9]); }

  go(i) {
    if (!this.intervals.length) return;
    this.current = (i + this.intervals.length) % this.intervals.length;
    [...this.listEl.children].forEach((li, k) => li.classList.toggle("current", k === this.current));
    const r = this.intervals[this.current];
    this.view.jump(r.start, r.end);
  }

  next() { this.go(this.current + 1); }
  prev() { this.go(this.current < 0 ? -1 : this.current - 1); }
}
