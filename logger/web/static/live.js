// Live mode: one Server-Sent Events stream (/api/live, read with fetch so that the token can go
// as a header) pushing the new frames of the trace's filter and the new samples of the plotted
// signals. Nothing polls: the page waits on the stream.
import { stream } from "./api.js";

export class Live {
  // view: { params() -> query params, onData(data), onError(err) }
  constructor(view) {
    this.view = view;
    this.abort = null;
    this.frame = null;
  }

  get running() { return this.abort !== null; }

  start() {
    this.stop();
    const abort = new AbortController();
    this.abort = abort;
    stream("/api/live", this.view.params(), (kind, data) => {
      if (kind === "data" && this.abort === abort) this.view.onData(data);
    }, abort.signal).then(() => {
      if (this.abort === abort) this.abort = null;
    }).catch((err) => {
      if (err.name !== "AbortError" && this.abort === abort) { this.abort = null; this.view.onError(err); }
    });
  }

  restart() { if (this.running) this.start(); }

  stop() {
    if (this.abort) this.abort.abort();
    this.abort = null;
  }
}
