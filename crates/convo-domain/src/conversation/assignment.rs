//! Assignment: at most one agent and at most one team per conversation; assigning replaces,
//! assigning the same again and unassigning nobody change nothing. The agent or team assigned
//! must be one of the workspace's directory (an active agent); unassigning needs neither.

use uuid::Uuid;

use super::{Assignee, Context, Conversation, ConversationChange as C, ConversationError, required_id};

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
}
