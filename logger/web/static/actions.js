// One-off actions: download the window in a log format, and find the raw frame behind a
// plotted point (the frames of its message around that time, the nearest one, decoded).
import { getBlob, getJSON } from "./api.js";
import { hexId } from "./format.js";

export async function download(params, name) {
  const blob = await getBlob("/api/export", params);
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// command(fromMs, toMs, extra) -> query params; the frame of msg nearest tSec, with its values
export async function frameAt(command, msg, tSec) {
  const ms = Math.floor(tSec * 1000);
  const [frames, decoded] = await Promise.all([
    getJSON("/api/query", { ...command(ms - 5, ms + 5, [`id=${hexId(msg.id)}`]), format: "json" }),
    getJSON("/api/query", { ...command(ms - 5, ms + 5, [`msg=${msg.name}`]), format: "json" }).catch(() => ({ rows: [] })),
  ]);
  let frame = null;
  for (const r of frames.rows) {
    if (!frame || Math.abs(r.ts / 1e9 - tSec) < Math.abs(frame.ts / 1e9 - tSec)) frame = r;
  }
  if (!frame) return null;
  const values = decoded.rows.find((r) => r.ts === frame.ts && r.bus === frame.bus) || {};
  return { frame, values };
}
