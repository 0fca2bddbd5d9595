//! Group conversations: who may do what, and what each command records.

use super::*;
use crate::conversation::group::{
    GroupAction as G, GroupRole, GroupSettings, InitialMember, JoinRequestOutcome, JoinedVia, LeftReason,
    MemberAddMode, NewMember, SettingsPatch,
};

const GROUP: &str = "120363000000000001@g.us";
const CREATOR: &str = "+15550001";
const INBOX_NUMBER: &str = "+15550002";
const ALICE: &str = "+15550003";
const BOB: &str = "+15550004";
const REQUEST: Uuid = Uuid::from_u128(0xc001);

fn group_command(actor: Actor, action: G) -> ConversationCommand {
    command(actor, A::Group(action))
}

fn new_member(id: &str, role: GroupRole) -> NewMember {
    NewMember { member_id: id.into(), role, display_name: None }
}

/// A group the inbox created (so the inbox's member is the creator, an admin) or joined.
fn create(self_is_creator: bool, settings: GroupSettings) -> G {
    G::Create {
        inbox_id: WHATSAPP,
        group_id: GROUP.into(),
        subject: "Launch crew".into(),
        description: None,
        picture_url: None,
        creator: if self_is_creator { INBOX_NUMBER } else { CREATOR }.into(),
        self_member: INBOX_NUMBER.into(),
        members: vec![new_member(ALICE, GroupRole::Member)],
        settings,
        invite_code: Some("code-1".into()),
    }
}

/// A group created by someone else, where the inbox's member is a plain member.
fn joined_group(s: &Scenario, settings: GroupSettings) -> Vec<ConversationEvent> {
    s.run(vec![], group_command(contact_as(CREATOR), create(false, settings)))
}

/// A group the inbox created: its member is the creator and an admin.
fn own_group(s: &Scenario, settings: GroupSettings) -> Vec<ConversationEvent> {
    s.run(vec![], group_command(agent(), create(true, settings)))
}

fn contact_as(member: &str) -> Actor {
    Actor::contact(member)
}

fn send_text(mentions: &[&str]) -> ConversationCommand {
    command(
        agent(),
        A::SendMessage {
            minted_id: false,
            message_id: OUT1,
            content: text("hi all"),
            mentions: mentions.iter().map(|m| (*m).to_owned()).collect(),
        },
    )
}

fn error_of(s: &Scenario, history: Vec<ConversationEvent>, command: ConversationCommand) -> ConversationError {
    s.given(history).when(command).inspect_result().expect_err("the command should be refused")
}

fn changes_of(s: &Scenario, history: Vec<ConversationEvent>, command: ConversationCommand) -> Vec<C> {
    let events = s.given(history).when(command).inspect_result().expect("the command should succeed");
    events.into_iter().map(|e| e.change).collect()
}

#[test]
fn creating_a_group_starts_its_conversation_with_the_creator_first_as_admin() {
    let s = Scenario::new();
    let changes = changes_of(&s, vec![], group_command(contact_as(CREATOR), create(false, GroupSettings::default())));
    let [C::Started { kind, thread_key, display_name, conversation_id, .. }, C::GroupCreated { members, creator, .. }] =
        &changes[..]
    else {
        panic!("expected Started and GroupCreated, got {changes:?}")
    };
    assert_eq!(*kind, ConversationKind::Group);
    assert_eq!(thread_key, GROUP);
    assert_eq!(display_name.as_deref(), Some("Launch crew"));
    assert_eq!(*conversation_id, crate::conversation_id(WS, WHATSAPP, GROUP));
    assert_eq!(creator, CREATOR);
    let member = |id: &str, role, via| InitialMember { member_id: id.into(), role, display_name: None, via };
    assert_eq!(
        members,
        &vec![
            member(CREATOR, GroupRole::Admin, JoinedVia::Created),
            member(INBOX_NUMBER, GroupRole::Member, JoinedVia::Added),
            member(ALICE, GroupRole::Member, JoinedVia::Added),
        ]
    );
}

#[test]
fn a_group_is_recorded_once_but_a_group_an_inbound_message_started_can_be_recorded() {
    let s = Scenario::new();
    let history = joined_group(&s, GroupSettings::default());
    assert_eq!(
        error_of(&s, history, group_command(agent(), create(false, GroupSettings::default()))),
        ConversationError::GroupExists
    );

    let inbound = Inbound {
        thread_key: GROUP.into(),
        kind: ConversationKind::Group,
        sender: Some(ALICE.into()),
        ..Inbound::new(IN1, t0())
    };
    let started = s.run(vec![], inbound.command());
    let changes = changes_of(&s, started, group_command(agent(), create(false, GroupSettings::default())));
    assert!(matches!(&changes[..], [C::GroupCreated { .. }]), "{changes:?}");
}

#[test]
fn group_commands_on_a_direct_conversation_are_refused() {
    let s = Scenario::new();
    assert_eq!(error_of(&s, conversation(), group_command(agent(), G::Leave)), ConversationError::NotAGroup);
}

#[test]
fn in_announce_mode_only_an_admin_inbox_sends() {
    let s = Scenario::new();
    let announce = GroupSettings { announce: true, ..GroupSettings::default() };
    assert_eq!(error_of(&s, joined_group(&s, announce), send_text(&[])), ConversationError::AnnounceOnly);
    // Promoted on the phone by the creator, the inbox may send.
    let promoted = s.run(
        joined_group(&s, announce),
        group_command(
            contact_as(CREATOR),
            G::UpdateMember { member_id: INBOX_NUMBER.into(), role: Some(GroupRole::Admin), display_name: None },
        ),
    );
    assert!(matches!(&changes_of(&s, promoted, send_text(&[]))[..], [C::MessageSent { .. }]));
    // The inbox's own group: it is the creator, an admin.
    assert!(matches!(&changes_of(&s, own_group(&s, announce), send_text(&[]))[..], [C::MessageSent { .. }]));
}

#[test]
fn after_leaving_nothing_can_be_sent_or_managed_until_the_inbox_is_added_again() {
    let s = Scenario::new();
    let left = s.run(own_group(&s, GroupSettings::default()), group_command(agent(), G::Leave));
    assert_eq!(
        left.last().map(|e| &e.change),
        Some(&C::GroupLeft { member_id: Some(INBOX_NUMBER.into()), reason: LeftReason::Left })
    );
    assert_eq!(error_of(&s, left.clone(), send_text(&[])), ConversationError::GroupLeft);
    let add = group_command(
        agent(),
        G::AddMembers { members: vec![new_member(BOB, GroupRole::Member)], via: JoinedVia::Added, invite_code: None },
    );
    assert_eq!(error_of(&s, left.clone(), add), ConversationError::GroupLeft);
    assert!(changes_of(&s, left.clone(), group_command(agent(), G::Leave)).is_empty(), "leaving twice is a no-op");

    // Removed on the phone, then added back by an admin: the inbox can send again.
    let s = Scenario::new();
    let removed = s.run(
        joined_group(&s, GroupSettings::default()),
        group_command(contact_as(CREATOR), G::RemoveMember { member_id: INBOX_NUMBER.into() }),
    );
    assert_eq!(
        removed.last().map(|e| &e.change),
        Some(&C::GroupLeft { member_id: Some(INBOX_NUMBER.into()), reason: LeftReason::Removed })
    );
    assert_eq!(error_of(&s, removed.clone(), send_text(&[])), ConversationError::GroupLeft);
    let back = s.run(
        removed,
        group_command(
            contact_as(CREATOR),
            G::AddMembers {
                members: vec![new_member(INBOX_NUMBER, GroupRole::Member)],
                via: JoinedVia::Added,
                invite_code: None,
            },
        ),
    );
    assert!(matches!(&changes_of(&s, back, send_text(&[]))[..], [C::MessageSent { .. }]));
}

#[test]
fn with_join_approval_joins_wait_for_an_admin() {
    let s = Scenario::new();
    let approval = GroupSettings { join_approval: true, ..GroupSettings::default() };
    let via_link = group_command(
        contact_as(BOB),
        G::AddMembers {
            members: vec![new_member(BOB, GroupRole::Member)],
            via: JoinedVia::InviteLink,
            invite_code: Some("code-1".into()),
        },
    );
    assert_eq!(error_of(&s, own_group(&s, approval), via_link), ConversationError::JoinApprovalRequired);

    let ask = group_command(
        contact_as(BOB),
        G::RequestToJoin { request_id: REQUEST, member_id: BOB.into(), display_name: Some("Bob".into()) },
    );
    let asked = s.run(own_group(&s, approval), ask.clone());
    assert_eq!(
        asked.last().map(|e| &e.change),
        Some(&C::GroupJoinRequested { request_id: REQUEST, member_id: BOB.into(), display_name: Some("Bob".into()) })
    );
    assert!(changes_of(&s, asked.clone(), ask).is_empty(), "asking again while waiting is a no-op");

    let approve = |outcome| group_command(agent(), G::ResolveJoinRequest { request_id: REQUEST, outcome });
    assert_eq!(
        changes_of(&s, asked.clone(), approve(JoinRequestOutcome::Approved)),
        vec![
            C::GroupJoinRequestResolved {
                request_id: REQUEST,
                member_id: BOB.into(),
                outcome: JoinRequestOutcome::Approved
            },
            // With the name they asked with.
            C::GroupMemberAdded {
                member_id: BOB.into(),
                role: GroupRole::Member,
                display_name: Some("Bob".into()),
                via: JoinedVia::JoinRequest
            },
        ]
    );
    let rejected = s.run(asked, approve(JoinRequestOutcome::Rejected));
    assert_eq!(
        error_of(&s, rejected, approve(JoinRequestOutcome::Approved)),
        ConversationError::JoinRequestNotFound(REQUEST)
    );

    // A plain member's inbox cannot approve.
    let s = Scenario::new();
    let asked = s.run(
        joined_group(&s, approval),
        group_command(
            contact_as(BOB),
            G::RequestToJoin { request_id: REQUEST, member_id: BOB.into(), display_name: None },
        ),
    );
    assert_eq!(error_of(&s, asked, approve(JoinRequestOutcome::Approved)), ConversationError::NotGroupAdmin);
}

#[test]
fn without_join_approval_asking_is_joining_through_the_link() {
    let s = Scenario::new();
    let ask = group_command(
        contact_as(BOB),
        G::RequestToJoin { request_id: REQUEST, member_id: BOB.into(), display_name: None },
    );
    assert_eq!(
        changes_of(&s, own_group(&s, GroupSettings::default()), ask),
        vec![C::GroupMemberAdded {
            member_id: BOB.into(),
            role: GroupRole::Member,
            display_name: None,
            via: JoinedVia::InviteLink
        }]
    );
}

#[test]
fn a_rotated_invite_link_no_longer_admits_anyone() {
    let s = Scenario::new();
    let rotated = s.run(
        own_group(&s, GroupSettings::default()),
        group_command(agent(), G::RotateInviteLink { invite_code: "code-2".into() }),
    );
    let join = |code: &str| {
        group_command(
            contact_as(BOB),
            G::AddMembers {
                members: vec![new_member(BOB, GroupRole::Member)],
                via: JoinedVia::InviteLink,
                invite_code: Some(code.into()),
            },
        )
    };
    assert_eq!(error_of(&s, rotated.clone(), join("code-1")), ConversationError::InviteLinkRevoked);
    assert!(matches!(&changes_of(&s, rotated, join("code-2"))[..], [C::GroupMemberAdded { .. }]));
    // Only an admin inbox rotates it.
    let s = Scenario::new();
    assert_eq!(
        error_of(
            &s,
            joined_group(&s, GroupSettings::default()),
            group_command(agent(), G::RotateInviteLink { invite_code: "code-2".into() })
        ),
        ConversationError::NotGroupAdmin
    );
}

#[test]
fn in_member_add_mode_admins_a_non_admin_inbox_cannot_add() {
    let s = Scenario::new();
    let add = || {
        group_command(
            agent(),
            G::AddMembers {
                members: vec![new_member(BOB, GroupRole::Member)],
                via: JoinedVia::Added,
                invite_code: None,
            },
        )
    };
    assert_eq!(error_of(&s, joined_group(&s, GroupSettings::default()), add()), ConversationError::NotGroupAdmin);
    let everyone = GroupSettings { member_add_mode: MemberAddMode::Everyone, ..GroupSettings::default() };
    assert!(matches!(&changes_of(&s, joined_group(&s, everyone), add())[..], [C::GroupMemberAdded { .. }]));
    assert!(matches!(
        &changes_of(&s, own_group(&s, GroupSettings::default()), add())[..],
        [C::GroupMemberAdded { .. }]
    ));
    // What a member did on the phone is recorded as reported.
    let reported = group_command(
        contact_as(ALICE),
        G::AddMembers { members: vec![new_member(BOB, GroupRole::Member)], via: JoinedVia::Added, invite_code: None },
    );
    assert!(matches!(
        &changes_of(&s, joined_group(&s, GroupSettings::default()), reported)[..],
        [C::GroupMemberAdded { .. }]
    ));
}

#[test]
fn the_creator_can_be_neither_demoted_nor_removed_but_may_leave() {
    let s = Scenario::new();
    let history = s.run(
        joined_group(&s, GroupSettings::default()),
        group_command(
            contact_as(CREATOR),
            G::UpdateMember { member_id: INBOX_NUMBER.into(), role: Some(GroupRole::Admin), display_name: None },
        ),
    );
    let demote = group_command(
        agent(),
        G::UpdateMember { member_id: CREATOR.into(), role: Some(GroupRole::Member), display_name: None },
    );
    assert_eq!(error_of(&s, history.clone(), demote), ConversationError::CreatorProtected);
    let remove = group_command(agent(), G::RemoveMember { member_id: CREATOR.into() });
    assert_eq!(error_of(&s, history.clone(), remove), ConversationError::CreatorProtected);
    let leaves = group_command(contact_as(CREATOR), G::RemoveMember { member_id: CREATOR.into() });
    assert_eq!(
        changes_of(&s, history, leaves),
        vec![C::GroupMemberRemoved { member_id: CREATOR.into(), reason: LeftReason::Left }]
    );
}

#[test]
fn promote_demote_and_remove_need_an_admin_inbox_and_are_idempotent() {
    let s = Scenario::new();
    let own = own_group(&s, GroupSettings::default());
    let promote = |role| {
        group_command(agent(), G::UpdateMember { member_id: ALICE.into(), role: Some(role), display_name: None })
    };
    assert_eq!(
        changes_of(&s, own.clone(), promote(GroupRole::Admin)),
        vec![C::GroupMemberRoleChanged { member_id: ALICE.into(), from: GroupRole::Member, to: GroupRole::Admin }]
    );
    assert!(changes_of(&s, own.clone(), promote(GroupRole::Member)).is_empty(), "already a member");
    let remove = group_command(agent(), G::RemoveMember { member_id: ALICE.into() });
    let removed = s.run(own.clone(), remove.clone());
    assert!(changes_of(&s, removed, remove).is_empty(), "removing twice is a no-op");
    assert_eq!(
        error_of(&s, own, promote_member(BOB)),
        ConversationError::MemberNotFound(BOB.into()),
        "only members have a role"
    );
    let s = Scenario::new();
    assert_eq!(
        error_of(&s, joined_group(&s, GroupSettings::default()), promote(GroupRole::Admin)),
        ConversationError::NotGroupAdmin
    );
}

fn promote_member(id: &str) -> ConversationCommand {
    group_command(agent(), G::UpdateMember { member_id: id.into(), role: Some(GroupRole::Admin), display_name: None })
}

#[test]
fn a_mention_must_name_a_current_member() {
    let s = Scenario::new();
    let own = own_group(&s, GroupSettings::default());
    assert_eq!(error_of(&s, own.clone(), send_text(&[BOB])), ConversationError::MentionNotMember(BOB.into()));
    let changes = changes_of(&s, own.clone(), send_text(&[ALICE]));
    assert!(matches!(&changes[..], [C::MessageSent { mentions, .. }] if mentions == &vec![ALICE.to_owned()]));
    let gone = s.run(own, group_command(agent(), G::RemoveMember { member_id: ALICE.into() }));
    assert_eq!(error_of(&s, gone, send_text(&[ALICE])), ConversationError::MentionNotMember(ALICE.into()));
    // A direct conversation has no members to mention.
    assert!(matches!(error_of(&s, conversation(), send_text(&[ALICE])), ConversationError::Validation { .. }));
}

#[test]
fn subject_and_settings_updates_record_only_what_changed() {
    let s = Scenario::new();
    let own = own_group(&s, GroupSettings::default());
    let update = |subject: Option<&str>, settings| {
        group_command(
            agent(),
            G::Update { subject: subject.map(Into::into), description: None, picture_url: None, settings },
        )
    };
    assert!(changes_of(&s, own.clone(), update(Some("Launch crew"), SettingsPatch::default())).is_empty());
    let announce = SettingsPatch { announce: Some(true), ..SettingsPatch::default() };
    assert_eq!(
        changes_of(&s, own.clone(), update(Some("Launch crew 2"), announce)),
        vec![
            C::GroupInfoUpdated { subject: Some("Launch crew 2".into()), description: None, picture_url: None },
            C::GroupSettingsChanged { settings: GroupSettings { announce: true, ..GroupSettings::default() } },
        ]
    );
    assert!(matches!(
        error_of(&s, own, update(Some("  "), SettingsPatch::default())),
        ConversationError::Validation { .. }
    ));
    // Settings are an admin's; a plain member's inbox may still rename the group.
    let s = Scenario::new();
    assert_eq!(
        error_of(&s, joined_group(&s, GroupSettings::default()), update(None, announce)),
        ConversationError::NotGroupAdmin
    );
}

#[test]
fn an_activity_only_group_keeps_no_bodies_and_its_activity_can_be_seen() {
    let s = Scenario::new();
    let quiet = GroupSettings { activity_only: true, ..GroupSettings::default() };
    let own = own_group(&s, quiet);
    let inbound = Inbound {
        thread_key: GROUP.into(),
        kind: ConversationKind::Group,
        sender: Some(ALICE.into()),
        ..Inbound::new(IN1, t0())
    };
    let with_activity = s.run(own.clone(), inbound.command());
    assert_eq!(
        with_activity.last().map(|e| &e.change),
        Some(&C::GroupActivityRecorded { at: t0(), messages: 1 }),
        "the message became activity, its body dropped"
    );
    assert_eq!(error_of(&s, own, send_text(&[])), ConversationError::ActivityOnly);
    let later = t0() + Duration::minutes(1);
    let more = s.run(with_activity, group_command(contact(), G::RecordActivity { at: later, messages: 3 }));
    let seen = command(agent(), A::MarkRead { user_id: AGENT.into(), message_id: None });
    assert_eq!(changes_of(&s, more.clone(), seen.clone()), vec![C::ActivitySeen { user_id: AGENT.into(), at: later }]);
    let after = s.run(more, seen.clone());
    assert!(changes_of(&s, after, seen).is_empty(), "seen twice is a no-op");

    // A group that keeps messages records messages, not activity.
    let s = Scenario::new();
    let record = group_command(contact(), G::RecordActivity { at: t0(), messages: 1 });
    assert!(matches!(
        error_of(&s, own_group(&s, GroupSettings::default()), record),
        ConversationError::Validation { .. }
    ));
}

#[test]
fn a_group_message_names_the_contact_its_sender_resolved_to_and_a_direct_one_never_does() {
    let s = Scenario::new();
    let alice = Uuid::from_u128(0xa11ce);
    let inbound = Inbound {
        thread_key: GROUP.into(),
        kind: ConversationKind::Group,
        sender: Some(ALICE.into()),
        sender_contact_id: Some(alice),
        ..Inbound::new(IN1, t0())
    };
    let history = s.run(vec![], inbound.clone().command());
    assert!(
        matches!(history.last().map(|e| &e.change), Some(C::InboundMessageReceived { sender_contact_id: Some(id), .. }) if *id == alice),
        "{history:?}"
    );
    // A direct message's sender is the conversation's contact: nothing more is recorded.
    let direct = Inbound { sender_contact_id: Some(alice), ..Inbound::new(IN1, t0()) };
    let history = s.run(vec![], direct.command());
    assert!(matches!(
        history.last().map(|e| &e.change),
        Some(C::InboundMessageReceived { sender_contact_id: None, .. })
    ));
}
