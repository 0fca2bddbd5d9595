// The workspace's live events from `GET /v1/stream`. EventSource cannot send an Authorization
// header, so this reads the server-sent events from fetch() and parses them itself. After a
// dropped connection (a restart, a network change, the server shedding a slow client) it
// reconnects with `Last-Event-ID` = the last position it handed on, so nothing is missed; and it
// hands on only positions above that one, so nothing is repeated.

import { session } from "./api.js";

export function follow({ after, onEvent, onState }) {
  let last = after ?? null;
  let stopped = false;
  let controller = null;
  let delay = 250;

  async function connect() {
    while (!stopped) {
      controller = new AbortController();
      const headers = { authorization: `Bearer ${session.key()}`, accept: "text/event-stream" };
      if (last !== null) headers["last-event-id"] = String(last);
      try {
        const answer = await fetch("/v1/stream", { headers, signal: controller.signal });
        if (!answer.ok || !answer.body) throw new Error(`stream: HTTP ${answer.status}`);
        onState?.("live");
        delay = 250;
        await read(answer.body);
        if (!stopped) onState?.("reconnecting");
      } catch (e) {
        if (stopped) return;
        onState?.("reconnecting", e);
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 4000);
    }
  }

  async function read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let id = null;
    let data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(buffer[newline] === "\r" && buffer[newline + 1] === "\n" ? newline + 2 : newline + 1);
        if (line === "") {
          if (data.length) dispatch(id, data.join("\n"));
          id = null;
          data = [];
        } else if (line.startsWith(":")) {
          // a heartbeat
        } else {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "id") id = val;
          else if (field === "data") data.push(val);
        }
      }
    }
  }

  function dispatch(id, text) {
    const p = Number(id);
    if (!Number.isFinite(p) || (last !== null && p <= last)) return;
    last = p;
    try {
      onEvent(JSON.parse(text));
    } catch (e) {
      console.error("stream event", e);
    }
  }

  connect();
  return {
    stop() {
      stopped = true;
      controller?.abort();
    },
    position: () => last,
  };
}
