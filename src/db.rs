//! Storage: the same queries on SQLite (embedded default) and PostgreSQL (scale-out).

use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::config::{ConfigError, DbArgs};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub dni: String,
    pub name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The dni is taken (the unique constraint said so, not a racy pre-check).
    #[error("dni already exists")]
    Conflict,
    /// Pool exhausted, database down or unreachable: the client may retry.
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
/// PostgreSQL connection exceptions (08xxx), shutdown or start-up (57P01..57P03), too many
/// connections (53300).
fn is_transient(code: Option<&str>) -> bool {
    matches!(code, Some(c) if c == "5" || c.starts_with("08") || c.starts_with("57P") || c == "53300")
}

#[derive(Clone, Debug)]
pub enum Db {
    /// SQLite takes one writer at a time. Writers queue for the single `write` connection in
    /// the pool (FIFO, bounded by the acquire timeout) instead of spinning in SQLite's busy
    /// handler, which made create latency spiky; readers use `read` concurrently (WAL).
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
    },
    Postgres(PgPool),
}

/// Runs the same tokens against whichever pool is configured; the SQL below is portable
/// ($N placeholders, RETURNING, ON CONFLICT work on both).
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite { read: $pool, .. } => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

/// The same for statements that write.
macro_rules! with_writer {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite { write: $pool, .. } => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

impl Db {
    /// Opens a pool without connecting yet, so a server can start (and report not-ready)
    /// while the database is still unreachable.
    pub fn connect_lazy(args: &DbArgs) -> anyhow::Result<Self> {
        let url = args.database_url.as_str();
        let acquire = Duration::from_secs(args.db_acquire_timeout_secs);
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| ConfigError(format!("DATABASE_URL is not a valid SQLite URL: {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: every commit is fsynced before the response, so an acknowledged write
                // survives a process kill and a power loss (NORMAL in WAL mode survives only the former).
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true);
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
            let read = SqlitePoolOptions::new()
                .max_connections(args.db_max_connections)
                .acquire_timeout(acquire)
                .connect_lazy_with(opts.clone());
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(acquire)
                .connect_lazy_with(opts);
            Ok(Db::Sqlite { read, write })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let opts = PgConnectOptions::from_str(url).map_err(|e| {
                ConfigError(format!("DATABASE_URL is not a valid PostgreSQL URL: {e}"))
            })?;
            let pool = PgPoolOptions::new()
                .max_connections(args.db_max_connections)
                .acquire_timeout(acquire)
                .connect_lazy_with(opts);
            Ok(Db::Postgres(pool))
        } else {
            Err(ConfigError("DATABASE_URL must start with sqlite:// or postgres://".into()).into())
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite { .. } => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Applies pending migrations. PostgreSQL: sqlx holds an advisory lock, so replicas starting
    /// together apply each migration once. SQLite has no such lock; a process that loses the race
    /// fails on the already-created objects and simply retries against the now-current schema.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self {
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
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

    /// True when every embedded migration is applied (for /ht/).
    pub async fn migrations_applied(&self) -> Result<bool, DbError> {
        let applied: Vec<i64> = with_pool!(self, pool => sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await?);
        let migrator = match self {
            Db::Sqlite { .. } => &SQLITE_MIGRATIONS,
            Db::Postgres(_) => &POSTGRES_MIGRATIONS,
        };
        Ok(migrator.iter().all(|m| applied.contains(&m.version)))
    }

    pub async fn ping(&self) -> Result<(), DbError> {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()).map_err(DbError::from))
    }

    pub async fn list(&self, limit: Option<i64>, offset: i64) -> Result<Vec<User>, DbError> {
        // LIMIT -1 / ALL would differ per backend; a huge limit is portable.
        let limit = limit.unwrap_or(i64::MAX);
        with_pool!(self, pool => sqlx::query_as::<_, User>("SELECT id, dni, name FROM users ORDER BY id LIMIT $1 OFFSET $2")
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await
            .map_err(DbError::from))
    }

    pub async fn get(&self, id: i64) -> Result<Option<User>, DbError> {
        with_pool!(self, pool => sqlx::query_as::<_, User>("SELECT id, dni, name FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(DbError::from))
    }

    /// Inserts a user; `Conflict` when the dni exists. The unique index decides, atomically.
    pub async fn create(&self, dni: &str, name: &str) -> Result<User, DbError> {
        const SQL: &str = "INSERT INTO users (dni, name) VALUES ($1, $2) ON CONFLICT (dni) DO NOTHING RETURNING id, dni, name";
        let row = with_writer!(self, pool => sqlx::query_as::<_, User>(SQL)
            .bind(dni)
            .bind(name)
            .fetch_optional(pool)
            .await?);
        row.ok_or(DbError::Conflict)
    }

    /// Updates a user; `Ok(None)` when it does not exist, `Conflict` when the dni is another's.
    pub async fn update(&self, id: i64, dni: &str, name: &str) -> Result<Option<User>, DbError> {
        const SQL: &str =
            "UPDATE users SET dni = $1, name = $2 WHERE id = $3 RETURNING id, dni, name";
        with_writer!(self, pool => sqlx::query_as::<_, User>(SQL)
            .bind(dni)
            .bind(name)
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(DbError::from))
    }

    /// Deletes a user; false when there was none.
    pub async fn delete(&self, id: i64) -> Result<bool, DbError> {
        let done = with_writer!(self, pool => sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done > 0)
    }

    /// (size, idle, max) of the (read) pool, for /metrics.
    pub fn pool_stats(&self) -> (u32, usize, u32) {
        with_pool!(self, pool => (pool.size(), pool.num_idle(), pool.options().get_max_connections()))
    }

    pub async fn close(&self) {
        with_writer!(self, pool => pool.close().await);
        with_pool!(self, pool => pool.close().await);
    }
}
