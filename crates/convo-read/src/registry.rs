//! The registry: the one list of the read models. Each line names a model's field, its status
//! field, its projection and its table; the struct, its constructor, the runners, rebuilds,
//! verification, checkpoints and the names the CLI takes all come from this list.

use std::sync::Arc;
use std::time::Duration;

use convo_domain::LogEvent;
use convo_projection::Projection;
use convo_store::{Backend, EventLog, LEASE_TTL, Lease, ProjectionStatus, StoreError};
use futures::StreamExt;
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::models::{
    AgentLoadModel, AgentsModel, AttributeDefinitionsModel, ContactIdentitiesModel, ContactsModel,
    ConversationAttributesModel, ConversationLabelsModel, GroupsModel, InboxModel, InboxesModel, MentionsModel,
    ResponseTimesModel, TeamAgentsModel, TeamsModel, TimelineModel, UnreadModel,
};
use crate::projector::{self, ProjectorError};
use crate::table::{SqlTable, TableStore};

macro_rules! read_models {
    ($($field:ident, $status:ident: $projection:ty => $model:ident),* $(,)?) => {
        /// The read models of one backend, their runners' progress, and read-your-writes waits.
        pub struct ReadModels<B: Backend> {
            $(
                pub $field: $model<B::Sql>,
                pub $status: Arc<ProjectionStatus>,
            )*
            /// Events folded per batch.
            pub batch: usize,
            /// Events read and folded per page by rebuilds and verifications: large, to cut
            /// round trips.
            pub rebuild_batch: usize,
            /// How long a query waits for `min_position` before answering 503.
            pub consistency_wait: Duration,
        }

        impl<B: Backend> ReadModels<B> {
            pub fn new(backend: &B) -> Self {
                Self {
                    $(
                        $field: $model::new(backend.sql()),
                        $status: ProjectionStatus::new(<$projection as Projection>::NAME),
                    )*
                    batch: 500,
                    rebuild_batch: 5000,
                    consistency_wait: Duration::from_secs(5),
                }
            }

            /// The names of the read models, for the CLI.
            pub const NAMES: &'static [&'static str] = &[$(<$projection as Projection>::NAME),*];

            /// Every model with its status, in the list's order.
            fn hosted(&self) -> Vec<(&dyn Hosted<B>, &Arc<ProjectionStatus>)> {
                vec![$((&self.$field as &dyn Hosted<B>, &self.$status)),*]
            }
        }
    };
}

read_models! {
    inbox, inbox_status: convo_projection_inbox::InboxProjection => InboxModel,
    timeline, timeline_status: convo_projection_timeline::TimelineProjection => TimelineModel,
    inboxes, inboxes_status: convo_projection_inboxes::InboxesProjection => InboxesModel,
    unread, unread_status: convo_projection_unread::UnreadProjection => UnreadModel,
    groups, groups_status: convo_projection_groups::GroupsProjection => GroupsModel,
    response_times, response_times_status: convo_projection_response_times::ResponseTimesProjection => ResponseTimesModel,
    contacts, contacts_status: convo_projection_contacts::ContactsProjection => ContactsModel,
    contact_identities, contact_identities_status: convo_projection_contacts::ContactIdentitiesProjection => ContactIdentitiesModel,
    agents, agents_status: convo_projection_directory::AgentsProjection => AgentsModel,
    teams, teams_status: convo_projection_directory::TeamsProjection => TeamsModel,
    team_agents, team_agents_status: convo_projection_directory::TeamAgentsProjection => TeamAgentsModel,
    conversation_labels, conversation_labels_status: convo_projection_inbox::ConversationLabelsProjection => ConversationLabelsModel,
    mentions, mentions_status: convo_projection_timeline::MentionsProjection => MentionsModel,
    agent_load, agent_load_status: convo_projection_inbox::AgentLoadProjection => AgentLoadModel,
    attribute_definitions, attribute_definitions_status: convo_projection_directory::AttributeDefinitionsProjection => AttributeDefinitionsModel,
    conversation_attributes, conversation_attributes_status: convo_projection_inbox::ConversationAttributesProjection => ConversationAttributesModel,
}

/// What the host does with any one read model, whatever its rows: the registry's models seen
/// through one type, so each operation is written once.
trait Hosted<B: Backend>: Send + Sync {
    fn name(&self) -> &'static str;
    fn spawn(&self, log: &EventLog<B>, status: Arc<ProjectionStatus>, batch: usize) -> JoinHandle<()>;
    fn rebuild<'a>(
        &'a self,
        log: &'a EventLog<B>,
        batch: usize,
        progress: &'a (dyn Fn(u64) + Sync),
    ) -> BoxFuture<'a, Result<u64, ProjectorError>>;
    /// A rebuild folding the pages it is handed (see [`ReadModels::rebuild_all`]).
    fn rebuild_from(
        &self,
        pages: mpsc::Receiver<Arc<Vec<LogEvent>>>,
        log: &EventLog<B>,
        batch: usize,
    ) -> JoinHandle<Result<(), ProjectorError>>;
    fn verify<'a>(
        &'a self,
        log: &'a EventLog<B>,
        batch: usize,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, ProjectorError>>;
    fn checkpoint(&self) -> BoxFuture<'_, Result<i64, StoreError>>;
}

impl<B, P, T> Hosted<B> for TableStore<P, T, B::Sql>
where
    B: Backend,
    P: Projection + Default,
    P::Row: Serialize + DeserializeOwned,
    T: SqlTable<P>,
{
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn spawn(&self, log: &EventLog<B>, status: Arc<ProjectionStatus>, batch: usize) -> JoinHandle<()> {
        let lease = Lease::new(self.store.clone(), P::NAME, LEASE_TTL);
        tokio::spawn(projector::run_projection(P::default(), self.clone(), log.clone(), status, batch, Some(lease)))
    }

    fn rebuild<'a>(
        &'a self,
        log: &'a EventLog<B>,
        batch: usize,
        progress: &'a (dyn Fn(u64) + Sync),
    ) -> BoxFuture<'a, Result<u64, ProjectorError>> {
        Box::pin(async move { projector::rebuild(&P::default(), self, log, batch, progress).await })
    }

    fn rebuild_from(
        &self,
        pages: mpsc::Receiver<Arc<Vec<LogEvent>>>,
        log: &EventLog<B>,
        batch: usize,
    ) -> JoinHandle<Result<(), ProjectorError>> {
        tokio::spawn(projector::rebuild_from_pages(P::default(), self.clone(), pages, log.clone(), batch))
    }

    fn verify<'a>(
        &'a self,
        log: &'a EventLog<B>,
        batch: usize,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, ProjectorError>> {
        Box::pin(async move { projector::verify(&P::default(), self, log, batch, limit).await })
    }

    fn checkpoint(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        Box::pin(crate::ProjectionStore::<P>::checkpoint(self))
    }
}

impl<B: Backend> ReadModels<B> {
    fn named(&self, name: &str) -> Result<&dyn Hosted<B>, ProjectorError> {
        self.hosted()
            .into_iter()
            .map(|(model, _)| model)
            .find(|model| model.name() == name)
            .ok_or_else(|| ProjectorError::Store(StoreError::Database(format!("no read model named {name}"))))
    }

    /// Starts one runner task per read model, following `log`, each running while it holds its
    /// model's lease (decision 0003): of several processes, one runs each model.
    pub fn spawn(&self, log: &EventLog<B>) -> Vec<JoinHandle<()>> {
        self.hosted().into_iter().map(|(model, status)| model.spawn(log, status.clone(), self.batch)).collect()
    }

    /// For a node that serves queries and runs no runner (`convo serve --role api`): one task
    /// that moves each model's status to its stored checkpoint every `every`, so read-your-writes
    /// waits there for what the workers commit.
    pub fn watch(self: &Arc<Self>, every: Duration) -> JoinHandle<()> {
        let read = self.clone();
        tokio::spawn(async move {
            loop {
                for (model, status) in read.hosted() {
                    match model.checkpoint().await {
                        Ok(position) => status.advance(position),
                        Err(e) => tracing::debug!(model = status.name, error = %e, "cannot read a checkpoint"),
                    }
                }
                tokio::time::sleep(every).await;
            }
        })
    }

    /// Rebuilds read model `name` from the first event and swaps it in; events folded.
    pub async fn rebuild(
        &self,
        name: &str,
        log: &EventLog<B>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<u64, ProjectorError> {
        self.named(name)?.rebuild(log, self.rebuild_batch, progress).await
    }

    /// Rebuilds every read model in one pass over the log, and swaps each in; events read.
    /// Each page is read once and folded into all the models' scratch tables at the same time
    /// (a task per model), rather than the log being read once per model, one model after
    /// another. A model that cannot fold an event stops its rebuild (its live table stays);
    /// the others go on, and the first such error is returned at the end.
    pub async fn rebuild_all(&self, log: &EventLog<B>, progress: &(dyn Fn(u64) + Sync)) -> Result<u64, ProjectorError> {
        let batch = self.rebuild_batch;
        let mut pages = Vec::new();
        let models: Vec<_> = self
            .hosted()
            .into_iter()
            .map(|(model, _)| {
                // Two pages in flight per model: reading runs ahead of the slowest fold by that.
                let (sender, receiver) = mpsc::channel(2);
                pages.push(sender);
                model.rebuild_from(receiver, log, batch)
            })
            .collect();
        let mut read = 0;
        let mut log_pages = Box::pin(log.read_to_head(0, batch));
        let reading = async {
            while let Some(page) = log_pages.next().await {
                let page = Arc::new(page.map_err(ProjectorError::Store)?);
                read += page.len() as u64;
                for sender in &pages {
                    // A model whose rebuild stopped has dropped its receiver: skip it.
                    let _ = sender.send(page.clone()).await;
                }
                progress(read);
            }
            Ok::<_, ProjectorError>(())
        };
        let reading = reading.await;
        drop(pages);
        let mut first_error = reading.err();
        for model in models {
            let result =
                model.await.map_err(|e| ProjectorError::Store(StoreError::Database(format!("a rebuild task: {e}"))));
            if let Err(e) = result.and_then(|r| r) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(read), Err)
    }

    /// Rows of read model `name` that differ from a rebuild at the same checkpoint.
    pub async fn verify(&self, name: &str, log: &EventLog<B>, limit: usize) -> Result<Vec<String>, ProjectorError> {
        self.named(name)?.verify(log, self.rebuild_batch, limit).await
    }

    /// Each read model's checkpoint as stored (what a runner resumes from).
    pub async fn checkpoints(&self) -> Result<Vec<(&'static str, i64)>, StoreError> {
        let mut checkpoints = Vec::with_capacity(Self::NAMES.len());
        for (model, _) in self.hosted() {
            checkpoints.push((model.name(), model.checkpoint().await?));
        }
        Ok(checkpoints)
    }

    pub fn statuses(&self) -> Vec<Arc<ProjectionStatus>> {
        self.hosted().into_iter().map(|(_, status)| status.clone()).collect()
    }
}
