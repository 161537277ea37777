//! The embedded backend's database: one SQLite file under the data dir holding the state store's
//! items and the queue's messages.
//!
//! WAL mode with `synchronous = NORMAL` survives a killed process (kill -9) without losing a
//! committed write; only a power cut can take the last transactions, which is the trade the
//! embedded backend makes for speed. Calls run on tokio's blocking pool because SQLite blocks.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

/// What can go wrong opening or using the embedded database.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedDbError {
    /// SQLite refused an operation.
    #[error("embedded database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The data dir could not be prepared.
    #[error("embedded data dir: {0}")]
    Io(#[from] std::io::Error),
    /// A blocking task was cancelled or panicked.
    #[error("embedded database task did not finish: {0}")]
    Task(String),
}

/// A shared handle to the embedded database.
#[derive(Clone)]
pub struct EmbeddedDb {
    conn: Arc<Mutex<Connection>>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    doc TEXT NOT NULL,
    blob BLOB,
    ttl INTEGER,
    version INTEGER NOT NULL,
    gsi1pk TEXT, gsi1sk TEXT,
    gsi2pk TEXT, gsi2sk TEXT,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi2 ON items (gsi2pk, gsi2sk, pk, sk) WHERE gsi2pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_ttl ON items (ttl) WHERE ttl IS NOT NULL;
CREATE TABLE IF NOT EXISTS queue_messages (
    id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    visible_at_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    sent_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_ready ON queue_messages (queue, visible_at_ms);
CREATE UNIQUE INDEX IF NOT EXISTS queue_receipt ON queue_messages (receipt) WHERE receipt IS NOT NULL;
";

impl EmbeddedDb {
    /// Opens (creating if needed) `hookrail.db` under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, EmbeddedDbError> {
        std::fs::create_dir_all(data_dir)?;
        let conn = Connection::open(data_dir.join("hookrail.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `work` with the connection on the blocking pool.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<EmbeddedDbError> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A poisoned lock only means another task panicked mid-call; SQLite rolled its
            // transaction back, so the connection itself is still sound.
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&mut guard)
        })
        .await
        .map_err(|join| E::from(EmbeddedDbError::Task(join.to_string())))?
    }
}
