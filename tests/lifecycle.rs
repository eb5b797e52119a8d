//! Process lifecycle: crash durability, graceful shutdown, load shedding, timeouts, migrations,
//! configuration errors, the healthcheck and smoke subcommands, database outages and TLS.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{BIN, Backend, SIGTERM, Server, http, json};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

on_both_backends!(
    acknowledged_writes_survive_kill_9,
    graceful_shutdown_finishes_in_flight_requests,
    overload_is_shed_with_503,
    slow_requests_time_out_with_503,
    concurrent_migrations,
    healthcheck_subcommand,
    smoke_subcommand,
);

/// Starts a POST whose body is only half sent, so the request stays in flight.
async fn half_sent_post(s: &Server, body: &str) -> (TcpStream, String) {
    let addr = s.base.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/users/ HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (first, rest) = body.split_at(body.len() / 2);
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(first.as_bytes()).await.unwrap();
    (conn, rest.to_owned())
}

async fn read_response(conn: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // Read until the headers and the announced body are in.
    loop {
        let n = tokio::time::timeout(Duration::from_secs(15), conn.read(&mut chunk))
            .await
            .expect("response in time")
            .unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= len {
                return text;
            }
        }
        if n == 0 {
            return text;
        }
    }
}

async fn acknowledged_writes_survive_kill_9(b: Backend) {
    let s = Server::start(&b).await;
    let mut created = Vec::new();
    for i in 0..25 {
        let (status, user) = json(
            http()
                .post(s.url("/api/users/"))
                .json(&json!({"dni": format!("k{i}"), "name": format!("Kill {i}")}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 201);
        created.push(user);
    }
    // SIGKILL right after the last acknowledgement: no shutdown code runs.
    let s = s.crash_and_restart().await;
    let (status, list) = json(http().get(s.url("/api/users/")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(list, Value::Array(created));
}

async fn graceful_shutdown_finishes_in_flight_requests(b: Backend) {
    let mut s = Server::start_with(
        &b,
        &[("SHUTDOWN_DRAIN_SECS", "3"), ("SHUTDOWN_GRACE_SECS", "10")],
    )
    .await;
    // A fresh connection per request: the drain must keep accepting new ones.
    let client = common::client_builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let (mut conn, rest) = half_sent_post(&s, r#"{"dni":"inflight","name":"In Flight"}"#).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    s.signal(SIGTERM);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Draining: not ready any more, yet still serving new requests.
    let (status, body) = json(client.get(s.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(
        (status, body),
        (
            503,
            json!({"status": "not ready", "reason": "shutting down"})
        )
    );
    let mut served = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        assert_eq!(
            client.get(s.url("/hello")).send().await.unwrap().status(),
            200
        );
        served += 1;
    }
    assert!(served > 0);

    // After the drain the listener closes, but the in-flight request completes.
    tokio::time::sleep(
        Duration::from_secs(3).saturating_sub(started.elapsed()) + Duration::from_millis(500),
    )
    .await;
    conn.write_all(rest.as_bytes()).await.unwrap();
    let response = read_response(&mut conn).await;
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
        TcpStream::connect(s.base.trim_start_matches("http://"))
            .await
            .is_err(),
        "listener closed"
    );
}

async fn overload_is_shed_with_503(b: Backend) {
    let s = Server::start_with(&b, &[("MAX_CONCURRENT_REQUESTS", "1")]).await;
    let (mut conn, rest) = half_sent_post(&s, r#"{"dni":"slot","name":"Holds the slot"}"#).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = json(http().get(s.url("/hello")).send().await.unwrap()).await;
    assert_eq!(
        (status, body),
        (
            503,
            json!({"detail": "Server overloaded, try again later."})
        )
    );
    // Probes are never shed: an overloaded pod is not a dead one.
    assert_eq!(
        http().get(s.url("/healthz")).send().await.unwrap().status(),
        200
    );
    conn.write_all(rest.as_bytes()).await.unwrap();
    assert!(read_response(&mut conn).await.starts_with("HTTP/1.1 201"));
    assert_eq!(
        http().get(s.url("/hello")).send().await.unwrap().status(),
        200
    );
}

async fn slow_requests_time_out_with_503(b: Backend) {
    let s = Server::start_with(&b, &[("REQUEST_TIMEOUT_SECS", "1")]).await;
    let started = Instant::now();
    let (mut conn, _rest) = half_sent_post(&s, r#"{"dni":"never","name":"Never finished"}"#).await;
    let response = read_response(&mut conn).await;
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(
        response.ends_with(r#"{"detail":"Request timed out."}"#),
        "{response}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
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
    let (status, body) = json(http().get(s.url("/ht/?format=json")).send().await.unwrap()).await;
    assert_eq!(
        (status, &body["MigrationsHealthCheck"]),
        (200, &json!("working"))
    );
    assert_eq!(
        json(
            http()
                .post(s.url("/api/users/"))
                .json(&json!({"dni": "m", "name": "M"}))
                .send()
                .await
                .unwrap()
        )
        .await
        .0,
        201
    );
}

async fn healthcheck_subcommand(b: Backend) {
    let s = Server::start(&b).await;
    let ok = tokio::process::Command::new(BIN)
        .args(["healthcheck", "--url", &s.url("/healthz")])
        .status()
        .await
        .unwrap();
    assert_eq!(ok.code(), Some(0));
    let port = s.base.rsplit(':').next().unwrap().to_owned();
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
    let (_, list) = json(http().get(s.url("/api/users/")).send().await.unwrap()).await;
    assert_eq!(list, json!([]), "the smoke user is deleted again");

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
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("PORT", "eighty")], "PORT"),
        (
            &[("DATABASE_URL", "mysql://app:hunter2@db/shipshape")],
            "DATABASE_URL",
        ),
        (&[("LOG_LEVEL", "loud=[")], "LOG_LEVEL"),
        (
            &[("MAX_CONCURRENT_REQUESTS", "0")],
            "MAX_CONCURRENT_REQUESTS",
        ),
    ];
    for (env, mentions) in cases {
        let out = tokio::process::Command::new(BIN)
            .current_dir(std::env::temp_dir())
            .env("DATABASE_URL", format!("sqlite://{}/x.db", dir.display()))
            .envs(env.iter().copied())
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{env:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{env:?}: {stderr}");
        assert!(
            stderr.contains(mentions)
                || stderr.to_uppercase().contains(&mentions.replace('_', "-")),
            "{env:?}: {stderr}"
        );
        assert!(!stderr.contains("hunter2"), "secret echoed: {stderr}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A TCP proxy in front of PostgreSQL that the test can cut and restore.
struct Cuttable {
    addr: std::net::SocketAddr,
    up: Arc<AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Cuttable {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let conns = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, conns2) = (up.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is closed at once
                }
                let target = target.clone();
                conns2.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        });
        Cuttable { addr, up, conns }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn poll_status(url: &str, want: u16, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = json(http().get(url).send().await.unwrap()).await;
        if status == want {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{url} stayed {status} {body}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn host_port(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let authority = rest.split(['/', '?']).next().unwrap();
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, h)| h)
        .to_owned()
}

/// Readiness follows the database: 503 while it is unreachable (and the API answers 503, not
/// 500), 200 again when it returns, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_readiness_follows_database_outage() {
    let Some(b) = Backend::postgres().await else {
        return;
    };
    let url = b.database_url();
    let proxy = Cuttable::start(host_port(&url)).await;
    let via_proxy = url.replacen(&host_port(&url), &proxy.addr.to_string(), 1);
    let s = Server::spawn(
        via_proxy,
        vec![("DB_ACQUIRE_TIMEOUT_SECS".into(), "1".into())],
    )
    .await;
    poll_status(&s.url("/readyz"), 200, Duration::from_secs(5)).await;

    proxy.cut();
    let body = poll_status(&s.url("/readyz"), 503, Duration::from_secs(10)).await;
    assert_eq!(
        body,
        json!({"status": "not ready", "reason": "database unreachable"})
    );
    let (status, body) = json(http().get(s.url("/api/users/")).send().await.unwrap()).await;
    assert_eq!(
        (status, body),
        (
            503,
            json!({"detail": "Database unavailable, try again later."})
        )
    );
    assert_eq!(
        http().get(s.url("/healthz")).send().await.unwrap().status(),
        200,
        "still alive"
    );

    proxy.restore();
    poll_status(&s.url("/readyz"), 200, Duration::from_secs(10)).await;
    let (status, _) = json(
        http()
            .post(s.url("/api/users/"))
            .json(&json!({"dni": "back", "name": "Back"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201);
}

/// The RDS path: TLS with certificate and host name verification (sslmode=verify-full).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tls_verify_full() {
    let Some(b) = Backend::postgres().await else {
        return;
    };
    let ca = std::env::var("TEST_DATABASE_CA")
        .expect("TEST_DATABASE_CA is printed by scripts/pg-start.sh");
    let Backend::Postgres { name, admin_url } = &b else {
        unreachable!()
    };
    let sep = if b.database_url().contains('?') {
        '&'
    } else {
        '?'
    };
    let tls_url = format!(
        "{}{sep}sslmode=verify-full&sslrootcert={ca}",
        b.database_url()
    )
    .replacen("127.0.0.1", "localhost", 1);
    let s = Server::spawn(tls_url.clone(), vec![]).await;
    assert_eq!(
        json(
            http()
                .post(s.url("/api/users/"))
                .json(&json!({"dni": "tls", "name": "TLS"}))
                .send()
                .await
                .unwrap()
        )
        .await
        .0,
        201
    );
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(admin_url)
        .await
        .unwrap();
    let all_tls: bool = sqlx::query_scalar(
        "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = $1",
    )
    .bind(name)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert!(all_tls, "every server connection uses TLS");

    // A CA that did not sign the server's certificate: refused, reported as not ready.
    let wrong = tls_url.replace(&ca, "/etc/ssl/certs/ca-certificates.crt");
    let bad = Server::spawn(wrong, vec![("MIGRATE_ON_START".into(), "false".into())]).await;
    let body = poll_status(&bad.url("/readyz"), 503, Duration::from_secs(10)).await;
    assert_eq!(body["reason"], "database unreachable");
}
