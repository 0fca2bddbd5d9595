//! Assignment: at most one agent and at most one team per conversation; assigning replaces,
//! assigning the same again and unassigning nobody change nothing. The agent or team assigned
//! must be one of the workspace's directory (an active agent); unassigning needs neither.
//! Labels: any number up to [`MAX_LABELS`], each in one canonical spelling.

use uuid::Uuid;

use super::{
    Assignee, Context, Conversation, ConversationChange as C, ConversationError, MAX_LABEL_CHARS, MAX_LABELS,
    required_id,
};

impl Conversation {
    /// `AssignAgent`.
    pub(super) async fn assign_agent(&self, cx: &Context<'_>, agent_id: String) -> Result<Vec<C>, ConversationError> {
        self.started(cx.workspace_id)?;
        required_id("agent_id", &agent_id)?;
        if self.assignee.as_deref() == Some(agent_id.as_str()) {
            return Ok(vec![]);
        }
        match cx.services.directory.agent(cx.workspace_id, &agent_id).await.map_err(ConversationError::Lookup)? {
            None => return Err(ConversationError::AgentNotFound(agent_id)),
            Some(agent) if !agent.active => return Err(ConversationError::AgentDeactivated(agent_id)),
            Some(_) => {}
        }
        Ok(vec![C::AgentAssigned {
            assignee: Assignee::agent(agent_id),
            previous: self.assignee.clone().map(Assignee::agent),
        }])
    }

    /// `UnassignAgent`.
    pub(super) fn unassign_agent(&self, cx: &Context<'_>) -> Result<Vec<C>, ConversationError> {
        self.started(cx.workspace_id)?;
        Ok(match &self.assignee {
            None => vec![],
            Some(agent_id) => vec![C::AgentUnassigned { agent_id: agent_id.clone() }],
        })
    }

    /// `AssignTeam`.
    pub(super) async fn assign_team(&self, cx: &Context<'_>, team_id: String) -> Result<Vec<C>, ConversationError> {
        self.started(cx.workspace_id)?;
        required_id("team_id", &team_id)?;
        if self.team.as_deref() == Some(team_id.as_str()) {
            return Ok(vec![]);
        }
        // Team ids are UUIDs: any other string names no team.
        let exists = match Uuid::parse_str(&team_id) {
            Ok(id) => cx.services.directory.team(cx.workspace_id, id).await.map_err(ConversationError::Lookup)?,
            Err(_) => false,
        };
        if !exists {
            return Err(ConversationError::TeamNotFound(team_id));
        }
        Ok(vec![C::TeamAssigned { team_id, previous: self.team.clone() }])
    }

    /// `UnassignTeam`.
    pub(super) fn unassign_team(&self, cx: &Context<'_>) -> Result<Vec<C>, ConversationError> {
        self.started(cx.workspace_id)?;
        Ok(match &self.team {
            None => vec![],
            Some(team_id) => vec![C::TeamUnassigned { team_id: team_id.clone() }],
        })
    }

    /// `AddLabel`.
    pub(super) fn add_label(&self, cx: &Context<'_>, label: &str) -> Result<Vec<C>, ConversationError> {
        self.started(cx.workspace_id)?;
        let label = canonical_label(label)?;
        if self.labels.contains(&label) {
            return Ok(vec![]);
        }
        if self.labels.len() >= MAX_LABELS {
            return Err(ConversationError::validation(
                "label",
                format!("a conversation has at most {MAX_LABELS} labels"),
            ));
        }
        Ok(vec![C::LabelAdded { label }])
    }

    /// `RemoveLabel`.
    pub(super) fn remove_label(&self, cx: &Context<'_>, label: &str) -> Result<Vec<C>, ConversationError> {
        self.started(cx.workspace_id)?;
        let label = canonical_label(label)?;
        Ok(if self.labels.contains(&label) { vec![C::LabelRemoved { label }] } else { vec![] })
    }
}

/// A label in its one canonical spelling: 1 to [`MAX_LABEL_CHARS`] characters, none of them
/// whitespace or a control character, in lower case (`Billing` and `billing` are one label).
/// `text::Tag` is its schema, exactly this rule.
pub fn canonical_label(label: &str) -> Result<String, ConversationError> {
    let chars = label.chars().count();
    if chars == 0 || chars > MAX_LABEL_CHARS || label.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConversationError::validation(
            "label",
            format!("must be 1 to {MAX_LABEL_CHARS} characters, without spaces or control characters"),
        ));
    }
    Ok(label.to_lowercase())
}
