// Requests to the service's API: the token (given once as ?token=, kept in sessionStorage) goes
// as Authorization: Bearer on every request, the live stream included (read with fetch, not
// EventSource, which cannot send headers).
const TOKEN_KEY = "sdvlog-token";

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export function takeToken() {
  const url = new URL(location.href);
  const token = url.searchParams.get("token");
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    url.searchParams.delete("token");
    history.replaceState(null, "", url);
  }
}

function headers() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export function apiUrl(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) url.searchParams.set(k, v);
  return url;
}

async function checked(response) {
  if (response.ok) return response;
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  throw new ApiError(response.status, body);
}

export async function getJSON(path, params, signal) {
  const response = await fetch(apiUrl(path, params), { headers: headers(), signal });
  return (await checked(response)).json();
}

export async function getBlob(path, params) {
  const response = await fetch(apiUrl(path, params), { headers: headers() });
  return (await checked(response)).blob();
}

// Server-Sent Events over fetch: onEvent(kind, data) per event until the stream ends or
// signal aborts.
export async function stream(path, params, onEvent, signal) {
  const response = await checked(await fetch(apiUrl(path, params), { headers: headers(), signal }));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let kind = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) kind = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trim());
      }
      if (data.length) onEvent(kind, JSON.parse(data.join("\n")));
    }
  }
}
