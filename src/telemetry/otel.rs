//! OpenTelemetry traces, exported over OTLP/HTTP (protobuf) when an endpoint is configured, and
//! nothing at all when none is: no exporter, no span, no header parsing.
//!
//! A request gets one server span (`GET /api/users/{id}/`, with the route template and the status),
//! the child of the caller's span when the request carries a W3C `traceparent`; each database call
//! in it gets a client span. Spans go through a bounded queue to a batch exporter on a thread of its
//! own: a slow or absent collector never makes a request wait; when the queue is full spans are
//! dropped and the SDK logs it (once, and the total at shutdown). The queue is flushed on shutdown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::HeaderMap;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::configuration::{ConfigError, TraceArgs, TraceSampler};

/// Target of every span this crate makes; only these reach the exporter.
pub const SPAN_TARGET_PREFIX: &str = "shipshape::";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// True once spans are exported. Requests look at this first: when false they make no span.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The tracer provider of the process, to flush and stop at shutdown.
pub struct Tracing {
    provider: SdkTracerProvider,
    pub endpoint: String,
}

impl Tracing {
    /// Exports the spans still queued (waits for the exporter at most `timeout`).
    pub async fn flush(&self) {
        let provider = self.provider.clone();
        let result = tokio::task::spawn_blocking(move || provider.force_flush()).await;
        if let Ok(Err(e)) = result {
            tracing::warn!(error = %e, "traces: flush failed");
        }
    }

    /// Exports the spans still queued, then stops the exporter. Blocking work, off the runtime's
    /// threads; it waits for the collector at most `timeout`.
    pub async fn shutdown(self, timeout: Duration) {
        let provider = self.provider;
        let result =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(timeout)).await;
        match result {
            Ok(Ok(())) => tracing::info!("traces: exporter flushed and stopped"),
            Ok(Err(e)) => tracing::warn!(error = %e, "traces: exporter stopped with spans unsent"),
            Err(e) => tracing::warn!(error = %e, "traces: exporter shutdown failed"),
        }
    }
}

/// The OTLP traces URL and the setting it came from: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given,
/// or OTEL_EXPORTER_OTLP_ENDPOINT with `/v1/traces` appended (the OTLP exporter specification), or
/// none (tracing off). Empty values count as unset.
pub fn traces_url(args: &TraceArgs) -> Option<(&'static str, String)> {
    let set = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    if let Some(url) = set(&args.otel_exporter_otlp_traces_endpoint) {
        return Some(("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url));
    }
    set(&args.otel_exporter_otlp_endpoint).map(|base| {
        let url = format!("{}/v1/traces", base.trim_end_matches('/'));
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url)
    })
}

/// The tracer provider for `args` and its endpoint, or `None` when no endpoint is configured.
pub fn provider(args: &TraceArgs) -> Result<Option<(SdkTracerProvider, String)>, ConfigError> {
    let Some((setting, url)) = traces_url(args) else {
        return Ok(None);
    };
    let parsed = url.parse::<axum::http::Uri>().ok();
    let valid = parsed
        .as_ref()
        .is_some_and(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some());
    if !valid {
        return Err(ConfigError(format!(
            "invalid {setting}: {url:?} is not an http:// or https:// URL"
        )));
    }
    // The exporter's HTTP client is reqwest without a TLS provider of its own: the process's one
    // (ring) must be installed first; this does it when the caller has not.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(url.clone())
        .build()
        .map_err(|e| ConfigError(format!("OTLP traces exporter: {e}")))?;
    // OTEL_SERVICE_NAME, else a service.name in OTEL_RESOURCE_ATTRIBUTES, else "shipshape".
    let mut resource = Resource::builder();
    let unnamed = Resource::builder()
        .build()
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_none_or(|v| v.as_str().starts_with("unknown_service"));
    if let Some(name) = args.otel_service_name.as_deref().filter(|s| !s.is_empty()) {
        resource = resource.with_service_name(name.to_owned());
    } else if unnamed {
        resource = resource.with_service_name("shipshape");
    }
    let resource = resource
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    // The batch processor's queue (OTEL_BSP_MAX_QUEUE_SIZE, default 2048) is bounded: a span
    // that does not fit is dropped, never waited for.
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler(args))
        .with_resource(resource)
        .build();
    Ok(Some((provider, url)))
}

fn sampler(args: &TraceArgs) -> Sampler {
    let ratio = args.otel_traces_sampler_arg.unwrap_or(1.0);
    match args.otel_traces_sampler {
        TraceSampler::AlwaysOn => Sampler::AlwaysOn,
        TraceSampler::AlwaysOff => Sampler::AlwaysOff,
        TraceSampler::TraceIdRatio => Sampler::TraceIdRatioBased(ratio),
        TraceSampler::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        TraceSampler::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        TraceSampler::ParentBasedTraceIdRatio => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
        }
    }
}

/// The layer that turns this crate's spans into OpenTelemetry spans, and the handle to flush it.
/// Marks tracing as on: from now on requests make spans.
pub fn layer<S>(
    provider: SdkTracerProvider,
    endpoint: String,
) -> (
    tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::SdkTracer>,
    Tracing,
)
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let tracer = provider.tracer("shipshape");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        // Only what the spans below say: no code locations, thread ids or busy/idle times.
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false);
    ENABLED.store(true, Ordering::Relaxed);
    (layer, Tracing { provider, endpoint })
}

/// Only the spans this crate makes reach the OpenTelemetry layer (not events, not the spans of
/// libraries, not the exporter's own HTTP client).
pub fn is_exported(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_span() && meta.target().starts_with(SPAN_TARGET_PREFIX)
}

/// The server span of one request, the child of the caller's span when `headers` carry a valid
/// W3C `traceparent` (and `tracestate`). The status is recorded by [`end_request_span`].
pub fn request_span(method: &str, route: Option<&str>, path: &str, headers: &HeaderMap) -> Span {
    let span = tracing::info_span!(
        target: "shipshape::http",
        "request",
        otel.name = %SpanName(method, route),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = method,
        http.route = route,
        url.path = path,
        http.response.status_code = tracing::field::Empty,
    );
    let parent =
        TraceContextPropagator::new().extract_with_context(&Context::new(), &Headers(headers));
    // Fails only when the layer is absent (tracing off), where there is nothing to parent.
    let _ = span.set_parent(parent);
    span
}

/// Records the response status on the request span and returns the trace id for the access log.
pub fn end_request_span(span: &Span, status: u16) -> Option<TraceId> {
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "error");
    }
    let cx = span.context();
    let trace_id = cx.span().span_context().trace_id();
    (trace_id != TraceId::INVALID).then_some(trace_id)
}

/// The client span of one database call (`SELECT users`; `table` empty when there is none),
/// inside the current request span; `Span::none()` when tracing is off.
pub fn db_span(system: &'static str, operation: &'static str, table: &'static str) -> Span {
    if !enabled() {
        return Span::none();
    }
    let table = (!table.is_empty()).then_some(table);
    tracing::info_span!(
        target: "shipshape::db",
        "db",
        otel.name = %SpanName(operation, table),
        otel.kind = "client",
        db.system.name = system,
        db.operation.name = operation,
        db.collection.name = table,
    )
}

/// `GET /api/users/{id}/`, `SELECT users`: the operation and its target, or the operation alone
/// when there is no target (no route matched); low cardinality, as the semantic conventions ask.
struct SpanName<'a>(&'a str, Option<&'a str>);

impl std::fmt::Display for SpanName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.1 {
            Some(route) => write!(f, "{} {route}", self.0),
            None => f.write_str(self.0),
        }
    }
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(base: Option<&str>, traces: Option<&str>) -> TraceArgs {
        TraceArgs {
            otel_exporter_otlp_endpoint: base.map(str::to_owned),
            otel_exporter_otlp_traces_endpoint: traces.map(str::to_owned),
            otel_service_name: None,
            otel_traces_sampler: TraceSampler::ParentBasedAlwaysOn,
            otel_traces_sampler_arg: None,
        }
    }

    #[test]
    fn the_traces_url_follows_the_otlp_exporter_specification() {
        let url = |a: &TraceArgs| traces_url(a).map(|(_, url)| url);
        assert_eq!(url(&args(None, None)), None);
        assert_eq!(url(&args(Some(""), Some(" "))), None);
        assert_eq!(
            url(&args(Some("http://c:4318/"), None)).as_deref(),
            Some("http://c:4318/v1/traces")
        );
        assert_eq!(
            url(&args(Some("http://c:4318"), Some("http://t:1/x"))).as_deref(),
            Some("http://t:1/x")
        );
    }

    #[test]
    fn an_endpoint_that_is_not_an_http_url_is_a_configuration_error() {
        for bad in ["collector:4318", "grpc://c:4317", "http://"] {
            let err = provider(&args(Some(bad), None)).unwrap_err();
            assert!(
                err.0.starts_with("invalid OTEL_EXPORTER_OTLP_ENDPOINT"),
                "{err}"
            );
        }
    }
}
