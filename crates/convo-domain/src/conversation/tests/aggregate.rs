//! What holds for every command and for the aggregate as a whole: nothing outside its
//! workspace, a bounded state, events stored flat under pinned names, message facts.

use super::*;

#[test]
fn every_command_on_a_conversation_that_never_started_is_not_found() {
    let s = Scenario::new();
    for action in every_other_action() {
        let name = action.name();
        let result = s.given_no_previous_events().when(command(agent(), action)).inspect_result();
        assert_eq!(result, Err(ConversationError::NotFound), "{name}");
    }
}

#[test]
fn every_command_from_another_workspace_is_not_found() {
    let s = Scenario::new();
    let given = and(
        conversation_with_reply(),
        [past(agent(), agent_assigned(AGENT, None)), past(agent(), team_assigned(TEAM, None))],
    );
    for action in every_other_action() {
        let name = action.name();
        let valid = s.given(given.clone()).when(command(agent(), action.clone())).inspect_result();
        assert!(valid.is_ok(), "{name} is valid in its own workspace: {valid:?}");
        let foreign = ConversationCommand { workspace_id: OTHER_WS, actor: agent(), action };
        let result = s.given(given.clone()).when(foreign).inspect_result();
        assert_eq!(result, Err(ConversationError::NotFound), "{name}");
    }
}

#[test]
fn the_state_stays_bounded_however_long_the_conversation_runs() {
    let mut state = Conversation::default();
    state.apply(started_on(WHATSAPP));
    for seq in 1..=10_000_u64 {
        let message_id = Uuid::from_u128(0x1_0000_0000 + u128::from(seq));
        let at = t0() + Duration::seconds(i64::try_from(seq).unwrap_or(i64::MAX));
        if seq % 2 == 1 {
            state.apply(past(contact(), Inbound::new(message_id, at).received_after(seq, seq.div_ceil(2))));
        } else {
            state.apply(past(
                agent(),
                C::MessageSent { mentions: vec![], message_id, seq, inbound_count: seq / 2, content: text("ok") },
            ));
            state.apply(past(Actor::system("connector"), recorded(message_id, DeliveryStatus::Delivered, None)));
        }
        if seq % 1000 == 0 {
            for user in [AGENT, OTHER_AGENT, "agent-cy"] {
                state.apply(past(agent(), read_marker(user, message_id, seq)));
            }
        }
    }
    let bytes = serde_json::to_vec(&state).expect("the state serializes");
    assert!(bytes.len() < 64 * 1024, "the state is {} bytes", bytes.len());
    assert_eq!(state.recent.len(), RECENT_MESSAGES);
    assert_eq!(state.message_count, 10_000);
    assert_eq!(state.recent.front().map(|m| m.seq), Some(10_000 - RECENT_MESSAGES as u64 + 1));
    assert_eq!(state.recent.back().map(|m| (m.seq, m.status)), Some((10_000, DeliveryStatus::Delivered)));
    assert_eq!(state.last_inbound_at, Some(t0() + Duration::seconds(9_999)));
    assert_eq!(state.read_markers.len(), 3);
    assert_eq!(state.read_markers.get(AGENT), Some(&10_000));
    let restored: Conversation = serde_json::from_slice(&bytes).expect("the state deserializes");
    assert_eq!(restored, state);
}

#[test]
fn an_event_is_stored_flat_with_its_type_time_and_actor() {
    let event = ConversationEvent {
        occurred_at: t0(),
        actor: agent(),
        change: C::MessageSent { mentions: vec![], message_id: OUT1, seq: 2, inbound_count: 1, content: text("hi") },
    };
    let json = serde_json::to_value(&event).expect("the event serializes");
    assert_eq!(
        json,
        serde_json::json!({
            "type": "MessageSent",
            "occurred_at": "2026-01-01T00:00:00Z",
            "actor": { "kind": "agent", "id": AGENT },
            "message_id": "00000000-0000-0000-0000-00000000b001",
            "inbound_count": 1,
            "seq": 2,
            "content": { "type": "text", "body": "hi" },
        })
    );
    let back: ConversationEvent = serde_json::from_value(json).expect("the event deserializes");
    assert_eq!(back, event);
    assert_eq!(event.event_type(), "MessageSent");
    assert_eq!(event.event_version(), "1.0.0");
}

#[test]
fn every_event_round_trips_under_its_pinned_type_name() {
    let changes = vec![
        (started_on(WHATSAPP).change, "ConversationStarted"),
        (Inbound { sender: Some(MEMBER.into()), ..Inbound::new(IN1, t0()) }.received(1), "InboundMessageReceived"),
        (
            C::MessageSent { mentions: vec![], message_id: OUT1, seq: 2, inbound_count: 1, content: template() },
            "MessageSent",
        ),
        (recorded(OUT1, DeliveryStatus::Failed, Some(failure("131026"))), "DeliveryStatusRecorded"),
        (C::ReactionSet { message_id: IN1, emoji: "👍".into() }, "ReactionSet"),
        (C::ReactionRemoved { message_id: IN1 }, "ReactionRemoved"),
        (C::MessageEdited { message_id: OUT1, content: text("edited") }, "MessageEdited"),
        (C::MessageDeleted { message_id: OUT1 }, "MessageDeleted"),
        (agent_assigned(OTHER_AGENT, Some(AGENT)), "AgentAssigned"),
        (C::AgentUnassigned { agent_id: AGENT.into() }, "AgentUnassigned"),
        (team_assigned(TEAM, None), "TeamAssigned"),
        (C::TeamUnassigned { team_id: TEAM.into() }, "TeamUnassigned"),
        (C::Archived {}, "ConversationArchived"),
        (C::Unarchived {}, "ConversationUnarchived"),
        (read_marker(AGENT, OUT1, 2), "ReadMarkerMoved"),
        (
            status_changed(ConversationStatus::Open, ConversationStatus::Snoozed, Some(t0() + Duration::hours(1))),
            "StatusChanged",
        ),
    ];
    for (change, name) in changes {
        let event = past(agent(), change);
        let json = serde_json::to_value(&event).expect("the event serializes");
        assert_eq!(json["type"], name);
        assert_eq!(event.event_type(), name);
        let version = if name == "AgentAssigned" { "2.0.0" } else { crate::EVENT_VERSION_1 };
        assert_eq!(event.event_version(), version, "{name}");
        assert_eq!(json["actor"]["kind"], "agent");
        assert!(json["occurred_at"].is_string(), "{name}");
        let back: ConversationEvent = serde_json::from_value(json).expect("the event deserializes");
        assert_eq!(back, event, "{name}");
    }
}

#[test]
fn message_facts_fold_one_messages_status_and_deletion() {
    let system = Actor::system("connector");
    let history = and(
        conversation_with_reply(),
        [
            past(system.clone(), recorded(OUT1, DeliveryStatus::Sent, None)),
            past(agent(), C::ReactionSet { message_id: OUT1, emoji: "👍".into() }),
            past(system, recorded(OUT1, DeliveryStatus::Read, None)),
            past(agent(), C::MessageDeleted { message_id: IN1 }),
        ],
    );
    assert_eq!(
        message_facts(&history, OUT1),
        Some(MessageFacts {
            message_id: OUT1,
            seq: 2,
            direction: Direction::Outbound,
            status: DeliveryStatus::Read,
            deleted: false,
            inbound_count: 1,
        })
    );
    assert_eq!(
        message_facts(&history, IN1),
        Some(MessageFacts {
            message_id: IN1,
            seq: 1,
            direction: Direction::Inbound,
            status: DeliveryStatus::Delivered,
            deleted: true,
            inbound_count: 1,
        })
    );
    assert_eq!(message_facts(&history, UNKNOWN_MESSAGE), None);
    // The aggregate's own memory agrees with the fold.
    let state = fold(&history);
    for facts in &state.recent {
        assert_eq!(message_facts(&history, facts.message_id).as_ref(), Some(facts));
    }
}
