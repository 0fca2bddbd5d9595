//! The rules of group commands, each deciding the events of one command from the group's state.
//!
//! Who does a change decides which rules apply:
//! - an `agent`, a `bot` or the API (`system`) asks the engine to do it through the inbox's own
//!   member (`self_member`): the group's rules are checked (only admins manage; in member-add mode
//!   `admins` only admins add; nothing once the inbox has left);
//! - a `contact` reports what a member did on the channel (actor id = that member's id): a fact
//!   that already happened, recorded as reported (the channel enforced its rules), except what
//!   no channel allows (removing or demoting the creator).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    GroupAction, GroupRole, GroupSettings, GroupState, InitialMember, JoinRequestOutcome, JoinedVia, LeftReason,
    MemberAddMode, NewMember,
};
use crate::conversation::{
    Context, Conversation, ConversationChange as C, ConversationError, ConversationKind, MAX_CLOCK_SKEW, MAX_ID_CHARS,
    required_id,
};
use crate::{Actor, ActorKind};

/// Most members a group keeps (WhatsApp allows 1 024; other channels more).
pub const MAX_GROUP_MEMBERS: usize = 5_000;
/// Most members one command adds.
pub const MAX_MEMBERS_PER_COMMAND: usize = 256;
/// Most join requests waiting at once.
pub const MAX_PENDING_REQUESTS: usize = 1_000;
/// Longest subject, in characters (WhatsApp: 100).
pub const MAX_SUBJECT_CHARS: usize = 100;
/// Longest description or picture url, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2_048;
/// Most members one message mentions.
pub const MAX_MENTIONS: usize = 256;

impl Conversation {
    /// `CreateGroup`: a new group conversation, or the creation of a channel group whose
    /// conversation an inbound message already started (once).
    #[allow(clippy::too_many_arguments)] // the command's fields, as the caller gave them
    pub(in crate::conversation) async fn create_group(
        &self,
        cx: &Context<'_>,
        inbox_id: Uuid,
        group_id: String,
        subject: String,
        description: Option<String>,
        picture_url: Option<String>,
        creator: String,
        self_member: String,
        members: Vec<NewMember>,
        settings: GroupSettings,
        invite_code: Option<String>,
    ) -> Result<Vec<C>, ConversationError> {
        let ws = cx.workspace_id;
        required_id("group_id", &group_id)?;
        let id = crate::conversation_id(ws, inbox_id, &group_id);
        let mut changes = Vec::with_capacity(2);
        match &self.group {
            _ if self.conversation_id.is_none() => {}
            Some(group) if self.started(ws)? == id && !group.created => {}
            Some(_) if self.started(ws)? == id => return Err(ConversationError::GroupExists),
            _ => return Err(ConversationError::NotFound),
        }
        let created = created(
            group_id.clone(),
            subject,
            description,
            picture_url,
            creator,
            self_member,
            members,
            settings,
            invite_code,
        )?;
        let inbox = self.inbox(cx, inbox_id).await?;
        if self.conversation_id.is_none() {
            let display_name = match &created {
                C::GroupCreated { subject, .. } => Some(subject.clone()),
                _ => None,
            };
            changes.push(C::Started {
                conversation_id: id,
                workspace_id: ws,
                inbox_id,
                channel: inbox.channel,
                kind: ConversationKind::Group,
                thread_key: group_id,
                display_name,
                contact_id: None,
            });
        }
        changes.push(created);
        Ok(changes)
    }

    /// Any other group command, on a group conversation: its activity reopens it, like an
    /// inbound message.
    pub(in crate::conversation) fn group_action(
        &self,
        cx: &Context<'_>,
        action: GroupAction,
    ) -> Result<Vec<C>, ConversationError> {
        self.started(cx.workspace_id)?;
        let group = self.group.as_ref().ok_or(ConversationError::NotAGroup)?;
        let mut changes = group.decide(cx.actor, action, cx.now)?;
        if matches!(changes.first(), Some(C::GroupActivityRecorded { .. })) {
            self.reopen(&mut changes);
        }
        Ok(changes)
    }
}

impl GroupState {
    /// Who performs a change: the reporting member (a `contact` actor), or the inbox's own member.
    fn performer<'a>(&self, actor: &'a Actor) -> Performer<'a> {
        match actor.kind {
            ActorKind::Contact => Performer::Channel(&actor.id),
            _ => Performer::Inbox,
        }
    }

    /// Management through the inbox needs the inbox to be in the group and an admin.
    fn check_manage(&self, performer: Performer<'_>) -> Result<(), ConversationError> {
        match performer {
            Performer::Channel(_) => Ok(()),
            Performer::Inbox if self.left => Err(ConversationError::GroupLeft),
            Performer::Inbox if self.inbox_is_admin() => Ok(()),
            Performer::Inbox => Err(ConversationError::NotGroupAdmin),
        }
    }

    /// The rules of a send by the inbox: not after leaving, not into an activity-only group, only
    /// admins in announce mode, mentions only of current members.
    pub fn check_send(&self, mentions: &[String]) -> Result<(), ConversationError> {
        if self.left {
            return Err(ConversationError::GroupLeft);
        }
        if self.settings.activity_only {
            return Err(ConversationError::ActivityOnly);
        }
        if self.settings.announce && !self.inbox_is_admin() {
            return Err(ConversationError::AnnounceOnly);
        }
        if let Some(missing) = mentions.iter().find(|m| !self.members.contains_key(*m)) {
            return Err(ConversationError::MentionNotMember(missing.clone()));
        }
        Ok(())
    }

    /// The events of a group command on an existing group conversation.
    fn decide(&self, actor: &Actor, action: GroupAction, now: DateTime<Utc>) -> Result<Vec<C>, ConversationError> {
        use GroupAction as A;
        let performer = self.performer(actor);
        let changes = match action {
            A::Create { .. } => unreachable!("creation is decided by the conversation"),
            A::AddMembers { members, via, invite_code } => {
                validate_new_members(&members)?;
                match via {
                    JoinedVia::Added => {
                        if self.settings.member_add_mode == MemberAddMode::Admins {
                            self.check_manage(performer)?;
                        } else if let Performer::Inbox = performer
                            && self.left
                        {
                            return Err(ConversationError::GroupLeft);
                        }
                    }
                    JoinedVia::InviteLink => {
                        if self.settings.join_approval {
                            return Err(ConversationError::JoinApprovalRequired);
                        }
                        if let (Some(used), Some(current)) = (&invite_code, &self.invite_code)
                            && used != current
                        {
                            return Err(ConversationError::InviteLinkRevoked);
                        }
                    }
                    JoinedVia::Created | JoinedVia::JoinRequest => {
                        return Err(ConversationError::validation(
                            "via",
                            "members are added `added` or through the `invite_link`",
                        ));
                    }
                }
                let new: Vec<_> = members.into_iter().filter(|m| !self.members.contains_key(&m.member_id)).collect();
                if self.members.len() + new.len() > MAX_GROUP_MEMBERS {
                    return Err(ConversationError::validation(
                        "members",
                        format!("a group has at most {MAX_GROUP_MEMBERS} members"),
                    ));
                }
                new.into_iter()
                    .map(|m| C::GroupMemberAdded {
                        member_id: m.member_id,
                        role: m.role,
                        display_name: m.display_name,
                        via,
                    })
                    .collect()
            }
            A::RemoveMember { member_id } => {
                required_id("member_id", &member_id)?;
                let leaving = matches!(performer, Performer::Channel(who) if who == member_id);
                if !leaving {
                    self.check_manage(performer)?;
                    if self.creator.as_ref() == Some(&member_id) {
                        return Err(ConversationError::CreatorProtected);
                    }
                }
                let reason = if leaving { LeftReason::Left } else { LeftReason::Removed };
                if self.self_member.as_ref() == Some(&member_id) {
                    if self.left {
                        return Ok(vec![]);
                    }
                    vec![C::GroupLeft { member_id: Some(member_id), reason }]
                } else if !self.members.contains_key(&member_id) {
                    vec![] // not (or no longer) a member: removing again changes nothing
                } else {
                    vec![C::GroupMemberRemoved { member_id, reason }]
                }
            }
            A::UpdateMember { member_id, role, display_name } => {
                required_id("member_id", &member_id)?;
                if role.is_none() && display_name.is_none() {
                    return Err(ConversationError::validation("role", "give a role and/or a display_name"));
                }
                let Some(current) = self.members.get(&member_id) else {
                    return Err(ConversationError::MemberNotFound(member_id));
                };
                let mut changes = Vec::new();
                if let Some(to) = role.filter(|r| *r != current.role) {
                    self.check_manage(performer)?;
                    if self.creator.as_ref() == Some(&member_id) {
                        return Err(ConversationError::CreatorProtected);
                    }
                    changes.push(C::GroupMemberRoleChanged { member_id: member_id.clone(), from: current.role, to });
                }
                if let Some(name) = display_name {
                    let name = name.trim().to_owned();
                    required_id("display_name", &name)?;
                    if current.display_name.as_ref() != Some(&name) {
                        changes.push(C::GroupMemberRenamed { member_id, display_name: name });
                    }
                }
                changes
            }
            A::Update { subject, description, picture_url, settings } => {
                if let Performer::Inbox = performer
                    && self.left
                {
                    return Err(ConversationError::GroupLeft);
                }
                let mut changes = Vec::new();
                let subject = subject.map(|s| s.trim().to_owned());
                if let Some(s) = &subject {
                    limited("subject", s, 1, MAX_SUBJECT_CHARS)?;
                }
                for (field, value) in [("description", &description), ("picture_url", &picture_url)] {
                    if let Some(v) = value {
                        limited(field, v, 0, MAX_DESCRIPTION_CHARS)?;
                    }
                }
                let subject = subject.filter(|s| self.subject.as_ref() != Some(s));
                let description = description.filter(|d| self.description.as_deref().unwrap_or("") != d);
                let picture_url = picture_url.filter(|p| self.picture_url.as_deref().unwrap_or("") != p);
                if subject.is_some() || description.is_some() || picture_url.is_some() {
                    changes.push(C::GroupInfoUpdated { subject, description, picture_url });
                }
                let new_settings = self.settings.patched(settings);
                if new_settings != self.settings {
                    self.check_manage(performer)?;
                    changes.push(C::GroupSettingsChanged { settings: new_settings });
                }
                changes
            }
            A::RequestToJoin { request_id, member_id, display_name } => {
                required_id("member_id", &member_id)?;
                if self.members.contains_key(&member_id) {
                    return Ok(vec![]); // already in: nothing to ask
                }
                if self.pending.values().any(|r| r.member_id == member_id) {
                    return Ok(vec![]); // already waiting
                }
                if self.settings.join_approval {
                    if self.pending.len() >= MAX_PENDING_REQUESTS {
                        return Err(ConversationError::validation(
                            "member_id",
                            format!("at most {MAX_PENDING_REQUESTS} join requests wait at once"),
                        ));
                    }
                    vec![C::GroupJoinRequested { request_id, member_id, display_name }]
                } else {
                    // No approval needed: asking is joining.
                    vec![C::GroupMemberAdded {
                        member_id,
                        role: GroupRole::Member,
                        display_name,
                        via: JoinedVia::InviteLink,
                    }]
                }
            }
            A::ResolveJoinRequest { request_id, outcome } => {
                let Some(request) = self.pending.get(&request_id) else {
                    return Err(ConversationError::JoinRequestNotFound(request_id));
                };
                self.check_manage(performer)?;
                let member_id = &request.member_id;
                let mut changes =
                    vec![C::GroupJoinRequestResolved { request_id, member_id: member_id.clone(), outcome }];
                if outcome == JoinRequestOutcome::Approved && !self.members.contains_key(member_id) {
                    // They join with the name they asked with.
                    changes.push(C::GroupMemberAdded {
                        member_id: member_id.clone(),
                        role: GroupRole::Member,
                        display_name: request.display_name.clone(),
                        via: JoinedVia::JoinRequest,
                    });
                }
                changes
            }
            A::RotateInviteLink { invite_code } => {
                required_id("invite_code", &invite_code)?;
                self.check_manage(performer)?;
                if self.invite_code.as_ref() == Some(&invite_code) {
                    return Ok(vec![]);
                }
                vec![C::GroupInviteLinkRotated { invite_code }]
            }
            A::Leave => {
                if self.left {
                    return Ok(vec![]);
                }
                vec![C::GroupLeft { member_id: self.self_member.clone(), reason: LeftReason::Left }]
            }
            A::RecordActivity { at, messages } => {
                if !self.settings.activity_only {
                    return Err(ConversationError::validation(
                        "at",
                        "activity is recorded for activity-only groups; this group keeps messages",
                    ));
                }
                if at > now + MAX_CLOCK_SKEW {
                    return Err(ConversationError::validation("at", "must not be in the future"));
                }
                if messages == 0 {
                    return Err(ConversationError::validation("messages", "must be at least 1"));
                }
                vec![C::GroupActivityRecorded { at, messages }]
            }
        };
        Ok(changes)
    }
}

#[derive(Debug, Clone, Copy)]
enum Performer<'a> {
    /// A member, on the channel.
    Channel(&'a str),
    /// The engine, through the inbox's own member.
    Inbox,
}

fn limited(field: &str, value: &str, min: usize, max: usize) -> Result<(), ConversationError> {
    let n = value.chars().count();
    if n < min || n > max || (min > 0 && value.trim().is_empty()) {
        return Err(ConversationError::validation(field, format!("must be {min} to {max} characters")));
    }
    Ok(())
}

/// 1 to [`MAX_MEMBERS_PER_COMMAND`] distinct members with valid ids and names.
fn validate_new_members(members: &[NewMember]) -> Result<(), ConversationError> {
    if members.is_empty() || members.len() > MAX_MEMBERS_PER_COMMAND {
        return Err(ConversationError::validation("members", format!("give 1 to {MAX_MEMBERS_PER_COMMAND} members")));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, m) in members.iter().enumerate() {
        required_id(&format!("members[{i}].member_id"), &m.member_id)?;
        if !seen.insert(m.member_id.as_str()) {
            return Err(ConversationError::validation(format!("members[{i}].member_id"), "is listed twice"));
        }
        if let Some(name) = &m.display_name {
            required_id(&format!("members[{i}].display_name"), name)?;
        }
    }
    Ok(())
}

/// The `GroupCreated` of a create command, checked.
#[allow(clippy::too_many_arguments)]
fn created(
    group_id: String,
    subject: String,
    description: Option<String>,
    picture_url: Option<String>,
    creator: String,
    self_member: String,
    members: Vec<NewMember>,
    settings: GroupSettings,
    invite_code: Option<String>,
) -> Result<C, ConversationError> {
    let subject = subject.trim().to_owned();
    limited("subject", &subject, 1, MAX_SUBJECT_CHARS)?;
    for (field, value) in [("description", &description), ("picture_url", &picture_url)] {
        if let Some(v) = value {
            limited(field, v, 0, MAX_DESCRIPTION_CHARS)?;
        }
    }
    required_id("creator", &creator)?;
    required_id("self_member", &self_member)?;
    if let Some(code) = &invite_code {
        required_id("invite_code", code)?;
    }
    if !members.is_empty() {
        validate_new_members(&members)?;
    }
    // The creator first (an admin), then the inbox's own member (an admin when it created the
    // group), then the others; each once.
    let mut initial = vec![InitialMember {
        member_id: creator.clone(),
        role: GroupRole::Admin,
        display_name: None,
        via: JoinedVia::Created,
    }];
    let mut listed = members.into_iter();
    let self_listed = listed.clone().find(|m| m.member_id == self_member);
    if self_member != creator {
        initial.push(InitialMember {
            member_id: self_member.clone(),
            role: self_listed.as_ref().map_or(GroupRole::Member, |m| m.role),
            display_name: self_listed.and_then(|m| m.display_name),
            via: JoinedVia::Added,
        });
    }
    for m in listed.by_ref() {
        match initial.iter_mut().find(|i| i.member_id == m.member_id) {
            Some(i) => i.display_name = i.display_name.take().or(m.display_name),
            None => initial.push(InitialMember {
                member_id: m.member_id,
                role: m.role,
                display_name: m.display_name,
                via: JoinedVia::Added,
            }),
        }
    }
    if initial.len() > MAX_GROUP_MEMBERS {
        return Err(ConversationError::validation(
            "members",
            format!("a group has at most {MAX_GROUP_MEMBERS} members"),
        ));
    }
    Ok(C::GroupCreated {
        group_id,
        subject,
        description: description.filter(|d| !d.is_empty()),
        picture_url: picture_url.filter(|p| !p.is_empty()),
        creator,
        self_member,
        members: initial,
        settings,
        invite_code,
    })
}

/// Mentions: at most [`MAX_MENTIONS`], distinct, valid member ids.
pub(in crate::conversation) fn validate_mentions(mentions: &[String]) -> Result<(), ConversationError> {
    if mentions.len() > MAX_MENTIONS {
        return Err(ConversationError::validation("mentions", format!("at most {MAX_MENTIONS} mentions")));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, m) in mentions.iter().enumerate() {
        if m.trim().is_empty() || m.chars().count() > MAX_ID_CHARS || !seen.insert(m) {
            return Err(ConversationError::validation(
                format!("mentions[{i}]"),
                format!("must be a distinct member id of 1 to {MAX_ID_CHARS} characters"),
            ));
        }
    }
    Ok(())
}
