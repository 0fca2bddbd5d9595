//! `convo inspect conversation ID [--at-position P | --at T]`: a conversation as the view shows it
//! (now, or as it was then, folded from its events like `GET /v1/conversations/{id}?at_position=`),
//! a group's members then, and the events folded, as pretty JSON.

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use convo_domain::SystemClock;
use convo_read::{AsOf, conversation_at};
use convo_store::Engine;
use serde_json::json;
use uuid::Uuid;

use crate::backend::AnyBackend;

#[derive(Subcommand)]
pub enum InspectCommand {
    /// A conversation's state (now, or at a position or time) and its events up to there.
    Conversation {
        id: Uuid,
        /// As it was at this global position (every event of it at or before).
        #[arg(long, conflicts_with = "at")]
        at_position: Option<i64>,
        /// As it was at this time, RFC 3339 (every event the log had recorded by then).
        #[arg(long)]
        at: Option<DateTime<Utc>>,
        /// Only this workspace's conversation.
        #[arg(long)]
        workspace: Option<Uuid>,
    },
}

pub async fn run(backend: AnyBackend, command: InspectCommand) -> anyhow::Result<()> {
    let InspectCommand::Conversation { id, at_position, at, workspace } = command;
    let engine = Engine::new(backend, Arc::new(SystemClock));
    let as_of = match (at_position, at) {
        (Some(p), _) => AsOf::Position(p),
        (None, Some(t)) => AsOf::Time(t),
        (None, None) => AsOf::Position(engine.log.head().await?),
    };
    let then = conversation_at(&engine.log, workspace, id, as_of)
        .await?
        .with_context(|| format!("no conversation {id} at {as_of:?}"))?;
    let last = then.events.last().map(|e| json!({"position": e.position, "recorded_at": e.recorded_at}));
    let out = json!({
        "conversation": then.summary,
        "members": then.members,
        "as_of": last,
        "events": then.events,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
