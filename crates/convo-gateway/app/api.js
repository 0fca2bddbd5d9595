// The dashboard's one way to talk to the engine: the public API, with the key the person typed
// (kept in this tab's sessionStorage only), reading its own writes with `min_position`.

const KEY = "convo.key";

export const session = {
  key: () => sessionStorage.getItem(KEY),
  signIn: (key) => sessionStorage.setItem(KEY, key),
  signOut: () => sessionStorage.removeItem(KEY),
};

// The highest position this tab has written: every read asks for at least it, so a list or a
// view never shows the world from before the person's own click.
let written = 0;
export const position = () => written;
export function saw(p) {
  if (typeof p === "number" && p > written) written = p;
}

// An answer that is not 2xx, in words: the problem's title and detail, and the failing fields.
export class Problem extends Error {
  constructor(status, body) {
    const words = [body?.detail || body?.title || `HTTP ${status}`];
    for (const e of body?.errors || []) words.push(`${e.pointer || e.parameter || ""} ${e.detail || ""}`.trim());
    super(words.join(" — "));
    this.status = status;
    this.code = body?.code;
    this.body = body;
  }
}

// Read straight from the log or from the webhooks' own tables, always current: these take no
// `min_position` (and refuse one).
const CURRENT = /^\/v1\/(events|webhooks|keys)\b|\/events$/;

async function call(method, path, { query, body, consistent = !CURRENT.test(path) } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  if (method === "GET" && consistent && written > 0 && !url.searchParams.has("min_position")) {
    url.searchParams.set("min_position", written);
  }
  const headers = { authorization: `Bearer ${session.key()}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const answer = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await answer.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { detail: text };
  }
  if (!answer.ok) throw new Problem(answer.status, parsed);
  if (method !== "GET") saw(parsed?.position);
  return parsed;
}

export const api = {
  get: (path, query, options) => call("GET", path, { query, ...options }),
  post: (path, body) => call("POST", path, { body: body ?? {} }),
  put: (path, body) => call("PUT", path, { body: body ?? {} }),
  patch: (path, body) => call("PATCH", path, { body: body ?? {} }),
  del: (path) => call("DELETE", path, {}),
};

export const enc = encodeURIComponent;

// What a background read failed with: an answer of the engine's refusing it is a defect of the
// page (logged as an error); no answer at all (the engine restarting, the network away) is
// passing, and the next change on the stream reads again.
export function report(e) {
  if (e instanceof Problem) console.error("convo:", e.status, e.message);
  else console.warn("convo: the engine did not answer:", e?.message ?? e);
}
