//! The engine's write side on one backend: the inbox, conversation, webhook endpoint, contact,
//! contact identity, agent and team stores, wired with the lookup services the aggregates ask,
//! and the global log.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, OnceLock};

use convo_domain::attribute::{
    AttributeDefinition, AttributeFacts, AttributeLookup, AttributeModel, AttributeServices, attribute_stream_id,
};
use convo_domain::contact::{Contact, ContactIdentity, ContactIdentityServices, ContactServices};
use convo_domain::conversation::message_facts;
use convo_domain::directory::{Agent, AgentFacts, AgentServices, DirectoryLookup, Team, TeamServices, agent_stream_id};
use convo_domain::inbox::InboxServices;
use convo_domain::webhook::WebhookEndpointServices;
use convo_domain::{
    Clock, Conversation, ConversationServices, Inbox, InboxFacts, InboxLookup, MessageFacts, MessageLookup,
    WebhookEndpoint,
};
use futures::FutureExt;
use futures::future::BoxFuture;
use uuid::Uuid;

use crate::{AggregateStore, Backend, EventLog, LogNotifier};

/// Aggregates kept in memory per type. Conversation state is bounded (a few KiB at most), so
/// this bounds the cache's memory too.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

pub struct Engine<B: Backend> {
    pub backend: B,
    pub inboxes: Arc<AggregateStore<Inbox, B>>,
    pub conversations: AggregateStore<Conversation, B>,
    /// Webhook endpoints' switches (on, off and why): what the log records of an endpoint.
    pub webhook_endpoints: Arc<AggregateStore<WebhookEndpoint, B>>,
    /// Contacts (decision 0005).
    pub contacts: Arc<AggregateStore<Contact, B>>,
    /// Which contact holds each identity (decision 0005), by `Identity::id`.
    pub contact_identities: Arc<AggregateStore<ContactIdentity, B>>,
    /// The workspace's agents, by [`agent_stream_id`].
    pub agents: Arc<AggregateStore<Agent, B>>,
    /// The workspace's teams, by team id.
    pub teams: Arc<AggregateStore<Team, B>>,
    /// Custom attribute definitions, by [`attribute_stream_id`].
    pub attributes: Arc<AggregateStore<AttributeDefinition, B>>,
    pub log: EventLog<B>,
    /// The engine's clock: what commands and time-dependent views (the window) compare with.
    pub clock: Arc<dyn Clock>,
}

impl<B: Backend> Engine<B> {
    pub fn new(backend: B, clock: Arc<dyn Clock>) -> Self {
        Self::with_capacity(backend, clock, DEFAULT_CACHE_CAPACITY)
    }

    pub fn with_capacity(backend: B, clock: Arc<dyn Clock>, capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        let notifier = LogNotifier::default();
        let agents = Arc::new(AggregateStore::new(
            backend.clone(),
            AgentServices { clock: clock.clone() },
            capacity,
            notifier.clone(),
        ));
        let directory = Arc::new(DirectoryFromStore { agents: agents.clone(), teams: OnceLock::new() });
        let teams = Arc::new(AggregateStore::new(
            backend.clone(),
            TeamServices { clock: clock.clone(), directory: directory.clone() },
            capacity,
            notifier.clone(),
        ));
        let _ = directory.teams.set(teams.clone());
        let inboxes = Arc::new(AggregateStore::new(
            backend.clone(),
            InboxServices { clock: clock.clone(), directory: directory.clone() },
            capacity,
            notifier.clone(),
        ));
        let attributes = Arc::new(AggregateStore::new(
            backend.clone(),
            AttributeServices { clock: clock.clone() },
            capacity,
            notifier.clone(),
        ));
        let definitions = Arc::new(AttributesFromStore(attributes.clone()));
        let services = ConversationServices {
            clock: clock.clone(),
            inboxes: Arc::new(InboxesFromStore(inboxes.clone())),
            messages: Arc::new(MessagesFromLog(backend.clone())),
            directory,
            attributes: definitions.clone(),
        };
        let conversations = AggregateStore::new(backend.clone(), services, capacity, notifier.clone());
        let webhook_endpoints = Arc::new(AggregateStore::new(
            backend.clone(),
            WebhookEndpointServices { clock: clock.clone() },
            capacity,
            notifier.clone(),
        ));
        let contacts = Arc::new(AggregateStore::new(
            backend.clone(),
            ContactServices { clock: clock.clone(), attributes: definitions },
            capacity,
            notifier.clone(),
        ));
        let contact_identities = Arc::new(AggregateStore::new(
            backend.clone(),
            ContactIdentityServices { clock: clock.clone() },
            capacity,
            notifier.clone(),
        ));
        let log = EventLog::new(backend.clone(), notifier);
        Self {
            backend,
            inboxes,
            conversations,
            webhook_endpoints,
            contacts,
            contact_identities,
            agents,
            teams,
            attributes,
            log,
            clock,
        }
    }
}

/// Metadata stored beside every event of a command: the workspace (the log's workspace column
/// is derived from it) and whatever the caller adds (request id, …).
pub fn metadata(workspace_id: Uuid, extra: impl IntoIterator<Item = (String, String)>) -> HashMap<String, String> {
    let mut metadata: HashMap<String, String> = extra.into_iter().collect();
    metadata.insert("workspace_id".to_owned(), workspace_id.to_string());
    metadata
}

/// How stale the inbox a conversation command checks (its workspace, policy, deletion) may be
/// when another process changed it: this process's own inbox commands show at once.
pub const INBOX_MAX_AGE: std::time::Duration = std::time::Duration::from_millis(250);

/// The inboxes conversation commands look up, from the inbox aggregates' cache.
struct InboxesFromStore<B: Backend>(Arc<AggregateStore<Inbox, B>>);

impl<B: Backend> InboxLookup for InboxesFromStore<B> {
    fn inbox(&self, inbox_id: Uuid) -> BoxFuture<'_, Result<Option<InboxFacts>, String>> {
        async move {
            let (_, inbox) =
                self.0.load_recent(&inbox_id.to_string(), INBOX_MAX_AGE).await.map_err(|e| e.to_string())?;
            Ok(inbox.facts())
        }
        .boxed()
    }
}

/// The agents and teams conversation, inbox and team commands name, from their aggregates'
/// caches (at most [`INBOX_MAX_AGE`] stale when another process changed them).
struct DirectoryFromStore<B: Backend> {
    agents: Arc<AggregateStore<Agent, B>>,
    /// Set once the team store, which asks this directory about agents, exists.
    teams: OnceLock<Arc<AggregateStore<Team, B>>>,
}

impl<B: Backend> DirectoryLookup for DirectoryFromStore<B> {
    fn agent<'a>(&'a self, workspace_id: Uuid, agent_id: &'a str) -> BoxFuture<'a, Result<Option<AgentFacts>, String>> {
        async move {
            let stream = agent_stream_id(workspace_id, agent_id).to_string();
            let (_, agent) = self.agents.load_recent(&stream, INBOX_MAX_AGE).await.map_err(|e| e.to_string())?;
            Ok((agent.workspace_id == Some(workspace_id)).then_some(AgentFacts { active: agent.active }))
        }
        .boxed()
    }

    fn team(&self, workspace_id: Uuid, team_id: Uuid) -> BoxFuture<'_, Result<bool, String>> {
        async move {
            let teams = self.teams.get().ok_or("the team store is not set up")?;
            let (_, team) = teams.load_recent(&team_id.to_string(), INBOX_MAX_AGE).await.map_err(|e| e.to_string())?;
            Ok(team.workspace_id == Some(workspace_id))
        }
        .boxed()
    }
}

/// The attribute definitions conversation and contact commands check values against, from
/// their aggregates' cache (at most [`INBOX_MAX_AGE`] stale when another process changed them).
struct AttributesFromStore<B: Backend>(Arc<AggregateStore<AttributeDefinition, B>>);

impl<B: Backend> AttributeLookup for AttributesFromStore<B> {
    fn definition<'a>(
        &'a self,
        workspace_id: Uuid,
        model: AttributeModel,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<AttributeFacts>, String>> {
        async move {
            let stream = attribute_stream_id(workspace_id, model, key).to_string();
            let (_, definition) = self.0.load_recent(&stream, INBOX_MAX_AGE).await.map_err(|e| e.to_string())?;
            Ok(definition.facts().filter(|_| definition.workspace_id == Some(workspace_id)))
        }
        .boxed()
    }
}

/// Answers questions about messages older than the aggregate remembers by folding the
/// conversation's events about that one message (an indexed read).
struct MessagesFromLog<B: Backend>(B);

impl<B: Backend> MessageLookup for MessagesFromLog<B> {
    fn message(&self, conversation_id: Uuid, message_id: Uuid) -> BoxFuture<'_, Result<Option<MessageFacts>, String>> {
        async move {
            let stored = self
                .0
                .message_events(&conversation_id.to_string(), &message_id.to_string())
                .await
                .map_err(|e| e.to_string())?;
            let events = stored
                .into_iter()
                .map(|e| convo_domain::decode::<Conversation>(&e.event_type, &e.event_version, &e.payload))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            Ok(message_facts(&events, message_id))
        }
        .boxed()
    }
}
