//! DATABASE_URL_FILE: the PostgreSQL URL read from a file (a mounted Kubernetes Secret, a file on
//! a VM) and read again while the server runs, so a password rotation needs no restart.
//!
//! Every second the file's contents are compared with the URL in use (contents, not mtime:
//! kubelet swaps a symlink, editors rename, and a rewrite within the same second keeps the mtime).
//! A changed URL is first tried with one connection of its own. Only when it logs in does the pool
//! switch to it (sqlx's `Pool::set_connect_options`): new connections use it, and connections
//! opened before the switch drain: a statement running on one finishes, and the connection is
//! closed instead of being handed out again. Until the new URL logs in, the one in use stays, so it
//! does not matter whether the password or the file changes first.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

use super::postgres_options;
use crate::configuration::redact;

/// How often the file is read.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// A request whose login was refused reads the file at once, but not more often than this.
const REFUSED_RELOAD_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub struct CredentialFile {
    path: PathBuf,
    connect_timeout: Duration,
    state: tokio::sync::Mutex<State>,
    /// Incremented at every switch.
    generation: AtomicU64,
    epoch: Instant,
    /// When the last switch happened: nanoseconds after `epoch`, plus one (0: never).
    switched_at: AtomicU64,
}

#[derive(Debug)]
struct State {
    in_use: String,
    last_read: Option<Instant>,
    /// The file contents (hashed) whose problem was logged already, so a bad file is reported
    /// once rather than every second.
    reported: Option<u64>,
}

/// True when PostgreSQL refused the login (SQLSTATE class 28: wrong password, unknown role).
pub fn refused(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().is_some_and(|c| c.starts_with("28")))
}

impl CredentialFile {
    pub fn new(path: PathBuf, in_use: String, connect_timeout: Duration) -> Self {
        CredentialFile {
            path,
            connect_timeout,
            state: tokio::sync::Mutex::new(State {
                in_use,
                last_read: None,
                reported: None,
            }),
            generation: AtomicU64::new(0),
            epoch: Instant::now(),
            switched_at: AtomicU64::new(0),
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Pool options that close a connection opened before the last switch when it is next acquired.
    pub(super) fn drain_old_connections(self: &Arc<Self>, options: PgPoolOptions) -> PgPoolOptions {
        let file = Arc::clone(self);
        options.before_acquire(move |_conn, meta| {
            let keep = !file.opened_before_switch(meta.age);
            Box::pin(async move { Ok(keep) })
        })
    }

    fn opened_before_switch(&self, age: Duration) -> bool {
        match self.switched_at.load(Ordering::Acquire) {
            0 => false,
            at => {
                let since_switch = self
                    .epoch
                    .elapsed()
                    .saturating_sub(Duration::from_nanos(at - 1));
                age > since_switch
            }
        }
    }

    /// Reads the file every POLL_INTERVAL until the pool is closed.
    pub(super) async fn watch(self: Arc<Self>, pool: PgPool) {
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if pool.is_closed() {
                return;
            }
            self.reload(&pool, Duration::ZERO).await;
        }
    }

    /// Reads the file now, after a refused login.
    pub(super) async fn reload_now(&self, pool: &PgPool) {
        self.reload(pool, REFUSED_RELOAD_INTERVAL).await;
    }

    async fn reload(&self, pool: &PgPool, min_interval: Duration) {
        let mut state = self.state.lock().await;
        if state.last_read.is_some_and(|t| t.elapsed() < min_interval) {
            return;
        }
        state.last_read = Some(Instant::now());
        let path = self.path.display().to_string();
        let text = match tokio::fs::read_to_string(&self.path).await {
            Ok(text) => text,
            Err(e) => {
                if state.report(&format!("unreadable: {e}")) {
                    tracing::warn!(path, error = %e, "cannot read DATABASE_URL_FILE; keeping the database URL in use");
                }
                return;
            }
        };
        let url = text.trim();
        if url == state.in_use {
            state.reported = None;
            return;
        }
        let options = match postgres_options(url) {
            Ok(options) => options,
            Err(problem) => {
                if state.report(url) {
                    tracing::error!(
                        path,
                        "DATABASE_URL_FILE {problem} (it may not switch database kind either); keeping the database URL in use"
                    );
                }
                return;
            }
        };
        match tokio::time::timeout(self.connect_timeout, options.connect()).await {
            Ok(Ok(conn)) => {
                let _ = PgConnection::close(conn).await;
                pool.set_connect_options(options);
                let at = self.epoch.elapsed().as_nanos() as u64 + 1;
                self.switched_at.store(at, Ordering::Release);
                self.generation.fetch_add(1, Ordering::AcqRel);
                state.in_use = url.to_owned();
                state.reported = None;
                tracing::info!(
                    path,
                    database = %redact(url),
                    "database URL reloaded from DATABASE_URL_FILE: new connections use it, older ones are closed as they are released"
                );
            }
            Ok(Err(e)) => {
                if state.report(url) {
                    tracing::warn!(path, database = %redact(url), error = %e, "the new URL in DATABASE_URL_FILE does not log in yet; keeping the one in use and trying again every second");
                }
            }
            Err(_) => {
                if state.report(url) {
                    tracing::warn!(path, database = %redact(url), "the new URL in DATABASE_URL_FILE did not connect in time; keeping the one in use and trying again every second");
                }
            }
        }
    }
}

impl State {
    /// True the first time a given content has a problem.
    fn report(&mut self, content: &str) -> bool {
        let mut h = DefaultHasher::new();
        content.hash(&mut h);
        let key = h.finish();
        self.reported.replace(key) != Some(key)
    }
}
