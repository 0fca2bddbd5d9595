//! Private notes: in the timeline, for the team only, mentioning active agents of the workspace.

use super::*;

fn note(actor: Actor, body: &str, mentions: &[&str]) -> ConversationCommand {
    let mentions = mentions.iter().map(|m| (*m).to_owned()).collect();
    command(actor, A::AddNote { message_id: NOTE, minted_id: false, body: body.into(), mentions })
}

fn note_added(seq: u64, inbound_count: u64, body: &str, mentions: &[&str]) -> C {
    let mentions = mentions.iter().map(|m| (*m).to_owned()).collect();
    C::NoteAdded { message_id: NOTE, seq, inbound_count, body: body.into(), mentions }
}

#[test]
fn a_note_takes_the_next_place_in_the_timeline_and_names_the_agents_it_mentions() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(note(agent(), "  ask @bob about the refund  ", &[OTHER_AGENT, AGENT]))
        .then_expect_events(vec![
            s.event(agent(), note_added(3, 1, "ask @bob about the refund", &[OTHER_AGENT, AGENT])),
        ]);
    // A bot writes notes too (a summary for the agent taking over).
    s.given(conversation())
        .when(note(bot(), "intent: refund", &[]))
        .then_expect_events(vec![s.event(bot(), note_added(2, 1, "intent: refund", &[]))]);
}

#[test]
fn a_note_needs_no_window_changes_no_status_and_is_nobodys_unread() {
    let s = Scenario::new();
    // Days after the contact's last message, on a closed conversation: the window is long
    // closed, and a note is written all the same, changing nothing else.
    let given = and(
        conversation(),
        [past(agent(), status_changed(ConversationStatus::Open, ConversationStatus::Closed, None))],
    );
    s.advance(Duration::days(3));
    let history = s.run(given.clone(), note(agent(), "closed: refunded", &[]));
    assert_eq!(history.len(), given.len() + 1);
    let (before, after) = (fold(&given), fold(&history));
    assert_eq!(after.status, Some(ConversationStatus::Closed));
    assert_eq!((after.inbound_count, after.last_inbound_at), (before.inbound_count, before.last_inbound_at));
    assert_eq!(after.message_count, 2, "the note holds seq 2");
    // The next message comes after it.
    let reply = s.run(
        and(history, [past(contact(), Inbound::new(IN2, s.now()).received_after(3, 2))]),
        send(agent(), OUT1, text("refunded")),
    );
    assert!(matches!(reply.last().map(|e| &e.change), Some(C::MessageSent { seq: 4, inbound_count: 2, .. })));
}

#[test]
fn a_note_mentions_only_distinct_active_agents_of_the_workspace() {
    let s = Scenario::new();
    let cases = [
        (vec!["agent-nobody"], validation("mentions[0]", "agent-nobody is no agent of the workspace")),
        (vec![AGENT, FOREIGN_AGENT], validation("mentions[1]", "agent-zed is no agent of the workspace")),
        (vec![DEACTIVATED_AGENT], validation("mentions[0]", "agent agent-eve is deactivated")),
        (vec![AGENT, AGENT], validation("mentions[1]", "mentions an agent named before")),
        (vec![""], validation("mentions[0]", "must be 1 to 200 characters")),
    ];
    for (mentions, error) in cases {
        s.given(conversation()).when(note(agent(), "see this", &mentions)).then_expect_error(error);
    }
}

#[test]
fn a_note_has_1_to_4096_characters_and_an_agent_or_a_bot_as_its_author() {
    let s = Scenario::new();
    let length = validation("body", "must be 1 to 4096 characters");
    for body in ["".to_owned(), "   ".into(), "x".repeat(4097)] {
        s.given(conversation()).when(note(agent(), &body, &[])).then_expect_error(length.clone());
    }
    s.given(conversation()).when(note(agent(), &"x".repeat(4096), &[])).inspect_result().expect("4096 characters");
    for actor in [contact(), Actor::system("connector")] {
        s.given(conversation())
            .when(note(actor, "hi", &[]))
            .then_expect_error(validation("actor.kind", "only an agent or a bot writes notes"));
    }
}

#[test]
fn a_note_is_not_a_message_for_reports_reactions_edits_or_deletions() {
    let s = Scenario::new();
    let given = and(conversation(), [past(agent(), note_added(2, 1, "internal", &[]))]);
    let not_a_message = validation("message_id", "names a private note, not a message");
    for action in [
        A::React { message_id: NOTE, emoji: "👍".into() },
        A::EditMessage { message_id: NOTE, content: text("changed") },
        A::DeleteMessage { message_id: NOTE },
    ] {
        s.given(given.clone()).when(command(agent(), action)).then_expect_error(not_a_message.clone());
    }
    s.given(given.clone())
        .when(report(NOTE, DeliveryStatus::Delivered, None))
        .then_expect_error(validation("message_id", "delivery status is reported for outbound messages only"));
    // Its id is taken: neither a message nor another note may use it.
    s.given(given.clone())
        .when(send(agent(), NOTE, text("hi")))
        .then_expect_error(ConversationError::DuplicateMessage(NOTE));
    s.given(given.clone())
        .when(note(agent(), "again", &[]))
        .then_expect_error(ConversationError::DuplicateMessage(NOTE));
    // An agent marks the conversation read up to it.
    s.given(given).when(mark_read(AGENT, NOTE)).then_expect_events(vec![s.event(agent(), read_marker(AGENT, NOTE, 2))]);
}

#[test]
fn a_note_older_than_the_aggregate_remembers_is_still_known_as_a_note() {
    let s = Scenario::new();
    let mut given = and(conversation(), [past(agent(), note_added(2, 1, "early", &[]))]);
    let more = (0..RECENT_MESSAGES as u64 + 5).map(|i| {
        past(contact(), Inbound::new(Uuid::from_u128(0xc000 + u128::from(i)), t0()).received_after(i + 3, i + 2))
    });
    given.extend(more);
    assert!(fold(&given).recent.iter().all(|m| m.message_id != NOTE));
    s.given(given)
        .when(command(agent(), A::EditMessage { message_id: NOTE, content: text("changed") }))
        .then_expect_error(validation("message_id", "names a private note, not a message"));
    let facts = message_facts(&[past(agent(), note_added(2, 1, "early", &[]))], NOTE).expect("the note's facts");
    assert_eq!((facts.direction, facts.seq), (Direction::Note, 2));
}
