//! `RecordDeliveryStatus`: reports move an outbound message's status forward only.

use super::*;

#[test]
fn sent_delivered_and_read_reports_are_recorded_in_order() {
    let s = Scenario::new();
    let system = Actor::system("connector");
    let mut history = conversation_with_reply();
    for status in [DeliveryStatus::Sent, DeliveryStatus::Delivered, DeliveryStatus::Read] {
        s.given(history.clone())
            .when(report(OUT1, status, None))
            .then_expect_events(vec![s.event(system.clone(), recorded(OUT1, status, None))]);
        history = s.run(history, report(OUT1, status, None));
    }
    assert_eq!(fold(&history).recent.back().map(|m| m.status), Some(DeliveryStatus::Read));
}

#[test]
fn a_report_may_skip_a_status() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(report(OUT1, DeliveryStatus::Read, None))
        .then_expect_events(vec![s.event(Actor::system("connector"), recorded(OUT1, DeliveryStatus::Read, None))]);
}

#[test]
fn a_late_or_duplicate_delivery_report_writes_nothing() {
    let s = Scenario::new();
    let cases = [
        (DeliveryStatus::Read, DeliveryStatus::Delivered),
        (DeliveryStatus::Read, DeliveryStatus::Sent),
        (DeliveryStatus::Sent, DeliveryStatus::Sent),
        (DeliveryStatus::Delivered, DeliveryStatus::Delivered),
    ];
    for (current, late) in cases {
        let given = and(conversation_with_reply(), [past(Actor::system("connector"), recorded(OUT1, current, None))]);
        s.given(given).when(report(OUT1, late, None)).then_expect_events(vec![]);
    }
}

#[test]
fn a_failure_is_recorded_with_its_code() {
    let s = Scenario::new();
    for given in [
        conversation_with_reply(),
        and(conversation_with_reply(), [past(Actor::system("connector"), recorded(OUT1, DeliveryStatus::Sent, None))]),
    ] {
        s.given(given).when(report(OUT1, DeliveryStatus::Failed, Some(failure("131026")))).then_expect_events(vec![
            s.event(Actor::system("connector"), recorded(OUT1, DeliveryStatus::Failed, Some(failure("131026")))),
        ]);
    }
}

#[test]
fn a_failed_report_needs_a_failure_code() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(report(OUT1, DeliveryStatus::Failed, None))
        .then_expect_error(validation("failure", "a failed status needs a failure code"));
    s.given(conversation_with_reply())
        .when(report(OUT1, DeliveryStatus::Failed, Some(failure(" "))))
        .then_expect_error(validation("failure.code", "must be 1 to 200 characters"));
}

#[test]
fn a_failure_after_delivery_writes_nothing() {
    let s = Scenario::new();
    let given = and(
        conversation_with_reply(),
        [past(Actor::system("connector"), recorded(OUT1, DeliveryStatus::Delivered, None))],
    );
    s.given(given).when(report(OUT1, DeliveryStatus::Failed, Some(failure("131026")))).then_expect_events(vec![]);
}

#[test]
fn a_failed_message_stays_failed() {
    let s = Scenario::new();
    let given = and(
        conversation_with_reply(),
        [past(Actor::system("connector"), recorded(OUT1, DeliveryStatus::Failed, Some(failure("131026"))))],
    );
    for status in [DeliveryStatus::Sent, DeliveryStatus::Delivered, DeliveryStatus::Read] {
        s.given(given.clone()).when(report(OUT1, status, None)).then_expect_events(vec![]);
    }
    s.given(given).when(report(OUT1, DeliveryStatus::Failed, Some(failure("131026")))).then_expect_events(vec![]);
}

#[test]
fn accepted_is_never_reported() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(report(OUT1, DeliveryStatus::Accepted, None))
        .then_expect_error(validation("status", "accepted is set by the engine, not reported"));
}

#[test]
fn only_a_failed_status_carries_a_failure() {
    let s = Scenario::new();
    for status in [DeliveryStatus::Sent, DeliveryStatus::Delivered, DeliveryStatus::Read] {
        s.given(conversation_with_reply())
            .when(report(OUT1, status, Some(failure("131026"))))
            .then_expect_error(validation("failure", "only a failed status carries a failure"));
    }
}

#[test]
fn delivery_status_is_reported_for_outbound_messages_only() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(report(IN1, DeliveryStatus::Read, None))
        .then_expect_error(validation("message_id", "delivery status is reported for outbound messages only"));
}

#[test]
fn a_delivery_report_for_an_unknown_message_is_message_not_found() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(report(UNKNOWN_MESSAGE, DeliveryStatus::Sent, None))
        .then_expect_error(ConversationError::MessageNotFound(UNKNOWN_MESSAGE));
}

#[test]
fn past_the_remembered_messages_a_clients_id_is_looked_up_and_a_minted_one_is_not() {
    let s = Scenario::new();
    let history = long_conversation();
    let without_the_store = || ConversationServices {
        clock: s.clock.clone(),
        inboxes: Arc::new(InMemoryInboxes(inbox_table())),
        messages: Arc::new(Unreachable),
        directory: directory(),
        attributes: Arc::new(attributes()),
    };
    // An id the client chose may be an old message's: the store is asked.
    TestFramework::<Conversation>::with(without_the_store())
        .given(history.clone())
        .when(send(agent(), OUT2, text("hi")))
        .then_expect_error(ConversationError::Lookup("store unreachable".into()));
    s.given(history.clone())
        .when(send(agent(), OUT1, text("hi")))
        .then_expect_error(ConversationError::DuplicateMessage(OUT1));
    // One the gateway minted for this command cannot be in use: no query, the message is sent.
    let minted =
        command(agent(), A::SendMessage { minted_id: true, mentions: vec![], message_id: OUT2, content: text("hi") });
    let sent = TestFramework::<Conversation>::with(without_the_store()).given(history).when(minted).inspect_result();
    let sent = sent.expect("sent without the store");
    assert!(
        matches!(sent.as_slice(), [e] if matches!(e.change, C::MessageSent { message_id, .. } if message_id == OUT2)),
        "{sent:?}"
    );
}

#[test]
fn a_delivery_report_for_a_message_older_than_the_recent_ones_is_recorded() {
    let s = Scenario::new();
    let history = long_conversation();
    let state = fold(&history);
    assert_eq!(state.recent.len(), RECENT_MESSAGES);
    assert!(state.recent.iter().all(|m| m.message_id != OUT1), "OUT1 is no longer remembered");

    s.given(history.clone())
        .when(report(OUT1, DeliveryStatus::Delivered, None))
        .then_expect_events(vec![s.event(Actor::system("connector"), recorded(OUT1, DeliveryStatus::Delivered, None))]);

    // Its status is folded from the history too: a late report writes nothing.
    let history = s.run(history, report(OUT1, DeliveryStatus::Read, None));
    s.given(history).when(report(OUT1, DeliveryStatus::Delivered, None)).then_expect_events(vec![]);
}
