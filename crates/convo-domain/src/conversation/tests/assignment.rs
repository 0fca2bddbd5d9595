//! `AssignAgent`, `UnassignAgent`, `AssignTeam`, `UnassignTeam`.

use super::*;

fn assign_agent(agent_id: &str) -> ConversationCommand {
    command(agent(), A::AssignAgent { agent_id: agent_id.into() })
}

fn assign_team(team_id: &str) -> ConversationCommand {
    command(agent(), A::AssignTeam { team_id: team_id.into() })
}

#[test]
fn assigning_an_agent_records_the_assignee() {
    let s = Scenario::new();
    s.given(conversation())
        .when(assign_agent(AGENT))
        .then_expect_events(vec![s.event(agent(), agent_assigned(AGENT, None))]);
}

#[test]
fn reassigning_an_agent_carries_the_previous_assignee() {
    let s = Scenario::new();
    s.given(and(conversation(), [past(agent(), agent_assigned(AGENT, None))]))
        .when(assign_agent(OTHER_AGENT))
        .then_expect_events(vec![s.event(agent(), agent_assigned(OTHER_AGENT, Some(AGENT)))]);
}

#[test]
fn assigning_the_same_agent_again_writes_nothing() {
    let s = Scenario::new();
    s.given(and(conversation(), [past(agent(), agent_assigned(AGENT, None))]))
        .when(assign_agent(AGENT))
        .then_expect_events(vec![]);
}

#[test]
fn unassigning_the_agent_names_who_was_assigned() {
    let s = Scenario::new();
    let given = and(conversation(), [past(agent(), agent_assigned(AGENT, None))]);
    s.given(given.clone())
        .when(command(agent(), A::UnassignAgent))
        .then_expect_events(vec![s.event(agent(), C::AgentUnassigned { agent_id: AGENT.into() })]);
    let history = s.run(given, command(agent(), A::UnassignAgent));
    assert_eq!(fold(&history).assignee, None);
}

#[test]
fn unassigning_when_no_agent_is_assigned_writes_nothing() {
    let s = Scenario::new();
    s.given(conversation()).when(command(agent(), A::UnassignAgent)).then_expect_events(vec![]);
}

#[test]
fn an_agent_id_must_be_1_to_200_characters() {
    let s = Scenario::new();
    // Counted as sent, surrounding whitespace included, as the OpenAPI document's `maxLength`.
    for agent_id in
        [String::new(), "  ".to_owned(), "\u{3000}".to_owned(), "a".repeat(201), format!(" {}", "a".repeat(200))]
    {
        s.given(conversation())
            .when(assign_agent(&agent_id))
            .then_expect_error(validation("agent_id", "must be 1 to 200 characters"));
    }
}

#[test]
fn assigning_a_team_records_it() {
    let s = Scenario::new();
    s.given(conversation())
        .when(assign_team(TEAM))
        .then_expect_events(vec![s.event(agent(), team_assigned(TEAM, None))]);
}

#[test]
fn reassigning_a_team_carries_the_previous_team() {
    let s = Scenario::new();
    s.given(and(conversation(), [past(agent(), team_assigned(TEAM, None))]))
        .when(assign_team(OTHER_TEAM))
        .then_expect_events(vec![s.event(agent(), team_assigned(OTHER_TEAM, Some(TEAM)))]);
}

#[test]
fn assigning_the_same_team_again_writes_nothing() {
    let s = Scenario::new();
    s.given(and(conversation(), [past(agent(), team_assigned(TEAM, None))]))
        .when(assign_team(TEAM))
        .then_expect_events(vec![]);
}

#[test]
fn unassigning_the_team_names_which_team_it_was() {
    let s = Scenario::new();
    let given = and(conversation(), [past(agent(), team_assigned(TEAM, None))]);
    s.given(given.clone())
        .when(command(agent(), A::UnassignTeam))
        .then_expect_events(vec![s.event(agent(), C::TeamUnassigned { team_id: TEAM.into() })]);
    let history = s.run(given, command(agent(), A::UnassignTeam));
    assert_eq!(fold(&history).team, None);
}

#[test]
fn unassigning_when_no_team_is_assigned_writes_nothing() {
    let s = Scenario::new();
    s.given(conversation()).when(command(agent(), A::UnassignTeam)).then_expect_events(vec![]);
}

#[test]
fn a_team_id_must_be_1_to_200_characters() {
    let s = Scenario::new();
    for team_id in [String::new(), "\t".to_owned(), "t".repeat(201)] {
        s.given(conversation())
            .when(assign_team(&team_id))
            .then_expect_error(validation("team_id", "must be 1 to 200 characters"));
    }
}

#[test]
fn the_agent_and_the_team_are_assigned_independently() {
    let s = Scenario::new();
    let history = s.run(conversation(), assign_agent(AGENT));
    let history = s.run(history, assign_team(TEAM));
    let history = s.run(history, command(agent(), A::UnassignTeam));
    let state = fold(&history);
    assert_eq!(state.assignee.as_deref(), Some(AGENT));
    assert_eq!(state.team, None);
}

#[test]
fn only_an_agent_of_the_workspace_can_be_assigned() {
    let s = Scenario::new();
    for stranger in ["agent-nobody", FOREIGN_AGENT] {
        s.given(conversation())
            .when(assign_agent(stranger))
            .then_expect_error(ConversationError::AgentNotFound(stranger.into()));
    }
}

#[test]
fn a_deactivated_agent_cannot_be_assigned_but_stays_assigned_if_they_were() {
    let s = Scenario::new();
    s.given(conversation())
        .when(assign_agent(DEACTIVATED_AGENT))
        .then_expect_error(ConversationError::AgentDeactivated(DEACTIVATED_AGENT.into()));
    // Already theirs: assigning them again changes nothing, and unassigning them works.
    let given = and(conversation(), [past(agent(), agent_assigned(DEACTIVATED_AGENT, None))]);
    s.given(given.clone()).when(assign_agent(DEACTIVATED_AGENT)).then_expect_events(vec![]);
    s.given(given)
        .when(command(agent(), A::UnassignAgent))
        .then_expect_events(vec![s.event(agent(), C::AgentUnassigned { agent_id: DEACTIVATED_AGENT.into() })]);
}

#[test]
fn only_a_team_of_the_workspace_can_be_assigned() {
    let s = Scenario::new();
    for stranger in ["team-billing", "00000000-0000-0000-0000-0000000030ff", FOREIGN_TEAM] {
        s.given(conversation())
            .when(assign_team(stranger))
            .then_expect_error(ConversationError::TeamNotFound(stranger.into()));
    }
}

fn label(action: fn(String) -> A, label: &str) -> ConversationCommand {
    command(agent(), action(label.into()))
}
fn add(l: String) -> A {
    A::AddLabel { label: l }
}
fn remove(l: String) -> A {
    A::RemoveLabel { label: l }
}

#[test]
fn a_label_is_put_on_once_in_lower_case_and_taken_off_once() {
    let s = Scenario::new();
    let added = || s.event(agent(), C::LabelAdded { label: "billing".into() });
    s.given(conversation()).when(label(add, "Billing")).then_expect_events(vec![added()]);
    let given = and(conversation(), [past(agent(), C::LabelAdded { label: "billing".into() })]);
    s.given(given.clone()).when(label(add, "BILLING")).then_expect_events(vec![]);
    s.given(given.clone())
        .when(label(remove, "billing"))
        .then_expect_events(vec![s.event(agent(), C::LabelRemoved { label: "billing".into() })]);
    s.given(conversation()).when(label(remove, "billing")).then_expect_events(vec![]);
    let history = s.run(given, label(add, "vip"));
    assert_eq!(fold(&history).labels.iter().map(String::as_str).collect::<Vec<_>>(), ["billing", "vip"]);
}

#[test]
fn a_label_has_1_to_64_characters_without_spaces_and_a_conversation_at_most_50() {
    let s = Scenario::new();
    let refused = validation("label", "must be 1 to 64 characters, without spaces or control characters");
    for bad in [String::new(), "two words".into(), "x".repeat(65), "tab\t".into(), "nul\u{0}".into()] {
        s.given(conversation()).when(label(add, &bad)).then_expect_error(refused.clone());
        s.given(conversation()).when(label(remove, &bad)).then_expect_error(refused.clone());
    }
    let full = and(conversation(), (0..50).map(|i| past(agent(), C::LabelAdded { label: format!("l{i}") })));
    s.given(full.clone())
        .when(label(add, "one-more"))
        .then_expect_error(validation("label", "a conversation has at most 50 labels"));
    s.given(full).when(label(add, "l7")).then_expect_events(vec![]);
}

#[test]
fn labels_are_for_conversations_of_the_workspace() {
    let s = Scenario::new();
    s.given_no_previous_events().when(label(add, "vip")).then_expect_error(ConversationError::NotFound);
}
