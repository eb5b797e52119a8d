//! SQLite writes by group commit: one task owns the single write connection, takes every write
//! queued while the previous commit was on disk, runs them in one transaction and commits it with
//! one fsync, and only then answers each request. A durable commit costs an fsync of the WAL
//! (milliseconds) whatever it holds, so writers arriving together share it instead of queueing for
//! one each.
//!
//! Each write gets exactly the answer it gets alone. The writes of a batch run one after another,
//! in arrival order, as the single writer ran them before. A dni taken (by an earlier write of the
//! same batch too) fails only its own statement: SQLite's default conflict resolution (ABORT)
//! backs out that statement and keeps the transaction, so the batch is not poisoned. Any other
//! error rolls the batch back, uncommitted and unanswered, and each write is run again on its own,
//! so a fault answers only the write it belongs to. A failed COMMIT answers the whole batch 503:
//! nothing of it was acknowledged, and retrying a commit whose outcome is unknown could apply a
//! write twice.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use sqlx::sqlite::SqlitePool;
use sqlx::{Sqlite, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::{DbError, UserRow};

/// Most writes in one transaction; the rest wait for the next commit.
const MAX_BATCH: usize = 256;
/// Writes waiting for the writer; beyond this, requests wait to queue (they hold a concurrency
/// permit meanwhile, so the server's limit bounds this too).
const QUEUE: usize = 4096;

/// One write, as the single writer runs it.
#[derive(Debug)]
pub enum Write {
    Create { dni: String, name: String },
    Update { id: i64, dni: String, name: String },
    Delete { id: i64 },
}

#[derive(Debug)]
pub enum Written {
    Row(Option<UserRow>),
    Deleted(bool),
}

struct Job {
    write: Write,
    reply: oneshot::Sender<Result<Written, DbError>>,
}

/// The handle to the writer of one database; the task starts with the first write.
#[derive(Clone, Debug)]
pub struct GroupCommit {
    pool: SqlitePool,
    queue: Arc<OnceLock<mpsc::Sender<Job>>>,
    stats: Arc<Stats>,
}

/// Transactions committed and the writes they held.
#[derive(Debug, Default)]
pub struct Stats {
    pub commits: AtomicU64,
    pub writes: AtomicU64,
}

impl GroupCommit {
    pub fn new(pool: SqlitePool) -> Self {
        GroupCommit {
            pool,
            queue: Arc::default(),
            stats: Arc::default(),
        }
    }

    /// Runs `write` in the next batch; returns once that batch is committed (durable) or failed.
    pub async fn write(&self, write: Write) -> Result<Written, DbError> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(run(self.pool.clone(), self.stats.clone(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        queue
            .send(Job { write, reply })
            .await
            .map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// (commits, writes) so far.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.stats.commits.load(Ordering::Relaxed),
            self.stats.writes.load(Ordering::Relaxed),
        )
    }
}

fn writer_gone() -> DbError {
    DbError::Unavailable(sqlx::Error::WorkerCrashed)
}

async fn run(pool: SqlitePool, stats: Arc<Stats>, mut queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        commit(&pool, &stats, std::mem::take(&mut batch)).await;
    }
}

/// Runs a batch; every job is answered.
async fn commit(pool: &SqlitePool, stats: &Stats, batch: Vec<Job>) {
    if batch.len() > 1 {
        // The connection is back in the pool when `together` returns, so that `one_by_one`
        // can take it.
        match together(pool, &batch).await {
            Together::Committed(answers) => {
                stats.commits.fetch_add(1, Ordering::Relaxed);
                stats
                    .writes
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                for (job, answer) in batch.into_iter().zip(answers) {
                    let _ = job.reply.send(answer);
                }
                return;
            }
            Together::CommitFailed(e) => {
                tracing::error!(error = %e, writes = batch.len(), "sqlite group commit failed");
                for job in batch {
                    let _ = job
                        .reply
                        .send(Err(DbError::Unavailable(sqlx::Error::Protocol(format!(
                            "commit failed: {e}"
                        )))));
                }
                return;
            }
            Together::RolledBack => {}
        }
    }
    one_by_one(pool, stats, batch).await
}

enum Together {
    Committed(Vec<Result<Written, DbError>>),
    CommitFailed(sqlx::Error),
    /// Nothing was written; run the writes one by one.
    RolledBack,
}

async fn together(pool: &SqlitePool, batch: &[Job]) -> Together {
    let Ok(mut conn) = pool.acquire().await else {
        return Together::RolledBack;
    };
    let conn: &mut SqliteConnection = &mut conn;
    if sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *conn)
        .await
        .is_err()
    {
        return Together::RolledBack;
    }
    let mut answers = Vec::with_capacity(batch.len());
    for job in batch {
        match apply(&mut *conn, &job.write).await {
            Ok(written) => answers.push(Ok(written)),
            // Only this statement was backed out; the transaction goes on.
            Err(DbError::Conflict) => answers.push(Err(DbError::Conflict)),
            Err(_) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                return Together::RolledBack;
            }
        }
    }
    match sqlx::query("COMMIT").execute(&mut *conn).await {
        Ok(_) => Together::Committed(answers),
        Err(e) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            Together::CommitFailed(e)
        }
    }
}

/// Each write in a transaction of its own (autocommit), as without batching.
async fn one_by_one(pool: &SqlitePool, stats: &Stats, batch: Vec<Job>) {
    for job in batch {
        let answer = match pool.acquire().await {
            Ok(mut conn) => apply(&mut conn, &job.write).await,
            Err(e) => Err(e.into()),
        };
        if matches!(answer, Ok(_) | Err(DbError::Conflict)) {
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats.writes.fetch_add(1, Ordering::Relaxed);
        }
        let _ = job.reply.send(answer);
    }
}

async fn apply(conn: &mut SqliteConnection, write: &Write) -> Result<Written, DbError> {
    Ok(match write {
        Write::Create { dni, name } => Written::Row(
            sqlx::query_as::<Sqlite, UserRow>(super::CREATE)
                .bind(dni)
                .bind(name)
                .fetch_optional(conn)
                .await?,
        ),
        Write::Update { id, dni, name } => Written::Row(
            sqlx::query_as::<Sqlite, UserRow>(super::UPDATE)
                .bind(dni)
                .bind(name)
                .bind(id)
                .fetch_optional(conn)
                .await?,
        ),
        Write::Delete { id } => Written::Deleted(
            sqlx::query(super::DELETE)
                .bind(id)
                .execute(conn)
                .await?
                .rows_affected()
                > 0,
        ),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;

    async fn writer(dir: &std::path::Path) -> (GroupCommit, SqlitePool) {
        let url = format!("sqlite://{}/db.sqlite3", dir.display());
        let opts = super::super::sqlite_options(&url).unwrap();
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(opts)
            .await
            .unwrap();
        super::super::SQLITE_MIGRATIONS.run(&pool).await.unwrap();
        (GroupCommit::new(pool.clone()), pool)
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "shipshape-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Writes queued together share a commit, and each gets its own answer: a taken dni
    /// (in the table, or taken earlier in the same batch) fails that write only.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conflicts_do_not_poison_a_batch() {
        let dir = temp_dir("group-commit");
        let (w, pool) = writer(&dir).await;
        let taken = match w
            .write(Write::Create {
                dni: "taken".into(),
                name: "T".into(),
            })
            .await
            .unwrap()
        {
            Written::Row(Some(row)) => row,
            other => panic!("{other:?}"),
        };
        let other = match w
            .write(Write::Create {
                dni: "other".into(),
                name: "O".into(),
            })
            .await
            .unwrap()
        {
            Written::Row(Some(row)) => row,
            other => panic!("{other:?}"),
        };
        let writes: Vec<Write> = (0..200)
            .map(|i| match i % 4 {
                0 => Write::Create {
                    dni: "taken".into(),
                    name: format!("dup {i}"),
                },
                1 => Write::Create {
                    dni: format!("same{}", i / 8),
                    name: format!("pair {i}"),
                },
                2 => Write::Update {
                    id: other.id,
                    dni: "taken".into(),
                    name: format!("renamed {i}"),
                },
                _ => Write::Create {
                    dni: format!("d{i}"),
                    name: format!("N{i}"),
                },
            })
            .collect();
        let tasks: Vec<_> = writes
            .into_iter()
            .map(|write| {
                let w = w.clone();
                tokio::spawn(async move { w.write(write).await })
            })
            .collect();
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        let (mut pairs_won, mut distinct) = (0, 0);
        for (i, answer) in answers.into_iter().enumerate() {
            match (i % 4, answer) {
                (0, Ok(Written::Row(None))) => {}
                (1, Ok(Written::Row(Some(_)))) => pairs_won += 1,
                (1, Ok(Written::Row(None))) => {}
                (2, Err(DbError::Conflict)) => {}
                (3, Ok(Written::Row(Some(row)))) => {
                    assert_eq!(row.dni, format!("d{i}"));
                    distinct += 1;
                }
                (kind, other) => panic!("write {i} (kind {kind}): {other:?}"),
            }
        }
        // Writes i = 1, 5 of each 8 share a dni: one of each pair is created.
        assert_eq!(pairs_won, 25);
        assert_eq!(distinct, 50);
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(rows, 2 + 25 + 50);
        let (commits, writes) = w.stats();
        assert_eq!(writes, 202, "every write, conflicts included");
        assert!(commits < 100, "{commits} commits for {writes} writes");
        // The database out of reach: a 503-class error, not a hang or a panic.
        pool.close().await;
        let answer = w
            .write(Write::Delete { id: taken.id })
            .await
            .expect_err("closed pool");
        assert!(matches!(answer, DbError::Unavailable(_)), "{answer:?}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
