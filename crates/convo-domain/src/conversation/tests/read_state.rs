//! `MarkRead`: each user's read marker, never moved back.

use super::*;

#[test]
fn marking_a_message_read_moves_the_users_marker_to_its_seq() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(mark_read(AGENT, IN1))
        .then_expect_events(vec![s.event(agent(), read_marker(AGENT, IN1, 1))]);
    s.given(and(conversation_with_reply(), [past(agent(), read_marker(AGENT, IN1, 1))]))
        .when(mark_read(AGENT, OUT1))
        .then_expect_events(vec![s.event(agent(), read_marker(AGENT, OUT1, 2))]);
}

#[test]
fn marking_an_earlier_or_the_same_message_read_writes_nothing() {
    let s = Scenario::new();
    let given = and(conversation_with_reply(), [past(agent(), read_marker(AGENT, OUT1, 2))]);
    s.given(given.clone()).when(mark_read(AGENT, IN1)).then_expect_events(vec![]);
    s.given(given).when(mark_read(AGENT, OUT1)).then_expect_events(vec![]);
}

#[test]
fn read_markers_are_kept_per_user() {
    let s = Scenario::new();
    let given = and(conversation_with_reply(), [past(agent(), read_marker(AGENT, OUT1, 2))]);
    s.given(given.clone())
        .when(mark_read(OTHER_AGENT, IN1))
        .then_expect_events(vec![s.event(agent(), read_marker(OTHER_AGENT, IN1, 1))]);
    let history = s.run(given, mark_read(OTHER_AGENT, IN1));
    let markers = fold(&history).read_markers;
    assert_eq!(markers.get(AGENT), Some(&2));
    assert_eq!(markers.get(OTHER_AGENT), Some(&1));
}

#[test]
fn marking_a_message_older_than_the_recent_ones_read_is_looked_up() {
    let s = Scenario::new();
    s.given(long_conversation())
        .when(mark_read(AGENT, OUT1))
        .then_expect_events(vec![s.event(agent(), read_marker(AGENT, OUT1, 2))]);
}

#[test]
fn marking_an_unknown_message_read_is_message_not_found() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(mark_read(AGENT, UNKNOWN_MESSAGE))
        .then_expect_error(ConversationError::MessageNotFound(UNKNOWN_MESSAGE));
}

#[test]
fn marking_read_needs_a_user() {
    let s = Scenario::new();
    for user_id in ["", "   "] {
        s.given(conversation_with_reply())
            .when(mark_read(user_id, IN1))
            .then_expect_error(validation("user_id", "must be 1 to 200 characters"));
    }
}

#[test]
fn a_read_marker_counts_the_inbound_messages_read_up_to_it() {
    let s = Scenario::new();
    // IN1 (inbound 1), OUT1 (after 1 inbound), IN2 (inbound 2).
    let history = s.run(conversation_with_reply(), Inbound::new(IN2, t0()).command());
    let marker = |user: &str, message_id, seq, inbound_read| {
        s.event(agent(), C::ReadMarkerMoved { user_id: user.into(), message_id, seq, inbound_read })
    };
    s.given(history.clone()).when(mark_read(AGENT, IN2)).then_expect_events(vec![marker(AGENT, IN2, 3, 2)]);
    s.given(history.clone()).when(mark_read(AGENT, OUT1)).then_expect_events(vec![marker(AGENT, OUT1, 2, 1)]);
    // Also for a message older than the aggregate remembers (answered by the lookup).
    s.given(long_conversation()).when(mark_read(AGENT, OUT1)).then_expect_events(vec![marker(AGENT, OUT1, 2, 1)]);
}
