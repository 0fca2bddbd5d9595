// The dashboard: sign in with an API key, then the inbox, a conversation, webhooks. The live
// stream moves `tick` (at most every 150 ms), and each page re-reads what it shows with
// `min_position` at the stream's position, so what it shows is the read models at or after the
// last event it heard of.

import { html, render, useEffect, useState, useRef } from "./vendor/htm-preact.js";
import { api, session, saw } from "./api.js";
import { follow } from "./stream.js";
import { Agents, Conversation, InboxList, SignIn, Webhooks, useDirectory } from "./views.js";

const FEED = 50; // events the activity panel keeps

function route() {
  const [, page, id] = location.hash.split("/");
  return { page: page || "conversations", id };
}

function App() {
  const [signedIn, setSignedIn] = useState(!!session.key());
  async function onKey(key) {
    session.signIn(key);
    try {
      await api.get("/v1/inboxes", { limit: 1 });
      setSignedIn(true);
    } catch (e) {
      session.signOut();
      throw e;
    }
  }
  if (!signedIn) return html`<${SignIn} onKey=${onKey} />`;
  return html`<${Dashboard} signOut=${() => (session.signOut(), setSignedIn(false))} />`;
}

function Dashboard({ signOut }) {
  const [where, setWhere] = useState(route());
  const [tick, setTick] = useState(0);
  const [stream, setStream] = useState("connecting");
  const [feed, setFeed] = useState([]);
  const [me, setMe] = useState(sessionStorage.getItem("convo.me") || "");
  // The directory (inboxes, agents, teams, labels) is re-read when an event may have changed it.
  const [dirTick, setDirTick] = useState(0);
  const dir = useDirectory(dirTick);
  const pending = useRef(null);
  const directoryMoved = useRef(false);

  useEffect(() => {
    const onHash = () => setWhere(route());
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);

  useEffect(() => {
    const follower = follow({
      onEvent: (e) => {
        saw(e.position);
        setFeed((f) => [{ position: e.position, type: e.event_type, id: e.aggregate_id }, ...f].slice(0, FEED));
        if (e.aggregate_type !== "conversation" || e.event_type.startsWith("Label")) directoryMoved.current = true;
        if (!pending.current) {
          pending.current = setTimeout(() => {
            pending.current = null;
            setTick((t) => t + 1);
            if (directoryMoved.current) {
              directoryMoved.current = false;
              setDirTick((t) => t + 1);
            }
          }, 150);
        }
      },
      onState: (s) => {
        setStream(s);
        if (s === "live") {
          setTick((t) => t + 1);
          setDirTick((t) => t + 1);
        }
      },
    });
    window.convoStream = follower; // for the browser tests
    return () => follower.stop();
  }, []);

  // The agents' counts and the unread summary cost more to read (the summary reads every
  // unread conversation of the workspace): at most every 2 s.
  const [slowTick, setSlowTick] = useState(0);
  const slowPending = useRef(null);
  useEffect(() => {
    if (slowPending.current) return;
    slowPending.current = setTimeout(() => {
      slowPending.current = null;
      setSlowTick((t) => t + 1);
    }, 2000);
  }, [tick]);

  const chooseMe = (v) => (sessionStorage.setItem("convo.me", v), setMe(v));
  const open = (id) => (location.hash = `#/conversations/${id}`);
  const back = () => (location.hash = "#/conversations");
  let page;
  if (where.page === "webhooks") page = html`<${Webhooks} tick=${tick} />`;
  else if (where.id) page = html`<${Conversation} id=${where.id} tick=${tick} dir=${dir} me=${me} back=${back} />`;
  else
    page = html`<div class="home"><${InboxList} tick=${tick} dir=${dir} me=${me} open=${open} />
      <aside><${Agents} tick=${slowTick} me=${me} /><${Activity} feed=${feed} /></aside></div>`;
  return html`<div class="app">
    <header>
      <h1><a href="#/conversations">convo</a></h1>
      <nav aria-label="Main"><a href="#/conversations">Conversations</a> <a href="#/webhooks">Webhooks</a></nav>
      <span class=${`stream ${stream}`} role="status" aria-live="polite" data-stream=${stream}>${stream === "live" ? "Live" : stream === "connecting" ? "Connecting…" : "Reconnecting…"}</span>
      <label for="me">Acting as
        <select id="me" value=${me} onChange=${(e) => chooseMe(e.target.value)}>
          <option value="">nobody</option>
          ${dir.agents.filter((a) => a.active).map((a) => html`<option value=${a.agent_id}>${a.name}</option>`)}
        </select></label>
      <button onClick=${signOut}>Sign out</button>
    </header>
    <main>${page}</main>
  </div>`;
}

function Activity({ feed }) {
  return html`<section aria-labelledby="activity-title" class="activity">
    <h2 id="activity-title">Live events</h2>
    <ol>${feed.map((e) => html`<li key=${e.position} data-position=${e.position}>${e.type} <span class="pos">#${e.position}</span></li>`)}</ol>
  </section>`;
}

render(html`<${App} />`, document.getElementById("app"));
