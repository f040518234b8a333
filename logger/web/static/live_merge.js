// Live samples into the plotted series: appended, kept in time order (a late batch may hold
// older samples), and trimmed to what the window can still show.
export function appendSamples(series, signals) {
  let count = 0;
  for (const [sig, s] of Object.entries(signals)) {
    count += s.ts.length;
    const mine = series[sig] || (series[sig] = { ts: [], values: [] });
    s.ts.forEach((t, i) => { mine.ts.push(t / 1e9); mine.values.push(s.values[i]); });
  }
  return count;
}

export function trimAndSort(series, fromSec) {
  for (const s of Object.values(series)) {
    let cut = 0;
    while (cut < s.ts.length && s.ts[cut] < fromSec) cut++;
    if (cut) { s.ts.splice(0, cut); s.values.splice(0, cut); }
    let sorted = true;
    for (let i = 1; i < s.ts.length && sorted; i++) sorted = s.ts[i] >= s.ts[i - 1];
    if (!sorted) {
      const order = s.ts.map((t, i) => [t, s.values[i]]).sort((a, b) => a[0] - b[0]);
      s.ts = order.map((p) => p[0]);
      s.values = order.map((p) => p[1]);
    }
  }
}
