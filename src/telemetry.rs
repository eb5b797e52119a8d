//! Logs and metrics: one JSON line per request, and the RED metrics Prometheus scrapes.

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::io::{BufWriter, IsTerminal, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::configuration::{LogFilter, LogFormat, TraceArgs};

mod json_lines;
pub mod otel;

use json_lines::{AccessLine, JsonLines};

/// Installs the process's log subscriber: `format` or, when not given, JSON unless stdout is a
/// terminal. Fails on an invalid LOG_LEVEL filter.
///
/// Lines are written by a thread of their own (tracing-appender), in batches: a request does not
/// wait for a write(2) to stdout, a pipe that can be slow or full, and a busy server makes one
/// write per batch instead of one per line. Nothing is dropped: when the queue (4096 lines) is
/// full, requests wait, as they did on stdout. Lines still queued are written when the guard is dropped; a process
/// killed with SIGKILL loses the last milliseconds of them.
pub fn init_logging(
    filter: LogFilter<'_>,
    format: Option<LogFormat>,
) -> anyhow::Result<WorkerGuard> {
    let (writer, guard) = stdout_writer();
    init_logging_to(filter, default_format(format), writer)?;
    Ok(guard)
}

/// `init_logging`, and the trace exporter when an OTLP endpoint is configured ([`init_to`]).
pub fn init(
    filter: LogFilter<'_>,
    format: Option<LogFormat>,
    traces: &TraceArgs,
) -> anyhow::Result<(WorkerGuard, Option<otel::Tracing>)> {
    let (writer, guard) = stdout_writer();
    let tracing = init_to(filter, default_format(format), writer, traces)?;
    Ok((guard, tracing))
}

fn default_format(format: Option<LogFormat>) -> LogFormat {
    format.unwrap_or(if std::io::stdout().is_terminal() {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    })
}

fn stdout_writer() -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        // tracing-appender's default is 128,000 lines (~40 MB of memory when stdout is slow);
        // a few thousand keep the writes batched and the memory bounded.
        .buffered_lines_limit(4096)
        .lossy(false)
        .thread_name("shipshape-log")
        .finish(BufWriter::with_capacity(64 * 1024, std::io::stdout()))
}

/// The log subscriber and, when an OTLP endpoint is configured, the trace exporter (see
/// [`otel`]); the [`otel::Tracing`] handle flushes it at shutdown. Without an endpoint the
/// subscriber is exactly the one of [`init_logging_to`], and no span is ever made.
pub fn init_to<W>(
    filter: LogFilter<'_>,
    format: LogFormat,
    writer: W,
    traces: &TraceArgs,
) -> anyhow::Result<Option<otel::Tracing>>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let env_filter = env_filter(filter)?;
    let Some((provider, endpoint)) = otel::provider(traces)? else {
        init_logging_to(filter, format, writer)?;
        return Ok(None);
    };
    // Per-layer filters: the log lines keep their filter and never see the spans; the
    // OpenTelemetry layer sees only the spans this crate makes.
    let logs = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines::default())
            .with_filter(env_filter.and(filter_fn(|m| !otel::is_exported(m))))
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_filter(env_filter.and(filter_fn(|m| !otel::is_exported(m))))
            .boxed(),
    };
    let (spans, tracing) = otel::layer(provider, endpoint);
    let installed = tracing_subscriber::registry()
        .with(logs)
        .with(spans.with_filter(filter_fn(otel::is_exported)))
        .try_init();
    if installed.is_err() {
        return Ok(None); // a subscriber was there already (tests); it stays
    }
    tracing::info!(endpoint = %tracing.endpoint, "traces: exporting over OTLP/HTTP");
    Ok(Some(tracing))
}

fn env_filter(filter: LogFilter<'_>) -> anyhow::Result<EnvFilter> {
    let LogFilter { setting, filter } = filter;
    EnvFilter::try_new(filter).map_err(|e| anyhow::anyhow!("invalid {setting} {filter:?}: {e}"))
}

/// The same subscriber writing elsewhere (tests read the lines back). A second call keeps the
/// first subscriber.
pub fn init_logging_to<W>(filter: LogFilter<'_>, format: LogFormat, writer: W) -> anyhow::Result<()>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = env_filter(filter)?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => {
            let writer = SharedWriter(Arc::new(writer));
            let installed = builder
                .with_writer(writer.clone())
                .fmt_fields(JsonFields::new())
                .event_format(JsonLines::default())
                .try_init();
            if installed.is_ok() {
                let _ = ACCESS_WRITER.set(Box::new(writer));
            }
        }
        LogFormat::Pretty => {
            let _ = builder.with_writer(writer).try_init();
        }
    }
    Ok(())
}

/// Where the access lines go without a tracing event: the writer of the JSON log, set when that
/// log is installed without trace export ([`init_logging_to`]). Unset, the lines are events.
static ACCESS_WRITER: OnceLock<Box<dyn LineWriter>> = OnceLock::new();

trait LineWriter: Send + Sync {
    fn write_line(&self, line: &[u8]);
}

/// One writer for the subscriber and the access lines, so that they keep their order.
struct SharedWriter<W>(Arc<W>);

impl<W> Clone for SharedWriter<W> {
    fn clone(&self) -> Self {
        SharedWriter(self.0.clone())
    }
}

impl<'a, W: MakeWriter<'a>> MakeWriter<'a> for SharedWriter<W> {
    type Writer = W::Writer;

    fn make_writer(&'a self) -> W::Writer {
        self.0.make_writer()
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> W::Writer {
        self.0.make_writer_for(meta)
    }
}

impl<W> LineWriter for SharedWriter<W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync,
{
    fn write_line(&self, line: &[u8]) {
        // As tracing-subscriber does with a line it cannot write: nothing to report it to.
        let _ = self.0.make_writer().write_all(line);
    }
}

thread_local! {
    static ACCESS_TEXT: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The access line of one request: written directly when the JSON log allows
/// `shipshape::access` at INFO (the same filter its event would pass), else as a tracing event.
fn log_access(line: &AccessLine<'_>, trace_id: Option<opentelemetry::trace::TraceId>) {
    match ACCESS_WRITER.get() {
        Some(writer) if trace_id.is_none() => {
            if tracing::enabled!(target: "shipshape::access", tracing::Level::INFO) {
                ACCESS_TEXT.with(|text| {
                    let mut text = text.borrow_mut();
                    line.write_json(&mut text, SystemTime::now());
                    writer.write_line(text.as_bytes());
                });
            }
        }
        _ => line.emit(trace_id),
    }
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
static METADATA: Metadata<'static> = Metadata::new("shipshape", Level::INFO, None);

/// The application's metrics. Each application has its own registry (not the process-global
/// recorder), so applications started side by side, as the tests do, count separately.
#[derive(Clone)]
pub struct Metrics(Arc<Registry>);

struct Registry {
    recorder: PrometheusRecorder,
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
        let metrics = Metrics(Arc::new(Registry {
            recorder,
            handle,
            in_flight,
        }));
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
        self.0
            .recorder
            .register_gauge(&Key::from_parts(name, labels), &METADATA)
            .set(value);
    }

    /// The handles of one request series, registered once; requests then only add to them.
    fn series(&self, method: &'static str, route: &str, status: StatusCode) -> Series {
        let labels = vec![
            Label::from_static_parts("method", method),
            Label::new("route", route.to_owned()),
            Label::new("status", status.as_str().to_owned()),
        ];
        let requests = self
            .0
            .recorder
            .register_counter(&Key::from_parts("http_requests_total", labels), &METADATA);
        let labels = vec![
            Label::from_static_parts("method", method),
            Label::new("route", route.to_owned()),
        ];
        let duration = self.0.recorder.register_histogram(
            &Key::from_parts("http_request_duration_seconds", labels),
            &METADATA,
        );
        Series {
            method,
            route: route.into(),
            status,
            requests,
            duration,
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.0.handle.render()
    }

    /// Drains histogram samples into the exporter's buckets every few seconds, until dropped.
    pub async fn upkeep(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            self.0.handle.run_upkeep();
        }
    }
}

/// The counter and histogram of one (method, route, status).
struct Series {
    method: &'static str,
    route: Box<str>,
    status: StatusCode,
    requests: Counter,
    duration: Histogram,
}

/// One access-log line and the RED metrics per request, and the answer to a handler that
/// panics. A tower layer rather than `axum::middleware::from_fn`, which boxes the inner service
/// and the future of every request. Panics are caught here rather than by tower-http's
/// `CatchPanic`, which re-boxes every response body (two allocations a request).
#[derive(Clone)]
pub struct ObserveLayer {
    metrics: Metrics,
    routes: RouteLabels,
    on_panic: fn() -> Response,
}

impl ObserveLayer {
    /// `on_panic` is the answer to a request whose handler panicked (the process's panic hook
    /// has printed the panic); it is logged and counted as any other answer.
    pub fn new(metrics: Metrics, routes: RouteLabels, on_panic: fn() -> Response) -> Self {
        ObserveLayer {
            metrics,
            routes,
            on_panic,
        }
    }
}

/// The route of a request path, for the labels: the template of the route axum's router
/// matches, found with the same matcher (matchit) built from the same templates. Found before
/// routing, so that the observe layer wraps the router once: as a `Router::layer` it wrapped
/// each route, and axum clones a route's boxed service and boxes its future on every request.
#[derive(Clone)]
pub struct RouteLabels(Arc<matchit::Router<Arc<str>>>);

impl RouteLabels {
    /// Panics on templates the router would refuse too (it is built from the same ones).
    pub fn new<'a>(templates: impl IntoIterator<Item = &'a str>) -> Self {
        let mut router = matchit::Router::new();
        for template in templates {
            router
                .insert(template, Arc::from(template))
                .unwrap_or_else(|e| panic!("route {template:?}: {e}"));
        }
        RouteLabels(Arc::new(router))
    }

    /// The template `path` matches, as axum's `MatchedPath` gives it; None when no route does.
    pub fn of(&self, path: &str) -> Option<Arc<str>> {
        self.0.at(path).ok().map(|m| m.value.clone())
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            metrics: self.metrics.clone(),
            routes: self.routes.clone(),
            on_panic: self.on_panic,
            series: Arc::default(),
        }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Metrics,
    routes: RouteLabels,
    on_panic: fn() -> Response,
    /// The series this service has recorded to: one per (method, route, status) answered, a
    /// short list.
    series: Arc<RwLock<Vec<Series>>>,
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let seen = Seen {
            start: Instant::now(),
            method: method_label(req.method()),
            route: self.routes.of(req.uri().path()),
            uri: req.uri().clone(),
            request_id: req
                .headers()
                .get(X_REQUEST_ID)
                .cloned()
                .unwrap_or_else(new_request_id),
            in_flight: InFlight::enter(&self.metrics),
            series: self.series.clone(),
            span: None,
        };
        let mut seen = seen;
        if otel::enabled() {
            let route = seen.route.as_deref();
            seen.span = Some(otel::request_span(
                seen.method,
                route,
                seen.uri.path(),
                req.headers(),
            ));
        }
        // Without a future (the call panicked) the answer is `on_panic`'s.
        let inner = catch_unwind(AssertUnwindSafe(|| self.inner.call(req))).ok();
        ObserveFuture {
            inner,
            on_panic: self.on_panic,
            seen: Some(seen),
        }
    }
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A random (v4) UUID, for a request that came without an `x-request-id`.
fn new_request_id() -> HeaderValue {
    let mut buf = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(id).expect("a UUID is a valid header value")
}

/// Bounded label values.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// What is known of a request before it is handled.
struct Seen {
    start: Instant,
    method: &'static str,
    route: Option<Arc<str>>,
    uri: Uri,
    /// The client's `x-request-id`, or one made for it; returned on the response.
    request_id: HeaderValue,
    in_flight: InFlight,
    series: Arc<RwLock<Vec<Series>>>,
    /// The request's span, when traces are exported.
    span: Option<tracing::Span>,
}

/// A duration in milliseconds, as the nearest f64 to the exact value, so that the log shows
/// `0.392949`, not the `0.39294900000000005` of `as_secs_f64() * 1000.0`.
fn millis(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e6
}

impl Seen {
    fn finish(self, status: StatusCode) {
        let latency = self.start.elapsed();
        let route = self.route.as_deref().unwrap_or("unmatched");
        let trace_id = self
            .span
            .as_ref()
            .and_then(|span| otel::end_request_span(span, status.as_u16()));
        let line = AccessLine {
            method: self.method,
            route,
            path: self.uri.path(),
            status: status.as_u16(),
            latency_ms: millis(latency),
            request_id: self.request_id.to_str().unwrap_or_default(),
        };
        log_access(&line, trace_id);
        let matches =
            |s: &Series| s.status == status && s.method == self.method && &*s.route == route;
        let known = self.series.read().ok().and_then(|list| {
            list.iter().find(|s| matches(s)).map(|s| {
                s.requests.increment(1);
                s.duration.record(latency.as_secs_f64());
            })
        });
        if known.is_none() {
            let series = self.in_flight.metrics.series(self.method, route, status);
            series.requests.increment(1);
            series.duration.record(latency.as_secs_f64());
            if let Ok(mut list) = self.series.write()
                && !list.iter().any(matches)
            {
                list.push(series);
            }
        }
    }
}

/// Counts the request in `http_requests_in_flight` until dropped, also when the client goes away
/// and the request's future is dropped unfinished.
struct InFlight {
    metrics: Metrics,
}

impl InFlight {
    fn enter(metrics: &Metrics) -> Self {
        metrics.0.in_flight.increment(1.0);
        InFlight {
            metrics: metrics.clone(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.metrics.0.in_flight.decrement(1.0);
    }
}

pin_project! {
    pub struct ObserveFuture<F> {
        #[pin]
        inner: Option<F>,
        on_panic: fn() -> Response,
        seen: Option<Seen>,
    }
}

impl<F> Future for ObserveFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The handler runs inside the request span (when there is one), so that the spans it
        // makes (database calls) are its children.
        let entered = this
            .seen
            .as_ref()
            .and_then(|s| s.span.as_ref())
            .map(tracing::Span::enter);
        // None: the call or this poll panicked.
        let polled = this
            .inner
            .as_pin_mut()
            .and_then(|inner| catch_unwind(AssertUnwindSafe(|| inner.poll(cx))).ok());
        drop(entered);
        let Ok(mut res) = ready!(polled.unwrap_or_else(|| Poll::Ready(Ok((this.on_panic)()))));
        if let Some(seen) = this.seen.take() {
            res.headers_mut()
                .entry(X_REQUEST_ID)
                .or_insert_with(|| seen.request_id.clone());
            seen.finish(res.status());
        }
        Poll::Ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tower::ServiceExt;
    use tower::service_fn;

    use super::*;

    /// The access log's latency reads as the nanoseconds it counts, without rounding noise.
    #[test]
    fn latency_in_milliseconds_has_no_rounding_noise() {
        for (nanos, shown) in [
            (392_949, "0.392949"),
            (1_500_000, "1.5"),
            (12_345, "0.012345"),
        ] {
            let ms = millis(Duration::from_nanos(nanos));
            assert_eq!(serde_json::to_string(&ms).unwrap(), shown, "{nanos} ns");
        }
    }

    fn teapot() -> Response {
        let mut res = Response::new(Body::from("caught"));
        *res.status_mut() = StatusCode::IM_A_TEAPOT;
        res
    }

    /// A handler that panics, in its call or in its future, gets `on_panic`'s answer, with its
    /// request id and counted; the service goes on answering.
    #[tokio::test]
    async fn a_panicking_handler_gets_the_panic_answer() {
        let metrics = Metrics::new().unwrap();
        let layer = ObserveLayer::new(metrics.clone(), RouteLabels::new([]), teapot);
        let handler = |req: Request| {
            let path = req.uri().path().to_owned();
            if path == "/call" {
                panic!("in the call");
            }
            async move {
                if path == "/poll" {
                    panic!("in the future");
                }
                Ok::<_, Infallible>(Response::new(Body::from("fine")))
            }
        };
        let service = layer.layer(service_fn(handler));
        for (path, status) in [
            ("/call", StatusCode::IM_A_TEAPOT),
            ("/poll", StatusCode::IM_A_TEAPOT),
            ("/fine", StatusCode::OK),
        ] {
            let req = Request::builder()
                .uri(path)
                .header(X_REQUEST_ID, "the-id")
                .body(Body::empty())
                .unwrap();
            let Ok(res) = service.clone().oneshot(req).await;
            assert_eq!(res.status(), status, "{path}");
            assert_eq!(res.headers()[X_REQUEST_ID], "the-id", "{path}");
        }
        let text = metrics.render();
        let teapots = text
            .lines()
            .find(|l| l.starts_with("http_requests_total{") && l.contains("status=\"418\""))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(teapots.ends_with(" 2"), "{teapots}");
    }
}
