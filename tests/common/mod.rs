//! Test harness: runs the real `shipshape` binary on a random loopback port against a fresh
//! database — a temp SQLite file, or a new PostgreSQL database when TEST_DATABASE_URL is set.
#![allow(dead_code)] // each test file uses a different part of the harness

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_shipshape");

/// Where a test's data lives. Dropping it removes the database.
pub enum Backend {
    Sqlite { dir: PathBuf },
    Postgres { admin_url: String, name: String },
}

impl Backend {
    pub fn sqlite() -> Self {
        let dir =
            std::env::temp_dir().join(format!("shipshape-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Backend::Sqlite { dir }
    }

    /// A fresh database on the server of TEST_DATABASE_URL. Without it the PostgreSQL half is
    /// skipped locally, but never in CI: there the missing variable fails the test.
    pub async fn postgres() -> Option<Self> {
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "TEST_DATABASE_URL must be set in CI (scripts/pg-start.sh)"
            );
            eprintln!("skipped: TEST_DATABASE_URL is not set");
            return None;
        };
        let name = format!("shipshape_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
            .await
            .expect("connect TEST_DATABASE_URL");
        sqlx::Executor::execute(
            &mut conn,
            sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")),
        )
        .await
        .expect("create test database");
        Some(Backend::Postgres { admin_url, name })
    }

    pub fn database_url(&self) -> String {
        match self {
            Backend::Sqlite { dir } => format!("sqlite://{}/shipshape.db", dir.display()),
            Backend::Postgres { admin_url, name } => with_database(admin_url, name),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Backend::Postgres { .. })
    }
}

/// Replaces the database name (the URL path) of a PostgreSQL URL.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let (scheme, rest) = base.split_once("://").unwrap();
    let authority = rest.split('/').next().unwrap();
    match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        match self {
            Backend::Sqlite { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Backend::Postgres { admin_url, name } => {
                let (url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime; use a thread with its own.
                let _ = std::thread::spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap()
                        .block_on(async {
                            if let Ok(mut c) =
                                <sqlx::PgConnection as sqlx::Connection>::connect(&url).await
                            {
                                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                                let _ =
                                    sqlx::Executor::execute(&mut c, sqlx::AssertSqlSafe(sql)).await;
                            }
                        })
                })
                .join();
            }
        }
    }
}

/// A running server process.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub logs: Arc<Mutex<Vec<String>>>,
    database_url: String,
    env: Vec<(String, String)>,
}

impl Server {
    pub async fn start(backend: &Backend) -> Self {
        Self::start_with(backend, &[]).await
    }

    pub async fn start_with(backend: &Backend, env: &[(&str, &str)]) -> Self {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::spawn(backend.database_url(), env).await
    }

    pub async fn spawn(database_url: String, env: Vec<(String, String)>) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            // Coverage runs name the profile file; the server must write there too.
            .envs(std::env::var("LLVM_PROFILE_FILE").map(|v| ("LLVM_PROFILE_FILE", v)))
            .env("BIND_ADDRESS", "127.0.0.1")
            .env("PORT", "0")
            .env("LOG_FORMAT", "json")
            .env("SHUTDOWN_DRAIN_SECS", "0")
            .env("DATABASE_URL", &database_url)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn shipshape");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let (logs, tx) = (logs.clone(), tx.clone());
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    logs.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        drop(tx);
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            let line = tokio::time::timeout_at(deadline.into(), rx.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!("server did not start; logs: {:#?}", logs.lock().unwrap())
                });
            let Some(line) = line else {
                panic!(
                    "server exited before listening; logs: {:#?}",
                    logs.lock().unwrap()
                );
            };
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["message"] == "listening"
            {
                break v["addr"].as_str().unwrap().to_owned();
            }
        };
        Server {
            child,
            base: format!("http://{addr}"),
            logs,
            database_url,
            env,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> i32 {
        self.child.id().expect("running") as i32
    }

    pub fn signal(&self, sig: i32) {
        let rc = send_signal(self.pid(), sig);
        assert_eq!(rc, 0, "kill({sig}) failed");
    }

    /// SIGKILL, then a new process on the same database and settings.
    pub async fn crash_and_restart(mut self) -> Server {
        self.child.kill().await.unwrap();
        let _ = self.child.wait().await;
        Server::spawn(self.database_url.clone(), self.env.clone()).await
    }

    pub async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "server did not exit within {within:?}; logs: {:#?}",
                    self.logs.lock().unwrap()
                )
            })
            .unwrap()
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }
}

/// Stops the server the way production does (SIGTERM, then a clean exit), so that coverage
/// builds write their profiles; SIGKILL (kill_on_drop) stays the fallback.
impl Drop for Server {
    fn drop(&mut self) {
        let Some(pid) = self.child.id() else { return };
        if send_signal(pid as i32, SIGTERM) != 0 {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn send_signal(pid: i32, sig: i32) -> i32 {
    // std has no kill(2) for arbitrary signals; the kill command does.
    let status = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    if status.success() { 0 } else { 1 }
}

pub const SIGTERM: i32 = 15;

/// A client builder with the TLS provider installed (reqwest is built without a default one).
pub fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(30))
}

pub fn http() -> reqwest::Client {
    client_builder().build().unwrap()
}

/// Status and parsed JSON body (Null when the body is empty).
pub async fn json(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, body)
}

/// Declares each listed async fn(Backend) as a test on SQLite and one on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::common::Backend::sqlite()).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() {
                   if let Some(b) = $crate::common::Backend::postgres().await { super::$name(b).await }
               } )*
        }
    };
}
