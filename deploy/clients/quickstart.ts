// The README's quick start through the TypeScript client that deploy/clients.sh generates from
// schemas/openapi.json (openapi-typescript's types, openapi-fetch's calls), against the server at
// CONVO_URL with the key CONVO_KEY: create an inbox, receive an inbound message, reply as an
// agent, read the inbox list and the window with the reply's position as `min_position`, and
// page through the log's events. Exits non-zero on the first answer that is not the expected one.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type LogEvent = components["schemas"]["LogEvent"];

const baseUrl = process.env.CONVO_URL;
const key = process.env.CONVO_KEY;
if (!baseUrl || !key) throw new Error("set CONVO_URL and CONVO_KEY");

const client = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${key}` } });

/** The body of a 2xx answer, or a thrown error naming the step and the problem answered. */
function ok<T>(step: string, answer: { data?: T; error?: unknown; response: Response }): T {
  if (answer.error !== undefined || answer.data === undefined) {
    throw new Error(`${step}: ${answer.response.status} ${JSON.stringify(answer.error)}`);
  }
  console.log(`ts: ${step}: ${answer.response.status}`);
  return answer.data;
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`ts: expected ${what}`);
}

/** Every `position` a command answered, which a query's `min_position` must then see. */
function position(step: string, answer: { position?: number | null }): number {
  if (typeof answer.position !== "number") throw new Error(`${step}: no position in the answer`);
  return answer.position;
}

const run = crypto.randomUUID().slice(0, 8); // a shared server may be reused: ids of this run

const inbox = ok(
  "create an inbox",
  await client.POST("/v1/inboxes", { body: { name: `Support ${run}`, channel_type: "whatsapp" } }),
);
const inboxId = inbox.inbox_id;
check(typeof inboxId === "string", "an inbox_id");

const wamid = `wamid.ts.${run}`;
const inbound = ok(
  "receive an inbound message",
  await client.POST("/v1/inbound-messages", {
    params: { header: { "idempotency-key": wamid } },
    body: {
      inbox_id: inboxId!,
      contact_id: `+49151${run.replace(/[^0-9]/g, "0")}`,
      channel_message_id: wamid,
      sent_at: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString(),
      content: { type: "text", body: "Hi!" },
    },
  }),
);
const conversationId = inbound.conversation_id;
if (typeof conversationId !== "string") throw new Error("no conversation_id");
position("receive an inbound message", inbound);

const reply = ok(
  "reply as an agent",
  await client.POST("/v1/conversations/{conversation_id}/messages", {
    params: { path: { conversation_id: conversationId } },
    body: { actor: { kind: "agent", id: "ada" }, content: { type: "text", body: "Hello! How can I help?" } },
  }),
);
const replied = position("reply as an agent", reply);

const list = ok(
  "list the inbox's conversations with min_position",
  await client.GET("/v1/conversations", { params: { query: { inbox_id: inboxId!, min_position: replied } } }),
);
const listed = list.items.find((c) => c.conversation_id === conversationId);
check(listed !== undefined, `conversation ${conversationId} in the list`);
check(listed!.message_count === 2, `2 messages in the listed conversation, not ${listed!.message_count}`);
check(listed!.last_message?.direction === "outbound", "the reply as the last message");

const window = ok(
  "read the window",
  await client.GET("/v1/conversations/{conversation_id}/window", {
    params: { path: { conversation_id: conversationId }, query: { min_position: replied } },
  }),
);
check(window.state === "OPEN", `an open window, not ${window.state}`);

// The log from the inbox's creation on, two events a page, following `next_cursor`.
const events: LogEvent[] = [];
let cursor: string | undefined;
let pages = 0;
const after = position("create an inbox", inbox) - 1;
for (;;) {
  const page = ok(
    `page ${pages + 1} of the events`,
    await client.GET("/v1/events", { params: { query: cursor === undefined ? { after, limit: 2 } : { cursor, limit: 2 } } }),
  );
  pages += 1;
  events.push(...page.items);
  if (page.next_cursor === null || page.next_cursor === undefined || pages >= 1000) break;
  cursor = page.next_cursor;
}
const ours = events.filter((e) => e.aggregate_id === inboxId || e.aggregate_id === conversationId);
const types = ours.map((e) => e.event_type);
for (const type of ["InboxCreated", "ConversationStarted", "InboundMessageReceived", "MessageSent"]) {
  check(types.includes(type), `${type} among this run's events (${types.join(", ")})`);
}
check(pages >= 2, `more than one page of events, not ${pages}`);
console.log(`ts: the quick start passed (${events.length} events in ${pages} pages)`);
