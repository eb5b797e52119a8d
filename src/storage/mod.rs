//! Storage: the same queries on SQLite (embedded default) and PostgreSQL (scale-out), the embedded
//! migrations, and PostgreSQL credentials that can change while the server runs.

mod credentials;
mod group_commit;
mod sqlite_read;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Postgres, Sqlite};

use crate::configuration::{ConfigError, DatabaseUrl, DbArgs};

pub use credentials::CredentialFile;
use group_commit::{GroupCommit, Write, Written};
use sqlite_read::ReadPool;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// A row of the `users` table.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub dni: String,
    pub name: String,
}

/// What `Db::list_for_api` answers.
pub enum Listed {
    Json(Bytes),
    Rows(Vec<UserRow>),
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The dni is taken (the unique constraint said so, not a racy pre-check).
    #[error("dni already exists")]
    Conflict,
    /// Pool exhausted, database down or unreachable, credentials refused: the client may retry.
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    #[error("database error: {0}")]
    Other(sqlx::Error),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => DbError::Conflict,
            // Lost or refused connections, an exhausted pool, a dying driver: the database is
            // (for now) out of reach, which is a 503 for the client, never a 500.
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => DbError::Unavailable(e),
            sqlx::Error::Database(d) if is_transient(d.code().as_deref()) => {
                DbError::Unavailable(e)
            }
            _ => DbError::Other(e),
        }
    }
}

/// SQLSTATE / SQLite codes that mean "try again": SQLite BUSY (5) after the busy timeout;
/// PostgreSQL connection exceptions (08xxx), refused credentials (28xxx: a password rotation in
/// progress), shutdown or start-up (57P01..57P03), too many connections (53300).
fn is_transient(code: Option<&str>) -> bool {
    matches!(code, Some(c) if c == "5" || c.starts_with("08") || c.starts_with("28") || c.starts_with("57P") || c == "53300")
}

/// The database of the process: a pair of SQLite pools or a PostgreSQL pool.
#[derive(Clone, Debug)]
pub enum Db {
    /// SQLite takes one writer at a time: `writer` runs every write on the single `write`
    /// connection, by group commit (one transaction and one fsync for the writes queued
    /// together), instead of writers spinning in SQLite's busy handler; readers use `read`
    /// concurrently (WAL). Migrations use `write` too.
    /// `list` serves the users list (src/storage/sqlite_read.rs).
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
        writer: GroupCommit,
        list: ReadPool,
    },
    Postgres(PgStore),
}

/// A PostgreSQL pool, and the file its URL comes from when it may change (DATABASE_URL_FILE).
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    credentials: Option<Arc<CredentialFile>>,
}

impl PgStore {
    /// A connection; when the database refuses the credentials, the URL file is looked at at
    /// once (not at the next poll) and, if it brought new ones, the connection is tried again.
    /// Nothing was sent yet, so trying again is safe for any statement.
    async fn acquire(&self) -> Result<PoolConnection<Postgres>, DbError> {
        let Some(file) = &self.credentials else {
            return Ok(self.pool.acquire().await?);
        };
        let generation = file.generation();
        match self.pool.acquire().await {
            Ok(conn) => Ok(conn),
            Err(e) if credentials::refused(&e) => {
                file.reload_now(&self.pool).await;
                if file.generation() == generation {
                    return Err(e.into());
                }
                Ok(self.pool.acquire().await?)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Runs the same tokens on a connection of whichever database is configured; the SQL below is
/// portable ($N placeholders, RETURNING, ON CONFLICT work on both). `read` or `write` picks the
/// SQLite pool; PostgreSQL has one.
macro_rules! on_conn {
    ($db:expr, $sqlite_pool:ident, $conn:ident => $body:expr) => {
        match $db {
            // Boxed: sqlx's acquire futures are kilobytes (see tests::database_call_futures_stay_small).
            Db::Sqlite {
                $sqlite_pool: pool, ..
            } => {
                let mut c: PoolConnection<Sqlite> = Box::pin(pool.acquire()).await?;
                let $conn = &mut *c;
                $body
            }
            Db::Postgres(store) => {
                let mut c = Box::pin(store.acquire()).await?;
                let $conn = &mut *c;
                $body
            }
        }
    };
}

impl Db {
    /// Opens the pools without connecting yet, so a server can start (and report not-ready)
    /// while the database is still unreachable.
    pub fn connect_lazy(args: &DbArgs) -> anyhow::Result<Self> {
        let source = args.database_url()?;
        let url = source.url();
        let acquire = Duration::from_secs(args.db_acquire_timeout_secs);
        if url.starts_with("sqlite:") {
            let opts = sqlite_options(url).map_err(|e| {
                ConfigError(format!("{} is not a valid SQLite URL: {e}", source.name()))
            })?;
            if let Some(dir) = opts.get_filename().parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(|e| {
                    ConfigError(format!(
                        "cannot create database directory {}: {e}",
                        dir.display()
                    ))
                })?;
            }
            let list = ReadPool::new(
                opts.get_filename().to_owned(),
                SQLITE_BUSY_TIMEOUT,
                args.db_max_connections as usize,
            );
            let read = SqlitePoolOptions::new()
                .max_connections(args.db_max_connections)
                .acquire_timeout(acquire)
                .connect_lazy_with(opts.clone());
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(acquire)
                .connect_lazy_with(opts);
            let writer = GroupCommit::new(write.clone());
            Ok(Db::Sqlite {
                read,
                write,
                writer,
                list,
            })
        } else if is_postgres_url(url) {
            let opts =
                postgres_options(url).map_err(|e| ConfigError(format!("{} {e}", source.name())))?;
            let mut pool = PgPoolOptions::new()
                .max_connections(args.db_max_connections)
                .acquire_timeout(acquire);
            let credentials = match &source {
                DatabaseUrl::Env(_) => None,
                DatabaseUrl::File { path, url } => {
                    let file = Arc::new(CredentialFile::new(path.clone(), url.clone(), acquire));
                    pool = file.drain_old_connections(pool);
                    Some(file)
                }
            };
            Ok(Db::Postgres(PgStore {
                pool: pool.connect_lazy_with(opts),
                credentials,
            }))
        } else {
            Err(ConfigError(format!(
                "{} must start with sqlite:// or postgres://",
                source.name()
            ))
            .into())
        }
    }

    /// Starts re-reading DATABASE_URL_FILE (PostgreSQL only; SQLite reads it once). The task
    /// ends when the pool is closed.
    pub fn watch_credentials(&self) {
        if let Db::Postgres(PgStore {
            pool,
            credentials: Some(file),
        }) = self
        {
            tokio::spawn(file.clone().watch(pool.clone()));
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite { .. } => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    fn migrator(&self) -> &'static Migrator {
        match self {
            Db::Sqlite { .. } => &SQLITE_MIGRATIONS,
            Db::Postgres(_) => &POSTGRES_MIGRATIONS,
        }
    }

    /// Applies pending migrations; when all are applied already it only reads, so a role that
    /// may not create tables (the application role) can start with MIGRATE_ON_START=true.
    /// PostgreSQL: sqlx holds an advisory lock, so replicas starting together apply each migration
    /// once. SQLite has no such lock; a process that loses the race fails on the already-created
    /// objects and simply retries against the now-current schema.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        if let Ok(true) = self.migrations_applied().await {
            return Ok(());
        }
        match self {
            Db::Postgres(store) => POSTGRES_MIGRATIONS.run(&store.pool).await,
            Db::Sqlite { write: pool, .. } => {
                let mut attempt = 0;
                loop {
                    match SQLITE_MIGRATIONS.run(pool).await {
                        Ok(()) => return Ok(()),
                        Err(e) if attempt < 3 => {
                            attempt += 1;
                            tracing::warn!(error = %e, attempt, "sqlite migration raced, retrying");
                            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    /// True when every embedded migration is applied, with the checksum it has in this binary
    /// (for /ht/, and to skip migrating when there is nothing to do).
    pub async fn migrations_applied(&self) -> Result<bool, DbError> {
        self.traced("SELECT", "_sqlx_migrations", async move {
            let applied: Vec<(i64, Vec<u8>)> = on_conn!(self, read, conn => sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations WHERE success")
                .fetch_all(conn)
                .await?);
            Ok(self.migrator().iter().all(|m| {
                applied
                    .iter()
                    .any(|(v, sum)| *v == m.version && sum.as_slice() == &*m.checksum)
            }))
        })
        .await
    }

    pub async fn ping(&self) -> Result<(), DbError> {
        self.traced("SELECT", "", async move {
            on_conn!(self, read, conn => sqlx::query("SELECT 1").execute(conn).await.map(|_| ()).map_err(DbError::from))
        })
        .await
    }

    pub async fn list(&self, limit: Option<i64>, offset: i64) -> Result<Vec<UserRow>, DbError> {
        self.traced("SELECT", "users", async move {
            // LIMIT -1 / ALL would differ per backend; a huge limit is portable.
            let limit = limit.unwrap_or(i64::MAX);
            on_conn!(self, read, conn => sqlx::query_as::<_, UserRow>("SELECT id, dni, name FROM users ORDER BY id LIMIT $1 OFFSET $2")
                .bind(limit)
                .bind(offset)
                .fetch_all(conn)
                .await
                .map_err(DbError::from))
        })
        .await
    }

    /// The users `list` reads: on SQLite already as the API's JSON array
    /// (`[{"id":..,"dni":..,"name":..},..]`), on PostgreSQL as rows.
    pub async fn list_for_api(&self, limit: Option<i64>, offset: i64) -> Result<Listed, DbError> {
        match self {
            Db::Sqlite { list, .. } => {
                let call = list.list_json(limit.unwrap_or(i64::MAX), offset);
                let json = self.traced("SELECT", "users", call);
                Ok(Listed::Json(json.await?))
            }
            Db::Postgres(_) => Ok(Listed::Rows(self.list(limit, offset).await?)),
        }
    }

    pub async fn get(&self, id: i64) -> Result<Option<UserRow>, DbError> {
        self.traced("SELECT", "users", async move {
            on_conn!(self, read, conn => sqlx::query_as::<_, UserRow>("SELECT id, dni, name FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(conn)
                .await
                .map_err(DbError::from))
        })
        .await
    }

    /// Inserts a user; `Conflict` when the dni exists. The unique index decides, atomically.
    pub async fn create(&self, dni: &str, name: &str) -> Result<UserRow, DbError> {
        self.traced("INSERT", "users", async move {
            let row = match self {
                Db::Sqlite { writer, .. } => {
                    let write = Write::Create {
                        dni: dni.to_owned(),
                        name: name.to_owned(),
                    };
                    match writer.write(write).await? {
                        Written::Row(row) => row,
                        Written::Deleted(_) => unreachable!("a create answers a row"),
                    }
                }
                Db::Postgres(_) => {
                    on_conn!(self, write, conn => sqlx::query_as::<_, UserRow>(CREATE)
                    .bind(dni)
                    .bind(name)
                    .fetch_optional(conn)
                    .await?)
                }
            };
            row.ok_or(DbError::Conflict)
        })
        .await
    }

    /// Updates a user; `Ok(None)` when it does not exist, `Conflict` when the dni is another's.
    pub async fn update(&self, id: i64, dni: &str, name: &str) -> Result<Option<UserRow>, DbError> {
        self.traced("UPDATE", "users", async move {
            match self {
                Db::Sqlite { writer, .. } => {
                    let write = Write::Update {
                        id,
                        dni: dni.to_owned(),
                        name: name.to_owned(),
                    };
                    match writer.write(write).await? {
                        Written::Row(row) => Ok(row),
                        Written::Deleted(_) => unreachable!("an update answers a row"),
                    }
                }
                Db::Postgres(_) => {
                    on_conn!(self, write, conn => sqlx::query_as::<_, UserRow>(UPDATE)
                    .bind(dni)
                    .bind(name)
                    .bind(id)
                    .fetch_optional(conn)
                    .await
                    .map_err(DbError::from))
                }
            }
        })
        .await
    }

    /// Deletes a user; false when there was none.
    pub async fn delete(&self, id: i64) -> Result<bool, DbError> {
        self.traced("DELETE", "users", async move {
            match self {
                Db::Sqlite { writer, .. } => match writer.write(Write::Delete { id }).await? {
                    Written::Deleted(done) => Ok(done),
                    Written::Row(_) => unreachable!("a delete answers a count"),
                },
                Db::Postgres(_) => {
                    let done = on_conn!(self, write, conn => sqlx::query(DELETE)
                        .bind(id)
                        .execute(conn)
                        .await?
                        .rows_affected());
                    Ok(done > 0)
                }
            }
        })
        .await
    }

    /// (size, idle, max) of the (read) pool, for /metrics.
    pub fn pool_stats(&self) -> (u32, usize, u32) {
        match self {
            Db::Sqlite { read: pool, .. } => stats(pool),
            Db::Postgres(store) => stats(&store.pool),
        }
    }

    /// A call as one client span (`SELECT users`; `table` empty when there is none) when traces
    /// are exported, inside the request's span; waiting for a connection is part of it.
    async fn traced<T>(
        &self,
        operation: &'static str,
        table: &'static str,
        call: impl Future<Output = Result<T, DbError>>,
    ) -> Result<T, DbError> {
        let span = crate::telemetry::otel::db_span(self.system(), operation, table);
        tracing::Instrument::instrument(call, span).await
    }

    /// The database's name in OpenTelemetry's `db.system.name`.
    pub fn system(&self) -> &'static str {
        match self {
            Db::Sqlite { .. } => "sqlite",
            Db::Postgres(_) => "postgresql",
        }
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite { read, write, .. } => {
                write.close().await;
                read.close().await;
            }
            Db::Postgres(store) => store.pool.close().await,
        }
    }
}

const CREATE: &str = "INSERT INTO users (dni, name) VALUES ($1, $2) ON CONFLICT (dni) DO NOTHING RETURNING id, dni, name";
const UPDATE: &str = "UPDATE users SET dni = $1, name = $2 WHERE id = $3 RETURNING id, dni, name";
const DELETE: &str = "DELETE FROM users WHERE id = $1";

fn stats<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> (u32, usize, u32) {
    (
        pool.size(),
        pool.num_idle(),
        pool.options().get_max_connections(),
    )
}

const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

fn sqlite_options(url: &str) -> Result<SqliteConnectOptions, sqlx::Error> {
    Ok(SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: every commit is fsynced before the response, so an acknowledged write
        // survives a process kill and a power loss (NORMAL in WAL mode survives only the former).
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true))
}

fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres:") || url.starts_with("postgresql:")
}

/// Parses a PostgreSQL URL. The parser's own message is not passed on: it may quote a part of
/// the URL, which can be a password.
fn postgres_options(url: &str) -> Result<PgConnectOptions, &'static str> {
    PgConnectOptions::from_str(url).map_err(|_| "is not a valid PostgreSQL URL")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size<F>(_: impl Fn(&'static Db) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// A request's future holds the database call's, and is moved (copied) several times on its
    /// way through the middleware. sqlx's pool `acquire` futures are 3 KB (SQLite) and 14.5 KB
    /// (PostgreSQL), so unboxed they made every call's future ~29 KB, and the list's memcpy alone
    /// cost more than the query.
    #[test]
    fn database_call_futures_stay_small() {
        for (call, bytes) in [
            ("list_for_api", size(|db| db.list_for_api(None, 0))),
            ("list", size(|db| db.list(None, 0))),
            ("get", size(|db| db.get(1))),
            ("create", size(|db| db.create("a", "b"))),
            ("update", size(|db| db.update(1, "a", "b"))),
            ("delete", size(|db| db.delete(1))),
            ("ping", size(|db| db.ping())),
        ] {
            assert!(bytes <= 2048, "Db::{call}'s future is {bytes} bytes");
        }
    }
}
