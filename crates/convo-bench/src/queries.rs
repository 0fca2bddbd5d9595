//! Queries with many conversations, contacts and agents loaded: agents, contacts (each holding a
//! phone) and conversations (assigned to the agents, some labelled, some with a private note
//! mentioning agents, some of whom read it) appended straight into the log (in the benchmark's
//! workspace and inbox), folded by the server's own read-model runners, then the inbox list,
//! the unread summary, the window, a contact by its phone, the inbox by label, a page of agents
//! with their counts and an agent's mentions over HTTP, one request at a time.

use std::time::{Duration, Instant};

use anyhow::Context;
use convo_read::ReadModels;
use convo_store_postgres::PostgresBackend;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::engine::Target;
use crate::seed::{self, Conversations, Extras};
use crate::server::{Server, caught_up};
use crate::stats::Latencies;

/// The user whose unread messages are asked about (nobody has read anything: every
/// conversation counts, the heaviest summary).
const USER: &str = "bench-agent";

/// The labels put on the generated conversations: `billing` on every 2nd (50 %), `vip` on every
/// 100th (1 %).
const LABELS: [(&str, u32); 2] = [("billing", 2), ("vip", 100)];

/// A private note on every 4th conversation, by its assignee, mentioning one or two other
/// agents (`seed::Extras::note`): with 200 000 conversations and 1 000 agents, 75 mentions per
/// agent on average.
pub const NOTES_EVERY: u32 = 4;

/// A page of `GET /v1/conversations` without `limit`.
const CONVERSATIONS_PAGE: u32 = 25;
/// The page of agents asked for.
const AGENTS_PAGE: u32 = 50;
/// The page of an agent's mentions asked for.
const MENTIONS_PAGE: u32 = 25;

/// The read models the queries read: `caught_up` waits for every read model of the registry,
/// so these must be in it.
const READ: [&str; 7] =
    ["inbox", "unread", "conversation_labels", "contacts", "contact_identities", "agents", "mentions"];

/// How many of each to load.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub conversations: u32,
    pub contacts: u32,
    pub agents: u32,
    pub samples: usize,
}

/// One query measured.
#[derive(Debug)]
pub struct Query {
    /// What was asked.
    pub name: String,
    /// The target of issue #18 it is held to, if any.
    pub target: Option<String>,
    pub latencies: Latencies,
}

/// The generated notes.
#[derive(Debug, Default, Clone, Copy)]
pub struct Notes {
    pub notes: u32,
    /// Agents mentioned, in all, and those who read the note.
    pub mentions: u32,
    pub read: u32,
    /// The fewest and the most mentions of one agent.
    pub per_agent: (u32, u32),
}

#[derive(Debug)]
pub struct QueriesResult {
    /// What the read models hold in the workspace afterwards (the engine section's too).
    pub conversations: u64,
    pub contacts: u64,
    pub agents: u64,
    /// Events appended: in all, and those of the agents, of the contacts, of the conversations
    /// (started, message), of their assignments and labels and of their notes (with the read
    /// markers of the agents who read them), each with how long it took.
    pub events: u64,
    pub parts: [(u64, Duration); 5],
    /// The notes appended: how many, and what they mention.
    pub notes: Notes,
    /// Appending the generated log, and the server's read models folding it.
    pub append: Duration,
    pub catch_up: Duration,
    pub queries: Vec<Query>,
}

pub async fn run(target: &Target, pool: &PgPool, server: &mut Server, sizes: Sizes) -> anyhow::Result<QueriesResult> {
    for model in READ {
        anyhow::ensure!(
            ReadModels::<PostgresBackend>::NAMES.contains(&model),
            "the read model {model:?} is not in the registry: the catch-up would not wait for it"
        );
    }
    let Sizes { conversations, contacts, agents, samples } = sizes;
    let started = Instant::now();
    let prefix = format!("q{:08x}.", fastrand::u32(..));
    let workspace = target.workspace_id.to_string();
    let extras = Extras { agents, labels: &LABELS, notes: NOTES_EVERY };
    let log = Conversations {
        prefix: &prefix,
        workspace: &workspace,
        inbox: &target.inbox_id,
        count: conversations,
        events: 2,
    };
    let parts = [
        timed(seed::append_agents(pool, target.workspace_id, agents)).await?,
        timed(seed::append_contacts(pool, target.workspace_id, &prefix, contacts)).await?,
        timed(log.append(pool)).await?,
        timed(log.assign_and_label(pool, &extras)).await?,
        timed(log.add_notes(pool, &extras)).await?,
    ];
    let events = parts.iter().map(|(n, _)| n).sum();
    let append = started.elapsed();
    eprintln!(
        "queries: appended {agents} agents, {contacts} contacts, {conversations} conversations with their \
         assignments, labels and notes ({events} events) in {append:.1?}; folding"
    );
    let catch_up = caught_up(pool, std::slice::from_mut(server), Duration::from_secs(900)).await?;
    eprintln!("queries: folded in {catch_up:.1?}");
    sqlx::query("ANALYZE").execute(pool).await?;
    let count = |table: &str| {
        let sql = format!("SELECT count(*) FROM {table} WHERE workspace_id = $1");
        let workspace = &workspace;
        async move { anyhow::Ok(sqlx::query_scalar::<_, i64>(&sql).bind(workspace).fetch_one(pool).await? as u64) }
    };
    let (total, total_contacts, total_agents) =
        (count("rm_inbox").await?, count("rm_contacts").await?, count("rm_agents").await?);
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT conversation_id FROM rm_inbox WHERE workspace_id = $1 ORDER BY random() LIMIT $2")
            .bind(&workspace)
            .bind(samples as i64)
            .fetch_all(pool)
            .await?;
    let ids: Vec<Uuid> = ids.iter().map(|i| i.parse()).collect::<Result<_, _>>().context("a conversation id")?;
    anyhow::ensure!(!ids.is_empty(), "no conversation in the inbox read model");

    let inbox = &target.inbox_id;
    let list = "/v1/conversations".to_owned();
    let filtered = format!("/v1/conversations?inbox_id={inbox}&unread_only=true&user_id={USER}&limit=50");
    let summary = format!("/v1/users/{USER}/unread-summary");
    // What a user would notice first: the inbox shows a full page, the summary counts them all.
    let page = target.get(&list).await?;
    anyhow::ensure!(items(&page).len() == CONVERSATIONS_PAGE as usize, "the inbox list has no full page: {page}");
    let unread = target.get(&summary).await?;
    anyhow::ensure!(
        unread["conversations"].as_i64().is_some_and(|n| n >= i64::from(conversations)),
        "the unread summary misses conversations: {unread}"
    );

    // A random generated contact's phone per request (the same ones every run), each answer
    // checked to be that contact and no other.
    let mut rng = fastrand::Rng::with_seed(18);
    let picked: Vec<u32> = if contacts == 0 { Vec::new() } else { (0..samples).map(|_| rng.u32(..contacts)).collect() };
    let by_phone: Vec<String> = picked
        .iter()
        .map(|&i| format!("/v1/contacts?identity=phone:{}", seed::contact_phone(i).replace('+', "%2B")))
        .collect();
    let contact_found = |i: usize, answer: &Value| {
        let want = seed::contact_id(&prefix, picked[i % picked.len()]).to_string();
        let found: Vec<&str> = items(answer).iter().filter_map(|c| c["contact_id"].as_str()).collect();
        anyhow::ensure!(found == [want.as_str()], "{} found {found:?}, not {want}", by_phone[i % by_phone.len()]);
        Ok(())
    };
    let labelled = |label: &'static str| {
        let expected = extras.carrying(label, conversations).min(CONVERSATIONS_PAGE) as usize;
        move |_: usize, answer: &Value| {
            let page = items(answer);
            anyhow::ensure!(page.len() == expected, "?label={label}: {} conversations, not {expected}", page.len());
            anyhow::ensure!(
                page.iter().all(|c| c["labels"].as_array().is_some_and(|l| l.iter().any(|l| l == label))),
                "?label={label} listed a conversation without it: {answer}"
            );
            Ok(())
        }
    };
    let agents_page = format!("/v1/agents?limit={AGENTS_PAGE}");
    let agents_listed = |_: usize, answer: &Value| {
        let page = items(answer);
        anyhow::ensure!(
            page.len() == agents.min(AGENTS_PAGE) as usize,
            "{agents_page}: {} agents, not {}",
            page.len(),
            agents.min(AGENTS_PAGE)
        );
        // The first page is the first generated agents, by id, each holding its conversations.
        for (i, agent) in (0..).zip(page) {
            let open = u32::try_from(agent["counts"]["open"].as_u64().unwrap_or(u64::MAX)).unwrap_or(u32::MAX);
            anyhow::ensure!(
                agent["agent_id"] == seed::agent_id(i).as_str() && open == extras.assigned_to(i, conversations),
                "{agents_page}: agent {i} is {agent}, not {} with {} open conversations",
                seed::agent_id(i),
                extras.assigned_to(i, conversations)
            );
        }
        Ok(())
    };

    // A random generated agent's mentions per request (the same ones every run), each answer
    // checked to be its newest notes, newest first, read where it read them.
    let mentioned = extras.mentioned(conversations);
    let notes = notes_seeded(&extras, conversations, &mentioned);
    let mut rng = fastrand::Rng::with_seed(8);
    let asked: Vec<u32> = if agents == 0 { Vec::new() } else { (0..samples).map(|_| rng.u32(..agents)).collect() };
    let mentions: Vec<String> =
        asked.iter().map(|&a| format!("/v1/agents/{}/mentions?limit={MENTIONS_PAGE}", seed::agent_id(a))).collect();
    let mentions_listed = |i: usize, answer: &Value| {
        let (agent, path) = (asked[i % asked.len()], &mentions[i % mentions.len()]);
        let want: Vec<u32> = mentioned[agent as usize].iter().rev().take(MENTIONS_PAGE as usize).copied().collect();
        let page = items(answer);
        let got: Vec<Option<u32>> = page.iter().map(|m| m["body"].as_str().and_then(seed::note_conversation)).collect();
        anyhow::ensure!(
            got.iter().copied().eq(want.iter().map(|&c| Some(c))),
            "{path}: the notes of conversations {got:?}, not the newest {} of its {} ({want:?})",
            want.len(),
            mentioned[agent as usize].len()
        );
        let positions: Vec<i64> = page.iter().filter_map(|m| m["position"].as_i64()).collect();
        anyhow::ensure!(
            positions.len() == page.len() && positions.is_sorted_by(|a, b| a > b),
            "{path}: not newest first by position: {positions:?}"
        );
        for (mention, c) in page.iter().zip(want) {
            let read = extras.note(c).is_some_and(|n| n.read_by.contains(&agent));
            anyhow::ensure!(
                mention["agent_id"] == seed::agent_id(agent).as_str() && mention["read"] == read,
                "{path}: {mention} is not a mention of {} (read: {read})",
                seed::agent_id(agent)
            );
        }
        Ok(())
    };

    let unchecked = |_: usize, _: &Value| Ok(());
    let mut queries = Vec::new();
    let mut measured = Measured { target, samples, queries: &mut queries };
    let name = "GET /v1/conversations (inbox list, default sort)";
    measured.run(name, Some("inbox list p99 < 10 ms"), &[list], &unchecked).await?;
    let name = "GET /v1/conversations?inbox_id=…&unread_only=true&user_id=…&limit=50";
    measured.run(name, None, &[filtered], &unchecked).await?;
    measured.run("GET /v1/users/{user}/unread-summary", None, &[summary], &unchecked).await?;
    let windows: Vec<String> = ids.iter().map(|id| format!("/v1/conversations/{id}/window?actor=AGENT")).collect();
    let name = "GET /v1/conversations/{id}/window?actor=AGENT (random conversation)";
    measured.run(name, None, &windows, &unchecked).await?;
    if contacts > 0 {
        let name = format!("GET /v1/contacts?identity=phone:%2B4915… (a random one of the {contacts} generated)");
        let target = Some("contact lookup by identifier p99 < 10 ms");
        measured.run(&name, target, &by_phone, &contact_found).await?;
    }
    for (label, every) in LABELS.iter().rev() {
        let name = format!("GET /v1/conversations?label={label} (on {} % of the generated conversations)", 100 / every);
        let target = format!("inbox list by label p99 < 10 ms: `{label}`, on {} %", 100 / every);
        let path = format!("/v1/conversations?label={label}");
        measured.run(&name, Some(&target), &[path], &labelled(label)).await?;
    }
    // The labels in use with their counts: every label row of the workspace read, grouped.
    let label_counts = |_: usize, answer: &Value| {
        for (label, _) in LABELS {
            let carrying = u64::from(extras.carrying(label, conversations));
            let count = items(answer).iter().find(|l| l["label"] == label).map(|l| l["conversations"].clone());
            anyhow::ensure!(
                count.as_ref().and_then(Value::as_u64).is_some_and(|n| n >= carrying),
                "GET /v1/labels: {label} on {count:?} conversations, not at least {carrying}"
            );
        }
        Ok(())
    };
    let name = format!(
        "GET /v1/labels (counting every label row: {} in all)",
        LABELS.iter().map(|(l, _)| extras.carrying(l, conversations)).sum::<u32>()
    );
    measured.run(&name, None, &["/v1/labels".to_owned()], &label_counts).await?;
    if agents > 0 {
        let held = extras.assigned_to(0, conversations);
        let name = format!("GET /v1/agents?limit={AGENTS_PAGE} (with their counts: each holds {held} conversations)");
        measured.run(&name, None, std::slice::from_ref(&agents_page), &agents_listed).await?;
        let (fewest, most) = notes.per_agent;
        let name = format!(
            "GET /v1/agents/{{agent}}/mentions?limit={MENTIONS_PAGE} (a random one of the {agents} generated: \
             {fewest}–{most} mentions each)"
        );
        let target = Some("an agent's mentions p99 < 10 ms");
        measured.run(&name, target, &mentions, &mentions_listed).await?;
    }
    Ok(QueriesResult {
        conversations: total,
        contacts: total_contacts,
        agents: total_agents,
        events,
        parts,
        notes,
        append,
        catch_up,
        queries,
    })
}

/// Where measured queries go.
struct Measured<'a> {
    target: &'a Target,
    samples: usize,
    queries: &'a mut Vec<Query>,
}

impl Measured<'_> {
    /// Measures `paths` ([`measure`]) as `name`, held to `target` if any.
    async fn run(
        &mut self,
        name: &str,
        target: Option<&str>,
        paths: &[String],
        check: &dyn Fn(usize, &Value) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let latencies = measure(self.target, paths, self.samples, check).await?;
        eprintln!(
            "queries {name}: p50 {:.2} ms, p99 {:.2} ms",
            latencies.percentile_ms(50.0),
            latencies.percentile_ms(99.0)
        );
        self.queries.push(Query { name: name.to_owned(), target: target.map(str::to_owned), latencies });
        Ok(())
    }
}

/// What `extras` notes on `count` conversations, `mentioned` (`Extras::mentioned`) per agent.
fn notes_seeded(extras: &Extras<'_>, count: u32, mentioned: &[Vec<u32>]) -> Notes {
    let notes: Vec<seed::Note> = (0..count).filter_map(|c| extras.note(c)).collect();
    let per_agent = mentioned.iter().map(|m| m.len() as u32);
    Notes {
        notes: notes.len() as u32,
        mentions: notes.iter().map(|n| n.mentions.len() as u32).sum(),
        read: notes.iter().map(|n| n.read_by.len() as u32).sum(),
        per_agent: (per_agent.clone().min().unwrap_or(0), per_agent.max().unwrap_or(0)),
    }
}

/// What `appending` appended, and how long it took.
async fn timed(appending: impl Future<Output = anyhow::Result<u64>>) -> anyhow::Result<(u64, Duration)> {
    let began = Instant::now();
    Ok((appending.await?, began.elapsed()))
}

/// A page's items (none when it has none).
fn items(page: &Value) -> &[Value] {
    page["items"].as_array().map_or(&[], Vec::as_slice)
}

/// `samples` requests, one at a time, cycling through `paths`, after a few unmeasured ones;
/// each answer (with the index of its request) passed to `check` after its latency is taken.
async fn measure(
    target: &Target,
    paths: &[String],
    samples: usize,
    check: &dyn Fn(usize, &Value) -> anyhow::Result<()>,
) -> anyhow::Result<Latencies> {
    for (i, path) in paths.iter().cycle().take(5).enumerate() {
        check(i, &target.get(path).await?)?;
    }
    let mut latencies = Latencies::default();
    for (i, path) in paths.iter().cycle().take(samples).enumerate() {
        let began = Instant::now();
        let answer = target.get(path).await?;
        latencies.push(began.elapsed());
        check(i, &answer)?;
    }
    Ok(latencies)
}
