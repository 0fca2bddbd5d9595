//! Latency samples, percentiles, peak memory, and the Markdown table.

use std::fmt::Write as _;
use std::time::Duration;

use crate::{Report, Settings};

/// Every observed latency of one measurement.
#[derive(Debug, Default, Clone)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    pub fn count(&self) -> usize {
        self.0.len()
    }

    /// The `p`-th percentile (nearest rank), in milliseconds; NaN without samples.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
    }
}

fn ms(l: &Latencies) -> String {
    format!("{:.2} / {:.2}", l.percentile_ms(50.0), l.percentile_ms(99.0))
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn check(met: bool) -> &'static str {
    if met { "yes" } else { "**no**" }
}

pub fn markdown(report: &Report, settings: &Settings, duration: Duration) -> String {
    let mut t = String::new();
    let mut targets: Vec<(String, String, &str)> = Vec::new();
    if report.rows.iter().any(|r| r.limit.is_some() || r.engine.is_some()) {
        engine_table(&mut t, report, settings, duration, &mut targets);
    }
    if let Some(i) = &report.inbound {
        inbound_table(&mut t, i, &mut targets);
    }
    if let Some(q) = &report.queries {
        let _ = writeln!(
            t,
            "### Queries with {} conversations, {} contacts and {} agents loaded\n",
            q.conversations, q.contacts, q.agents
        );
        let [agents, contacts, conversations, extras, notes] = q.parts.map(|(n, took)| (n, took.as_secs_f64()));
        let n = &q.notes;
        let _ = writeln!(
            t,
            "{} events appended with SQL in {:.1} s: {} agents ({} `AgentCreated`, {:.1} s), {} contacts ({} \
             events: `IdentityClaimed` of its phone, `ContactCreated`; {:.1} s), {} conversations ({} events: \
             started + one inbound message; {:.1} s), their assignments and labels ({} events: each assigned \
             to an agent in turn, `billing` on every 2nd, `vip` on every 100th; {:.1} s) and their private notes \
             ({} events: {} `NoteAdded`, on every {}th conversation by its assignee, mentioning one or two other \
             agents, {} mentions in all, {}–{} per agent; then a `ReadMarkerMoved` to the note by {} of the \
             agents mentioned; {:.1} s). The server's read models (running meanwhile) were at the log's head \
             {:.1} s after the last append ({:.0} events/s per read model over that time, all running \
             together). One request at a time, {} each, latency as the HTTP client sees it:\n",
            q.events,
            q.append.as_secs_f64(),
            settings.query_agents,
            agents.0,
            agents.1,
            settings.query_contacts,
            contacts.0,
            contacts.1,
            settings.query_conversations,
            conversations.0,
            conversations.1,
            extras.0,
            extras.1,
            notes.0,
            n.notes,
            crate::queries::NOTES_EVERY,
            n.mentions,
            n.per_agent.0,
            n.per_agent.1,
            n.read,
            notes.1,
            q.catch_up.as_secs_f64(),
            rate(q.events, q.catch_up),
            settings.query_samples,
        );
        let _ = writeln!(t, "| query | p50 / p99 ms |");
        let _ = writeln!(t, "| --- | ---: |");
        for query in &q.queries {
            let _ = writeln!(t, "| `{}` | {} |", query.name, ms(&query.latencies));
        }
        let _ = writeln!(t);
        for query in &q.queries {
            if let Some(target) = &query.target {
                let p99 = query.latencies.percentile_ms(99.0);
                targets.push((target.clone(), format!("{p99:.2} ms"), check(p99 < 10.0)));
            }
        }
    }
    if let Some(s) = &report.history {
        let n = settings.history_window;
        let _ = writeln!(t, "### History: one conversation driven to {} events\n", s.events);
        let _ = writeln!(t, "One client, send-message commands one after another on the same conversation:\n");
        let _ = writeln!(t, "| commands | p50 / p99 ms |");
        let _ = writeln!(t, "| --- | ---: |");
        let _ = writeln!(t, "| first {n} | {} |", ms(&s.first));
        let _ = writeln!(t, "| last {n} | {} |", ms(&s.last));
        let _ = writeln!(t, "| then alternating: a new conversation's first {n} | {} |", ms(&s.fresh));
        let _ = writeln!(t, "| then alternating: this conversation's next {n} | {} |", ms(&s.long));
        let p50 = s.last.percentile_ms(50.0) / s.first.percentile_ms(50.0);
        let p99 = s.last.percentile_ms(99.0) / s.first.percentile_ms(99.0);
        let same_moments = s.long.percentile_ms(50.0) / s.fresh.percentile_ms(50.0);
        let _ = writeln!(
            t,
            "\nLast / first: p50 × {p50:.2}, p99 × {p99:.2}. At the same moments (alternating), this \
             conversation / a new one: p50 × {same_moments:.2}, p99 × {:.2}.\n",
            s.long.percentile_ms(99.0) / s.fresh.percentile_ms(99.0)
        );
        let tenths: Vec<String> = s.tenths.iter().map(|p| format!("{p:.2}")).collect();
        let _ = writeln!(t, "p50 of each tenth of the run, in ms: {}.\n", tenths.join(", "));
        targets.push((
            "flat with history within 20 % (p50 at the end / at the start: alternating; one after the other)".into(),
            format!("× {same_moments:.2}; × {p50:.2}"),
            check(same_moments <= 1.2),
        ));
    }
    if let Some((kib, whose)) = &report.memory {
        let mib = kib.map(|k| k as f64 / 1024.0);
        let shown = mib.map_or_else(|| "unknown".to_owned(), |m| format!("{m:.0} MiB"));
        let _ = writeln!(t, "### Server memory\n");
        let _ = writeln!(t, "Peak RSS (VmHWM) of {whose}, after the sections above: **{shown}**.\n");
        targets.push((
            "server peak RSS < 256 MB".into(),
            shown,
            check(mib.is_some_and(|m| m * 1024.0 * 1024.0 < 256e6)),
        ));
    }
    if let Some(s) = &report.scale {
        scale_table(&mut t, s, settings);
    }
    if let Some(w) = &report.webhooks {
        webhooks_table(&mut t, w, settings);
    }
    if let Some(r) = &report.rebuild {
        let _ = writeln!(t, "### Rebuild from a {}-event log\n", r.events);
        let _ = writeln!(
            t,
            "Log: {}, loaded and vacuumed in {:.1} s. Each read model is rebuilt with `ReadModels::rebuild` \
             (what `convo projections rebuild NAME` runs), one after another, then all of them with \
             `ReadModels::rebuild_all` (what `convo projections rebuild` runs):\n",
            r.source,
            r.load.as_secs_f64()
        );
        let _ = writeln!(t, "| what | seconds | events/s |");
        let _ = writeln!(t, "| --- | ---: | ---: |");
        let _ = writeln!(
            t,
            "| raw read, bare SQL: `COPY (SELECT … ORDER BY global_position) TO STDOUT` ({:.0} MB) | {:.2} | {:.0} |",
            r.copy_bytes as f64 / 1e6,
            r.copy.as_secs_f64(),
            rate(r.events, r.copy)
        );
        let _ = writeln!(
            t,
            "| raw read, store path: `EventLog::read_to_head` (pages of 5000, decoded) | {:.2} | {:.0} |",
            r.store_read.as_secs_f64(),
            rate(r.events, r.store_read)
        );
        let mut total = Duration::ZERO;
        for (name, folded, took) in &r.models {
            total += *took;
            let _ = writeln!(t, "| rebuild `{name}` | {:.2} | {:.0} |", took.as_secs_f64(), rate(*folded, *took));
        }
        let in_turn = rate(r.events, total);
        let _ = writeln!(
            t,
            "| all {} read models, one after another (log events / total time) | {:.2} | {in_turn:.0} |",
            r.models.len(),
            total.as_secs_f64()
        );
        let (read, took) = r.all;
        let all = rate(read, took);
        let _ = writeln!(
            t,
            "| all {} read models in one pass (`rebuild_all`: each page read once, folded by all) | {:.2} | {all:.0} |",
            r.models.len(),
            took.as_secs_f64()
        );
        let (rows, took) = r.timeline_copy;
        let _ = writeln!(
            t,
            "| write only: the rebuilt timeline's {rows} rows `COPY`ed from memory into an empty table of its \
             shape (PostgreSQL alone: nothing read or folded; log events / time) | {:.2} | {:.0} |\n",
            took.as_secs_f64(),
            rate(r.events, took)
        );
        let slowest = r.models.iter().map(|(_, f, d)| rate(*f, *d)).fold(f64::INFINITY, f64::min);
        targets.push((
            "rebuild ≥ 200 000 events/s (slowest read model alone; all in one pass)".into(),
            format!("{slowest:.0}; {all:.0}"),
            check(slowest >= 200_000.0),
        ));
    }
    if let Some(d) = &report.dashboard {
        dashboard_table(&mut t, d, &mut targets);
    }
    if !targets.is_empty() {
        let _ = writeln!(t, "### Against the targets\n");
        let _ = writeln!(t, "| target | measured | met |");
        let _ = writeln!(t, "| --- | ---: | :---: |");
        for (target, measured, met) in targets {
            let _ = writeln!(t, "| {target} | {measured} | {met} |");
        }
    }
    t
}

fn engine_table(
    t: &mut String,
    report: &Report,
    settings: &Settings,
    duration: Duration,
    targets: &mut Vec<(String, String, &'static str)>,
) {
    let dash = || "–".to_owned();
    let _ = writeln!(t, "### Engine vs. the raw INSERT limit\n");
    let _ = writeln!(
        t,
        "| clients | limit: INSERT tx/s | limit p50 / p99 ms | engine: send-message cmd/s | engine p50 / p99 ms | engine / limit | projection lag p50 / p99 ms | errors | limit CPU µs/tx: – / PostgreSQL / clients | engine CPU µs/cmd: server / PostgreSQL / clients |"
    );
    let _ = writeln!(t, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut heaviest = None;
    for r in &report.rows {
        let limit = r.limit.as_ref().map(|l| l.per_second());
        let engine = r.engine.as_ref().map(|e| e.per_second());
        let ratio = limit.zip(engine).map(|(l, e)| e / l);
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.clients,
            limit.map_or_else(dash, |l| format!("{l:.0}")),
            r.limit.as_ref().map_or_else(dash, |l| ms(&l.latencies)),
            engine.map_or_else(dash, |e| format!("{e:.0}")),
            r.engine.as_ref().map_or_else(dash, |e| ms(&e.latencies)),
            ratio.map_or_else(dash, |x| format!("{:.1} %", 100.0 * x)),
            r.engine.as_ref().and_then(|e| e.lag.as_ref()).map_or_else(dash, |l| ms(&l.latencies)),
            r.limit.as_ref().map_or(0, |l| l.errors)
                + r.engine.as_ref().map_or(0, |e| e.errors + e.lag.as_ref().map_or(0, |l| l.errors)),
            r.limit.as_ref().map_or_else(dash, |l| l.cpu.per_operation(l.transactions)),
            r.engine.as_ref().map_or_else(dash, |e| e.cpu.per_operation(e.latencies.count())),
        );
        heaviest = Some((r.clients, ratio));
    }
    let _ = writeln!(t);
    if let Some((clients, Some(ratio))) = heaviest {
        targets.push((
            format!("engine ≥ 0.8 × the INSERT limit at {clients} clients"),
            format!("{ratio:.2} ×"),
            check(ratio >= 0.8),
        ));
    }
    if let Some(lag) = &report.lag {
        let p99 = lag.latencies.percentile_ms(99.0);
        let _ = writeln!(
            t,
            "Projection lag at {} clients (command acknowledged -> visible in GET /v1/conversations/{{id}}, \
             asked once with `min_position` = the command's position, {} samples): p50 {:.1} ms, p99 {p99:.1} ms{}.",
            lag.clients,
            lag.latencies.count(),
            lag.latencies.percentile_ms(50.0),
            if lag.errors > 0 { format!(", {} failed", lag.errors) } else { String::new() },
        );
        targets.push((
            format!("projection lag p99 < 100 ms at {} clients", lag.clients),
            format!("{p99:.1} ms"),
            check(p99 < 100.0),
        ));
    }
    let _ = writeln!(
        t,
        "Each level runs {} s; the engine's clients send to {} conversations at random.\n",
        duration.as_secs_f64(),
        settings.conversations
    );
}

fn scale_table(t: &mut String, s: &crate::scale::ScaleResult, settings: &Settings) {
    let _ = writeln!(t, "### Scale: one node against two API nodes and a worker\n");
    let _ = writeln!(
        t,
        "The engine's load on one PostgreSQL, each topology in a fresh database: {} clients for {} s, send-message \
         commands to {} conversations at random; with two API nodes each client sends its commands to them in \
         turn. Every {}th acknowledged command per client is read with `min_position` on the node that took it \
         (lag: acknowledged → visible; read-your-writes: that read's own time) and, at the same moment, on the \
         other API node. CPU: every server process (and by role: the API nodes together, the worker) and every \
         `postgres` process from the start of the run until the read models had folded it, per event appended. \
         Peak RSS: each process's VmHWM after both runs. Hot: the same clients on {} conversations for {} s.\n",
        s.clients,
        s.duration.as_secs_f64(),
        settings.conversations,
        settings.lag_every,
        crate::scale::HOT_CONVERSATIONS,
        s.hot_duration.as_secs_f64(),
    );
    let _ = writeln!(
        t,
        "| topology | cmd/s | p50 / p99 ms | CPU µs per event: servers (by role) / PostgreSQL | peak RSS MiB per process | lag p50 / p99 ms | RYW same node p50 / p99 ms | RYW cross-node p50 / p99 ms | hot: cmd/s, p99 ms, conflicts retried, errors |"
    );
    let _ = writeln!(t, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &s.topologies {
        let per_event = |seconds: f64| 1e6 * seconds / r.events.max(1) as f64;
        let _ = writeln!(
            t,
            "| {} | {:.0} | {} | {:.0} ({}) / {:.0} | {} | {} | {} | {} | {:.0}, {:.2}, {}, {} |",
            r.name,
            r.run.per_second(),
            ms(&r.run.latencies),
            per_event(r.run.cpu.server.unwrap_or(f64::NAN)),
            r.cpu_by_role
                .iter()
                .map(|(role, s)| format!("{}: {:.0}", role.arg(), per_event(*s)))
                .collect::<Vec<_>>()
                .join(", "),
            per_event(r.run.cpu.postgres),
            r.peak_rss_mib.iter().map(|(role, m)| format!("{} {m:.0}", role.arg())).collect::<Vec<_>>().join(", "),
            ms(&r.lag.latencies),
            ms(&r.lag.same_node),
            if r.lag.cross_node.count() > 0 { ms(&r.lag.cross_node) } else { "–".to_owned() },
            r.hot.per_second(),
            r.hot.latencies.percentile_ms(99.0),
            r.hot_conflicts,
            r.hot.errors,
        );
    }
    let summary: Vec<String> = s
        .topologies
        .iter()
        .map(|r| {
            format!(
                "{}: {} events, {} conflicts retried, {} errors ({} probes)",
                r.name.split(':').next().unwrap_or(r.name),
                r.events,
                r.conflicts,
                r.run.errors + r.lag.errors,
                r.lag.latencies.count() + r.lag.cross_node.count()
            )
        })
        .collect();
    let _ = writeln!(t, "\nThe runs (not hot): {}.\n", summary.join("; "));
}

fn webhooks_table(t: &mut String, w: &crate::webhooks::WebhooksResult, settings: &Settings) {
    let (l, d) = (&w.under_load, &w.drain);
    let _ = writeln!(t, "### Webhooks: delivery lag and drain\n");
    let _ = writeln!(
        t,
        "Each measurement in a fresh database with its own `convo serve --role all` process (fan-out and \
         sender; `CONVO_WEBHOOK_SCHEDULE={}` then `1s` {} times) and one endpoint for every event type at a receiver in the \
         benchmark's process (axum on 127.0.0.1, answering at once; every delivery's `v1` signature verified \
         with `standardwebhooks`). Under load: {} clients for {} s, send-message commands to {} conversations \
         at random; lag: the command acknowledged → its event's first arrival at the receiver, matched by \
         position, for every command; deliveries/s: the load's events / its start → the last one's arrival. \
         CPU from the load's start until its last event arrived, per command.\n",
        crate::webhooks::SCHEDULE_START,
        crate::webhooks::SECONDS_AFTER,
        w.clients,
        w.duration.as_secs_f64(),
        settings.conversations,
    );
    let _ = writeln!(
        t,
        "| clients | cmd/s | events | deliveries/s | lag p50 / p99 / max ms | not arrived at the load's end; last arrival after it | arrived / missing / repeated | bad signatures | errors | CPU µs/cmd: server / PostgreSQL / bench |"
    );
    let _ = writeln!(t, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let _ = writeln!(
        t,
        "| {} | {:.0} | {} | {:.0} | {:.2} / {:.2} / {:.2} | {}; {:.2} s | {} / {} / {} | {} | {} | {} |\n",
        w.clients,
        l.run.per_second(),
        l.events.events,
        l.deliveries_per_second(),
        l.lag.percentile_ms(50.0),
        l.lag.percentile_ms(99.0),
        l.lag.percentile_ms(100.0),
        l.behind_at_end,
        l.after_end.as_secs_f64(),
        l.events.arrived,
        l.events.missing,
        l.events.repeats,
        l.bad,
        l.run.errors,
        l.run.cpu.per_operation(l.run.latencies.count()),
    );
    if l.early > 0 {
        let _ = writeln!(t, "{} event(s) arrived before their command's answer (counted as 0 ms).\n", l.early);
    }
    let _ = writeln!(
        t,
        "Drain, in a database of its own (one inbox, no conversation): the receiver answers 503 `Retry-After: 1` \
         while {} events ({} conversations × {}) are appended with SQL ({:.1} s), until the fan-out has written \
         their deliveries and the read models have folded them ({:.1} s in all; {} attempts refused); then 204: \
         the time until every one has arrived (a delivery refused last waits for its next attempt, ≤ 1.1 s). CPU \
         per event drained.\n",
        d.events.events,
        d.events.events.div_ceil(u64::from(crate::webhooks::BACKLOG_EVENTS_PER_CONVERSATION)),
        crate::webhooks::BACKLOG_EVENTS_PER_CONVERSATION,
        d.append.as_secs_f64(),
        d.outage.as_secs_f64(),
        d.refused,
    );
    let _ = writeln!(
        t,
        "| backlog events | drain s | events/s | arrived / missing / repeated | bad signatures | CPU µs/event: server / PostgreSQL / bench |"
    );
    let _ = writeln!(t, "| ---: | ---: | ---: | ---: | ---: | ---: |");
    let _ = writeln!(
        t,
        "| {} | {:.2} | {:.0} | {} / {} / {} | {} | {} |\n",
        d.events.events,
        d.took.as_secs_f64(),
        d.per_second(),
        d.events.arrived,
        d.events.missing,
        d.events.repeats,
        d.bad,
        d.cpu.per_operation(d.events.events as usize),
    );
}

/// Inbound messages from known contacts against new ones, and the 1.3× target (#18).
fn inbound_table(t: &mut String, i: &crate::engine::InboundResult, targets: &mut Vec<(String, String, &'static str)>) {
    let _ = writeln!(t, "### Inbound messages: known contact vs. new contact ({} clients)\n", i.clients);
    let _ = writeln!(
        t,
        "A known contact's message goes to its conversation (one command); a new contact's claims its \
         identity, creates the contact and starts its conversation in one commit (decision 0005). CPU \
         until the read models have folded the run.\n"
    );
    let _ = writeln!(t, "| sender | cmd/s | p50 / p99 ms | CPU µs/cmd: server / PostgreSQL / clients |");
    let _ = writeln!(t, "| --- | ---: | ---: | ---: |");
    for (name, r) in [("known contact", &i.known), ("new contact", &i.new)] {
        let cpu = r.cpu.per_operation(r.latencies.count());
        let _ = writeln!(t, "| {name} | {:.0} | {} | {cpu} |", r.per_second(), ms(&r.latencies));
    }
    let per_command = |r: &crate::engine::EngineResult| {
        (r.cpu.server.unwrap_or(0.0) + r.cpu.postgres) / (r.latencies.count().max(1) as f64)
    };
    let cost = per_command(&i.new) / per_command(&i.known);
    let _ = writeln!(t, "\nNew / known, server and PostgreSQL CPU per command: × {cost:.2}.\n");
    targets.push((
        "a new contact's inbound ≤ 1.3 × a known one's (CPU per command)".into(),
        format!("× {cost:.2}"),
        check(cost <= 1.3),
    ));
}

/// The dashboard in Chromium (#19 point 5).
fn dashboard_table(
    t: &mut String,
    d: &crate::dashboard::DashboardResult,
    targets: &mut Vec<(String, String, &'static str)>,
) {
    let _ = writeln!(t, "### The dashboard in Chromium, {} conversations loaded\n", d.conversations);
    let paints = &d.list_paint_ms;
    let (median, worst) =
        (paints.get(paints.len() / 2).copied().unwrap_or(f64::NAN), paints.last().copied().unwrap_or(f64::NAN));
    let _ = writeln!(
        t,
        "tests/browser/measure.py (Playwright, Debian's Chromium): the first load of `/app` transferred {} bytes; \
         the inbox list's first page ({} rows) was on screen {median:.0} ms after navigation start at the median of \
         {} loads, {worst:.0} ms at worst. Then {} inbound messages a second for {} min, the page open on the list \
         following the stream; its JavaScript heap after a forced collection:\n",
        d.first_load_bytes,
        d.rows,
        paints.len(),
        d.rate,
        d.minutes
    );
    let _ = writeln!(t, "| after s | messages sent | JS heap KiB | DOM nodes | live events shown |");
    let _ = writeln!(t, "| ---: | ---: | ---: | ---: | ---: |");
    for s in &d.heap {
        let _ = writeln!(
            t,
            "| {} | {} | {:.0} | {} | {} |",
            s.seconds,
            s.sent,
            s.js_heap_bytes as f64 / 1024.0,
            s.nodes,
            s.events_shown
        );
    }
    let _ = writeln!(t);
    targets.push((
        "first load of `/app` < 200 KB transferred".into(),
        format!("{} B", d.first_load_bytes),
        check(d.first_load_bytes < 200_000),
    ));
    targets.push((
        "the list's first paint < 300 ms (worst of the loads)".into(),
        format!("{worst:.0} ms"),
        check(worst < 300.0),
    ));
    if let Some(growth) = d.heap_growth() {
        targets.push((
            format!(
                "the page's heap does not grow under {} min of steady traffic (the lowest of the last third of \
                 the samples vs. of the first third, after the first minute)",
                d.minutes
            ),
            format!("{:+.1} %", growth * 100.0),
            check(growth < 0.10),
        ));
    }
}
