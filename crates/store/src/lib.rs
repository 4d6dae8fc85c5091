//! The store: privlink's source of truth. Every resource is one record addressed by
//! `(kind, id)`, with its owning account, an optional parent for child listings, and a JSON
//! body the control plane reads and writes. Each API request runs in exactly one transaction.
//!
//! The [`Store`] trait hides the backend; [`SqliteStore`] is the embedded default. The
//! conformance battery in `tests/battery.rs` runs against every backend.

mod sqlite;

pub use sqlite::SqliteStore;

/// One stored resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: String,
    pub id: String,
    pub owner: String,
    pub parent: Option<String>,
    /// Serialized resource (JSON).
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `insert` of a `(kind, id)` that exists already.
    #[error("record {kind}/{id} exists already")]
    Conflict { kind: String, id: String },
    #[error("storage backend: {0}")]
    Backend(String),
    /// The transaction body asked for a rollback.
    #[error("transaction rolled back")]
    RolledBack,
}

/// Operations inside one transaction.
pub trait Tx {
    fn get(&mut self, kind: &str, id: &str) -> Result<Option<Record>, StoreError>;
    /// Adds a record; fails with [`StoreError::Conflict`] if `(kind, id)` exists.
    fn insert(&mut self, record: &Record) -> Result<(), StoreError>;
    /// Inserts or replaces a record.
    fn put(&mut self, record: &Record) -> Result<(), StoreError>;
    /// Removes a record; returns whether it existed.
    fn delete(&mut self, kind: &str, id: &str) -> Result<bool, StoreError>;
    /// Records of a kind, optionally of one owner, in insertion order.
    fn list(&mut self, kind: &str, owner: Option<&str>) -> Result<Vec<Record>, StoreError>;
    /// Records of a kind whose parent is `parent`, in insertion order.
    fn children(&mut self, kind: &str, parent: &str) -> Result<Vec<Record>, StoreError>;
}

/// Whether a transaction body wants its changes kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Commit,
    Rollback,
}

/// A transactional record store.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Runs `body` in one serializable transaction: committed when it returns
    /// `Ok(Outcome::Commit)`, rolled back otherwise. Writers are serialized, so concurrent
    /// requests never lose an update.
    fn transaction(
        &self,
        body: &mut dyn FnMut(&mut dyn Tx) -> Result<Outcome, StoreError>,
    ) -> Result<(), StoreError>;

    /// Runs `body` on a consistent snapshot that is never committed. Backends may serve reads
    /// concurrently with each other and with the writer; writes made by `body` are discarded.
    fn read_transaction(
        &self,
        body: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        match self.transaction(&mut |tx| body(tx).map(|()| Outcome::Rollback)) {
            Err(StoreError::RolledBack) => Ok(()),
            other => other,
        }
    }
}
