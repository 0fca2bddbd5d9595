//! Logs written straight into the `events` table, fast, in the shape of
//! tests/fixtures/seed_1m_events.sql: per conversation a `ConversationStarted`, then inbound
//! messages (valid for every read model), with the workspace in the metadata like the engine
//! writes it; and, for the queries section, agents, contacts with their identities, and
//! assignments, labels and private notes mentioning agents (some read by them) on those
//! conversations, their payloads serialized from the domain's event types.

use anyhow::Context;
use chrono::{DateTime, TimeDelta, Utc};
use convo_domain::contact::{ContactChange, ContactEvent, ContactIdentityChange, ContactIdentityEvent};
use convo_domain::conversation::{Assignee, ConversationChange};
use convo_domain::directory::{AgentChange, AgentEvent, AgentRole, agent_stream_id};
use convo_domain::{Actor, ConversationEvent, Identity, IdentityKind};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// Conversations `md5(prefix || c)` for c in `range`, each of `events` events, in `inbox` of
/// `workspace`; message times one minute apart per conversation, so sorts have something to do.
pub struct Conversations<'a> {
    pub prefix: &'a str,
    pub workspace: &'a str,
    pub inbox: &'a str,
    pub count: u32,
    pub events: u32,
}

/// Conversations per INSERT statement (its own transaction).
const PER_STATEMENT: u32 = 5_000;

impl Conversations<'_> {
    /// Appends the log; how many events.
    pub async fn append(&self, pool: &PgPool) -> anyhow::Result<u64> {
        let mut appended = 0;
        let mut from = 0;
        while from < self.count {
            let to = (from + PER_STATEMENT).min(self.count) - 1;
            let done = sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                 SELECT 'conversation', md5($1 || c)::uuid::text, k,
                        CASE WHEN k = 1 THEN 'ConversationStarted' ELSE 'InboundMessageReceived' END, '1.0.0',
                        CASE WHEN k = 1 THEN jsonb_build_object(
                                 'type', 'ConversationStarted', 'occurred_at', t,
                                 'actor', jsonb_build_object('kind', 'contact', 'id', '+99' || c),
                                 'conversation_id', md5($1 || c)::uuid, 'workspace_id', $2::text, 'inbox_id', $3::text,
                                 'channel', 'sms', 'kind', 'direct', 'thread_key', '+99' || c)
                             ELSE jsonb_build_object(
                                 'type', 'InboundMessageReceived', 'occurred_at', t,
                                 'actor', jsonb_build_object('kind', 'contact', 'id', '+99' || c),
                                 'message_id', md5($1 || 'm' || c || '.' || k)::uuid, 'seq', k - 1,
                                 'inbound_count', k - 1, 'sent_at', t,
                                 'content', jsonb_build_object('type', 'text', 'body', 'hello'))
                        END,
                        jsonb_build_object('workspace_id', $2::text)
                   FROM generate_series($4::int, $5::int) AS c, generate_series(1, $6::int) AS k,
                        LATERAL (SELECT to_char((timestamptz '2026-01-01 00:00:00+00' + make_interval(mins => c, secs => k))
                                                AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS t) AS at
                  ORDER BY c, k",
            )
            .bind(self.prefix)
            .bind(self.workspace)
            .bind(self.inbox)
            .bind(from as i32)
            .bind(to as i32)
            .bind(self.events as i32)
            .execute(pool)
            .await
            .context("appending generated conversations")?;
            appended += done.rows_affected();
            from = to + 1;
        }
        Ok(appended)
    }
}

/// One event to append, its payload the domain's own serialization of its event type (whose
/// `type` field names the event type; the version is the one the engine writes it at now).
pub struct Event {
    pub aggregate_type: &'static str,
    pub aggregate_id: String,
    pub sequence: i64,
    pub payload: Value,
}

impl Event {
    /// An event whose payload is `serialized`: `serde_json::to_value` of the domain's event
    /// type, as the engine stores it, which is what every read model decodes.
    fn new(
        aggregate_type: &'static str,
        aggregate_id: String,
        sequence: i64,
        serialized: serde_json::Result<Value>,
    ) -> Self {
        let payload = serialized.expect("a domain event serializes");
        Self { aggregate_type, aggregate_id, sequence, payload }
    }
}

/// Events per INSERT statement (its own transaction) of [`append_events`].
const EVENTS_PER_STATEMENT: usize = 10_000;

/// Appends `events` in their order, in transactions of [`EVENTS_PER_STATEMENT`], with
/// `workspace` in the metadata like the engine writes it; how many.
pub async fn append_events(
    pool: &PgPool,
    workspace: &str,
    events: impl IntoIterator<Item = Event>,
) -> anyhow::Result<u64> {
    let mut events = events.into_iter().peekable();
    let mut appended = 0;
    while events.peek().is_some() {
        let (mut types, mut ids, mut sequences, mut event_types, mut versions, mut payloads) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for event in events.by_ref().take(EVENTS_PER_STATEMENT) {
            let event_type = event.payload["type"].as_str().context("a payload without its type")?.to_owned();
            versions.push(convo_domain::versions::current_version(&event_type));
            event_types.push(event_type);
            types.push(event.aggregate_type);
            ids.push(event.aggregate_id);
            sequences.push(event.sequence);
            payloads.push(event.payload.to_string());
        }
        let done = sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             SELECT t, id, s, e, v, p::jsonb, jsonb_build_object('workspace_id', $7::text)
               FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[])
                    WITH ORDINALITY AS r(t, id, s, e, v, p, n)
              ORDER BY n",
        )
        .bind(&types)
        .bind(&ids)
        .bind(&sequences)
        .bind(&event_types)
        .bind(&versions)
        .bind(&payloads)
        .bind(workspace)
        .execute(pool)
        .await
        .context("appending generated events")?;
        appended += done.rows_affected();
    }
    Ok(appended)
}

/// When seeded event number `i` of a directory or contacts happened: a second apart, before
/// the conversations' first.
fn seeded_at(i: u32) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_767_225_600 - 86_400, 0).expect("a time") + TimeDelta::seconds(i64::from(i))
}

/// Who the generated directory, contacts, assignments and labels say did it.
fn seeder() -> Actor {
    Actor::agent("bench")
}

/// The id of generated agent `i` (they sort by it).
pub fn agent_id(i: u32) -> String {
    format!("agent-{i:05}")
}

/// `count` agents of `workspace` (`AgentCreated`, each its own stream), as `POST /v1/agents`
/// writes them; how many events.
pub async fn append_agents(pool: &PgPool, workspace: Uuid, count: u32) -> anyhow::Result<u64> {
    let events = (0..count).map(|i| {
        let agent_id = agent_id(i);
        let event = AgentEvent {
            occurred_at: seeded_at(i),
            actor: seeder(),
            change: AgentChange::Created {
                agent_id: agent_id.clone(),
                workspace_id: workspace,
                name: format!("Agent {i}"),
                email: Some(format!("{agent_id}@bench.example")),
                role: AgentRole::Agent,
            },
        };
        Event::new("agent", agent_stream_id(workspace, &agent_id).to_string(), 1, serde_json::to_value(&event))
    });
    append_events(pool, &workspace.to_string(), events).await
}

/// The phone of generated contact `i`: `+4915` and nine digits (the engine section's contacts
/// are `+4916…` and `+4917…`).
pub fn contact_phone(i: u32) -> String {
    format!("+4915{i:09}")
}

/// The id of generated contact `i` under `prefix`.
pub fn contact_id(prefix: &str, i: u32) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("{prefix}contact.{i}").as_bytes())
}

/// `count` contacts of `workspace` under `prefix`, each holding one phone, as `POST
/// /v1/contacts` writes them: the identity's `IdentityClaimed` on its stream
/// (`Identity::id`), then the contact's `ContactCreated`, in one transaction; how many events.
pub async fn append_contacts(pool: &PgPool, workspace: Uuid, prefix: &str, count: u32) -> anyhow::Result<u64> {
    let events = (0..count).flat_map(|i| {
        let identity = Identity::new(IdentityKind::Phone, &contact_phone(i)).expect("a phone in E.164");
        let contact_id = contact_id(prefix, i);
        let claimed = ContactIdentityEvent {
            occurred_at: seeded_at(i),
            actor: seeder(),
            change: ContactIdentityChange::Claimed {
                workspace_id: workspace,
                identity: identity.clone(),
                contact_id,
                previous: None,
            },
        };
        let created = ContactEvent {
            occurred_at: seeded_at(i),
            actor: seeder(),
            change: ContactChange::Created {
                contact_id,
                workspace_id: workspace,
                name: Some(format!("Contact {i}")),
                avatar_url: None,
                identities: vec![identity.clone()],
                tags: Vec::new(),
                attributes: Default::default(),
                conversations: Vec::new(),
            },
        };
        [
            Event::new("contact_identity", identity.id(workspace).to_string(), 1, serde_json::to_value(&claimed)),
            Event::new("contact", contact_id.to_string(), 1, serde_json::to_value(&created)),
        ]
    });
    append_events(pool, &workspace.to_string(), events).await
}

/// What [`Conversations::assign_and_label`] adds to conversation `c`: an `AgentAssigned` to
/// agent `c % agents` (none without agents), then each label whose `every` divides `c`; and what
/// [`Conversations::add_notes`] adds after those: on every `notes`-th conversation (none without
/// agents, or with `notes` 0) a private note by its assignee, [`Extras::note`].
pub struct Extras<'a> {
    pub agents: u32,
    /// Labels, each on every `every`-th conversation (those with `c % every == 0`), in this
    /// order on a conversation carrying several.
    pub labels: &'a [(&'a str, u32)],
    /// A note on every `notes`-th conversation (those with `c % notes == 0`); 0: none.
    pub notes: u32,
}

/// The private note [`Extras::note`] puts on a conversation: agents by their number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Who writes it: the conversation's assignee.
    pub author: u32,
    /// The agents it mentions: one or (every other note, about) two, none of them the author
    /// (unless the author is the only agent), in this order.
    pub mentions: Vec<u32>,
    /// Those of them who then read the conversation up to the note (`ReadMarkerMoved` to it):
    /// each one in three, about.
    pub read_by: Vec<u32>,
}

impl Extras<'_> {
    /// The conversations of `count` carrying `label`.
    pub fn carrying(&self, label: &str, count: u32) -> u32 {
        self.labels.iter().find(|(l, _)| *l == label).map_or(0, |(_, every)| count.div_ceil(*every))
    }

    /// The conversations of `count` assigned to agent `i`.
    pub fn assigned_to(&self, i: u32, count: u32) -> u32 {
        if self.agents == 0 || i >= count { 0 } else { (count - i).div_ceil(self.agents) }
    }

    /// What [`Conversations::assign_and_label`] appends to conversation `c`, in order.
    fn assignment_and_labels(&self, c: u32) -> Vec<ConversationChange> {
        let assigned = (self.agents > 0).then(|| ConversationChange::AgentAssigned {
            assignee: Assignee::agent(agent_id(c % self.agents)),
            previous: None,
        });
        let labels = self
            .labels
            .iter()
            .filter(|(_, every)| c.is_multiple_of(*every))
            .map(|(label, _)| ConversationChange::LabelAdded { label: (*label).to_owned() });
        assigned.into_iter().chain(labels).collect()
    }

    /// The note on conversation `c`, if it has one: chosen at random, the same every run (a
    /// generator seeded with `c`).
    pub fn note(&self, c: u32) -> Option<Note> {
        if self.agents == 0 || self.notes == 0 || !c.is_multiple_of(self.notes) {
            return None;
        }
        let author = c % self.agents;
        let mut rng = fastrand::Rng::with_seed(u64::from(c));
        // Others by their distance from the author, 1 ..= agents - 1, so never the author.
        let mentions = match self.agents {
            1 => vec![author],
            n => {
                let first = 1 + rng.u32(..n - 1);
                let mut offsets = vec![first];
                if n > 2 && rng.bool() {
                    let second = 1 + rng.u32(..n - 2);
                    offsets.push(if second >= first { second + 1 } else { second });
                }
                offsets.into_iter().map(|o| (author + o) % self.agents).collect()
            }
        };
        let read_by = mentions.iter().copied().filter(|_| rng.u32(..3) == 0).collect();
        Some(Note { author, mentions, read_by })
    }

    /// Per agent, the conversations of `count` whose note mentions it, oldest first (the order
    /// [`Conversations::add_notes`] appends them in).
    pub fn mentioned(&self, count: u32) -> Vec<Vec<u32>> {
        let mut mentioned = vec![Vec::new(); self.agents as usize];
        for c in 0..count {
            for agent in self.note(c).map(|n| n.mentions).unwrap_or_default() {
                mentioned[agent as usize].push(c);
            }
        }
        mentioned
    }
}

/// The id of the note on generated conversation `c` under `prefix` (no message has it).
pub fn note_id(prefix: &str, c: u32) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("{prefix}note.{c}").as_bytes())
}

/// The body of the note on generated conversation `c` (the benchmark reads `c` back from it).
pub fn note_body(c: u32) -> String {
    format!("Note {c}: could you take a look at this one?")
}

/// The conversation number a [`note_body`] names.
pub fn note_conversation(body: &str) -> Option<u32> {
    body.strip_prefix("Note ")?.split(':').next()?.parse().ok()
}

impl Conversations<'_> {
    /// After [`Conversations::append`]: `extras`' events in each conversation's stream, at the
    /// sequences that follow its `events`, as the engine writes them (`PUT …/assignee`, `PUT
    /// …/labels/{label}`); how many.
    pub async fn assign_and_label(&self, pool: &PgPool, extras: &Extras<'_>) -> anyhow::Result<u64> {
        self.append_after(pool, |c| {
            let changes = extras.assignment_and_labels(c);
            (0, changes.into_iter().map(|change| (seeder(), change)).collect())
        })
        .await
    }

    /// After [`Conversations::assign_and_label`] with the same `extras`: the notes of
    /// [`Extras::note`], each at the sequence after the conversation's assignment and labels, as
    /// `POST …/notes` writes it (`seq` the timeline's next, after the one inbound message), then
    /// a `ReadMarkerMoved` to the note for each mentioned agent who reads it, as `POST …/read`
    /// by that agent writes it; how many events.
    pub async fn add_notes(&self, pool: &PgPool, extras: &Extras<'_>) -> anyhow::Result<u64> {
        // The generated conversations hold `events - 1` inbound messages: the note comes next.
        let (seq, inbound) = (u64::from(self.events), u64::from(self.events.saturating_sub(1)));
        self.append_after(pool, |c| {
            let Some(note) = extras.note(c) else { return (0, Vec::new()) };
            let before = extras.assignment_and_labels(c).len() as u32;
            let message_id = note_id(self.prefix, c);
            let added = ConversationChange::NoteAdded {
                message_id,
                seq,
                inbound_count: inbound,
                body: note_body(c),
                mentions: note.mentions.iter().map(|&a| agent_id(a)).collect(),
            };
            let read = note.read_by.iter().map(|&a| {
                let user_id = agent_id(a);
                let change = ConversationChange::ReadMarkerMoved {
                    user_id: user_id.clone(),
                    message_id,
                    seq,
                    inbound_read: inbound,
                };
                (Actor::agent(user_id), change)
            });
            (before, std::iter::once((Actor::agent(agent_id(note.author)), added)).chain(read).collect())
        })
        .await
    }

    /// Appends, for each conversation `c`, the changes `of(c)` names, by their actors, at the
    /// sequences after its `events` and the `skip` it names (what an earlier pass appended
    /// there); how many.
    async fn append_after(
        &self,
        pool: &PgPool,
        of: impl Fn(u32) -> (u32, Vec<(Actor, ConversationChange)>),
    ) -> anyhow::Result<u64> {
        let mut appended = 0;
        let mut from = 0;
        while from < self.count {
            let to = (from + PER_STATEMENT).min(self.count) - 1;
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT md5($1 || c)::uuid::text FROM generate_series($2::int, $3::int) AS c ORDER BY c",
            )
            .bind(self.prefix)
            .bind(from as i32)
            .bind(to as i32)
            .fetch_all(pool)
            .await?;
            let events = (from..=to).zip(ids).flat_map(|(c, id)| {
                let (skip, changes) = of(c);
                changes.into_iter().zip(1..).map(move |((actor, change), k)| {
                    let k = self.events + skip + k;
                    // The times the SQL above gives event k of conversation c.
                    let occurred_at = DateTime::<Utc>::from_timestamp(1_767_225_600, 0).expect("a time")
                        + TimeDelta::minutes(i64::from(c))
                        + TimeDelta::seconds(i64::from(k));
                    let event = ConversationEvent { occurred_at, actor, change };
                    Event::new("conversation", id.clone(), i64::from(k), serde_json::to_value(&event))
                })
            });
            appended += append_events(pool, self.workspace, events.collect::<Vec<_>>()).await?;
            from = to + 1;
        }
        Ok(appended)
    }
}
