//! Operations surface: probes, /ht/, metrics, OpenAPI, request ids and logs, on both backends.

mod common;

use common::{Backend, Server, http, json};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};

on_both_backends!(
    probes,
    legacy_health_page,
    version,
    metrics_exposition,
    openapi_lists_every_route_and_each_is_served,
    request_ids_and_access_log,
    secrets_stay_out_of_logs,
);

async fn probes(b: Backend) {
    let s = Server::start(&b).await;
    assert_eq!(
        json(http().get(s.url("/healthz")).send().await.unwrap()).await,
        (200, json!({"status": "ok"}))
    );
    assert_eq!(
        json(http().get(s.url("/readyz")).send().await.unwrap()).await,
        (200, json!({"status": "ready"}))
    );
}

async fn legacy_health_page(b: Backend) {
    let s = Server::start(&b).await;
    let want = json!({"DatabaseBackend": "working", "MigrationsHealthCheck": "working"});
    assert_eq!(
        json(http().get(s.url("/ht/?format=json")).send().await.unwrap()).await,
        (200, want.clone())
    );
    assert_eq!(
        json(
            http()
                .get(s.url("/ht/"))
                .header(ACCEPT, "application/json")
                .send()
                .await
                .unwrap()
        )
        .await,
        (200, want)
    );
    let page = http().get(s.url("/ht/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("System status") && html.matches("working").count() == 2,
        "{html}"
    );
    let head = http().head(s.url("/ht/")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["cache-control"],
        "max-age=0, no-cache, no-store, must-revalidate, private"
    );
    assert_eq!(
        json(http().post(s.url("/ht/")).send().await.unwrap())
            .await
            .0,
        405
    );
}

async fn version(b: Backend) {
    let s = Server::start(&b).await;
    let (status, v) = json(http().get(s.url("/version")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(v["name"], "shipshape");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        v["database"],
        if b.is_postgres() {
            "postgres"
        } else {
            "sqlite"
        }
    );
    assert!(v["revision"].is_string());
}

async fn metrics_exposition(b: Backend) {
    let s = Server::start(&b).await;
    for _ in 0..3 {
        http().get(s.url("/hello")).send().await.unwrap();
    }
    http().get(s.url("/api/users/12345/")).send().await.unwrap();
    let res = http().get(s.url("/metrics")).send().await.unwrap();
    assert!(
        res.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = res.text().await.unwrap();
    for needle in [
        r#"http_requests_total{method="GET",route="/hello",status="200"} 3"#,
        r#"http_requests_total{method="GET",route="/api/users/{id}/",status="404"} 1"#,
        r#"http_request_duration_seconds_bucket{method="GET",route="/hello",le="+Inf"} 3"#,
        "http_requests_in_flight",
        r#"shipshape_db_pool_connections{state="idle"}"#,
        "shipshape_db_pool_max_connections 10",
        r#"shipshape_build_info{version=""#,
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

/// Every endpoint the README documents is in the generated document, and every operation the
/// document lists is really served (neither 404 nor 405).
async fn openapi_lists_every_route_and_each_is_served(b: Backend) {
    let s = Server::start(&b).await;
    let (status, doc) = json(http().get(s.url("/openapi.json")).send().await.unwrap()).await;
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
            let Ok(method) = method.to_uppercase().parse::<reqwest::Method>() else {
                continue;
            };
            let (_, user) = json(
                http()
                    .post(s.url("/api/users/"))
                    .json(&json!({"dni": format!("oa{served}"), "name": "OpenAPI"}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            let url = s.url(&path.replace("{id}", &user["id"].to_string()));
            let res = http()
                .request(method.clone(), url)
                .json(&json!({"dni": format!("ob{served}"), "name": "X"}))
                .send()
                .await
                .unwrap();
            assert!(
                ![404, 405].contains(&res.status().as_u16()),
                "{method} {path} -> {}",
                res.status()
            );
            served += 1;
        }
    }
    assert!(served >= 15, "only {served} operations documented");
}

async fn request_ids_and_access_log(b: Backend) {
    let s = Server::start(&b).await;
    let res = http()
        .get(s.url("/hello"))
        .header("x-request-id", "test-req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "test-req-42");
    let res = http().get(s.url("/hello")).send().await.unwrap();
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let line = s
        .log_lines()
        .into_iter()
        .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
        .find(|l| l["request_id"] == "test-req-42")
        .expect("an access log line for the request");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "/hello");
    assert_eq!(line["status"], 200);
    assert!(line["latency_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(line["level"], "INFO");
}

async fn secrets_stay_out_of_logs(b: Backend) {
    let s = Server::start(&b).await;
    http().get(s.url("/api/users/")).send().await.unwrap();
    let url = b.database_url();
    let secret = url
        .split_once("://")
        .unwrap()
        .1
        .split_once('@')
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, p)| p.to_owned());
    let logs = s.log_lines().join("\n");
    assert!(logs.contains("database configured"), "{logs}");
    if let Some(password) = secret {
        assert!(
            !logs.contains(&password),
            "the database password leaked into the logs"
        );
    }
}
