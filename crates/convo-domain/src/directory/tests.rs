//! Given/when/then tests of the directory's aggregates, and the directory the other
//! aggregates' tests ask.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use futures::FutureExt;
use futures::future::BoxFuture;
use uuid::Uuid;

use super::*;
use crate::{Actor, ManualClock};

/// A directory of fixed agents and teams: what tests of conversations, inboxes and teams ask.
#[derive(Default)]
pub(crate) struct FixedDirectory {
    pub agents: BTreeMap<(Uuid, String), AgentFacts>,
    pub teams: BTreeSet<(Uuid, Uuid)>,
}

impl FixedDirectory {
    pub fn with_agent(mut self, workspace_id: Uuid, agent_id: &str, active: bool) -> Self {
        self.agents.insert((workspace_id, agent_id.to_owned()), AgentFacts { active });
        self
    }
    pub fn with_team(mut self, workspace_id: Uuid, team_id: Uuid) -> Self {
        self.teams.insert((workspace_id, team_id));
        self
    }
}

impl DirectoryLookup for FixedDirectory {
    fn agent<'a>(&'a self, workspace_id: Uuid, agent_id: &'a str) -> BoxFuture<'a, Result<Option<AgentFacts>, String>> {
        async move { Ok(self.agents.get(&(workspace_id, agent_id.to_owned())).copied()) }.boxed()
    }
    fn team(&self, workspace_id: Uuid, team_id: Uuid) -> BoxFuture<'_, Result<bool, String>> {
        async move { Ok(self.teams.contains(&(workspace_id, team_id))) }.boxed()
    }
}

const WS: Uuid = Uuid::from_u128(7);
const OTHER_WS: Uuid = Uuid::from_u128(8);
const TEAM: Uuid = Uuid::from_u128(9);

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default()
}
fn admin() -> Actor {
    Actor::agent("admin")
}

// ---------------------------------------------------------------------------------------------
// Agents
// ---------------------------------------------------------------------------------------------

fn agents() -> TestFramework<Agent> {
    TestFramework::with(AgentServices { clock: Arc::new(ManualClock::new(at())) })
}
fn agent_command(workspace_id: Uuid, action: AgentAction) -> AgentCommand {
    AgentCommand { workspace_id, actor: admin(), action }
}
fn create_ada(email: Option<&str>) -> AgentCommand {
    agent_command(
        WS,
        AgentAction::Create {
            agent_id: "ada".into(),
            name: " Ada Lovelace ".into(),
            email: email.map(str::to_owned),
            role: AgentRole::Agent,
        },
    )
}
fn update() -> AgentAction {
    AgentAction::Update { name: None, email: None, role: None, availability: None, active: None }
}
fn agent_event(change: AgentChange) -> AgentEvent {
    AgentEvent { occurred_at: at(), actor: admin(), change }
}
fn ada_created() -> AgentEvent {
    agent_event(AgentChange::Created {
        agent_id: "ada".into(),
        workspace_id: WS,
        name: "Ada Lovelace".into(),
        email: Some("ada@example.com".into()),
        role: AgentRole::Agent,
    })
}
fn ada(change: fn(String) -> AgentChange) -> AgentEvent {
    agent_event(change("ada".into()))
}
fn availability(availability: Availability) -> AgentEvent {
    agent_event(AgentChange::AvailabilityChanged { agent_id: "ada".into(), availability })
}

#[test]
fn an_agent_is_created_active_with_a_trimmed_name_and_a_lower_case_email() {
    agents()
        .given_no_previous_events()
        .when(create_ada(Some(" Ada@Example.com")))
        .then_expect_events(vec![ada_created()]);
    let mut agent = Agent::default();
    agent.apply(ada_created());
    assert!(agent.active);
    assert_eq!(agent.availability, Availability::Offline);
}

#[test]
fn an_agent_id_is_taken_once() {
    agents().given(vec![ada_created()]).when(create_ada(None)).then_expect_error(AgentError::AlreadyExists);
}

#[test]
fn an_agent_needs_an_id_a_name_and_an_email_of_the_right_shape() {
    let refused = |action: AgentAction, field: &str| {
        let result = agents().given_no_previous_events().when(agent_command(WS, action)).inspect_result();
        assert!(matches!(&result, Err(AgentError::Validation { field: f, .. }) if f == field), "{field}: {result:?}");
    };
    let create = |agent_id: &str, name: &str, email: Option<&str>| AgentAction::Create {
        agent_id: agent_id.into(),
        name: name.into(),
        email: email.map(str::to_owned),
        role: AgentRole::Administrator,
    };
    refused(create("", "Ada", None), "agent_id");
    refused(create("a da", "Ada", None), "agent_id");
    refused(create(&"a".repeat(201), "Ada", None), "agent_id");
    refused(create("ada", "  ", None), "name");
    refused(create("ada", &"x".repeat(201), None), "name");
    refused(create("ada", "Ada", Some("ada.example.com")), "email");
    refused(create("ada", "Ada", Some(&format!("{}@example.com", "a".repeat(250)))), "email");
}

#[test]
fn an_agent_of_another_workspace_or_none_is_not_found() {
    agents().given_no_previous_events().when(agent_command(WS, update())).then_expect_error(AgentError::NotFound);
    agents().given(vec![ada_created()]).when(agent_command(OTHER_WS, update())).then_expect_error(AgentError::NotFound);
}

#[test]
fn an_update_records_the_whole_profile_once_and_nothing_when_nothing_changes() {
    let renamed = AgentAction::Update {
        name: Some("Ada King".into()),
        email: Some(None),
        role: Some(AgentRole::Administrator),
        availability: None,
        active: None,
    };
    let updated = AgentChange::Updated {
        agent_id: "ada".into(),
        name: "Ada King".into(),
        email: None,
        role: AgentRole::Administrator,
    };
    agents().given(vec![ada_created()]).when(agent_command(WS, renamed)).then_expect_events(vec![agent_event(updated)]);
    let same = AgentAction::Update {
        name: Some("Ada Lovelace".into()),
        email: Some(Some("ADA@example.com".into())),
        role: Some(AgentRole::Agent),
        availability: Some(Availability::Offline),
        active: Some(true),
    };
    agents().given(vec![ada_created()]).when(agent_command(WS, same)).then_expect_events(vec![]);
}

/// An update of availability and activity only.
fn patch(availability: Option<Availability>, active: Option<bool>) -> AgentCommand {
    agent_command(WS, AgentAction::Update { name: None, email: None, role: None, availability, active })
}

#[test]
fn availability_changes_are_recorded_and_a_repeat_writes_nothing() {
    let online = availability(Availability::Online);
    agents()
        .given(vec![ada_created()])
        .when(patch(Some(Availability::Online), None))
        .then_expect_events(vec![online.clone()]);
    agents()
        .given(vec![ada_created(), online.clone()])
        .when(patch(Some(Availability::Online), None))
        .then_expect_events(vec![]);
    agents()
        .given(vec![ada_created(), online])
        .when(patch(Some(Availability::Busy), None))
        .then_expect_events(vec![availability(Availability::Busy)]);
}

#[test]
fn deactivation_takes_the_agent_offline_and_keeps_them_there_until_reactivated() {
    let deactivated = ada(|agent_id| AgentChange::Deactivated { agent_id });
    let reactivated = ada(|agent_id| AgentChange::Reactivated { agent_id });
    let online = availability(Availability::Online);
    agents()
        .given(vec![ada_created(), online.clone()])
        .when(patch(None, Some(false)))
        .then_expect_events(vec![deactivated.clone()]);
    agents().given(vec![ada_created(), deactivated.clone()]).when(patch(None, Some(false))).then_expect_events(vec![]);
    // A deactivated agent cannot go online or busy; going offline changes nothing.
    for a in [Availability::Online, Availability::Busy] {
        agents()
            .given(vec![ada_created(), deactivated.clone()])
            .when(patch(Some(a), None))
            .then_expect_error(AgentError::Deactivated("ada".into()));
        agents()
            .given(vec![ada_created()])
            .when(patch(Some(a), Some(false)))
            .then_expect_error(AgentError::Deactivated("ada".into()));
    }
    agents()
        .given(vec![ada_created(), deactivated.clone()])
        .when(patch(Some(Availability::Offline), None))
        .then_expect_events(vec![]);
    // Reactivated offline; one command may reactivate them and set them online.
    agents()
        .given(vec![ada_created(), deactivated.clone()])
        .when(patch(None, Some(true)))
        .then_expect_events(vec![reactivated.clone()]);
    agents()
        .given(vec![ada_created(), online.clone(), deactivated.clone()])
        .when(patch(Some(Availability::Online), Some(true)))
        .then_expect_events(vec![reactivated, online]);
    let mut agent = Agent::default();
    for event in [ada_created(), availability(Availability::Busy), deactivated] {
        agent.apply(event);
    }
    assert_eq!((agent.active, agent.availability), (false, Availability::Offline));
}

#[test]
fn agent_stream_ids_are_per_workspace_and_agent() {
    assert_eq!(agent_stream_id(WS, "ada"), agent_stream_id(WS, "ada"));
    assert_ne!(agent_stream_id(WS, "ada"), agent_stream_id(OTHER_WS, "ada"));
    assert_ne!(agent_stream_id(WS, "ada"), agent_stream_id(WS, "bob"));
}

// ---------------------------------------------------------------------------------------------
// Teams
// ---------------------------------------------------------------------------------------------

fn teams() -> TestFramework<Team> {
    let directory = FixedDirectory::default()
        .with_agent(WS, "ada", true)
        .with_agent(WS, "eve", false)
        .with_agent(OTHER_WS, "bob", true);
    TestFramework::with(TeamServices { clock: Arc::new(ManualClock::new(at())), directory: Arc::new(directory) })
}
fn team_command(workspace_id: Uuid, action: TeamAction) -> TeamCommand {
    TeamCommand { workspace_id, actor: admin(), action }
}
fn team_event(change: TeamChange) -> TeamEvent {
    TeamEvent { occurred_at: at(), actor: admin(), change }
}
fn team_created() -> TeamEvent {
    team_event(TeamChange::Created { team_id: TEAM, workspace_id: WS, name: "Billing".into() })
}
fn add(agent_id: &str) -> TeamCommand {
    team_command(WS, TeamAction::AddAgent { agent_id: agent_id.into() })
}
fn added(agent_id: &str) -> TeamEvent {
    team_event(TeamChange::AgentAdded { team_id: TEAM, agent_id: agent_id.into() })
}

#[test]
fn a_team_is_created_once_with_a_trimmed_name() {
    let create = |name: &str| team_command(WS, TeamAction::Create { team_id: TEAM, name: name.into() });
    teams().given_no_previous_events().when(create(" Billing ")).then_expect_events(vec![team_created()]);
    teams().given(vec![team_created()]).when(create("Billing")).then_expect_error(TeamError::AlreadyExists);
    for name in ["", "   ", &"x".repeat(201)] {
        let result = teams().given_no_previous_events().when(create(name)).inspect_result();
        assert!(matches!(&result, Err(TeamError::Validation { field, .. }) if field == "name"), "{result:?}");
    }
}

#[test]
fn a_rename_to_the_same_name_writes_nothing() {
    let rename = |name: &str| team_command(WS, TeamAction::Rename { name: name.into() });
    teams().given(vec![team_created()]).when(rename("Billing ")).then_expect_events(vec![]);
    teams()
        .given(vec![team_created()])
        .when(rename("Payments"))
        .then_expect_events(vec![team_event(TeamChange::Renamed { team_id: TEAM, name: "Payments".into() })]);
}

#[test]
fn a_team_takes_agents_of_its_workspace_only_and_each_once() {
    teams().given(vec![team_created()]).when(add("ada")).then_expect_events(vec![added("ada")]);
    teams().given(vec![team_created(), added("ada")]).when(add("ada")).then_expect_events(vec![]);
    // A deactivated agent stays a member; who may take a conversation filters on activity.
    teams().given(vec![team_created()]).when(add("eve")).then_expect_events(vec![added("eve")]);
    for stranger in ["bob", "nobody"] {
        teams()
            .given(vec![team_created()])
            .when(add(stranger))
            .then_expect_error(TeamError::AgentNotFound(stranger.into()));
    }
}

#[test]
fn removing_an_agent_not_in_the_team_writes_nothing() {
    let remove = team_command(WS, TeamAction::RemoveAgent { agent_id: "ada".into() });
    teams().given(vec![team_created()]).when(remove.clone()).then_expect_events(vec![]);
    teams()
        .given(vec![team_created(), added("ada")])
        .when(remove)
        .then_expect_events(vec![team_event(TeamChange::AgentRemoved { team_id: TEAM, agent_id: "ada".into() })]);
}

#[test]
fn a_team_of_another_workspace_or_none_is_not_found() {
    let rename = |ws| team_command(ws, TeamAction::Rename { name: "X".into() });
    teams().given_no_previous_events().when(rename(WS)).then_expect_error(TeamError::NotFound);
    teams().given(vec![team_created()]).when(rename(OTHER_WS)).then_expect_error(TeamError::NotFound);
    teams().given_no_previous_events().when(add("ada")).then_expect_error(TeamError::NotFound);
}
