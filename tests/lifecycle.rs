//! The process itself, so these tests run the real binary: crash durability (kill -9), graceful
//! shutdown (SIGTERM), load shedding and timeouts under a held connection, concurrent `migrate`,
//! configuration errors, and the healthcheck and smoke subcommands.

mod common;

use std::time::{Duration, Instant};

use common::{BIN, Backend, Roles, SIGTERM, Server, assert_configuration_refused};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

on_both_backends!(
    acknowledged_writes_survive_kill_9,
    kill_9_during_concurrent_creates,
    graceful_shutdown_finishes_in_flight_requests,
    shutdown_answers_a_client_that_just_connected,
    concurrent_migrations,
    healthcheck_subcommand,
    smoke_subcommand,
);

async fn acknowledged_writes_survive_kill_9(b: Backend) {
    let s = Server::start(&b).await;
    let mut created = Vec::new();
    for i in 0..25 {
        created.push(s.create_user(&format!("k{i}"), &format!("Kill {i}")).await);
    }
    // SIGKILL right after the last acknowledgement: no shutdown code runs.
    let s = s.crash_and_restart().await;
    assert_eq!(s.users().await, Value::Array(created));
}

/// SIGKILL while 32 clients create users as fast as they are answered, so that writes are
/// queued, in a transaction and being committed at that instant: every 201 is there after the
/// restart, with the id and dni it was answered with.
async fn kill_9_during_concurrent_creates(b: Backend) {
    let s = Server::start(&b).await;
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let clients: Vec<_> = (0..32)
        .map(|c| {
            let (http, acked) = ((*s).clone(), acked.clone());
            tokio::spawn(async move {
                for n in 0.. {
                    let body = json!({"dni": format!("c{c}-{n}"), "name": format!("Client {c}")});
                    let req = http.request(Method::POST, "/api/users/").json(&body);
                    match req.send().await {
                        Ok(res) if res.status() == 201 => match res.json::<Value>().await {
                            Ok(user) => acked.lock().unwrap().push(user),
                            Err(_) => return, // killed while the body was on its way
                        },
                        Ok(res) => panic!("unexpected {}", res.status()),
                        Err(_) => return, // the server is gone
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().unwrap().len() < 300 {
        assert!(Instant::now() < deadline, "too few creates answered");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let s = s.crash_and_restart().await;
    for c in clients {
        c.await.unwrap();
    }
    let stored: Vec<Value> = s.users().await.as_array().unwrap().clone();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 300);
    let missing: Vec<&Value> = acked.iter().filter(|u| !stored.contains(u)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged creates lost, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}

async fn graceful_shutdown_finishes_in_flight_requests(b: Backend) {
    let mut s = Server::start_with(
        &b,
        &[("SHUTDOWN_DRAIN_SECS", "3"), ("SHUTDOWN_GRACE_SECS", "10")],
    )
    .await;
    // A fresh connection per request: the drain must keep accepting new ones.
    let fresh = common::Http {
        client: common::client_builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap(),
        ..(*s).clone()
    };
    let (mut conn, rest) =
        common::half_sent_post(&s, r#"{"dni":"inflight","name":"In Flight"}"#).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    s.signal(SIGTERM);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Draining: not ready any more, yet still serving new requests.
    fresh.get("/readyz").await.expect(
        503,
        json!({"status": "not ready", "reason": "shutting down"}),
    );
    // Served, and told not to reuse the connection, so few idle ones are left when it closes.
    let mut served = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        let reply = fresh.get("/hello").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.headers["connection"], "close");
        served += 1;
    }
    assert!(served > 0);

    // After the drain the listener closes, but the in-flight request completes.
    tokio::time::sleep(
        Duration::from_secs(3).saturating_sub(started.elapsed()) + Duration::from_millis(500),
    )
    .await;
    conn.write_all(rest.as_bytes()).await.unwrap();
    let response = common::read_response(&mut conn).await;
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");

    let status = s.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "exit status {status:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "the drain delay was honoured"
    );
    let logs = s.log_lines().join("\n");
    assert!(
        logs.contains("shutdown: draining") && logs.contains("shutdown complete"),
        "{logs}"
    );
    assert!(
        TcpStream::connect(s.authority()).await.is_err(),
        "listener closed"
    );
}

/// A client whose connection was accepted just before the listener closed sends its request a
/// moment later: it is answered, not disconnected. A connection that never sends anything holds
/// the exit for about five seconds from its accept, not the whole grace.
async fn shutdown_answers_a_client_that_just_connected(b: Backend) {
    let mut s = Server::start_with(&b, &[("SHUTDOWN_GRACE_SECS", "60")]).await;
    let mut late = TcpStream::connect(s.authority()).await.unwrap();
    let _silent = TcpStream::connect(s.authority()).await.unwrap();
    // Both accepted (the server is idle); then shutdown with no drain: the listener closes at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    s.signal(SIGTERM);
    tokio::time::sleep(Duration::from_millis(300)).await;

    late.write_all(b"GET /hello HTTP/1.1\r\nhost: shipshape\r\n\r\n")
        .await
        .unwrap();
    let response = common::read_response(&mut late).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response:?}");
    assert!(
        response.ends_with("Hello World from BenchSci!"),
        "{response:?}"
    );
    assert!(
        response
            .to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "{response:?}"
    );

    let status = s.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "exit status {status:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(15),
        "the silent connection held the exit {took:?}"
    );
}

async fn concurrent_migrations(b: Backend) {
    // Two replicas migrating one fresh database at the same moment: both succeed, once.
    let url = b.database_url();
    let run = || {
        tokio::process::Command::new(BIN)
            .arg("migrate")
            .env("DATABASE_URL", &url)
            .output()
    };
    let (a, c) = tokio::join!(run(), run());
    for out in [a.unwrap(), c.unwrap()] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let s = Server::start_with(&b, &[("MIGRATE_ON_START", "false")]).await;
    let (status, body) = s.get("/ht/?format=json").await.pair();
    assert_eq!(
        (status, &body["MigrationsHealthCheck"]),
        (200, &json!("working"))
    );
    s.create_user("m", "M").await;
}

async fn healthcheck_subcommand(b: Backend) {
    let s = Server::start(&b).await;
    let ok = tokio::process::Command::new(BIN)
        .args(["healthcheck", "--url", &s.url("/healthz")])
        .status()
        .await
        .unwrap();
    assert_eq!(ok.code(), Some(0));
    let port = s.authority().rsplit(':').next().unwrap().to_owned();
    let by_port = tokio::process::Command::new(BIN)
        .arg("healthcheck")
        .env("PORT", &port)
        .status()
        .await
        .unwrap();
    assert_eq!(
        by_port.code(),
        Some(0),
        "default URL is http://127.0.0.1:$PORT/healthz"
    );
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = format!("http://{}/healthz", free.local_addr().unwrap());
    drop(free);
    let down = tokio::process::Command::new(BIN)
        .args(["healthcheck", "--url", &closed])
        .output()
        .await
        .unwrap();
    assert_eq!(down.status.code(), Some(1));
    let notfound = tokio::process::Command::new(BIN)
        .args(["healthcheck", "--url", &s.url("/nope")])
        .output()
        .await
        .unwrap();
    assert_eq!(notfound.status.code(), Some(1));
}

async fn smoke_subcommand(b: Backend) {
    let s = Server::start(&b).await;
    let out = tokio::process::Command::new(BIN)
        .args(["smoke", "--base-url", &s.base])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("smoke test passed"), "{stdout}");
    assert_eq!(
        s.users().await,
        json!([]),
        "the smoke user is deleted again"
    );

    let other = Server::start_with(&b, &[("GREETING", "Something else")]).await;
    let out = tokio::process::Command::new(BIN)
        .args(["smoke", "--base-url", &other.base])
        .env_remove("GREETING")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("GET /hello"));
}

#[tokio::test]
async fn configuration_errors_exit_2_with_one_line() {
    let dir = std::env::temp_dir().join(format!("shipshape-cfg-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = format!("sqlite://{}/x.db", dir.display());
    let url_file = dir.join("database-url");
    std::fs::write(&url_file, "mysql://app:hunter2@db/shipshape\n").unwrap();
    let url_file = url_file.display().to_string();
    let empty_file = dir.join("empty");
    std::fs::write(&empty_file, "\n").unwrap();
    let empty_file = empty_file.display().to_string();
    let missing = dir.join("missing").display().to_string();
    let cases: [(&[(&str, &str)], &str); 8] = [
        (&[("DATABASE_URL", &sqlite), ("PORT", "eighty")], "PORT"),
        (
            &[("DATABASE_URL", "mysql://app:hunter2@db/shipshape")],
            "DATABASE_URL",
        ),
        (
            &[("DATABASE_URL", &sqlite), ("LOG_LEVEL", "loud=[")],
            "LOG_LEVEL",
        ),
        (
            &[("DATABASE_URL", &sqlite), ("MAX_CONCURRENT_REQUESTS", "0")],
            "MAX_CONCURRENT_REQUESTS",
        ),
        // Two sources for one setting: which one wins would be a guess.
        (
            &[("DATABASE_URL", &sqlite), ("DATABASE_URL_FILE", &url_file)],
            "DATABASE_URL_FILE",
        ),
        (&[("DATABASE_URL_FILE", &missing)], "DATABASE_URL_FILE"),
        (&[("DATABASE_URL_FILE", &empty_file)], "DATABASE_URL_FILE"),
        (&[("DATABASE_URL_FILE", &url_file)], "DATABASE_URL_FILE"),
    ];
    for (env, mentions) in cases {
        let stderr = assert_configuration_refused(&dir, env, mentions).await;
        assert!(!stderr.contains("hunter2"), "secret echoed: {stderr}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Requests of a steady load around a credential change.
struct Rotation {
    total: usize,
    /// Each failed request: when it was sent, relative to the change, and what it got.
    failures: Vec<(f64, String)>,
}

impl Rotation {
    /// No request fails later than 2 s after the change, fewer than 1 % fail overall, and there
    /// was a steady load to speak of. Every broken rule is listed.
    fn problems(&self) -> Vec<String> {
        let late = self.failures.iter().filter(|(t, _)| *t > 2.0).count();
        let ratio = self.failures.len() as f64 / self.total.max(1) as f64;
        let mut problems = Vec::new();
        if late > 0 {
            problems.push(format!(
                "{late} requests failed later than 2 s after the change"
            ));
        }
        if ratio >= 0.01 {
            problems.push(format!(
                "{} of {} requests failed ({:.2} %)",
                self.failures.len(),
                self.total,
                ratio * 100.0
            ));
        }
        if self.total < 200 {
            problems.push(format!("only {} requests: no steady load", self.total));
        }
        problems
    }
}

/// Four clients create, read and list users for `run`; after `change_after` the application
/// role's password changes (ALTER ROLE), the secret file (when there is one) gets the new URL, and
/// every session of the role is terminated, as a rotation followed by a failover would.
async fn rotate_under_load(
    s: &Server,
    roles: &Roles,
    secret: Option<&mut common::SecretDir>,
    change_after: Duration,
    run: Duration,
) -> Rotation {
    let start = Instant::now();
    let end = start + run;
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let http = (**s).clone();
            tokio::spawn(async move {
                let mut log = Vec::new();
                let mut id = None;
                for n in 0usize.. {
                    let sent = Instant::now();
                    if sent >= end {
                        break;
                    }
                    let req = match (n % 3, id) {
                        (1, Some(id)) => http.request(Method::GET, &format!("/api/users/{id}/")),
                        (2, _) => http.request(Method::GET, "/api/users/?limit=10"),
                        _ => http
                            .request(Method::POST, "/api/users/")
                            .json(&json!({"dni": format!("c{c}n{n}"), "name": "Load"})),
                    };
                    let outcome = match req.timeout(Duration::from_secs(5)).send().await {
                        Ok(res) if res.status().is_success() => {
                            if res.status() == 201 {
                                id = res
                                    .json::<Value>()
                                    .await
                                    .ok()
                                    .and_then(|u| u["id"].as_i64());
                            }
                            None
                        }
                        Ok(res) => Some(format!(
                            "{} {}",
                            res.status(),
                            res.text().await.unwrap_or_default()
                        )),
                        Err(e) => Some(e.to_string()),
                    };
                    log.push((sent, outcome));
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                log
            })
        })
        .collect();

    tokio::time::sleep(change_after).await;
    let changed = Instant::now();
    let next = common::random_secret();
    roles
        .admin(&format!("ALTER ROLE \"{}\" PASSWORD '{next}'", roles.app))
        .await;
    if let Some(secret) = secret {
        secret.update(&roles.app_url(&next));
    }
    let terminated = roles.terminate_app_sessions().await;
    assert!(terminated > 0, "the server had sessions to lose");

    let mut rotation = Rotation {
        total: 0,
        failures: Vec::new(),
    };
    for client in clients {
        for (sent, outcome) in client.await.unwrap() {
            rotation.total += 1;
            if let Some(what) = outcome {
                let t = sent.saturating_duration_since(changed).as_secs_f64()
                    - changed.saturating_duration_since(sent).as_secs_f64();
                rotation.failures.push((t, what));
            }
        }
    }
    rotation.failures.sort_by(|a, b| a.0.total_cmp(&b.0));
    rotation
}

/// A password rotation with DATABASE_URL_FILE: under steady load the role's password changes, the
/// file follows, every session is cut; no request fails later than 2 s after, fewer than 1 % fail
/// at all, and the same process is ready afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_password_rotation_loses_no_request() {
    let Some(roles) = Roles::migrated().await else {
        return;
    };
    let mut secret = common::SecretDir::new("database-url", &roles.app_url(&roles.app_password));
    let s = Server::spawn(vec![("DATABASE_URL_FILE".into(), secret.path_str())]).await;
    let pid = s.pid();

    let rotation = rotate_under_load(
        &s,
        &roles,
        Some(&mut secret),
        Duration::from_secs(3),
        Duration::from_secs(10),
    )
    .await;
    eprintln!(
        "rotation with DATABASE_URL_FILE: {} requests, {} failed: {:?}",
        rotation.total,
        rotation.failures.len(),
        rotation.failures
    );
    assert_eq!(
        rotation.problems(),
        Vec::<String>::new(),
        "{:?}",
        rotation.failures.first()
    );

    s.get("/readyz")
        .await
        .expect(200, json!({"status": "ready"}));
    assert_eq!(s.pid(), pid);
    let logs = s.log_lines().join("\n");
    assert!(logs.contains("database URL reloaded"), "{logs}");
    assert!(
        !logs.contains(&roles.app_password),
        "a password reached the log"
    );
}

/// The same rotation against a server that reads its URL once (DATABASE_URL): requests keep
/// failing after the change, so the check above does catch a server that does not reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_password_rotation_without_reload_is_caught() {
    let Some(roles) = Roles::migrated().await else {
        return;
    };
    let url = roles.app_url(&roles.app_password);
    let s = Server::spawn(vec![("DATABASE_URL".into(), url)]).await;
    let rotation = rotate_under_load(
        &s,
        &roles,
        None,
        Duration::from_secs(2),
        Duration::from_secs(6),
    )
    .await;
    let problems = rotation.problems();
    assert!(
        problems.iter().any(|p| p.contains("later than 2 s")),
        "{problems:?}"
    );
    assert_eq!(s.get("/readyz").await.status, 503);
}
