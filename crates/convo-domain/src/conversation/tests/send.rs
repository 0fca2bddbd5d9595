//! `SendMessage` and the messaging window: who may send what, when, on which channel.

use super::*;

#[test]
fn an_agent_or_a_bot_can_send_text_inside_the_whatsapp_window() {
    let s = Scenario::new();
    s.advance(Duration::hours(24) - Duration::seconds(1));
    for actor in [agent(), bot()] {
        s.given(conversation()).when(send(actor.clone(), OUT1, text("hi"))).then_expect_events(vec![s.event(
            actor,
            C::MessageSent { mentions: vec![], message_id: OUT1, seq: 2, inbound_count: 1, content: text("hi") },
        )]);
    }
}

#[test]
fn interactive_and_media_messages_can_be_sent_inside_the_whatsapp_window() {
    let s = Scenario::new();
    let media =
        MessageContent::Media { url: "https://cdn.example/a.png".into(), mime_type: "image/png".into(), caption: None };
    for content in [interactive(), media] {
        s.given(conversation()).when(send(agent(), OUT1, content.clone())).then_expect_events(vec![
            s.event(agent(), C::MessageSent { mentions: vec![], message_id: OUT1, seq: 2, inbound_count: 1, content }),
        ]);
    }
}

#[test]
fn an_agent_text_24_hours_after_the_contact_wrote_is_refused_with_the_window_expiry() {
    let s = Scenario::new();
    s.advance(Duration::hours(24));
    s.given(conversation())
        .when(send(agent(), OUT1, text("still there?")))
        .then_expect_error(window_closed(WindowActor::Agent, t0() + Duration::hours(24)));
    s.given(conversation())
        .when(send(bot(), OUT1, text("still there?")))
        .then_expect_error(window_closed(WindowActor::Bot, t0() + Duration::hours(24)));
}

#[test]
fn the_window_counts_from_when_the_contact_sent_not_from_when_it_arrived() {
    let s = Scenario::new();
    let history = s.run(vec![], Inbound::new(IN1, t0() - Duration::hours(23)).command());
    assert_eq!(history[1].occurred_at, t0());

    s.given(history.clone()).when(send(agent(), OUT1, text("hi"))).then_expect_events(vec![s.event(
        agent(),
        C::MessageSent { mentions: vec![], message_id: OUT1, seq: 2, inbound_count: 1, content: text("hi") },
    )]);

    s.advance(Duration::hours(1));
    s.given(history)
        .when(send(agent(), OUT1, text("hi")))
        .then_expect_error(window_closed(WindowActor::Agent, t0() + Duration::hours(1)));
}

#[test]
fn a_new_inbound_message_reopens_the_window() {
    let s = Scenario::new();
    s.advance(Duration::hours(30));
    let history = s.run(conversation(), Inbound::new(IN2, s.now()).command());
    s.given(history).when(send(agent(), OUT1, text("hi"))).then_expect_events(vec![s.event(
        agent(),
        C::MessageSent { mentions: vec![], message_id: OUT1, seq: 3, inbound_count: 2, content: text("hi") },
    )]);
}

#[test]
fn a_late_inbound_message_does_not_move_the_window_back() {
    let s = Scenario::new();
    s.advance(Duration::hours(1));
    // Delivered an hour after the first one, but written 30 hours earlier.
    let history = s.run(conversation(), Inbound::new(IN2, t0() - Duration::hours(30)).command());
    assert_eq!(fold(&history).last_inbound_at, Some(t0()));
    s.advance(Duration::hours(23));
    s.given(history)
        .when(send(agent(), OUT1, text("hi")))
        .then_expect_error(window_closed(WindowActor::Agent, t0() + Duration::hours(24)));
}

#[test]
fn a_whatsapp_template_can_be_sent_outside_the_window_but_does_not_reopen_it() {
    let s = Scenario::new();
    s.advance(Duration::days(3));
    s.given(conversation()).when(send(bot(), OUT1, template())).then_expect_events(vec![s.event(
        bot(),
        C::MessageSent { mentions: vec![], message_id: OUT1, seq: 2, inbound_count: 1, content: template() },
    )]);

    let history = s.run(conversation(), send(agent(), OUT1, template()));
    s.given(history)
        .when(send(agent(), OUT2, text("following up")))
        .then_expect_error(window_closed(WindowActor::Agent, t0() + Duration::hours(24)));
}

#[test]
fn a_template_on_sms_is_an_unsupported_channel() {
    let s = Scenario::new();
    s.given(conversation_on(SMS))
        .when(send(agent(), OUT1, template()))
        .then_expect_error(ConversationError::UnsupportedChannel { channel: ChannelType::Sms, content: "template" });
}

#[test]
fn a_template_on_messenger_is_an_unsupported_channel_even_inside_the_window() {
    let s = Scenario::new();
    s.given(conversation_on(MESSENGER)).when(send(agent(), OUT1, template())).then_expect_error(
        ConversationError::UnsupportedChannel { channel: ChannelType::Messenger, content: "template" },
    );
}

#[test]
fn a_template_on_rcs_is_an_ordinary_message() {
    let s = Scenario::new();
    s.advance(Duration::days(30));
    s.given(conversation_on(RCS)).when(send(bot(), OUT1, template())).then_expect_events(vec![s.event(
        bot(),
        C::MessageSent { mentions: vec![], message_id: OUT1, seq: 2, inbound_count: 1, content: template() },
    )]);
}

#[test]
fn an_interactive_message_on_sms_or_email_is_an_unsupported_channel() {
    let s = Scenario::new();
    for (inbox_id, channel) in [(SMS, ChannelType::Sms), (EMAIL, ChannelType::Email)] {
        s.given(conversation_on(inbox_id))
            .when(send(agent(), OUT1, interactive()))
            .then_expect_error(ConversationError::UnsupportedChannel { channel, content: "interactive" });
    }
}

#[test]
fn on_messenger_a_bot_is_refused_after_25_hours_but_an_agent_is_accepted_after_6_days() {
    let s = Scenario::new();
    s.advance(Duration::hours(25));
    s.given(conversation_on(MESSENGER))
        .when(send(bot(), OUT1, text("hi")))
        .then_expect_error(window_closed(WindowActor::Bot, t0() + Duration::hours(24)));

    s.advance(Duration::days(6) - Duration::hours(25));
    s.given(conversation_on(MESSENGER)).when(send(agent(), OUT1, text("hi"))).then_expect_events(vec![s.event(
        agent(),
        C::MessageSent { mentions: vec![], message_id: OUT1, seq: 2, inbound_count: 1, content: text("hi") },
    )]);

    s.advance(Duration::days(1));
    s.given(conversation_on(MESSENGER))
        .when(send(agent(), OUT1, text("hi")))
        .then_expect_error(window_closed(WindowActor::Agent, t0() + Duration::days(7)));
}

#[test]
fn an_sms_conversation_is_always_open() {
    let s = Scenario::new();
    s.advance(Duration::days(365));
    for actor in [agent(), bot()] {
        s.given(conversation_on(SMS)).when(send(actor.clone(), OUT1, text("hi"))).then_expect_events(vec![s.event(
            actor,
            C::MessageSent { mentions: vec![], message_id: OUT1, seq: 2, inbound_count: 1, content: text("hi") },
        )]);
    }
}

#[test]
fn sending_on_a_deleted_inbox_needs_an_inbox() {
    let s = Scenario::new();
    s.given(conversation_on(DELETED_INBOX))
        .when(send(agent(), OUT1, text("hi")))
        .then_expect_error(ConversationError::InboxRequired);
}

#[test]
fn only_an_agent_or_a_bot_sends_messages() {
    let s = Scenario::new();
    for actor in [contact(), Actor::system("scheduler")] {
        s.given(conversation())
            .when(send(actor, OUT1, text("hi")))
            .then_expect_error(validation("actor.kind", "only an agent or a bot sends messages"));
    }
}

#[test]
fn sending_on_an_unknown_conversation_is_not_found() {
    let s = Scenario::new();
    s.given_no_previous_events().when(send(agent(), OUT1, text("hi"))).then_expect_error(ConversationError::NotFound);
}

#[test]
fn sending_invalid_content_is_rejected() {
    let s = Scenario::new();
    let cases = [
        (text(""), validation("content.body", "must not be empty")),
        (
            MessageContent::Template { name: "  ".into(), language: "en".into(), parameters: vec![] },
            validation("content.name", "must not be empty"),
        ),
        (
            MessageContent::Interactive { body: "pick one".into(), buttons: vec![], list: vec![] },
            validation("content.buttons", "an interactive message needs buttons or a list"),
        ),
    ];
    for (content, error) in cases {
        s.given(conversation()).when(send(agent(), OUT1, content)).then_expect_error(error);
    }
}

#[test]
fn sending_with_a_message_id_already_used_is_a_duplicate() {
    let s = Scenario::new();
    for id in [IN1, OUT1] {
        s.given(conversation_with_reply())
            .when(send(agent(), id, text("hi")))
            .then_expect_error(ConversationError::DuplicateMessage(id));
    }
}

#[test]
fn a_minted_id_a_written_attempt_of_the_same_request_used_is_a_duplicate() {
    // The gateway mints a send's id from its Idempotency-Key: a retry whose first attempt was
    // written meanwhile carries the same id, and must not send the message a second time.
    let s = Scenario::new();
    let minted = |id| {
        command(agent(), A::SendMessage { minted_id: true, mentions: vec![], message_id: id, content: text("hi") })
    };
    s.given(conversation_with_reply()).when(minted(OUT1)).then_expect_error(ConversationError::DuplicateMessage(OUT1));
    let sent = s.given(conversation_with_reply()).when(minted(OUT2)).inspect_result().expect("a new minted id is sent");
    assert!(
        matches!(sent.as_slice(), [e] if matches!(e.change, C::MessageSent { message_id, .. } if message_id == OUT2))
    );
}

#[test]
fn a_message_id_used_before_the_recent_messages_is_still_a_duplicate() {
    let s = Scenario::new();
    s.given(long_conversation())
        .when(send(agent(), OUT1, text("again")))
        .then_expect_error(ConversationError::DuplicateMessage(OUT1));
    s.given(long_conversation())
        .when(Inbound::new(OUT1, t0()).command())
        .then_expect_error(ConversationError::DuplicateMessage(OUT1));
}
