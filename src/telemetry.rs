//! Logs and metrics: one JSON line per request, and the RED metrics Prometheus scrapes.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Gauge, Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::configuration::LogFormat;

/// Installs the process's log subscriber: `format` or, when not given, JSON unless stdout is a
/// terminal. Fails on an invalid LOG_LEVEL filter.
pub fn init_logging(level: &str, format: Option<LogFormat>) -> anyhow::Result<()> {
    let format = format.unwrap_or(if std::io::stdout().is_terminal() {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    init_logging_to(level, format, std::io::stdout)
}

/// The same subscriber writing elsewhere (tests read the lines back). A second call keeps the
/// first subscriber.
pub fn init_logging_to<W>(level: &str, format: LogFormat, writer: W) -> anyhow::Result<()>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(level)
        .map_err(|e| anyhow::anyhow!("invalid LOG_LEVEL {level:?}: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    Ok(())
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
static METADATA: Metadata<'static> = Metadata::new("shipshape", Level::INFO, None);

/// The application's metrics. Each application has its own registry (not the process-global
/// recorder), so applications started side by side, as the tests do, count separately.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    in_flight: Gauge,
}

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("http_request_duration_seconds".into()),
                LATENCY_BUCKETS,
            )?
            .build_recorder();
        let handle = recorder.handle();
        let in_flight =
            recorder.register_gauge(&Key::from_name("http_requests_in_flight"), &METADATA);
        let metrics = Metrics {
            recorder: Arc::new(recorder),
            handle,
            in_flight,
        };
        metrics.gauge(
            "shipshape_build_info",
            vec![
                Label::new("version", env!("CARGO_PKG_VERSION")),
                Label::new("revision", crate::REVISION),
            ],
            1.0,
        );
        Ok(metrics)
    }

    pub fn gauge(&self, name: &'static str, labels: Vec<Label>, value: f64) {
        self.recorder
            .register_gauge(&Key::from_parts(name, labels), &METADATA)
            .set(value);
    }

    fn request(&self, method: String, route: String, status: u16, latency: Duration) {
        let labels = vec![
            Label::new("method", method.clone()),
            Label::new("route", route.clone()),
            Label::new("status", status.to_string()),
        ];
        self.recorder
            .register_counter(&Key::from_parts("http_requests_total", labels), &METADATA)
            .increment(1);
        let labels = vec![Label::new("method", method), Label::new("route", route)];
        self.recorder
            .register_histogram(
                &Key::from_parts("http_request_duration_seconds", labels),
                &METADATA,
            )
            .record(latency.as_secs_f64());
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Drains histogram samples into the exporter's buckets every few seconds, until dropped.
    pub async fn upkeep(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            self.handle.run_upkeep();
        }
    }
}

/// One access-log line and the RED metrics per request.
pub async fn observe(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = match *req.method() {
        Method::GET
        | Method::HEAD
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::OPTIONS => req.method().as_str().to_owned(),
        _ => "OTHER".to_owned(), // bounded label values
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let path = req.uri().path().to_owned();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();

    metrics.in_flight.increment(1.0);
    // Decrements even when the client goes away and the future is dropped.
    let in_flight = metrics.in_flight.clone();
    let _guard = Guard(Some(move || in_flight.decrement(1.0)));

    let res = next.run(req).await;

    let status = res.status().as_u16();
    let latency = start.elapsed();
    tracing::info!(
        target: "shipshape::access",
        method,
        route,
        path,
        status,
        latency_ms = latency.as_secs_f64() * 1000.0,
        request_id,
        "request"
    );
    metrics.request(method, route, status, latency);
    res
}

struct Guard<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Drop for Guard<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}
