// The signal list, grouped by message: a click plots a signal in the active panel (or takes it
// out), a right click adds it to the where= question.
import { escapeHtml, hexId } from "./format.js";

export function fillSignalList(el, messages, state, active, actions, filter = "") {
  const wanted = filter.trim().toLowerCase();
  const plotted = new Set(state.panels[active] || []);
  const html = [];
  for (const m of messages) {
    const sigs = m.signals.filter((s) => !wanted || s.name.toLowerCase().includes(wanted) || m.name.toLowerCase().includes(wanted));
    if (!sigs.length) continue;
    const open = wanted || sigs.some((s) => plotted.has(s.name)) ? " open" : "";
    html.push(`<details${open}><summary>${escapeHtml(m.name)} <span class="muted">${hexId(m.id)}</span></summary>`);
    for (const s of sigs) {
      const unit = s.unit ? ` <span class="muted">${escapeHtml(s.unit)}</span>` : "";
      html.push(`<span class="sig${plotted.has(s.name) ? " on" : ""}" data-sig="${escapeHtml(s.name)}" title="click: plot; right click: add to the where= question">${escapeHtml(s.name)}${unit}</span>`);
    }
    html.push("</details>");
  }
  el.innerHTML = html.join("");
  for (const span of el.querySelectorAll(".sig")) {
    span.onclick = () => actions.toggle(span.dataset.sig);
    span.oncontextmenu = (e) => { e.preventDefault(); actions.where(span.dataset.sig); };
  }
}
