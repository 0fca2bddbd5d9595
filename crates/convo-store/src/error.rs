//! Errors of the write path and the log, one enum for every adapter.

use cqrs_es::persist::PersistenceError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("database unreachable: {0}")]
    Connection(String),
    #[error("optimistic concurrency conflict")]
    Conflict,
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
}

impl From<PersistenceError> for StoreError {
    fn from(err: PersistenceError) -> Self {
        match err {
            PersistenceError::OptimisticLockError => Self::Conflict,
            PersistenceError::ConnectionError(e) => Self::Connection(e.to_string()),
            PersistenceError::DeserializationError(e) => Self::Corrupt(e.to_string()),
            PersistenceError::UnknownError(e) => Self::Database(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(err: serde_json::Error) -> Self {
        Self::Corrupt(err.to_string())
    }
}

/// Why a command did not answer with what it wrote.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError<E: std::error::Error> {
    /// The aggregate refused it: a business rule.
    #[error(transparent)]
    Rejected(E),
    /// Concurrent writers kept winning after every retry.
    #[error("the aggregate kept changing concurrently; gave up after {attempts} attempts")]
    Contended { attempts: u32 },
    /// Nothing was written (the store could not be read, or it refused the events).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The connection failed while the events were being committed: they may or may not be in
    /// the log. Only the log can tell (idempotency keys look there).
    #[error("the outcome of the append is unknown: {0}")]
    Unknown(StoreError),
}
