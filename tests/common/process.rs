//! The real `shipshape` binary in a child process, for tests of the process itself.

use std::ops::Deref;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{Backend, Http};

pub const BIN: &str = env!("CARGO_BIN_EXE_shipshape");
pub const SIGTERM: i32 = 15;

/// A running server process on a random loopback port; it reports its address in the log.
pub struct Server {
    pub child: Child,
    pub logs: Arc<Mutex<Vec<String>>>,
    /// The tasks copying stdout and stderr into `logs`; they end at the pipes' end of file.
    readers: Vec<tokio::task::JoinHandle<()>>,
    http: Http,
    env: Vec<(String, String)>,
}

impl Deref for Server {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

impl Server {
    pub async fn start(backend: &Backend) -> Self {
        Self::start_with(backend, &[]).await
    }

    pub async fn start_with(backend: &Backend, env: &[(&str, &str)]) -> Self {
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.insert(0, ("DATABASE_URL".into(), backend.database_url()));
        Self::spawn(env).await
    }

    /// With exactly these settings (plus loopback, a random port and JSON logs).
    pub async fn spawn(env: Vec<(String, String)>) -> Self {
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
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn shipshape");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let mut readers = Vec::new();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let (logs, tx) = (logs.clone(), tx.clone());
            readers.push(tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    logs.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            }));
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
            logs,
            readers,
            http: Http::new(format!("http://{addr}")),
            env,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id().expect("running") as i32
    }

    pub fn signal(&self, sig: i32) {
        let rc = send_signal(self.pid(), sig);
        assert_eq!(rc, 0, "kill({sig}) failed");
    }

    /// SIGKILL, then a new process with the same settings.
    pub async fn crash_and_restart(mut self) -> Server {
        self.child.kill().await.unwrap();
        let _ = self.child.wait().await;
        Server::spawn(self.env.clone()).await
    }

    /// Waits for the process to exit, and then for its last lines: the pipes may still hold what
    /// it wrote just before exiting (a loaded machine or a coverage build reads them late).
    pub async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "server did not exit within {within:?}; logs: {:#?}",
                    self.logs.lock().unwrap()
                )
            })
            .unwrap();
        for reader in self.readers.drain(..) {
            tokio::time::timeout(within, reader)
                .await
                .expect("the server's output reaches its end after exit")
                .unwrap();
        }
        status
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

/// Starts the binary in `dir` with only `env` (plus coverage's profile file) and asserts that it
/// refuses the configuration: exit 2 and one line on stderr that names `setting` (as the variable or
/// as its flag). Returns that line.
pub async fn assert_configuration_refused(
    dir: &std::path::Path,
    env: &[(&str, &str)],
    setting: &str,
) -> String {
    let out = Command::new(BIN)
        .current_dir(dir)
        .env_clear()
        .envs(std::env::var("LLVM_PROFILE_FILE").map(|v| ("LLVM_PROFILE_FILE", v)))
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{env:?}: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{env:?}: {stderr}");
    let flag = setting.to_lowercase().replace('_', "-");
    assert!(
        stderr.contains(setting) || stderr.to_lowercase().contains(&flag),
        "{env:?}: {stderr}"
    );
    stderr
}
