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

/// Why a command wrote nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError<E: std::error::Error> {
    /// The aggregate refused it: a business rule.
    #[error(transparent)]
    Rejected(E),
    /// Concurrent writers kept winning after every retry.
    #[error("the aggregate kept changing concurrently; gave up after {attempts} attempts")]
    Contended { attempts: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}
