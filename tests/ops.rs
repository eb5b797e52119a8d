//! Operations surface: probes, /ht/, metrics, OpenAPI, request ids and logs, load shedding and
//! timeouts, in-process on both backends.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, TestApp, half_sent_post, log_lines, read_response};
use reqwest::Method;
use reqwest::header::ACCEPT;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

on_both_backends!(
    probes,
    legacy_health_page,
    version,
    metrics_exposition,
    openapi_lists_every_route_and_each_is_served,
    request_ids_and_access_log,
    secrets_stay_out_of_logs,
    overload_is_shed_with_503,
    slow_requests_time_out_with_503,
);

async fn probes(b: Backend) {
    let s = TestApp::spawn(&b).await;
    s.get("/healthz").await.expect(200, json!({"status": "ok"}));
    s.get("/readyz")
        .await
        .expect(200, json!({"status": "ready"}));
}

async fn legacy_health_page(b: Backend) {
    let s = TestApp::spawn(&b).await;
    let want = json!({"DatabaseBackend": "working", "MigrationsHealthCheck": "working"});
    s.get("/ht/?format=json").await.expect(200, want.clone());
    s.send(
        s.request(Method::GET, "/ht/")
            .header(ACCEPT, "application/json"),
    )
    .await
    .expect(200, want);
    let page = s.get("/ht/").await;
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(
        page.text.contains("System status") && page.text.matches("working").count() == 2,
        "{page}"
    );
    let head = s.call(Method::HEAD, "/ht/").await;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("cache-control"),
        "max-age=0, no-cache, no-store, must-revalidate, private"
    );
    assert_eq!(s.call(Method::POST, "/ht/").await.status, 405);
}

async fn version(b: Backend) {
    let s = TestApp::spawn(&b).await;
    let (status, v) = s.get("/version").await.pair();
    assert_eq!(status, 200);
    assert_eq!(v["name"], "shipshape");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let backend = if b.is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(v["database"], backend);
    assert!(v["revision"].is_string());
}

async fn metrics_exposition(b: Backend) {
    let s = TestApp::spawn(&b).await;
    for _ in 0..3 {
        s.get("/hello").await;
    }
    s.get("/api/users/12345/").await;
    // The route labels: the template matched, also for a path the trailing slash is added to
    // and for a method the route does not serve; `unmatched` when no route matches.
    assert_eq!(s.get("/api/users").await.status, 200);
    assert_eq!(s.call(Method::DELETE, "/hello").await.status, 405);
    assert_eq!(s.get("/nowhere").await.status, 404);
    let res = s.get("/metrics").await;
    assert!(
        res.header("content-type")
            .starts_with("text/plain; version=0.0.4")
    );
    for needle in [
        r#"http_requests_total{method="GET",route="/hello",status="200"} 3"#,
        r#"http_requests_total{method="GET",route="/api/users/{id}/",status="404"} 1"#,
        r#"http_requests_total{method="GET",route="/api/users/",status="200"} 1"#,
        r#"http_requests_total{method="DELETE",route="/hello",status="405"} 1"#,
        r#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"http_request_duration_seconds_bucket{method="GET",route="/hello",le="+Inf"} 3"#,
        "http_requests_in_flight",
        r#"shipshape_db_pool_connections{state="idle"}"#,
        "shipshape_db_pool_max_connections 10",
        r#"shipshape_build_info{version=""#,
    ] {
        assert!(
            res.text.contains(needle),
            "missing {needle:?} in\n{}",
            res.text
        );
    }
}

/// Every endpoint the README documents is in the generated document, and every operation the
/// document lists is really served (neither 404 nor 405).
async fn openapi_lists_every_route_and_each_is_served(b: Backend) {
    let s = TestApp::spawn(&b).await;
    let (status, doc) = s.get("/openapi.json").await.pair();
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let documented = [
        "/",
        "/hello",
        "/api/",
        "/api/users/",
        "/api/users/{id}/",
        "/healthz",
        "/readyz",
        "/ht/",
        "/metrics",
        "/version",
        "/openapi.json",
    ];
    let mut listed: Vec<&str> = paths.keys().map(String::as_str).collect();
    listed.sort_unstable();
    let mut want = documented.to_vec();
    want.sort_unstable();
    assert_eq!(listed, want, "OpenAPI paths");

    let mut served = 0;
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let user = s.create_user(&format!("oa{served}"), "OpenAPI").await;
            let path = path.replace("{id}", &user["id"].to_string());
            let body = json!({"dni": format!("ob{served}"), "name": "X"});
            let res = s.send_json(method, &path, &body).await;
            assert!(![404, 405].contains(&res.status), "{res}");
            served += 1;
        }
    }
    assert!(served >= 15, "only {served} operations documented");
}

/// One JSON access-log line per request, with the request id (sent or generated).
async fn request_ids_and_access_log(b: Backend) {
    let s = TestApp::spawn(&b).await;
    // Tests share the log: the id is unique to this test.
    let id = format!("test-req-{}", uuid::Uuid::new_v4().simple());
    let res = s
        .send(s.request(Method::GET, "/hello").header("x-request-id", &id))
        .await;
    assert_eq!(res.header("x-request-id"), id);
    let generated = s.get("/hello").await.header("x-request-id").to_owned();
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");

    tokio::time::sleep(Duration::from_millis(200)).await;
    let line = log_lines()
        .into_iter()
        .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
        .find(|l| l["request_id"] == id.as_str())
        .expect("an access log line for the request");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "/hello");
    assert_eq!(line["status"], 200);
    assert!(line["latency_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(line["level"], "INFO");
    // Traces are off here (no OTLP endpoint): no span, so no trace id.
    assert!(line.get("trace_id").is_none(), "{line}");
}

async fn secrets_stay_out_of_logs(b: Backend) {
    let s = TestApp::spawn(&b).await;
    s.get("/api/users/").await;
    let url = b.database_url();
    let password = url
        .split_once("://")
        .unwrap()
        .1
        .split_once('@')
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, p)| p.to_owned());
    let logs = log_lines().join("\n");
    // The database's name or path is unique to the test, and only the redacted URL names it.
    let database = shipshape::configuration::redact(&url);
    assert!(
        logs.lines()
            .any(|l| l.contains("database configured") && l.contains(&database)),
        "{database} not in {logs}"
    );
    if let Some(password) = password {
        assert!(
            !logs.contains(&password),
            "the database password leaked into the logs"
        );
    }
}

async fn overload_is_shed_with_503(b: Backend) {
    let s = TestApp::spawn_with(&b, &["--max-concurrent-requests", "1"]).await;
    let (mut conn, rest) = half_sent_post(&s, r#"{"dni":"slot","name":"Holds the slot"}"#).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.get("/hello").await.expect(
        503,
        json!({"detail": "Server overloaded, try again later."}),
    );
    // Probes are never shed: an overloaded pod is not a dead one.
    assert_eq!(s.get("/healthz").await.status, 200);
    conn.write_all(rest.as_bytes()).await.unwrap();
    assert!(read_response(&mut conn).await.starts_with("HTTP/1.1 201"));
    assert_eq!(s.get("/hello").await.status, 200);
}

async fn slow_requests_time_out_with_503(b: Backend) {
    let s = TestApp::spawn_with(&b, &["--request-timeout-secs", "1"]).await;
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
