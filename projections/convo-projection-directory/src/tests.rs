//! The directory's folds, given hand-built logs: every agent and team change, each log folded
//! in one batch and one event at a time (rows carried over as the runner stores and reloads
//! them), which must agree.

use std::collections::HashMap;
use std::hash::Hash;

use chrono::Duration;
use convo_domain::Actor;
use convo_domain::directory::agent_stream_id;
use convo_projection::prepare;
use serde::Serialize;
use serde_json::json;

use super::*;

const WS: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0001);
const BILLING: Uuid = Uuid::from_u128(0x7001);
const SUPPORT: Uuid = Uuid::from_u128(0x7002);

/// `seconds` after 2026-01-01T00:00:00Z.
fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).expect("a valid time") + Duration::seconds(seconds)
}

fn ada() -> Uuid {
    agent_stream_id(WS, "ada")
}

/// A log of agent and team events; positions 10, 20, …, sequences per stream.
#[derive(Default)]
struct Log {
    events: Vec<LogEvent>,
    sequences: HashMap<String, i64>,
}

impl Log {
    fn push(&mut self, aggregate_type: &str, aggregate_id: Uuid, at: i64, event: &impl Serialize) -> &mut Self {
        let payload = serde_json::to_value(event).expect("an event serializes");
        let event_type = payload["type"].as_str().expect("a type").to_owned();
        let sequence = self.sequences.entry(aggregate_id.to_string()).or_default();
        *sequence += 1;
        self.events.push(LogEvent {
            position: 10 * (self.events.len() as i64 + 1),
            workspace_id: Some(WS.to_string()),
            aggregate_type: aggregate_type.into(),
            aggregate_id: aggregate_id.to_string(),
            sequence: *sequence,
            event_version: convo_domain::versions::current_version(&event_type).into(),
            event_type,
            payload,
            metadata: json!({}),
            recorded_at: t(at),
            decoded: Default::default(),
        });
        self
    }

    /// A change of agent `agent_id` of [`WS`] at `t(at)`.
    fn agent(&mut self, agent_id: &str, at: i64, change: AgentChange) -> &mut Self {
        let event = AgentEvent { occurred_at: t(at), actor: Actor::agent("admin"), change };
        self.push("agent", agent_stream_id(WS, agent_id), at, &event)
    }

    /// Agent `agent_id` registered at `t(at)`.
    fn agent_created(&mut self, agent_id: &str, at: i64) -> &mut Self {
        let created = AgentChange::Created {
            agent_id: agent_id.into(),
            workspace_id: WS,
            name: "Ada Lovelace".into(),
            email: Some("ada@example.com".into()),
            role: AgentRole::Agent,
        };
        self.agent(agent_id, at, created)
    }

    /// A change of team `id` at `t(at)`.
    fn team(&mut self, id: Uuid, at: i64, change: TeamChange) -> &mut Self {
        let event = TeamEvent { occurred_at: t(at), actor: Actor::agent("admin"), change };
        self.push("team", id, at, &event)
    }

    fn team_created(&mut self, id: Uuid, at: i64, name: &str) -> &mut Self {
        self.team(id, at, TeamChange::Created { team_id: id, workspace_id: WS, name: name.into() })
    }

    fn added(&mut self, team: Uuid, at: i64, agent_id: &str) -> &mut Self {
        self.team(team, at, TeamChange::AgentAdded { team_id: team, agent_id: agent_id.into() })
    }

    fn removed(&mut self, team: Uuid, at: i64, agent_id: &str) -> &mut Self {
        self.team(team, at, TeamChange::AgentRemoved { team_id: team, agent_id: agent_id.into() })
    }
}

/// The rows after folding `events` in batches of `batch`, rows carried over between batches.
fn fold_in<P>(projection: &P, events: &[LogEvent], batch: usize) -> HashMap<P::Key, P::Row>
where
    P: Projection,
    P::Key: Hash + Eq,
{
    let mut stored: HashMap<P::Key, P::Row> = HashMap::new();
    for events in events.chunks(batch) {
        let prepared = prepare(projection, events).expect("decodes");
        let loaded = prepared.keys.iter().filter_map(|k| Some((k.clone(), stored.get(k).cloned()?))).collect();
        for (key, row) in prepared.apply(projection, loaded).expect("folds") {
            match row {
                Some(row) => stored.insert(key, row),
                None => stored.remove(&key),
            };
        }
    }
    stored
}

/// The rows after folding the whole log, the same in one batch and one event at a time.
fn fold<P: Projection>(projection: &P, log: &Log) -> HashMap<P::Key, P::Row> {
    let whole = fold_in(projection, &log.events, log.events.len().max(1));
    assert_eq!(whole, fold_in(projection, &log.events, 1), "batch boundaries change nothing");
    whole
}

fn agent(log: &Log, agent_id: &str) -> AgentView {
    fold(&AgentsProjection, log).remove(&agent_stream_id(WS, agent_id)).expect("the agent's row")
}

fn team(log: &Log, id: Uuid) -> TeamView {
    fold(&TeamsProjection, log).remove(&id).expect("the team's row")
}

/// The agents of each team, sorted.
fn members(log: &Log) -> Vec<(Uuid, String)> {
    let mut keys: Vec<_> = fold(&TeamAgentsProjection, log).into_keys().collect();
    keys.sort();
    keys
}

// ---------------------------------------------------------------------------------------------
// Agents
// ---------------------------------------------------------------------------------------------

#[test]
fn a_created_agent_is_active_and_offline_keyed_by_their_stream() {
    let mut log = Log::default();
    log.agent_created("ada", 5);
    let rows = fold(&AgentsProjection, &log);
    assert_eq!(rows.keys().collect::<Vec<_>>(), [&ada()]);
    assert_eq!(
        rows[&ada()],
        AgentView {
            agent_id: "ada".into(),
            workspace_id: WS,
            name: "Ada Lovelace".into(),
            email: Some("ada@example.com".into()),
            role: AgentRole::Agent,
            availability: Availability::Offline,
            active: true,
            created_at: t(5),
            updated_at: t(5),
            deactivated_at: None,
            version: 1,
            position: 10,
        }
    );
}

#[test]
fn an_update_replaces_the_whole_profile() {
    let mut log = Log::default();
    log.agent_created("ada", 0).agent(
        "ada",
        4,
        AgentChange::Updated {
            agent_id: "ada".into(),
            name: "Ada King".into(),
            email: None,
            role: AgentRole::Administrator,
        },
    );
    let row = agent(&log, "ada");
    assert_eq!((row.name.as_str(), row.email.as_deref(), row.role), ("Ada King", None, AgentRole::Administrator));
    assert_eq!((row.created_at, row.updated_at, row.version, row.position), (t(0), t(4), 2, 20));
}

#[test]
fn availability_follows_the_agents_word() {
    let mut log = Log::default();
    log.agent_created("ada", 0);
    for (at, availability) in [(1, Availability::Online), (2, Availability::Busy)] {
        log.agent("ada", at, AgentChange::AvailabilityChanged { agent_id: "ada".into(), availability });
        let row = agent(&log, "ada");
        assert_eq!((row.availability, row.updated_at, row.version), (availability, t(at), at + 1));
    }
}

#[test]
fn deactivation_takes_the_agent_offline_until_reactivated_offline() {
    let mut log = Log::default();
    log.agent_created("ada", 0)
        .agent(
            "ada",
            1,
            AgentChange::AvailabilityChanged { agent_id: "ada".into(), availability: Availability::Online },
        )
        .agent("ada", 2, AgentChange::Deactivated { agent_id: "ada".into() });
    let row = agent(&log, "ada");
    assert_eq!((row.active, row.availability, row.deactivated_at), (false, Availability::Offline, Some(t(2))));
    assert_eq!((row.updated_at, row.version, row.position), (t(2), 3, 30));
    log.agent("ada", 3, AgentChange::Reactivated { agent_id: "ada".into() });
    let row = agent(&log, "ada");
    assert_eq!((row.active, row.availability, row.deactivated_at), (true, Availability::Offline, None));
    assert_eq!((row.updated_at, row.version, row.position), (t(3), 4, 40));
    log.agent("ada", 4, AgentChange::AvailabilityChanged { agent_id: "ada".into(), availability: Availability::Busy });
    assert_eq!(agent(&log, "ada").availability, Availability::Busy);
}

#[test]
fn each_agent_has_a_row_of_their_own() {
    let mut log = Log::default();
    log.agent_created("ada", 0).agent_created("bob", 1).agent(
        "bob",
        2,
        AgentChange::Deactivated { agent_id: "bob".into() },
    );
    let rows = fold(&AgentsProjection, &log);
    assert_eq!(rows.len(), 2);
    assert!(rows[&ada()].active);
    assert!(!rows[&agent_stream_id(WS, "bob")].active);
}

#[test]
fn a_change_before_the_agent_was_created_stops_the_fold() {
    let mut log = Log::default();
    log.agent("ada", 0, AgentChange::Deactivated { agent_id: "ada".into() });
    let prepared = prepare(&AgentsProjection, &log.events).expect("decodes");
    let error = prepared.apply(&AgentsProjection, HashMap::new()).expect_err("cannot fold");
    assert_eq!((error.projection, error.position), ("agents", 10));
    assert!(error.reason.contains("before they were created"), "{}", error.reason);
}

// ---------------------------------------------------------------------------------------------
// Teams
// ---------------------------------------------------------------------------------------------

#[test]
fn a_created_team_has_no_agents() {
    let mut log = Log::default();
    log.team_created(BILLING, 5, "Billing");
    assert_eq!(
        team(&log, BILLING),
        TeamView {
            team_id: BILLING,
            workspace_id: WS,
            name: "Billing".into(),
            agent_count: 0,
            created_at: t(5),
            updated_at: t(5),
            version: 1,
            position: 10,
        }
    );
}

#[test]
fn a_rename_changes_the_name_and_the_version() {
    let mut log = Log::default();
    log.team_created(BILLING, 0, "Billing").team(
        BILLING,
        3,
        TeamChange::Renamed { team_id: BILLING, name: "Payments".into() },
    );
    let row = team(&log, BILLING);
    assert_eq!(
        (row.name.as_str(), row.created_at, row.updated_at, row.version, row.position),
        ("Payments", t(0), t(3), 2, 20)
    );
}

#[test]
fn the_agent_count_follows_joins_and_leaves() {
    let mut log = Log::default();
    log.team_created(BILLING, 0, "Billing").added(BILLING, 1, "ada").added(BILLING, 2, "bob");
    let row = team(&log, BILLING);
    assert_eq!((row.agent_count, row.updated_at, row.version, row.position), (2, t(2), 3, 30));
    log.removed(BILLING, 3, "ada");
    let row = team(&log, BILLING);
    assert_eq!((row.agent_count, row.updated_at, row.version), (1, t(3), 4));
    log.added(BILLING, 4, "ada").team_created(SUPPORT, 5, "Support").added(SUPPORT, 6, "ada");
    let rows = fold(&TeamsProjection, &log);
    assert_eq!((rows[&BILLING].agent_count, rows[&SUPPORT].agent_count), (2, 1), "each team counts its own");
}

#[test]
fn a_team_losing_an_agent_it_did_not_have_stops_the_fold() {
    let mut log = Log::default();
    log.team_created(BILLING, 0, "Billing").removed(BILLING, 1, "ada");
    let prepared = prepare(&TeamsProjection, &log.events).expect("decodes");
    let error = prepared.apply(&TeamsProjection, HashMap::new()).expect_err("cannot fold");
    assert_eq!((error.projection, error.position), ("teams", 20));
}

#[test]
fn a_change_before_the_team_was_created_stops_the_fold() {
    let mut log = Log::default();
    log.team(BILLING, 0, TeamChange::Renamed { team_id: BILLING, name: "Payments".into() });
    let prepared = prepare(&TeamsProjection, &log.events).expect("decodes");
    let error = prepared.apply(&TeamsProjection, HashMap::new()).expect_err("cannot fold");
    assert_eq!((error.projection, error.position), ("teams", 10));
    assert!(error.reason.contains("before it was created"), "{}", error.reason);
}

// ---------------------------------------------------------------------------------------------
// Team agents
// ---------------------------------------------------------------------------------------------

#[test]
fn a_joining_agent_has_a_row_with_the_teams_workspace() {
    let mut log = Log::default();
    log.team_created(BILLING, 0, "Billing").added(BILLING, 3, "ada");
    let rows = fold(&TeamAgentsProjection, &log);
    assert_eq!(
        rows.into_iter().collect::<Vec<_>>(),
        [(
            (BILLING, "ada".to_owned()),
            TeamAgentView { team_id: BILLING, workspace_id: WS, agent_id: "ada".into(), added_at: t(3), position: 20 }
        )]
    );
}

#[test]
fn a_leaving_agent_loses_their_row_and_a_rejoining_one_gets_a_new_one() {
    let mut log = Log::default();
    log.team_created(BILLING, 0, "Billing")
        .team_created(SUPPORT, 0, "Support")
        .added(BILLING, 1, "ada")
        .added(BILLING, 2, "bob")
        .added(SUPPORT, 3, "ada")
        .removed(BILLING, 4, "ada");
    let bob = (BILLING, "bob".to_owned());
    assert_eq!(members(&log), [bob.clone(), (SUPPORT, "ada".to_owned())]);
    log.added(BILLING, 5, "ada");
    let rows = fold(&TeamAgentsProjection, &log);
    let ada = &rows[&(BILLING, "ada".to_owned())];
    assert_eq!((ada.added_at, ada.position), (t(5), 70), "joined again, from then");
    assert_eq!(rows[&bob].added_at, t(2));
    assert_eq!(rows.len(), 3);
}

#[test]
fn removing_the_last_agent_leaves_no_row() {
    let mut log = Log::default();
    log.team_created(BILLING, 0, "Billing").added(BILLING, 1, "ada").removed(BILLING, 2, "ada");
    assert_eq!(members(&log), []);
    assert_eq!(team(&log, BILLING).agent_count, 0);
}

#[test]
fn a_joining_without_a_workspace_stops_the_fold() {
    let mut log = Log::default();
    log.added(BILLING, 1, "ada");
    log.events[0].workspace_id = None;
    let prepared = prepare(&TeamAgentsProjection, &log.events).expect("decodes");
    let error = prepared.apply(&TeamAgentsProjection, HashMap::new()).expect_err("cannot fold");
    assert_eq!((error.projection, error.position), ("team_agents", 10));
}

// ---------------------------------------------------------------------------------------------
// All of them
// ---------------------------------------------------------------------------------------------

#[test]
fn each_fold_ignores_the_others_events() {
    let mut log = Log::default();
    log.agent_created("ada", 0).team_created(BILLING, 1, "Billing").added(BILLING, 2, "ada");
    assert_eq!(fold(&AgentsProjection, &log).into_keys().collect::<Vec<_>>(), [ada()]);
    assert_eq!(fold(&TeamsProjection, &log).into_keys().collect::<Vec<_>>(), [BILLING]);
    assert_eq!(members(&log), [(BILLING, "ada".to_owned())]);
    // Only joins and leaves reach the team agents' fold.
    let prepared = prepare(&TeamAgentsProjection, &log.events).expect("decodes");
    assert_eq!(prepared.keys, [(BILLING, "ada".to_owned())]);
}

#[test]
fn an_undecodable_event_is_an_error_not_a_skip() {
    let mut log = Log::default();
    log.agent_created("ada", 0);
    log.events[0].payload = json!({"type": "AgentCreated", "occurred_at": "not a time"});
    assert!(prepare(&AgentsProjection, &log.events).is_err());
    let mut log = Log::default();
    log.team_created(BILLING, 0, "Billing");
    log.events[0].aggregate_id = "not a uuid".into();
    assert!(prepare(&TeamsProjection, &log.events).is_err());
    assert!(prepare(&TeamAgentsProjection, &log.events).is_err());
}
