//! `React`, `EditMessage` and `DeleteMessage`: changes to a message that exists and is not deleted.

use super::*;

#[test]
fn reacting_sets_a_trimmed_emoji_on_the_message() {
    let s = Scenario::new();
    for message_id in [IN1, OUT1] {
        s.given(conversation_with_reply())
            .when(react(message_id, " 👍 "))
            .then_expect_events(vec![s.event(agent(), C::ReactionSet { message_id, emoji: "👍".into() })]);
    }
    // A family emoji is several code points but well under the limit.
    s.given(conversation_with_reply())
        .when(react(IN1, "👨‍👩‍👧‍👦"))
        .then_expect_events(vec![s.event(agent(), C::ReactionSet { message_id: IN1, emoji: "👨‍👩‍👧‍👦".into() })]);
}

#[test]
fn an_empty_emoji_removes_the_reaction() {
    let s = Scenario::new();
    for emoji in ["", "  "] {
        s.given(conversation_with_reply())
            .when(react(IN1, emoji))
            .then_expect_events(vec![s.event(agent(), C::ReactionRemoved { message_id: IN1 })]);
    }
}

#[test]
fn an_emoji_longer_than_16_characters_is_rejected() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(react(IN1, &"👍".repeat(17)))
        .then_expect_error(validation("emoji", "must be at most 16 characters"));
    s.given(conversation_with_reply())
        .when(react(IN1, &format!(" {} ", "👍".repeat(15))))
        .then_expect_error(validation("emoji", "must be at most 16 characters"));
    s.given(conversation_with_reply())
        .when(react(IN1, &"👍".repeat(16)))
        .then_expect_events(vec![s.event(agent(), C::ReactionSet { message_id: IN1, emoji: "👍".repeat(16) })]);
}

#[test]
fn reacting_to_a_deleted_message_is_refused() {
    let s = Scenario::new();
    s.given(and(conversation_with_reply(), [past(agent(), C::MessageDeleted { message_id: OUT1 })]))
        .when(react(OUT1, "👍"))
        .then_expect_error(ConversationError::MessageDeleted(OUT1));
}

#[test]
fn reacting_to_an_unknown_message_is_message_not_found() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(react(UNKNOWN_MESSAGE, "👍"))
        .then_expect_error(ConversationError::MessageNotFound(UNKNOWN_MESSAGE));
}

#[test]
fn reacting_to_a_message_older_than_the_recent_ones_is_looked_up() {
    let s = Scenario::new();
    s.given(long_conversation())
        .when(react(OUT1, "🎉"))
        .then_expect_events(vec![s.event(agent(), C::ReactionSet { message_id: OUT1, emoji: "🎉".into() })]);
}

#[test]
fn editing_a_message_replaces_its_text() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(command(agent(), A::EditMessage { message_id: OUT1, content: text("how may I help?") }))
        .then_expect_events(vec![
            s.event(agent(), C::MessageEdited { message_id: OUT1, content: text("how may I help?") }),
        ]);
}

#[test]
fn only_text_can_replace_a_messages_content() {
    let s = Scenario::new();
    for content in [template(), interactive()] {
        s.given(conversation_with_reply())
            .when(command(agent(), A::EditMessage { message_id: OUT1, content }))
            .then_expect_error(validation("content.type", "only text can replace a message's content"));
    }
    s.given(conversation_with_reply())
        .when(command(agent(), A::EditMessage { message_id: OUT1, content: text(" ") }))
        .then_expect_error(validation("content.body", "must not be empty"));
}

#[test]
fn editing_a_deleted_or_unknown_message_is_refused() {
    let s = Scenario::new();
    s.given(and(conversation_with_reply(), [past(agent(), C::MessageDeleted { message_id: OUT1 })]))
        .when(command(agent(), A::EditMessage { message_id: OUT1, content: text("oops") }))
        .then_expect_error(ConversationError::MessageDeleted(OUT1));
    s.given(conversation_with_reply())
        .when(command(agent(), A::EditMessage { message_id: UNKNOWN_MESSAGE, content: text("oops") }))
        .then_expect_error(ConversationError::MessageNotFound(UNKNOWN_MESSAGE));
}

#[test]
fn deleting_a_message_records_it_once() {
    let s = Scenario::new();
    let delete = || command(agent(), A::DeleteMessage { message_id: OUT1 });
    s.given(conversation_with_reply())
        .when(delete())
        .then_expect_events(vec![s.event(agent(), C::MessageDeleted { message_id: OUT1 })]);

    let history = s.run(conversation_with_reply(), delete());
    assert!(fold(&history).recent.iter().any(|m| m.message_id == OUT1 && m.deleted));
    s.given(history).when(delete()).then_expect_events(vec![]);
}

#[test]
fn deleting_an_old_message_already_deleted_writes_nothing() {
    let s = Scenario::new();
    let history = and(conversation_with_reply(), [past(agent(), C::MessageDeleted { message_id: OUT1 })]);
    let history = and(history, long_conversation().into_iter().skip(3));
    assert!(fold(&history).recent.iter().all(|m| m.message_id != OUT1));
    s.given(history).when(command(agent(), A::DeleteMessage { message_id: OUT1 })).then_expect_events(vec![]);
}

#[test]
fn deleting_an_unknown_message_is_message_not_found() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(command(agent(), A::DeleteMessage { message_id: UNKNOWN_MESSAGE }))
        .then_expect_error(ConversationError::MessageNotFound(UNKNOWN_MESSAGE));
}
