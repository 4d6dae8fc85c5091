//! SQLite backend: one file in the data directory, WAL journal, schema migrations.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::{Outcome, Record, Store, StoreError, Tx};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    // 1: the record table.
    "CREATE TABLE records (
        seq    INTEGER PRIMARY KEY AUTOINCREMENT,
        kind   TEXT NOT NULL,
        id     TEXT NOT NULL,
        owner  TEXT NOT NULL,
        parent TEXT,
        body   TEXT NOT NULL,
        UNIQUE (kind, id)
    );
    CREATE INDEX records_owner ON records (kind, owner, seq);
    CREATE INDEX records_parent ON records (kind, parent, seq);",
];

/// How many read-only connections serve read transactions next to the writer.
const READERS: usize = 4;

/// The embedded SQLite store. Writes go through one connection behind a mutex: SQLite allows
/// one writer at a time anyway, and serializing here keeps every transaction `IMMEDIATE`
/// without busy retries. Reads use a small pool of read-only connections, which WAL lets run
/// concurrently with the writer, each on its own snapshot.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: std::sync::atomic::AtomicUsize,
    /// Dropping this stops the background checkpointer.
    _checkpointer: Option<std::sync::mpsc::Sender<()>>,
}

/// How often the background thread folds the WAL back into the database file.
const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// Checkpoints the WAL from its own connection and thread, so no API request pays for the
/// fsync of an automatic checkpoint (which would show up as tail latency). PASSIVE never
/// blocks the writer or readers; what it cannot copy now it copies next time.
fn spawn_checkpointer(path: &Path) -> Result<std::sync::mpsc::Sender<()>, StoreError> {
    let conn = Connection::open(path).map_err(backend)?;
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("store-checkpoint".into())
        .spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(CHECKPOINT_INTERVAL)
            {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
        })
        .map_err(|e| StoreError::Backend(format!("starting the checkpoint thread: {e}")))?;
    Ok(stop)
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path).map_err(backend)?;
        let mut store = Self::setup(conn)?;
        for _ in 0..READERS {
            let reader = Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(backend)?;
            store.readers.push(Mutex::new(reader));
        }
        {
            let conn = store.conn.lock().unwrap_or_else(|p| p.into_inner());
            conn.pragma_update(None, "wal_autocheckpoint", 0)
                .map_err(backend)?;
        }
        store._checkpointer = Some(spawn_checkpointer(path)?);
        Ok(store)
    }

    /// A private in-memory database, for tests (reads share the writer's connection).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        Self::setup(Connection::open_in_memory().map_err(backend)?)
    }

    fn setup(mut conn: Connection) -> Result<SqliteStore, StoreError> {
        // WAL + synchronous=NORMAL: a commit is in the WAL (the OS's page cache) before the
        // request is answered, so it survives the daemon being killed at any moment (kill -9);
        // only a crash of the whole machine may lose the last commits, never corrupt the file.
        // FULL would fsync every commit and cap writes at the disk's flush rate.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(backend)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(backend)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(backend)?;
        let version = usize::try_from(version).unwrap_or(0);
        if version > MIGRATIONS.len() {
            return Err(StoreError::Backend(format!(
                "database schema version {version} is newer than this privlink ({})",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.transaction().map_err(backend)?;
            tx.execute_batch(sql).map_err(backend)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
            tracing::info!(migration = i + 1, "applied store migration");
        }
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            readers: Vec::new(),
            next_reader: std::sync::atomic::AtomicUsize::new(0),
            _checkpointer: None,
        })
    }
}

struct SqliteTx<'a> {
    tx: rusqlite::Transaction<'a>,
}

fn row_to_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    Ok(Record {
        kind: row.get(0)?,
        id: row.get(1)?,
        owner: row.get(2)?,
        parent: row.get(3)?,
        body: row.get(4)?,
    })
}

impl SqliteTx<'_> {
    fn query(&self, sql: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<Record>, StoreError> {
        let mut stmt = self.tx.prepare_cached(sql).map_err(backend)?;
        let rows = stmt.query_map(args, row_to_record).map_err(backend)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(backend)
    }
}

impl Tx for SqliteTx<'_> {
    fn get(&mut self, kind: &str, id: &str) -> Result<Option<Record>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT kind, id, owner, parent, body FROM records WHERE kind = ?1 AND id = ?2",
            )
            .map_err(backend)?;
        stmt.query_row(params![kind, id], row_to_record)
            .optional()
            .map_err(backend)
    }

    fn insert(&mut self, r: &Record) -> Result<(), StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT INTO records (kind, id, owner, parent, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(backend)?;
        match stmt.execute(params![r.kind, r.id, r.owner, r.parent, r.body]) {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::Conflict {
                    kind: r.kind.clone(),
                    id: r.id.clone(),
                })
            }
            Err(e) => Err(backend(e)),
        }
    }

    fn put(&mut self, r: &Record) -> Result<(), StoreError> {
        // Update in place so the record keeps its position (insertion order) in listings.
        let changed = {
            let mut stmt = self
                .tx
                .prepare_cached(
                    "UPDATE records SET owner = ?3, parent = ?4, body = ?5 WHERE kind = ?1 AND id = ?2",
                )
                .map_err(backend)?;
            stmt.execute(params![r.kind, r.id, r.owner, r.parent, r.body])
                .map_err(backend)?
        };
        if changed == 0 {
            self.insert(r)?;
        }
        Ok(())
    }

    fn delete(&mut self, kind: &str, id: &str) -> Result<bool, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached("DELETE FROM records WHERE kind = ?1 AND id = ?2")
            .map_err(backend)?;
        Ok(stmt.execute(params![kind, id]).map_err(backend)? > 0)
    }

    fn list(&mut self, kind: &str, owner: Option<&str>) -> Result<Vec<Record>, StoreError> {
        match owner {
            Some(o) => self.query(
                "SELECT kind, id, owner, parent, body FROM records WHERE kind = ?1 AND owner = ?2 ORDER BY seq",
                &[&kind, &o],
            ),
            None => self.query(
                "SELECT kind, id, owner, parent, body FROM records WHERE kind = ?1 ORDER BY seq",
                &[&kind],
            ),
        }
    }

    fn children(&mut self, kind: &str, parent: &str) -> Result<Vec<Record>, StoreError> {
        self.query(
            "SELECT kind, id, owner, parent, body FROM records WHERE kind = ?1 AND parent = ?2 ORDER BY seq",
            &[&kind, &parent],
        )
    }
}

impl Store for SqliteStore {
    fn transaction(
        &self,
        body: &mut dyn FnMut(&mut dyn Tx) -> Result<Outcome, StoreError>,
    ) -> Result<(), StoreError> {
        // A poisoned mutex only means another request panicked mid-transaction; SQLite rolled
        // that transaction back when its guard dropped, so the connection is still sound.
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let mut stx = SqliteTx { tx };
        match body(&mut stx)? {
            Outcome::Commit => stx.tx.commit().map_err(backend),
            Outcome::Rollback => {
                stx.tx.rollback().map_err(backend)?;
                Err(StoreError::RolledBack)
            }
        }
    }

    fn read_transaction(
        &self,
        body: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if self.readers.is_empty() {
            return match self.transaction(&mut |tx| body(tx).map(|()| Outcome::Rollback)) {
                Err(StoreError::RolledBack) => Ok(()),
                other => other,
            };
        }
        // Round-robin, preferring a reader nobody holds.
        let start = self
            .next_reader
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let n = self.readers.len();
        let mut guard = (0..n)
            .find_map(|i| self.readers[(start + i) % n].try_lock().ok())
            .unwrap_or_else(|| {
                self.readers[start % n]
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
            });
        // A deferred transaction on a read-only connection: one consistent snapshot.
        let tx = guard.transaction().map_err(backend)?;
        let mut stx = SqliteTx { tx };
        let out = body(&mut stx);
        stx.tx.rollback().map_err(backend)?;
        out
    }
}
