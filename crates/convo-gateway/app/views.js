// The dashboard's pages. Each reads the engine's read models over the public API and re-reads
// them, with `min_position`, when the live stream says they moved.

import { html, useEffect, useState, useCallback } from "./vendor/htm-preact.js";
import { api, enc, Problem, report } from "./api.js";

const STATUSES = ["open", "pending", "snoozed", "closed"];
const TICKS = { accepted: "✓ accepted", sent: "✓ sent", delivered: "✓✓ delivered", read: "✓✓ read", failed: "✗ failed" };

export const when = (t) => (t ? new Date(t).toLocaleString() : "");

function words(e) {
  return e instanceof Problem ? e.message : `The engine did not answer (${e?.message ?? e}); it is read again on the next change.`;
}

// An action's outcome: the engine's own words when it refused.
export function useAction(after) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const run = useCallback(
    async (f) => {
      setBusy(true);
      setError(null);
      try {
        await f();
        await after?.();
      } catch (e) {
        setError(words(e));
      } finally {
        setBusy(false);
      }
    },
    [after],
  );
  return { error, busy, run };
}

export const ErrorLine = ({ error }) => (error ? html`<p class="error" role="alert">${error}</p>` : null);

export function SignIn({ onKey }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState(null);
  async function submit(e) {
    e.preventDefault();
    setError(null);
    try {
      await onKey(key.trim());
    } catch (err) {
      setError(words(err));
    }
  }
  return html`<main class="signin">
    <h1>convo</h1>
    <form onSubmit=${submit}>
      <label for="key">API key</label>
      <input id="key" name="key" type="password" autocomplete="off" required value=${key}
        onInput=${(e) => setKey(e.target.value)} />
      <button type="submit">Sign in</button>
      <p class="hint">The key is kept for this tab only.</p>
      <${ErrorLine} error=${error} />
    </form>
  </main>`;
}

// How often the labels (with their counts) may be re-read: counting them reads every label
// row of the workspace (35-40 ms for 51 000 of them, docs/BENCHMARKS.md).
const LABELS_EVERY_MS = 5_000;
let labelsReadAt = -Infinity;

// Small selects fed by the directory, shared by the pages.
export function useDirectory(tick) {
  const [dir, setDir] = useState({ inboxes: [], agents: [], teams: [], labels: [] });
  useEffect(() => {
    let live = true;
    Promise.all([
      api.get("/v1/inboxes", { limit: 100 }),
      api.get("/v1/agents", { limit: 100 }),
      api.get("/v1/teams", { limit: 100 }),
    ])
      .then(([i, a, t]) => live && setDir((d) => ({ ...d, inboxes: i.items, agents: a.items, teams: t.items })))
      .catch(report);
    if (performance.now() - labelsReadAt >= LABELS_EVERY_MS) {
      labelsReadAt = performance.now();
      api
        .get("/v1/labels", { limit: 100 })
        .then((l) => live && setDir((d) => ({ ...d, labels: l.items })))
        .catch(report);
    }
    return () => (live = false);
  }, [tick]);
  return dir;
}

function Select({ id, label, value, onChange, options, empty = "any" }) {
  return html`<label for=${id}>${label}
    <select id=${id} value=${value} onChange=${(e) => onChange(e.target.value)}>
      <option value="">${empty}</option>
      ${options.map(([v, text]) => html`<option value=${v}>${text}</option>`)}
    </select></label>`;
}

let listPainted = false;

export function InboxList({ tick, dir, me, open }) {
  const [filters, setFilters] = useState({ inbox_id: "", status: "open", assignee: "", team: "", label: "", unread: false });
  const [page, setPage] = useState({ items: [], next_cursor: null });
  const [cursors, setCursors] = useState([null]);
  const [error, setError] = useState(null);
  const cursor = cursors[cursors.length - 1];
  const set = (k) => (v) => {
    setCursors([null]);
    setFilters({ ...filters, [k]: v });
  };
  useEffect(() => {
    let live = true;
    const query = { ...filters, unread: undefined, limit: 25, cursor, user_id: me || undefined };
    if (filters.unread) query.unread_only = true;
    api
      .get("/v1/conversations", query)
      .then((p) => {
        if (!live) return;
        setPage({ ...p, loaded: true });
        setError(null);
      })
      .catch((e) => live && setError(words(e)));
    return () => (live = false);
  }, [filters, cursor, tick, me]);
  // The first page on screen (after the frame that shows it): what the benchmark times.
  useEffect(() => {
    if (page.loaded && !listPainted) {
      listPainted = true;
      requestAnimationFrame(() => setTimeout(() => performance.mark("convo:list-painted")));
    }
  }, [page]);
  const agentName = (id) => dir.agents.find((a) => a.agent_id === id)?.name || id;
  return html`<section aria-labelledby="inbox-title" class="list">
    <h2 id="inbox-title">Conversations</h2>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <${Select} id="f-inbox" label="Inbox" value=${filters.inbox_id} onChange=${set("inbox_id")}
        options=${dir.inboxes.map((i) => [i.inbox_id, i.name])} />
      <${Select} id="f-status" label="Status" value=${filters.status} onChange=${set("status")}
        options=${STATUSES.map((s) => [s, s])} />
      <${Select} id="f-assignee" label="Assignee" value=${filters.assignee} onChange=${set("assignee")}
        options=${dir.agents.map((a) => [a.agent_id, a.name])} />
      <${Select} id="f-team" label="Team" value=${filters.team} onChange=${set("team")}
        options=${dir.teams.map((t) => [t.team_id, t.name])} />
      <${Select} id="f-label" label="Label" value=${filters.label} onChange=${set("label")}
        options=${dir.labels.map((l) => [l.label, `${l.label} (${l.open})`])} />
      <label for="f-unread"><input id="f-unread" type="checkbox" checked=${filters.unread} disabled=${!me}
        onChange=${(e) => set("unread")(e.target.checked)} /> Unread by me</label>
    </form>
    <${ErrorLine} error=${error} />
    <table>
      <caption class="sr-only">Conversations, most recent first</caption>
      <thead><tr><th scope="col">Contact</th><th scope="col">Last message</th><th scope="col">Status</th>
        <th scope="col">Assignee</th><th scope="col">Labels</th><th scope="col">${me ? "Unread" : "Messages in"}</th><th scope="col">Updated</th></tr></thead>
      <tbody>
        ${page.items.map(
          (c) => html`<tr key=${c.conversation_id} data-conversation=${c.conversation_id}>
            <td><a href=${`#/conversations/${c.conversation_id}`} onClick=${(e) => (e.preventDefault(), open(c.conversation_id))}>
              ${c.group?.subject || c.display_name || c.thread_key}</a> <span class="channel">${c.channel}</span></td>
            <td class="preview">${c.last_message?.deleted ? html`<em>deleted</em>` : c.last_message?.preview}</td>
            <td><span class=${`status ${c.status}`}>${c.status}</span>${c.archived ? " · archived" : ""}</td>
            <td>${c.assignee ? agentName(c.assignee) : ""}</td>
            <td>${c.labels.map((l) => html`<span class="label">${l}</span>`)}</td>
            <td class="num" data-unread=${c.unread}>${me ? (c.unread ? html`<strong>${c.unread}</strong>` : "0") : c.inbound_count}</td>
            <td>${when(c.last_activity_at)}</td>
          </tr>`,
        )}
      </tbody>
    </table>
    ${page.items.length === 0 ? html`<p>No conversation matches.</p>` : null}
    <nav class="pager" aria-label="Pages">
      <button disabled=${cursors.length < 2} onClick=${() => setCursors(cursors.slice(0, -1))}>Previous</button>
      <button disabled=${!page.next_cursor} onClick=${() => setCursors([...cursors, page.next_cursor])}>Next</button>
    </nav>
  </section>`;
}

export function Agents({ tick, me }) {
  const [agents, setAgents] = useState([]);
  const [summary, setSummary] = useState(null);
  useEffect(() => {
    let live = true;
    api.get("/v1/agents", { limit: 100, active: true }).then((p) => live && setAgents(p.items)).catch(report);
    if (me) api.get(`/v1/users/${enc(me)}/unread-summary`).then((s) => live && setSummary(s)).catch(report);
    return () => (live = false);
  }, [tick, me]);
  return html`<section aria-labelledby="agents-title" class="agents">
    <h2 id="agents-title">Agents</h2>
    ${summary ? html`<p class="summary">Unread for me: <strong>${summary.total}</strong> in ${summary.conversations} conversations</p>` : null}
    <table>
      <thead><tr><th scope="col">Agent</th><th scope="col">Open</th><th scope="col">Pending</th><th scope="col">Unread</th></tr></thead>
      <tbody>
        ${agents.map(
          (a) => html`<tr key=${a.agent_id}><td><span class=${`dot ${a.availability}`} aria-hidden="true"></span>${a.name}
            <span class="sr-only">(${a.availability})</span></td>
            <td class="num">${a.counts.open}</td><td class="num">${a.counts.pending}</td><td class="num">${a.counts.unread}</td></tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

// The window as a badge: open with the time left, or closed with the engine's failure code.
function WindowBadge({ who, window: w }) {
  if (!w) return null;
  if (w.state === "OPEN") {
    const left = w.expiresAt ? Math.max(0, Date.parse(w.expiresAt) - Date.now()) : null;
    const text = left === null ? "open" : `open, ${Math.floor(left / 3600000)} h ${Math.floor((left % 3600000) / 60000)} min left`;
    return html`<span class="badge open" data-window=${who}>${who} window ${text}</span>`;
  }
  return html`<span class="badge closed" data-window=${who}>${who} window closed: ${w.failureCode}</span>`;
}

function Message({ m }) {
  const c = m.content;
  let body;
  if (m.deleted_at) body = html`<em>This message was deleted</em>`;
  else if (!c) body = null;
  else if (c.type === "text") body = c.body;
  else if (c.type === "template") body = html`<em>Template ${c.name} (${c.language})</em> ${(c.parameters || []).join(", ")}`;
  else if (c.type === "media") body = html`<em>${c.mime_type}</em> ${c.caption || c.url}`;
  else body = c.body;
  const reactions = Object.values(m.reactions || {});
  return html`<li class=${`message ${m.direction}`} data-message=${m.message_id}>
    <div class="meta">${m.direction === "note" ? "Private note · " : ""}${m.author?.id} · ${when(m.sent_at)}
      ${m.edited_at && !m.deleted_at ? " · edited" : ""}</div>
    <div class="body">${body}</div>
    ${m.mentioned_agents?.length
      ? html`<div class="mentions">Mentions: ${m.mentioned_agents.map((a) => html`<span class="mention">@${a.name || a.agent_id}</span> `)}</div>`
      : null}
    ${reactions.length ? html`<div class="reactions">${reactions.map((r) => html`<span title=${r.actor?.id}>${r.emoji}</span>`)}</div>` : null}
    ${m.direction === "outbound" && m.status
      ? html`<div class=${`ticks ${m.status}`} data-status=${m.status}>${TICKS[m.status] || m.status}${m.failure ? `: ${m.failure.code}` : ""}</div>`
      : null}
  </li>`;
}

export function Conversation({ id, tick, dir, me, back }) {
  const [view, setView] = useState(null);
  const [messages, setMessages] = useState([]);
  const [error, setError] = useState(null);
  const [reload, setReload] = useState(0);
  const refresh = useCallback(async () => setReload((n) => n + 1), []);
  const action = useAction(refresh);
  useEffect(() => {
    let live = true;
    Promise.all([api.get(`/v1/conversations/${id}`), api.get(`/v1/conversations/${id}/messages`, { limit: 100, order: "desc" })])
      .then(([v, m]) => {
        if (!live) return;
        setView(v);
        setMessages(m.items.slice().reverse());
        setError(null);
      })
      .catch((e) => live && setError(words(e)));
    return () => (live = false);
  }, [id, tick, reload]);
  if (error) return html`<section><button onClick=${back}>Back</button><${ErrorLine} error=${error} /></section>`;
  if (!view) return html`<section><p>Loading…</p></section>`;
  const actor = me ? { kind: "agent", id: me } : undefined;
  const path = `/v1/conversations/${id}`;
  return html`<section class="conversation" aria-labelledby="conversation-title">
    <button onClick=${back}>← Conversations</button>
    <h2 id="conversation-title">${view.group?.subject || view.display_name || view.thread_key}</h2>
    <p class="facts"><span class=${`status ${view.status}`}>${view.status}</span> · ${view.channel} · ${view.thread_key}
      ${view.archived ? " · archived" : ""}${view.snoozed_until ? ` · snoozed until ${when(view.snoozed_until)}` : ""}</p>
    <p class="windows"><${WindowBadge} who="agent" window=${view.window?.agent} /> <${WindowBadge} who="bot" window=${view.window?.bot} /></p>
    <${Actions} view=${view} dir=${dir} actor=${actor} path=${path} action=${action} me=${me} />
    <${ErrorLine} error=${action.error} />
    <ol class="timeline" aria-label="Timeline">${messages.map((m) => html`<${Message} key=${m.message_id} m=${m} />`)}</ol>
    <${Reply} path=${path} actor=${actor} refresh=${refresh} dir=${dir} />
    ${view.kind === "group" ? html`<${Group} id=${id} tick=${tick} />` : null}
    <${History} id=${id} tick=${tick} />
  </section>`;
}

function Actions({ view, dir, actor, path, action, me }) {
  const [label, setLabel] = useState("");
  const [until, setUntil] = useState("");
  const body = actor ? { actor } : {};
  const run = action.run;
  return html`<div class="actions" role="group" aria-label="Conversation actions">
    <${Select} id="a-assignee" label="Assignee" value=${view.assignee || ""} empty="nobody"
      options=${dir.agents.filter((a) => a.active).map((a) => [a.agent_id, a.name])}
      onChange=${(v) => run(() => (v ? api.put(`${path}/assignee`, { agent_id: v, ...body }) : api.del(`${path}/assignee`)))} />
    <${Select} id="a-team" label="Team" value=${view.team || ""} empty="none"
      options=${dir.teams.map((t) => [t.team_id, t.name])}
      onChange=${(v) => run(() => (v ? api.put(`${path}/team`, { team_id: v, ...body }) : api.del(`${path}/team`)))} />
    <${Select} id="a-status" label="Status" value=${view.status} empty="—"
      options=${["open", "pending", "closed"].map((s) => [s, s])}
      onChange=${(v) => v && run(() => api.post(`${path}/status`, { status: v, ...body }))} />
    <form onSubmit=${(e) => (e.preventDefault(), run(() => api.post(`${path}/status`, { status: "snoozed", snoozed_until: new Date(until).toISOString(), ...body })))}>
      <label for="a-snooze">Snooze until <input id="a-snooze" type="datetime-local" required value=${until} onInput=${(e) => setUntil(e.target.value)} /></label>
      <button type="submit">Snooze</button>
    </form>
    <button onClick=${() => run(() => api.post(`${path}/${view.archived ? "unarchive" : "archive"}`, body))}>
      ${view.archived ? "Unarchive" : "Archive"}</button>
    <button disabled=${!me} onClick=${() => run(() => api.post(`${path}/read`, { user_id: me }))}>Mark read</button>
    <div class="labels">
      ${view.labels.map(
        (l) => html`<span class="label">${l} <button aria-label=${`Remove label ${l}`} onClick=${() => run(() => api.del(`${path}/labels/${enc(l)}`))}>×</button></span>`,
      )}
      <form onSubmit=${(e) => (e.preventDefault(), run(async () => (await api.put(`${path}/labels/${enc(label.trim())}`, body), setLabel(""))))}>
        <label for="a-label">Add label <input id="a-label" value=${label} onInput=${(e) => setLabel(e.target.value)} /></label>
        <button type="submit">Add</button>
      </form>
    </div>
  </div>`;
}

function Reply({ path, actor, refresh, dir }) {
  const [text, setText] = useState("");
  const [template, setTemplate] = useState({ name: "", language: "en" });
  const [note, setNote] = useState("");
  const [mention, setMention] = useState("");
  const action = useAction(refresh);
  const send = (content) => action.run(async () => (await api.post(`${path}/messages`, { actor, content }), setText("")));
  return html`<div class="reply">
    <form aria-label="Send a reply" onSubmit=${(e) => (e.preventDefault(), send({ type: "text", body: text }))}>
      <label for="r-text">Reply</label>
      <textarea id="r-text" rows="3" value=${text} onInput=${(e) => setText(e.target.value)}></textarea>
      <button type="submit" disabled=${!actor || action.busy}>Send</button>
      ${actor ? null : html`<span class="hint">Choose who you are (top right) to reply.</span>`}
    </form>
    <form aria-label="Send a template" onSubmit=${(e) => (e.preventDefault(), action.run(() => api.post(`${path}/messages`, { actor, content: { type: "template", ...template, parameters: [] } })))}>
      <label for="r-template">Template name <input id="r-template" value=${template.name} onInput=${(e) => setTemplate({ ...template, name: e.target.value })} /></label>
      <label for="r-language">Language <input id="r-language" size="5" value=${template.language} onInput=${(e) => setTemplate({ ...template, language: e.target.value })} /></label>
      <button type="submit" disabled=${!actor}>Send template</button>
    </form>
    <form aria-label="Add a private note" onSubmit=${(e) => (e.preventDefault(), action.run(async () => (await api.post(`${path}/notes`, { actor, body: note, mentions: mention ? [mention] : [] }), setNote(""))))}>
      <label for="r-note">Private note</label>
      <textarea id="r-note" rows="2" value=${note} onInput=${(e) => setNote(e.target.value)}></textarea>
      <${Select} id="r-mention" label="Mention" value=${mention} onChange=${setMention} empty="nobody"
        options=${dir.agents.filter((a) => a.active).map((a) => [a.agent_id, a.name])} />
      <button type="submit" disabled=${!actor}>Add note</button>
    </form>
    <${ErrorLine} error=${action.error} />
  </div>`;
}

function Group({ id, tick }) {
  const [members, setMembers] = useState([]);
  const [requests, setRequests] = useState([]);
  const [reload, setReload] = useState(0);
  const action = useAction(async () => setReload((n) => n + 1));
  useEffect(() => {
    let live = true;
    api.get(`/v1/conversations/${id}/members`, { limit: 100 }).then((p) => live && setMembers(p.items)).catch(report);
    api.get(`/v1/conversations/${id}/join-requests`, { limit: 100 }).then((p) => live && setRequests(p.items)).catch(report);
    return () => (live = false);
  }, [id, tick, reload]);
  return html`<section class="group" aria-labelledby="group-title">
    <h3 id="group-title">Members</h3>
    <ul>${members.map((m) => html`<li key=${m.member_id}>${m.display_name || m.member_id} · ${m.role}${m.is_self ? " (this inbox)" : ""}</li>`)}</ul>
    <h3>Join requests</h3>
    ${requests.length === 0 ? html`<p>None pending.</p>` : null}
    <ul>
      ${requests.map(
        (r) => html`<li key=${r.request_id}>${r.display_name || r.member_id}
          <button onClick=${() => action.run(() => api.post(`/v1/conversations/${id}/join-requests/${r.request_id}/approve`, {}))}>Approve</button>
          <button onClick=${() => action.run(() => api.post(`/v1/conversations/${id}/join-requests/${r.request_id}/reject`, {}))}>Reject</button></li>`,
      )}
    </ul>
    <${ErrorLine} error=${action.error} />
  </section>`;
}

// Time travel: a slider over the conversation's own events; each stop shows the conversation
// as the engine folds it up to that position (`at_position`), members too for a group.
function History({ id, tick }) {
  const [positions, setPositions] = useState([]);
  const [index, setIndex] = useState(null);
  const [then, setThen] = useState(null);
  useEffect(() => {
    let live = true;
    (async () => {
      const all = [];
      let cursor = null;
      do {
        const page = await api.get(`/v1/conversations/${id}/events`, { limit: 500, cursor });
        all.push(...page.items.map((e) => ({ position: e.position, type: e.event_type, at: e.recorded_at })));
        cursor = page.next_cursor;
      } while (cursor && live && all.length < 5000);
      if (live) setPositions(all);
    })().catch(report);
    return () => (live = false);
  }, [id, tick]);
  // Until the slider moves it stands at the latest event: the conversation as of now.
  const at = positions[index ?? positions.length - 1]?.position;
  useEffect(() => {
    if (at === undefined) return setThen(null);
    let live = true;
    api
      .get(`/v1/conversations/${id}`, { at_position: at }, { consistent: false })
      .then((v) => live && setThen(v))
      .catch(report);
    return () => (live = false);
  }, [at, id]);
  if (positions.length === 0) return null;
  const i = index ?? positions.length - 1;
  return html`<section class="history" aria-labelledby="history-title">
    <h3 id="history-title">History</h3>
    <label for="h-slider">Event ${i + 1} of ${positions.length}: ${positions[i].type} at ${when(positions[i].at)}</label>
    <input id="h-slider" type="range" min="0" max=${positions.length - 1} value=${i}
      onInput=${(e) => setIndex(Number(e.target.value))} />
    ${then
      ? html`<dl class="then" data-position=${then.as_of?.position}>
          <dt>Status</dt><dd data-field="status">${then.status}</dd>
          <dt>Assignee</dt><dd data-field="assignee">${then.assignee || "nobody"}</dd>
          <dt>Labels</dt><dd data-field="labels">${then.labels.join(", ") || "none"}</dd>
          <dt>Messages in</dt><dd data-field="inbound">${then.inbound_count}</dd>
          <dt>Last message</dt><dd data-field="last">${then.last_message?.preview || ""}</dd>
          ${then.members ? html`<dt>Members</dt><dd data-field="members">${then.members.map((m) => m.display_name || m.member_id).join(", ")}</dd>` : null}
        </dl>`
      : null}
  </section>`;
}

export function Webhooks({ tick }) {
  const [endpoints, setEndpoints] = useState([]);
  const [selected, setSelected] = useState(null);
  const [attempts, setAttempts] = useState([]);
  const [reload, setReload] = useState(0);
  const action = useAction(async () => setReload((n) => n + 1));
  useEffect(() => {
    let live = true;
    api.get("/v1/webhooks", { limit: 100 }).then((p) => live && setEndpoints(p.items)).catch(report);
    return () => (live = false);
  }, [tick, reload]);
  useEffect(() => {
    if (!selected) return setAttempts([]);
    let live = true;
    // Deliveries are not events of the log: the attempt log is polled while it is open.
    const read = () =>
      api.get("/v1/webhooks/attempts", { webhook_id: selected, limit: 50 }).then((p) => live && setAttempts(p.items)).catch(report);
    read();
    const every = setInterval(read, 2000);
    return () => ((live = false), clearInterval(every));
  }, [selected, tick, reload]);
  return html`<section aria-labelledby="webhooks-title">
    <h2 id="webhooks-title">Webhooks</h2>
    <table>
      <thead><tr><th scope="col">Endpoint</th><th scope="col">Enabled</th><th scope="col">Events</th><th scope="col"></th></tr></thead>
      <tbody>${endpoints.map(
        (w) => html`<tr key=${w.endpoint_id}><td>${w.url}</td><td>${w.enabled ? "yes" : `no (${w.disabled_reason || ""})`}</td>
          <td>${(w.event_types || []).join(", ") || "all"}</td>
          <td><button onClick=${() => setSelected(w.endpoint_id)}>Attempts</button></td></tr>`,
      )}</tbody>
    </table>
    ${selected
      ? html`<h3>Attempts</h3>
        <table>
          <thead><tr><th scope="col">Position</th><th scope="col">Event</th><th scope="col">Attempt</th><th scope="col">Result</th><th scope="col">When</th><th scope="col"></th></tr></thead>
          <tbody>${attempts.map(
            (a) => html`<tr data-attempt=${a.trigger}><td class="num">${a.position}</td><td>${a.event_type}</td><td class="num">${a.attempt}</td>
              <td>${a.succeeded ? `${a.status_code} ok` : `${a.status_code || ""} ${a.error || ""}`}</td><td>${when(a.attempted_at)}</td>
              <td><button onClick=${() => action.run(() => api.post(`/v1/webhooks/${selected}/replay`, { position: a.position }))}>Replay</button></td></tr>`,
          )}</tbody>
        </table>`
      : null}
    <${ErrorLine} error=${action.error} />
  </section>`;
}
