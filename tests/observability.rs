//! Traces and log filters as an operator sees them: spans exported over OTLP/HTTP to a collector
//! (a stand-in on loopback that decodes the protobuf), W3C trace context from the caller, the trace
//! id in the access log, nothing exported without an endpoint, export failures that cost requests
//! nothing, the queue flushed at shutdown, and RUST_LOG beside LOG_LEVEL.
//!
//! The in-process applications of this test binary all export to one collector: the process's
//! subscriber is global, and this binary installs it with traces on.

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{
    Backend, Collector, ExportedSpan, SIGTERM, Server, TestApp, assert_configuration_refused,
    capture_logs_and_traces, log_lines,
};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use reqwest::Method;
use serde_json::Value;
use shipshape::telemetry::otel::Tracing;

on_both_backends!(
    a_request_is_the_child_of_the_callers_span_with_a_span_per_database_call,
    a_request_without_traceparent_starts_a_trace,
);

/// The collector of the in-process applications, and the exporter's handle.
fn traced() -> (&'static Collector, &'static Tracing) {
    static COLLECTOR: OnceLock<Collector> = OnceLock::new();
    let collector = COLLECTOR.get_or_init(|| Collector::start(0).expect("collector listens"));
    (collector, capture_logs_and_traces(&collector.endpoint()))
}

/// Flushes the exporter until `done` holds for the spans of `trace_id` (the server span ends just
/// after the response is sent, so the first flush may come before it).
async fn wait_for_trace(
    trace_id: &str,
    done: impl Fn(&[ExportedSpan]) -> bool,
) -> Vec<ExportedSpan> {
    let (collector, tracing) = traced();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        tracing.flush().await;
        let spans = collector.trace(trace_id);
        if done(&spans) {
            return spans;
        }
        assert!(
            Instant::now() < deadline,
            "trace {trace_id} incomplete: {spans:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn server_span(spans: &[ExportedSpan]) -> Option<&ExportedSpan> {
    spans.iter().find(|s| s.kind() == SpanKind::Server)
}

fn children<'a>(spans: &'a [ExportedSpan], parent: &ExportedSpan) -> Vec<&'a ExportedSpan> {
    spans
        .iter()
        .filter(|s| s.parent_span_id() == parent.span_id())
        .collect()
}

/// The access-log line of the request with this x-request-id.
async fn access_line(request_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let line = log_lines()
            .into_iter()
            .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
            .find(|l| l["request_id"] == request_id);
        if let Some(line) = line {
            return line;
        }
        assert!(Instant::now() < deadline, "no access line for {request_id}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn random_hex(bytes: usize) -> String {
    let mut s = String::new();
    while s.len() < bytes * 2 {
        s.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    s.truncate(bytes * 2);
    s
}

fn db_system(b: &Backend) -> &'static str {
    if b.is_postgres() {
        "postgresql"
    } else {
        "sqlite"
    }
}

async fn a_request_is_the_child_of_the_callers_span_with_a_span_per_database_call(b: Backend) {
    traced();
    let s = TestApp::spawn(&b).await;
    let user = s.create_user("11111111", "Ada").await;
    let path = format!("/api/users/{}/", user["id"]);

    let (trace_id, caller_span) = (random_hex(16), random_hex(8));
    let request_id = format!("otel-{}", random_hex(8));
    let reply = s
        .send(
            s.request(Method::GET, &path)
                .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
                .header("x-request-id", &request_id),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply}");

    let spans = wait_for_trace(&trace_id, |spans| {
        server_span(spans).is_some_and(|server| !children(spans, server).is_empty())
    })
    .await;
    let server = server_span(&spans).unwrap();
    assert_eq!(server.parent_span_id(), caller_span, "{server:#?}");
    assert_eq!(server.name(), "GET /api/users/{id}/");
    assert_eq!(
        server.attr("http.route").as_deref(),
        Some("/api/users/{id}/")
    );
    assert_eq!(server.attr("http.request.method").as_deref(), Some("GET"));
    assert_eq!(
        server.attr("http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(server.attr("url.path").as_deref(), Some(path.as_str()));
    assert_eq!(server.service.as_deref(), Some("shipshape"));

    let db = children(&spans, server);
    assert_eq!(db.len(), 1, "one database call: {db:#?}");
    assert_eq!(db[0].kind(), SpanKind::Client);
    assert_eq!(db[0].name(), "SELECT users");
    assert_eq!(db[0].attr("db.system.name").as_deref(), Some(db_system(&b)));
    assert_eq!(db[0].attr("db.collection.name").as_deref(), Some("users"));

    let line = access_line(&request_id).await;
    assert_eq!(line["trace_id"], trace_id.as_str(), "{line}");
}

async fn a_request_without_traceparent_starts_a_trace(b: Backend) {
    traced();
    let s = TestApp::spawn(&b).await;
    let request_id = format!("otel-{}", random_hex(8));
    let reply = s
        .send(
            s.request(Method::DELETE, "/api/users/999999/")
                .header("x-request-id", &request_id),
        )
        .await;
    assert_eq!(reply.status, 404, "{reply}");

    // The trace id the log names is the one of the exported trace.
    let line = access_line(&request_id).await;
    let trace_id = line["trace_id"].as_str().expect("a trace id").to_owned();
    let spans = wait_for_trace(&trace_id, |spans| {
        server_span(spans).is_some_and(|server| !children(spans, server).is_empty())
    })
    .await;
    let server = server_span(&spans).unwrap();
    assert_eq!(server.parent_span_id(), "", "a root span: {server:#?}");
    assert_eq!(server.name(), "DELETE /api/users/{id}/");
    assert_eq!(
        server.attr("http.response.status_code").as_deref(),
        Some("404")
    );
    let db = children(&spans, server);
    assert_eq!(db.len(), 1, "{db:#?}");
    assert_eq!(db[0].name(), "DELETE users");
    assert_eq!(db[0].attr("db.operation.name").as_deref(), Some("DELETE"));
}

/// `parentbased_always_on` (the default) follows the caller: a trace it did not sample is not
/// recorded here either, and the log still names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_does_not_sample_is_followed() {
    let (collector, _) = traced();
    let s = TestApp::spawn(&Backend::sqlite()).await;
    let (unsampled, sampled) = (random_hex(16), random_hex(16));
    let request_id = format!("otel-{}", random_hex(8));
    let reply = s
        .send(
            s.request(Method::GET, "/hello")
                .header(
                    "traceparent",
                    format!("00-{unsampled}-{}-00", random_hex(8)),
                )
                .header("x-request-id", &request_id),
        )
        .await;
    assert_eq!(reply.status, 200);
    // A sampled request after it: once its span is exported, the first one's would have been.
    s.send(
        s.request(Method::GET, "/hello")
            .header("traceparent", format!("00-{sampled}-{}-01", random_hex(8))),
    )
    .await;
    let spans = wait_for_trace(&sampled, |spans| server_span(spans).is_some()).await;
    assert_eq!(server_span(&spans).unwrap().name(), "GET /hello");
    assert!(collector.trace(&unsampled).is_empty());
    let line = access_line(&request_id).await;
    assert_eq!(line["trace_id"], unsampled.as_str(), "{line}");
}

/// Without OTEL_EXPORTER_OTLP_ENDPOINT nothing is sent, not even to the default endpoint
/// (localhost:4318, where a collector listens here), and the log names no trace.
#[tokio::test]
async fn without_an_endpoint_nothing_is_exported() {
    let collector = match Collector::start(4318) {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "port 4318 (the default OTLP/HTTP endpoint) must be free in CI: {e}"
            );
            eprintln!("skipped: port 4318 is in use here ({e})");
            return;
        }
    };
    let b = Backend::sqlite();
    let mut server = Server::start_with(
        &b,
        &[
            ("OTEL_SERVICE_NAME", "shipshape-test"),
            ("OTEL_BSP_SCHEDULE_DELAY", "10"),
            ("OTEL_TRACES_SAMPLER", "always_on"),
        ],
    )
    .await;
    let trace_id = random_hex(16);
    for path in ["/hello", "/api/users/"] {
        let reply = server
            .send(
                server
                    .request(Method::GET, path)
                    .header("traceparent", format!("00-{trace_id}-{}-01", random_hex(8))),
            )
            .await;
        assert_eq!(reply.status, 200);
    }
    server.signal(SIGTERM);
    assert!(server.wait_exit(Duration::from_secs(15)).await.success());
    assert_eq!(collector.requests(), 0, "{:#?}", collector.spans());
    let logs = server.log_lines();
    let access: Vec<Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "request")
        .collect();
    assert_eq!(access.len(), 2, "{logs:#?}");
    assert!(
        access.iter().all(|l| l.get("trace_id").is_none()),
        "{access:#?}"
    );
}

/// The spans of the last requests are still queued when SIGTERM comes (the batch is sent every
/// 5 s): the graceful shutdown sends them.
#[tokio::test]
async fn spans_queued_at_shutdown_are_exported() {
    let collector = Collector::start(0).unwrap();
    let b = Backend::sqlite();
    let mut server = Server::start_with(
        &b,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint()),
            ("OTEL_SERVICE_NAME", "shipshape-canary"),
        ],
    )
    .await;
    let trace_id = random_hex(16);
    let reply = server
        .send(
            server
                .request(Method::GET, "/api/users/")
                .header("traceparent", format!("00-{trace_id}-{}-01", random_hex(8))),
        )
        .await;
    assert_eq!(reply.status, 200);
    server.signal(SIGTERM);
    assert!(server.wait_exit(Duration::from_secs(15)).await.success());
    let spans = collector.trace(&trace_id);
    let server_span = server_span(&spans).unwrap_or_else(|| panic!("{spans:#?}"));
    assert_eq!(server_span.service.as_deref(), Some("shipshape-canary"));
    assert_eq!(server_span.name(), "GET /api/users/");
    assert_eq!(children(&spans, server_span).len(), 1, "{spans:#?}");
}

/// A collector that accepts connections and never answers, and a queue too small for the load:
/// every request is still answered at once, spans are dropped with a warning, and the shutdown
/// waits for the collector only as long as its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_hangs_costs_requests_nothing() {
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", hole.local_addr().unwrap());
    // Accepts, holds the connections open, reads nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in hole.incoming().flatten() {
            held.push(conn);
        }
    });
    let b = Backend::sqlite();
    let mut server = Server::start_with(
        &b,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "10"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "8"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "8"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "30000"),
        ],
    )
    .await;
    let mut slowest = Duration::ZERO;
    for _ in 0..100 {
        let start = Instant::now();
        let reply = server.get("/hello").await;
        slowest = slowest.max(start.elapsed());
        assert_eq!(reply.status, 200);
    }
    // The exporter is stuck for 30 s on its first batch; a request that waited for it would take
    // that long. One second is for a loaded test machine.
    assert!(
        slowest < Duration::from_secs(1),
        "slowest request {slowest:?}"
    );
    let stopping = Instant::now();
    server.signal(SIGTERM);
    assert!(server.wait_exit(Duration::from_secs(20)).await.success());
    let stopped = stopping.elapsed();
    assert!(
        stopped < Duration::from_secs(15),
        "shutdown took {stopped:?}"
    );
    let logs = server.log_lines().join("\n");
    assert!(
        logs.contains("BatchSpanProcessor dropped"),
        "no warning of dropped spans: {logs}"
    );
}

/// RUST_LOG wins over LOG_LEVEL when set and not empty (the chart always sets LOG_LEVEL).
#[tokio::test]
async fn rust_log_wins_over_log_level() {
    let quiet = "warn,shipshape::startup=info";
    let cases: [(&[(&str, &str)], bool); 4] = [
        (&[("LOG_LEVEL", "info")], true),
        (&[("LOG_LEVEL", "info"), ("RUST_LOG", quiet)], false),
        (&[("LOG_LEVEL", quiet), ("RUST_LOG", "info")], true),
        (&[("LOG_LEVEL", quiet), ("RUST_LOG", "")], false),
    ];
    for (env, logged) in cases {
        let b = Backend::sqlite();
        let mut server = Server::start_with(&b, env).await;
        assert_eq!(server.get("/hello").await.status, 200);
        server.signal(SIGTERM);
        assert!(server.wait_exit(Duration::from_secs(15)).await.success());
        let logs = server.log_lines();
        let access = logs.iter().any(|l| l.contains("\"message\":\"request\""));
        assert_eq!(access, logged, "{env:?}: {logs:#?}");
    }
}

#[tokio::test]
async fn invalid_trace_and_log_settings_exit_2_naming_the_setting() {
    let dir = std::env::temp_dir().join(format!("shipshape-otel-{}", random_hex(8)));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = format!("sqlite://{}/x.db", dir.display());
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("LOG_LEVEL", "info"), ("RUST_LOG", "loud=[")], "RUST_LOG"),
        (
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")],
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ),
        (
            &[("OTEL_TRACES_SAMPLER", "sometimes")],
            "OTEL_TRACES_SAMPLER",
        ),
        (
            &[("OTEL_TRACES_SAMPLER_ARG", "1.5")],
            "OTEL_TRACES_SAMPLER_ARG",
        ),
    ];
    for (env, mentions) in cases {
        let env: Vec<(&str, &str)> = [("DATABASE_URL", sqlite.as_str())]
            .into_iter()
            .chain(env.iter().copied())
            .collect();
        assert_configuration_refused(&dir, &env, mentions).await;
    }
    let _ = std::fs::remove_dir_all(dir);
}
