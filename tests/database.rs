//! The database side, in-process on PostgreSQL: outages, TLS, the least-privilege roles of
//! docs/sql/, and DATABASE_URL_FILE.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Backend, Http, Roles, SecretDir, TestApp, log_lines, random_secret};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

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

async fn poll_status(s: &Http, path: &str, want: u16, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = s.get(path).await.pair();
        if status == want {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} stayed {status} {body}, wanted {want}"
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
    let s = TestApp::start(&[
        "--database-url",
        &via_proxy,
        "--db-acquire-timeout-secs",
        "1",
    ])
    .await;
    poll_status(&s, "/readyz", 200, Duration::from_secs(5)).await;

    proxy.cut();
    let body = poll_status(&s, "/readyz", 503, Duration::from_secs(10)).await;
    assert_eq!(
        body,
        json!({"status": "not ready", "reason": "database unreachable"})
    );
    s.get("/api/users/").await.expect(
        503,
        json!({"detail": "Database unavailable, try again later."}),
    );
    assert_eq!(s.get("/healthz").await.status, 200, "still alive");

    proxy.restore();
    poll_status(&s, "/readyz", 200, Duration::from_secs(10)).await;
    s.create_user("back", "Back").await;
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
    let s = TestApp::start(&["--database-url", &tls_url]).await;
    s.create_user("tls", "TLS").await;
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
    let bad = TestApp::start(&["--database-url", &wrong, "--migrate-on-start", "false"]).await;
    let body = poll_status(&bad, "/readyz", 503, Duration::from_secs(10)).await;
    assert_eq!(body["reason"], "database unreachable");
}

/// The server runs as the application role of docs/sql/ with exactly its grants, migrations run as
/// the owner role, and the application role can do nothing beyond the API's needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_least_privilege_roles() {
    let Some(roles) = Roles::create().await else {
        return;
    };
    let app_url = roles.app_url(&roles.app_password);
    // The schema is the owner's to make.
    let refused = roles.migrate_as(&app_url).unwrap_err();
    assert!(refused.contains("permission denied"), "{refused}");
    roles.migrate_as(&roles.owner_url()).unwrap();
    roles.grant();

    // MIGRATE_ON_START stays at its default: with every migration applied it only reads.
    let s = TestApp::start(&["--database-url", &app_url]).await;
    s.get("/readyz")
        .await
        .expect(200, json!({"status": "ready"}));
    s.get("/ht/?format=json").await.expect(
        200,
        json!({"DatabaseBackend": "working", "MigrationsHealthCheck": "working"}),
    );
    let user = s.create_user("lp1", "Least").await;
    let path = format!("/api/users/{}/", user["id"]);
    let put = s
        .send_json(
            Method::PUT,
            &path,
            &json!({"dni": "lp2", "name": "Privilege"}),
        )
        .await;
    assert_eq!(put.status, 200, "{put}");
    let patch = s
        .send_json(Method::PATCH, &path, &json!({"name": "P"}))
        .await;
    assert_eq!(patch.status, 200, "{patch}");
    assert_eq!(s.users().await.as_array().unwrap().len(), 1);
    assert_eq!(s.call(Method::DELETE, &path).await.status, 204);

    assert_eq!(beyond_the_api(&app_url).await, Vec::<&str>::new());
    // The check finds such rights where they exist: the owner's.
    assert!(
        beyond_the_api(&roles.owner_url())
            .await
            .contains(&"CREATE TABLE escalation (x int)")
    );
}

/// The statements beyond what the API needs that succeed for `url` (each rolled back).
async fn beyond_the_api(url: &str) -> Vec<&'static str> {
    let statements = [
        "CREATE TABLE escalation (x int)",
        "CREATE TEMP TABLE escalation (x int)",
        "CREATE SCHEMA escalation",
        "ALTER TABLE users ADD COLUMN escalation int",
        "DROP TABLE users",
        "TRUNCATE users",
        "DELETE FROM _sqlx_migrations",
        "UPDATE _sqlx_migrations SET success = false",
        "CREATE ROLE escalation",
        "ALTER ROLE CURRENT_USER CREATEROLE",
    ];
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    let mut allowed = Vec::new();
    for sql in statements {
        let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
        if sqlx::Executor::execute(&mut *tx, sql).await.is_ok() {
            allowed.push(sql);
        }
        tx.rollback().await.unwrap();
    }
    allowed
}

/// Log lines about one DATABASE_URL_FILE.
fn file_log(path: &str, message: &str) -> Vec<String> {
    log_lines()
        .into_iter()
        .filter(|l| l.contains(path) && l.contains(message))
        .collect()
}

async fn wait_for_log(path: &str, message: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while file_log(path, message).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no {message:?} for {path} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A new URL in DATABASE_URL_FILE is used once it logs in; until then the one in use stays, so
/// the file may change before the password does. No secret reaches the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_database_url_file_switches_only_to_a_url_that_logs_in() {
    let Some(roles) = Roles::migrated().await else {
        return;
    };
    let mut secret = SecretDir::new("database-url", &roles.app_url(&roles.app_password));
    let path = secret.path_str();
    let s = TestApp::start(&["--database-url-file", &path]).await;
    s.create_user("f1", "File").await;

    // The file first: the new password is not valid yet.
    let next = random_secret();
    secret.update(&roles.app_url(&next));
    wait_for_log(&path, "does not log in yet", Duration::from_secs(5)).await;
    // New connections still log in with the URL in use.
    roles.terminate_app_sessions().await;
    s.create_user("f2", "File").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        file_log(&path, "does not log in yet").len(),
        1,
        "a file that does not work is reported once, not every second"
    );

    // Then the password: the file's URL logs in and replaces the old one.
    roles
        .admin(&format!("ALTER ROLE \"{}\" PASSWORD '{next}'", roles.app))
        .await;
    wait_for_log(&path, "database URL reloaded", Duration::from_secs(5)).await;
    roles.terminate_app_sessions().await;
    s.create_user("f3", "File").await;
    s.get("/readyz")
        .await
        .expect(200, json!({"status": "ready"}));
    assert_eq!(s.users().await.as_array().unwrap().len(), 3);

    let logs = log_lines().join("\n");
    for password in [&roles.app_password, &next] {
        assert!(
            !logs.contains(password.as_str()),
            "a password reached the log"
        );
    }
}

/// SQLite reads DATABASE_URL_FILE once, at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_database_url_from_a_file() {
    let b = Backend::sqlite();
    let secret = SecretDir::new("database-url", &format!("{}\n", b.database_url()));
    let s = TestApp::start(&["--database-url-file", &secret.path_str()]).await;
    s.create_user("s1", "From a file").await;
    let v = s.get("/version").await.json();
    assert_eq!(v["database"], "sqlite");
}
