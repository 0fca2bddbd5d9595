//! convo-read: the read side. It keeps the read models' tables on any SQL backend, runs one
//! runner per model following the global log, rebuilds and verifies them, and answers time
//! travel from the log.
//!
//! - [`registry`](ReadModels): the one list of read models; every runner, rebuild and
//!   verification is driven from it.
//! - [`TableStore`] keeps a projection's rows and checkpoint in a [`SqlTable`] of the
//!   backend's `SqlStore`; one module per read model (`models/`) describes its table and queries.
//! - [`run_projection`], [`rebuild`], [`verify`]: fold the log into a table, live or scratch.

pub mod history;
mod models;
mod projector;
mod registry;
mod table;
mod write_behind;

pub use history::{AsOf, ConversationAt, agent_at, contact_at, conversation_at};
pub use models::*;
pub use projector::{ProjectionStore, ProjectorError, rebuild, run_projection, verify};
pub use registry::ReadModels;
pub use table::{SqlTable, TableStore};
