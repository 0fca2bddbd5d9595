//! `ReceiveInboundMessage`: a thread's conversation found or started, each message received once,
//! reopening what it lands on.

use super::*;

#[test]
fn an_inbound_message_on_a_new_thread_starts_the_conversation() {
    let s = Scenario::new();
    let inbound = Inbound::new(IN1, t0() - Duration::minutes(1));
    let expected_id = crate::conversation_id(WS, WHATSAPP, THREAD);
    s.given_no_previous_events().when(inbound.clone().command()).then_expect_events(vec![
        s.event(
            contact(),
            C::Started {
                contact_id: None,
                conversation_id: expected_id,
                workspace_id: WS,
                inbox_id: WHATSAPP,
                channel: ChannelType::Whatsapp,
                kind: ConversationKind::Direct,
                thread_key: THREAD.into(),
                display_name: Some("Ada Lovelace".into()),
            },
        ),
        s.event(
            contact(),
            C::InboundMessageReceived {
                mentions: vec![],
                message_id: IN1,
                seq: 1,
                inbound_count: 1,
                channel_message_id: Some("wamid.a001".into()),
                sent_at: t0() - Duration::minutes(1),
                content: text("hello"),
                sender: None,
                sender_contact_id: None,
            },
        ),
    ]);
    assert_eq!(inbound.started(), started_on(WHATSAPP).change);
}

#[test]
fn a_started_conversation_is_open_with_its_first_message_remembered() {
    let state = fold(&conversation());
    assert_eq!(state.conversation_id, Some(crate::conversation_id(WS, WHATSAPP, THREAD)));
    assert_eq!(state.workspace_id, Some(WS));
    assert_eq!(state.inbox_id, Some(WHATSAPP));
    assert_eq!(state.channel, Some(ChannelType::Whatsapp));
    assert_eq!(state.status, Some(ConversationStatus::Open));
    assert_eq!(state.message_count, 1);
    assert_eq!(state.last_inbound_at, Some(t0()));
    assert_eq!(
        state.recent.iter().collect::<Vec<_>>(),
        vec![&MessageFacts {
            message_id: IN1,
            seq: 1,
            direction: Direction::Inbound,
            status: DeliveryStatus::Delivered,
            deleted: false,
            inbound_count: 1,
        }]
    );
}

#[test]
fn a_group_message_starts_a_group_conversation_that_records_its_sender() {
    let s = Scenario::new();
    let inbound = Inbound {
        thread_key: "group-42".into(),
        kind: ConversationKind::Group,
        sender: Some(MEMBER.into()),
        ..Inbound::new(IN1, t0())
    };
    let expected = vec![s.event(contact(), inbound.started()), s.event(contact(), inbound.received(1))];
    s.given_no_previous_events().when(inbound.command()).then_expect_events(expected);
}

#[test]
fn a_second_inbound_message_is_only_appended_with_the_next_seq() {
    let s = Scenario::new();
    s.advance(Duration::hours(1));
    let inbound = Inbound::new(IN2, t0() + Duration::minutes(59));
    let expected = vec![s.event(contact(), inbound.received(2))];
    s.given(conversation()).when(inbound.command()).then_expect_events(expected);

    let inbound = Inbound::new(IN2, t0());
    let expected = vec![s.event(contact(), inbound.received_after(3, 2))];
    s.given(conversation_with_reply()).when(inbound.command()).then_expect_events(expected);
}

#[test]
fn an_inbound_message_reopens_a_closed_pending_or_snoozed_conversation() {
    let s = Scenario::new();
    let wake_up = t0() + Duration::days(1);
    for (status, until) in [
        (ConversationStatus::Closed, None),
        (ConversationStatus::Pending, None),
        (ConversationStatus::Snoozed, Some(wake_up)),
    ] {
        let given = and(conversation(), [past(agent(), status_changed(ConversationStatus::Open, status, until))]);
        let inbound = Inbound::new(IN2, t0());
        s.given(given).when(inbound.clone().command()).then_expect_events(vec![
            s.event(contact(), inbound.received(2)),
            s.event(contact(), status_changed(status, ConversationStatus::Open, None)),
        ]);
    }
}

#[test]
fn a_reopened_snoozed_conversation_forgets_its_wake_up_time() {
    let s = Scenario::new();
    let given = and(
        conversation(),
        [past(
            agent(),
            status_changed(ConversationStatus::Open, ConversationStatus::Snoozed, Some(t0() + Duration::days(1))),
        )],
    );
    let history = s.run(given, Inbound::new(IN2, t0()).command());
    let state = fold(&history);
    assert_eq!(state.status, Some(ConversationStatus::Open));
    assert_eq!(state.snoozed_until, None);
}

#[test]
fn an_inbound_message_unarchives_an_archived_conversation() {
    let s = Scenario::new();
    let inbound = Inbound::new(IN2, t0());
    s.given(and(conversation(), [past(agent(), C::Archived {})]))
        .when(inbound.clone().command())
        .then_expect_events(vec![s.event(contact(), inbound.received(2)), s.event(contact(), C::Unarchived {})]);
}

#[test]
fn an_inbound_message_on_a_closed_archived_conversation_reopens_then_unarchives_it() {
    let s = Scenario::new();
    let given = and(
        conversation(),
        [
            past(agent(), status_changed(ConversationStatus::Open, ConversationStatus::Closed, None)),
            past(agent(), C::Archived {}),
        ],
    );
    let inbound = Inbound::new(IN2, t0());
    s.given(given).when(inbound.clone().command()).then_expect_events(vec![
        s.event(contact(), inbound.received(2)),
        s.event(contact(), status_changed(ConversationStatus::Closed, ConversationStatus::Open, None)),
        s.event(contact(), C::Unarchived {}),
    ]);
}

#[test]
fn an_inbound_message_on_an_inbox_the_workspace_does_not_have_is_not_found() {
    let s = Scenario::new();
    // Another workspace's inbox is answered exactly as one that does not exist.
    for inbox_id in [UNKNOWN_INBOX, FOREIGN_INBOX] {
        s.given_no_previous_events()
            .when(Inbound { inbox_id, ..Inbound::new(IN1, t0()) }.command())
            .then_expect_error(ConversationError::InboxNotFound(inbox_id));
    }
}

#[test]
fn an_inbound_message_on_a_deleted_inbox_of_the_workspace_needs_an_inbox() {
    let s = Scenario::new();
    s.given_no_previous_events()
        .when(Inbound { inbox_id: DELETED_INBOX, ..Inbound::new(IN1, t0()) }.command())
        .then_expect_error(ConversationError::InboxRequired);
}

#[test]
fn an_inbound_message_on_an_inbox_deleted_since_the_conversation_started_needs_an_inbox() {
    let s = Scenario::new();
    s.given(conversation_on(DELETED_INBOX))
        .when(Inbound { inbox_id: DELETED_INBOX, ..Inbound::new(IN2, t0()) }.command())
        .then_expect_error(ConversationError::InboxRequired);
}

#[test]
fn an_inbound_message_needs_a_thread_key() {
    let s = Scenario::new();
    for thread_key in [String::new(), "   ".to_owned(), "x".repeat(201)] {
        s.given_no_previous_events()
            .when(Inbound { thread_key, ..Inbound::new(IN1, t0()) }.command())
            .then_expect_error(thread_key_length());
    }
}

#[test]
fn an_inbound_message_needs_valid_content() {
    let s = Scenario::new();
    s.given_no_previous_events()
        .when(Inbound { content: text("  "), ..Inbound::new(IN1, t0()) }.command())
        .then_expect_error(validation("content.body", "must not be empty"));
    s.given_no_previous_events()
        .when(Inbound { content: text(&"x".repeat(4097)), ..Inbound::new(IN1, t0()) }.command())
        .then_expect_error(validation("content.body", "must be at most 4096 characters"));
    s.given(conversation())
        .when(
            Inbound {
                content: MessageContent::Media { url: String::new(), mime_type: "image/png".into(), caption: None },
                ..Inbound::new(IN2, t0())
            }
            .command(),
        )
        .then_expect_error(validation("content.url", "must not be empty"));
}

#[test]
fn an_inbound_message_sent_more_than_five_minutes_in_the_future_is_rejected() {
    let s = Scenario::new();
    s.given_no_previous_events()
        .when(Inbound::new(IN1, t0() + MAX_CLOCK_SKEW + Duration::seconds(1)).command())
        .then_expect_error(validation("sent_at", "must not be in the future"));
}

#[test]
fn an_inbound_message_up_to_five_minutes_ahead_is_accepted_as_clock_skew() {
    let s = Scenario::new();
    let inbound = Inbound::new(IN1, t0() + MAX_CLOCK_SKEW);
    let expected = vec![s.event(contact(), inbound.started()), s.event(contact(), inbound.received(1))];
    s.given_no_previous_events().when(inbound.command()).then_expect_events(expected);
}

#[test]
fn a_group_message_without_its_sender_is_rejected() {
    let s = Scenario::new();
    for sender in [None, Some("  ".to_owned())] {
        s.given_no_previous_events()
            .when(Inbound { kind: ConversationKind::Group, sender, ..Inbound::new(IN1, t0()) }.command())
            .then_expect_error(validation("sender", "a group message needs its sender member"));
    }
}

#[test]
fn an_inbound_message_reusing_a_recent_outbound_message_id_is_a_duplicate() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(Inbound::new(OUT1, t0()).command())
        .then_expect_error(ConversationError::DuplicateMessage(OUT1));
}

#[test]
fn the_same_inbound_message_received_again_is_received_once() {
    let s = Scenario::new();
    // A connector's retry: the same message id (derived from the channel's message id).
    s.given(conversation_with_reply()).when(Inbound::new(IN1, t0()).command()).then_expect_events(vec![]);
    // Also when the message is older than the aggregate remembers (answered by the lookup).
    s.given(long_conversation()).when(Inbound::new(IN1, t0()).command()).then_expect_events(vec![]);
}

#[test]
fn an_inbound_message_for_an_existing_conversation_of_another_workspace_is_not_found() {
    let s = Scenario::new();
    // The other workspace's own live inbox passes the inbox check; the conversation is not theirs.
    s.given(conversation())
        .when(Inbound { workspace_id: OTHER_WS, inbox_id: FOREIGN_INBOX, ..Inbound::new(IN2, t0()) }.command())
        .then_expect_error(ConversationError::NotFound);
    // Naming this workspace's inbox from another workspace leaks nothing either.
    s.given(conversation())
        .when(Inbound { workspace_id: OTHER_WS, ..Inbound::new(IN2, t0()) }.command())
        .then_expect_error(ConversationError::NotFound);
}

#[test]
fn an_inbound_message_from_another_inbox_of_the_workspace_is_not_found() {
    let s = Scenario::new();
    s.given(conversation())
        .when(Inbound { inbox_id: SMS, ..Inbound::new(IN2, t0()) }.command())
        .then_expect_error(ConversationError::NotFound);
}

#[test]
fn an_unreachable_store_is_a_lookup_failure_that_writes_nothing() {
    let s = Scenario::new();
    let services = || ConversationServices {
        clock: s.clock.clone(),
        inboxes: Arc::new(Unreachable),
        messages: Arc::new(Unreachable),
        directory: directory(),
        attributes: Arc::new(attributes()),
    };
    let lookup_failed = || ConversationError::Lookup("store unreachable".into());
    TestFramework::<Conversation>::with(services())
        .given_no_previous_events()
        .when(Inbound::new(IN1, t0()).command())
        .then_expect_error(lookup_failed());
    TestFramework::<Conversation>::with(services())
        .given(conversation())
        .when(send(agent(), OUT1, text("hi")))
        .then_expect_error(lookup_failed());
    // A message the aggregate does not remember is looked up.
    TestFramework::<Conversation>::with(services())
        .given(conversation())
        .when(mark_read(AGENT, UNKNOWN_MESSAGE))
        .then_expect_error(lookup_failed());
}

#[test]
fn an_inbound_message_for_another_thread_is_not_appended_to_this_conversation() {
    let s = Scenario::new();
    s.given(conversation())
        .when(Inbound { thread_key: "+4400000000".into(), ..Inbound::new(IN2, t0()) }.command())
        .then_expect_error(ConversationError::NotFound);
}

#[test]
fn a_message_for_the_conversations_contact_lands_in_it_whatever_channel_address_it_came_from() {
    // WhatsApp's business-scoped id in place of the phone: the gateway found this conversation
    // through the contact, whose identity it is.
    let contact_id = Some(Uuid::from_u128(0xc0));
    let first = Inbound { contact_id, ..Inbound::new(IN1, t0()) };
    let by_id = Inbound { thread_key: "US.13491208655302741918".into(), contact_id, ..Inbound::new(IN2, t0()) };
    let s = Scenario::new();
    let history =
        |started: &Inbound| vec![s.event(contact(), started.started()), s.event(contact(), started.received(1))];
    let received = vec![s.event(contact(), by_id.received(2))];
    s.given(history(&first)).when(by_id.clone().command()).then_expect_events(received.clone());
    // A conversation that started before contacts existed takes it too: the contact recorded it.
    let legacy = Inbound::new(IN1, t0());
    s.given(history(&legacy)).when(by_id.clone().command()).then_expect_events(received);
    // So does the contact a merge gave it to (its record names this conversation now).
    let survivor = Inbound { contact_id: Some(Uuid::from_u128(0xc1)), ..by_id.clone() };
    s.given(history(&first)).when(survivor.command()).then_expect_events(vec![s.event(contact(), by_id.received(2))]);
    // Without a contact, another address is another thread.
    let nobody = Inbound { contact_id: None, ..by_id };
    s.given(history(&first)).when(nobody.command()).then_expect_error(ConversationError::NotFound);
}

#[test]
fn a_group_message_never_lands_on_a_direct_conversation() {
    let s = Scenario::new();
    s.given(conversation())
        .when(
            Inbound { kind: ConversationKind::Group, sender: Some("member-1".into()), ..Inbound::new(IN2, t0()) }
                .command(),
        )
        .then_expect_error(ConversationError::NotFound);
}
