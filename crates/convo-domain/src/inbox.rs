//! The `Inbox` aggregate: one connected channel account, with its channel type and policy.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::directory::DirectoryLookup;
use crate::window::MAX_WINDOW_SECS;
use crate::{Actor, ChannelPolicy, ChannelType, Clock};

/// Longest inbox name accepted.
pub const MAX_INBOX_NAME_CHARS: usize = 200;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inbox {
    pub inbox_id: Option<Uuid>,
    pub workspace_id: Option<Uuid>,
    pub name: String,
    pub channel: Option<ChannelType>,
    pub policy_override: Option<ChannelPolicy>,
    pub deleted: bool,
    /// Its default team: whose agents may take its conversations.
    #[serde(default)]
    pub team_id: Option<Uuid>,
}

/// What a conversation needs to know about its inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxFacts {
    pub inbox_id: Uuid,
    pub workspace_id: Uuid,
    pub channel: ChannelType,
    /// The effective policy: the inbox's override or its channel type's default.
    pub policy: ChannelPolicy,
    pub deleted: bool,
}

impl Inbox {
    pub fn facts(&self) -> Option<InboxFacts> {
        let channel = self.channel?;
        Some(InboxFacts {
            inbox_id: self.inbox_id?,
            workspace_id: self.workspace_id?,
            channel,
            policy: self.policy_override.unwrap_or(channel.default_policy()),
            deleted: self.deleted,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct InboxCommand {
    pub workspace_id: Uuid,
    pub actor: Actor,
    pub action: InboxAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InboxAction {
    Create {
        inbox_id: Uuid,
        name: String,
        channel: ChannelType,
        policy: Option<ChannelPolicy>,
    },
    Delete,
    /// Sets the inbox's default team, a team of the workspace (`None` clears it); nothing if
    /// it has that team already.
    SetTeam {
        team_id: Option<Uuid>,
    },
}

/// An inbox event as stored and published: the envelope (`occurred_at`, `actor`) beside the
/// fields of the change, whose `type` is the event type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InboxEvent {
    /// When it happened, from the engine's injectable clock.
    pub occurred_at: DateTime<Utc>,
    pub actor: Actor,
    #[serde(flatten)]
    pub change: InboxChange,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type")]
pub enum InboxChange {
    /// A channel account was connected as an inbox, with its channel type and optional policy override.
    #[serde(rename = "InboxCreated")]
    Created {
        inbox_id: Uuid,
        workspace_id: Uuid,
        name: String,
        channel: ChannelType,
        /// Overrides the channel type's default messaging policy.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy: Option<ChannelPolicy>,
    },
    /// The inbox was deleted; its conversations stay readable but can no longer send.
    #[serde(rename = "InboxDeleted")]
    Deleted {},
    /// The inbox's default team was set (replacing any other): its active agents are who may
    /// take the inbox's conversations.
    #[serde(rename = "InboxTeamSet")]
    TeamSet { team_id: Uuid },
    /// The inbox's default team was cleared: every active agent may take its conversations.
    #[serde(rename = "InboxTeamCleared")]
    TeamCleared { team_id: Uuid },
}

impl DomainEvent for InboxEvent {
    fn event_type(&self) -> String {
        match self.change {
            InboxChange::Created { .. } => "InboxCreated",
            InboxChange::Deleted {} => "InboxDeleted",
            InboxChange::TeamSet { .. } => "InboxTeamSet",
            InboxChange::TeamCleared { .. } => "InboxTeamCleared",
        }
        .to_owned()
    }
    fn event_version(&self) -> String {
        crate::versions::current_version(&self.event_type()).to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboxError {
    #[error("inbox not found")]
    NotFound,
    #[error("an inbox with this id already exists")]
    AlreadyExists,
    #[error("{field}: {reason}")]
    Validation { field: String, reason: String },
    /// The team to set is not one of the workspace's.
    #[error("team {0} not found")]
    TeamNotFound(Uuid),
    /// The directory could not be asked (the store is unreachable): nothing written.
    #[error("lookup failed: {0}")]
    Lookup(String),
}

pub struct InboxServices {
    pub clock: Arc<dyn Clock>,
    /// The teams an inbox names.
    pub directory: Arc<dyn DirectoryLookup>,
}

impl Aggregate for Inbox {
    const TYPE: &'static str = "inbox";
    type Command = InboxCommand;
    type Event = InboxEvent;
    type Error = InboxError;
    type Services = InboxServices;

    async fn handle(
        &mut self,
        command: InboxCommand,
        services: &InboxServices,
        sink: &EventSink<Self>,
    ) -> Result<(), InboxError> {
        let change = match command.action {
            InboxAction::Create { inbox_id, name, channel, policy } => {
                if self.inbox_id.is_some() {
                    return Err(InboxError::AlreadyExists);
                }
                // Counted as sent, kept trimmed.
                if name.trim().is_empty() || name.chars().count() > MAX_INBOX_NAME_CHARS {
                    return Err(InboxError::Validation {
                        field: "name".into(),
                        reason: format!("must be 1 to {MAX_INBOX_NAME_CHARS} characters"),
                    });
                }
                let valid = |secs: Option<i64>| secs.is_none_or(|s| (1..=MAX_WINDOW_SECS).contains(&s));
                if let Some(p) = policy
                    && !(valid(p.agent_window_secs) && valid(p.bot_window_secs))
                {
                    return Err(InboxError::Validation {
                        field: "policy".into(),
                        reason: "window lengths must be 1 second to 10 years (omit them for a permanent session)"
                            .into(),
                    });
                }
                let name = name.trim().to_owned();
                InboxChange::Created { inbox_id, workspace_id: command.workspace_id, name, channel, policy }
            }
            InboxAction::Delete => {
                if self.workspace_id != Some(command.workspace_id) {
                    return Err(InboxError::NotFound);
                }
                if self.deleted {
                    return Ok(());
                }
                InboxChange::Deleted {}
            }
            InboxAction::SetTeam { team_id } => {
                if self.workspace_id != Some(command.workspace_id) || self.deleted {
                    return Err(InboxError::NotFound);
                }
                match (team_id, self.team_id) {
                    (new, old) if new == old => return Ok(()),
                    (Some(team_id), _) => {
                        let directory = &services.directory;
                        if !directory.team(command.workspace_id, team_id).await.map_err(InboxError::Lookup)? {
                            return Err(InboxError::TeamNotFound(team_id));
                        }
                        InboxChange::TeamSet { team_id }
                    }
                    (None, Some(team_id)) => InboxChange::TeamCleared { team_id },
                    (None, None) => return Ok(()),
                }
            }
        };
        let event = InboxEvent { occurred_at: services.clock.now(), actor: command.actor, change };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: InboxEvent) {
        match event.change {
            InboxChange::Created { inbox_id, workspace_id, name, channel, policy } => {
                self.inbox_id = Some(inbox_id);
                self.workspace_id = Some(workspace_id);
                self.name = name;
                self.channel = Some(channel);
                self.policy_override = policy;
            }
            InboxChange::Deleted {} => self.deleted = true,
            InboxChange::TeamSet { team_id } => self.team_id = Some(team_id),
            InboxChange::TeamCleared { .. } => self.team_id = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use crate::directory::tests::FixedDirectory;
    use cqrs_es::test::TestFramework;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default()
    }
    const TEAM: Uuid = Uuid::from_u128(0x30a1);
    const FOREIGN_TEAM: Uuid = Uuid::from_u128(0x30b1);
    fn framework() -> TestFramework<Inbox> {
        let directory = FixedDirectory::default().with_team(WS, TEAM).with_team(Uuid::from_u128(99), FOREIGN_TEAM);
        TestFramework::with(InboxServices { clock: Arc::new(ManualClock::new(at())), directory: Arc::new(directory) })
    }
    const WS: Uuid = Uuid::from_u128(7);
    const ID: Uuid = Uuid::from_u128(8);

    fn create(name: &str) -> InboxCommand {
        InboxCommand {
            workspace_id: WS,
            actor: Actor::agent("admin"),
            action: InboxAction::Create {
                inbox_id: ID,
                name: name.into(),
                channel: ChannelType::Whatsapp,
                policy: None,
            },
        }
    }
    fn created() -> InboxEvent {
        InboxEvent {
            occurred_at: at(),
            actor: Actor::agent("admin"),
            change: InboxChange::Created {
                inbox_id: ID,
                workspace_id: WS,
                name: "Support".into(),
                channel: ChannelType::Whatsapp,
                policy: None,
            },
        }
    }
    fn delete(ws: Uuid) -> InboxCommand {
        InboxCommand { workspace_id: ws, actor: Actor::agent("admin"), action: InboxAction::Delete }
    }
    fn deleted() -> InboxEvent {
        InboxEvent { occurred_at: at(), actor: Actor::agent("admin"), change: InboxChange::Deleted {} }
    }

    #[test]
    fn creating_an_inbox_records_its_channel_and_workspace() {
        framework().given_no_previous_events().when(create(" Support ")).then_expect_events(vec![created()]);
    }

    #[test]
    fn creating_an_inbox_twice_is_rejected() {
        framework().given(vec![created()]).when(create("Support")).then_expect_error(InboxError::AlreadyExists);
    }

    #[test]
    fn an_inbox_needs_a_name_of_1_to_200_characters() {
        for name in ["  ".to_owned(), "x".repeat(201), format!(" {} ", "x".repeat(199))] {
            framework().given_no_previous_events().when(create(&name)).then_expect_error(InboxError::Validation {
                field: "name".into(),
                reason: "must be 1 to 200 characters".into(),
            });
        }
    }

    #[test]
    fn a_policy_override_with_a_non_positive_or_huge_window_is_rejected() {
        for secs in [0, MAX_WINDOW_SECS + 1, i64::MAX] {
            let mut cmd = create("Support");
            if let InboxAction::Create { policy, .. } = &mut cmd.action {
                *policy = Some(ChannelPolicy { bot_window_secs: Some(secs), ..ChannelType::Whatsapp.default_policy() });
            }
            let result = framework().given_no_previous_events().when(cmd).inspect_result();
            assert!(matches!(result, Err(InboxError::Validation { field, .. }) if field == "policy"), "{secs}");
        }
    }

    #[test]
    fn the_policy_schema_bounds_windows_as_the_check_does() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(ChannelPolicy::schema()).expect("json");
        for field in ["agent_window_secs", "bot_window_secs"] {
            assert_eq!(schema["properties"][field]["minimum"], 1);
            assert_eq!(schema["properties"][field]["maximum"], MAX_WINDOW_SECS);
        }
    }

    #[test]
    fn deleting_an_inbox_records_it_once() {
        framework().given(vec![created()]).when(delete(WS)).then_expect_events(vec![deleted()]);
        framework().given(vec![created(), deleted()]).when(delete(WS)).then_expect_events(vec![]);
    }

    #[test]
    fn deleting_an_unknown_or_foreign_inbox_is_not_found() {
        framework().given_no_previous_events().when(delete(WS)).then_expect_error(InboxError::NotFound);
        framework().given(vec![created()]).when(delete(Uuid::from_u128(99))).then_expect_error(InboxError::NotFound);
    }

    fn set_team(team_id: Option<Uuid>) -> InboxCommand {
        InboxCommand { workspace_id: WS, actor: Actor::agent("admin"), action: InboxAction::SetTeam { team_id } }
    }
    fn event(change: InboxChange) -> InboxEvent {
        InboxEvent { occurred_at: at(), actor: Actor::agent("admin"), change }
    }

    #[test]
    fn an_inbox_takes_a_team_of_its_workspace_and_records_each_change_once() {
        let team_set = event(InboxChange::TeamSet { team_id: TEAM });
        framework().given(vec![created()]).when(set_team(Some(TEAM))).then_expect_events(vec![team_set.clone()]);
        framework().given(vec![created(), team_set.clone()]).when(set_team(Some(TEAM))).then_expect_events(vec![]);
        framework()
            .given(vec![created(), team_set])
            .when(set_team(None))
            .then_expect_events(vec![event(InboxChange::TeamCleared { team_id: TEAM })]);
        framework().given(vec![created()]).when(set_team(None)).then_expect_events(vec![]);
    }

    #[test]
    fn an_unknown_or_foreign_team_or_a_deleted_inbox_is_refused() {
        for team in [Uuid::from_u128(0x30ff), FOREIGN_TEAM] {
            framework()
                .given(vec![created()])
                .when(set_team(Some(team)))
                .then_expect_error(InboxError::TeamNotFound(team));
        }
        framework()
            .given(vec![created(), deleted()])
            .when(set_team(Some(TEAM)))
            .then_expect_error(InboxError::NotFound);
        framework().given_no_previous_events().when(set_team(Some(TEAM))).then_expect_error(InboxError::NotFound);
    }

    #[test]
    fn facts_use_the_override_or_the_channel_default() {
        let mut inbox = Inbox::default();
        inbox.apply(created());
        let facts = inbox.facts();
        assert_eq!(facts.map(|f| f.policy), Some(ChannelType::Whatsapp.default_policy()));
    }
}
