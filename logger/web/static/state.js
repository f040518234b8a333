// The view's state, kept in the URL's query so that a link restores it (the token never goes
// there). window.sdvlog.state is this object.
const KEYS = ["ex", "topic", "bus", "preset", "from", "to", "panels", "where", "live", "tid", "tmsg", "a", "b"];

export function readState() {
  const q = new URLSearchParams(location.search);
  const state = { ex: "", topic: "", bus: "", preset: "all", from: null, to: null, panels: [[]], where: "", live: false, tid: "", tmsg: "", a: null, b: null };
  for (const key of KEYS) {
    if (!q.has(key)) continue;
    const v = q.get(key);
    if (key === "panels") state.panels = v.split(";").map((p) => p.split(",").filter(Boolean));
    else if (["from", "to", "a", "b"].includes(key)) state[key] = Number.isFinite(Number(v)) && v !== "" ? Number(v) : null;
    else if (key === "live") state.live = v === "1";
    else state[key] = v;
  }
  if (!state.panels.length) state.panels = [[]];
  return state;
}

export function writeState(state) {
  const q = new URLSearchParams();
  const put = (k, v) => { if (v !== null && v !== undefined && v !== "" && v !== false) q.set(k, v); };
  put("ex", state.ex); put("topic", state.topic); put("bus", state.bus);
  put("preset", state.preset);
  if (!state.preset) { put("from", Math.round(state.from)); put("to", Math.round(state.to)); }
  put("panels", state.panels.map((p) => p.join(",")).join(";"));
  put("where", state.where); put("live", state.live ? "1" : "");
  put("tid", state.tid); put("tmsg", state.tmsg);
  if (state.a !== null) put("a", state.a);
  if (state.b !== null) put("b", state.b);
  const text = q.toString().replace(/%2C/g, ",").replace(/%3B/g, ";");
  history.replaceState(null, "", `${location.pathname}${text ? "?" + text : ""}`);
  return location.href;
}
