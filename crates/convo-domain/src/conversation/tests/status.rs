//! `Archive`, `Unarchive` and `ChangeStatus`: where a conversation stands.

use super::*;

#[test]
fn archiving_a_conversation_records_it_once() {
    let s = Scenario::new();
    s.given(conversation())
        .when(command(agent(), A::Archive))
        .then_expect_events(vec![s.event(agent(), C::Archived {})]);
    s.given(and(conversation(), [past(agent(), C::Archived {})]))
        .when(command(agent(), A::Archive))
        .then_expect_events(vec![]);
}

#[test]
fn unarchiving_a_conversation_records_it_once() {
    let s = Scenario::new();
    s.given(and(conversation(), [past(agent(), C::Archived {})]))
        .when(command(agent(), A::Unarchive))
        .then_expect_events(vec![s.event(agent(), C::Unarchived {})]);
    s.given(conversation()).when(command(agent(), A::Unarchive)).then_expect_events(vec![]);
    s.given(and(conversation(), [past(agent(), C::Archived {}), past(agent(), C::Unarchived {})]))
        .when(command(agent(), A::Unarchive))
        .then_expect_events(vec![]);
}

#[test]
fn an_open_conversation_can_be_set_pending_or_closed() {
    let s = Scenario::new();
    for status in [ConversationStatus::Pending, ConversationStatus::Closed] {
        s.given(conversation())
            .when(change_status(status, None))
            .then_expect_events(vec![s.event(agent(), status_changed(ConversationStatus::Open, status, None))]);
    }
}

#[test]
fn a_conversation_can_be_snoozed_until_a_future_time() {
    let s = Scenario::new();
    let until = t0() + Duration::hours(4);
    s.given(conversation()).when(change_status(ConversationStatus::Snoozed, Some(until))).then_expect_events(vec![
        s.event(agent(), status_changed(ConversationStatus::Open, ConversationStatus::Snoozed, Some(until))),
    ]);
    let history = s.run(conversation(), change_status(ConversationStatus::Snoozed, Some(until)));
    let state = fold(&history);
    assert_eq!(state.status, Some(ConversationStatus::Snoozed));
    assert_eq!(state.snoozed_until, Some(until));
}

#[test]
fn snoozing_again_with_another_time_moves_the_wake_up() {
    let s = Scenario::new();
    let (first, later) = (t0() + Duration::hours(4), t0() + Duration::days(2));
    let given = and(
        conversation(),
        [past(agent(), status_changed(ConversationStatus::Open, ConversationStatus::Snoozed, Some(first)))],
    );
    s.given(given.clone()).when(change_status(ConversationStatus::Snoozed, Some(later))).then_expect_events(vec![
        s.event(agent(), status_changed(ConversationStatus::Snoozed, ConversationStatus::Snoozed, Some(later))),
    ]);
    s.given(given).when(change_status(ConversationStatus::Snoozed, Some(first))).then_expect_events(vec![]);
}

#[test]
fn reopening_a_snoozed_conversation_clears_its_wake_up_time() {
    let s = Scenario::new();
    let until = t0() + Duration::hours(4);
    let given = and(
        conversation(),
        [past(agent(), status_changed(ConversationStatus::Open, ConversationStatus::Snoozed, Some(until)))],
    );
    let history = s.run(given, change_status(ConversationStatus::Open, None));
    assert_eq!(
        history.last().map(|e| &e.change),
        Some(&status_changed(ConversationStatus::Snoozed, ConversationStatus::Open, None))
    );
    assert_eq!(fold(&history).snoozed_until, None);
}

#[test]
fn snoozing_needs_a_future_wake_up_time() {
    let s = Scenario::new();
    s.given(conversation())
        .when(change_status(ConversationStatus::Snoozed, None))
        .then_expect_error(validation("snoozed_until", "snoozing needs a time to wake up"));
    for until in [t0(), t0() - Duration::minutes(1)] {
        s.given(conversation())
            .when(change_status(ConversationStatus::Snoozed, Some(until)))
            .then_expect_error(validation("snoozed_until", "must be in the future"));
    }
}

#[test]
fn only_a_snoozed_status_has_a_wake_up_time() {
    let s = Scenario::new();
    for status in [ConversationStatus::Open, ConversationStatus::Pending, ConversationStatus::Closed] {
        s.given(conversation())
            .when(change_status(status, Some(t0() + Duration::hours(1))))
            .then_expect_error(validation("snoozed_until", "only a snoozed status has a wake-up time"));
    }
}

#[test]
fn changing_to_the_current_status_writes_nothing() {
    let s = Scenario::new();
    s.given(conversation()).when(change_status(ConversationStatus::Open, None)).then_expect_events(vec![]);
    let closed = and(
        conversation(),
        [past(agent(), status_changed(ConversationStatus::Open, ConversationStatus::Closed, None))],
    );
    s.given(closed.clone()).when(change_status(ConversationStatus::Closed, None)).then_expect_events(vec![]);
    s.given(closed).when(change_status(ConversationStatus::Open, None)).then_expect_events(vec![
        s.event(agent(), status_changed(ConversationStatus::Closed, ConversationStatus::Open, None)),
    ]);
}
