//! The router: routes from `users` and `ops`, the OpenAPI document generated from them, and the
//! middleware every response passes through.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Json;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::{BoxError, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::db::Db;
use crate::error::ApiError;
use crate::{ops, users};

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub greeting: Arc<str>,
    pub shutting_down: Arc<AtomicBool>,
    pub max_body_bytes: usize,
    pub metrics: PrometheusHandle,
    pub openapi: Arc<OnceLock<utoipa::openapi::OpenApi>>,
}

pub struct Limits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub max_concurrent_requests: usize,
}

#[derive(OpenApi)]
#[openapi(info(
    title = "shipshape",
    description = "Users API (wire-compatible with the original DRF app) and hello service. \
                   Paths are also served without the trailing slash."
))]
struct ApiDoc;

/// Builds the whole application. The OpenAPI document (state.openapi) lists every route,
/// because utoipa-axum registers a route and its documentation in one call.
pub fn build(state: AppState, limits: &Limits) -> axum::Router {
    // Client-facing routes get a timeout and load shedding; probes and metrics do not, so an
    // overloaded pod is not also declared dead.
    let guarded = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(overload_error))
        .load_shed()
        .layer(GlobalConcurrencyLimitLayer::new(
            limits.max_concurrent_requests,
        ))
        .timeout(limits.request_timeout);
    let public = users::router().merge(ops::hello_router()).layer(guarded);

    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(public)
        .merge(ops::router())
        .routes(routes!(openapi_json))
        .split_for_parts();
    let _ = state.openapi.set(openapi);

    router
        .fallback(|| async { ApiError::not_found() })
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error.")
                .into_response()
        }))
        .layer(axum::middleware::from_fn(json_method_not_allowed))
        .layer(axum::middleware::from_fn(observe))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(security_header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(security_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(security_header(header::REFERRER_POLICY, "same-origin"))
        .layer(security_header(
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ))
        .with_state(state)
}

fn security_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

async fn overload_error(err: BoxError) -> ApiError {
    if err.is::<tower::timeout::error::Elapsed>() {
        ApiError::unavailable("Request timed out.")
    } else if err.is::<tower::load_shed::error::Overloaded>() {
        ApiError::unavailable("Server overloaded, try again later.")
    } else {
        tracing::error!(error = %err, "middleware error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error.")
    }
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This OpenAPI 3 document", body = Object)))]
async fn openapi_json(State(state): State<AppState>) -> Response {
    match state.openapi.get() {
        Some(doc) => Json(doc).into_response(),
        None => ApiError::unavailable("OpenAPI document not built yet.").into_response(),
    }
}

/// The original redirected `/api/users` to `/api/users/` (and lost POST bodies doing so).
/// We serve the API and /ht/ with or without the trailing slash by adding it before routing.
pub fn add_trailing_slash(mut req: Request) -> Request {
    let path = req.uri().path();
    let api_like = path == "/api" || path.starts_with("/api/") || path == "/ht";
    if api_like && !path.ends_with('/') {
        let pq = match req.uri().query() {
            Some(q) => format!("{path}/?{q}"),
            None => format!("{path}/"),
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = pq.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

/// axum answers a known path with a wrong method by an empty 405 (with Allow); clients of this
/// API always get a JSON error, so give it the DRF body.
async fn json_method_not_allowed(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let res = next.run(req).await;
    if res.status() != StatusCode::METHOD_NOT_ALLOWED
        || res.headers().contains_key(header::CONTENT_TYPE)
    {
        return res;
    }
    let mut json = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("Method \"{method}\" not allowed."),
    )
    .into_response();
    if let Some(allow) = res.headers().get(header::ALLOW) {
        json.headers_mut().insert(header::ALLOW, allow.clone());
    }
    json
}

/// One access-log line and the RED metrics per request.
async fn observe(req: Request, next: Next) -> Response {
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

    let in_flight = metrics::gauge!("http_requests_in_flight");
    in_flight.increment(1.0);
    // Decrements even when the client goes away and the future is dropped.
    let _guard = scopeguard(move || in_flight.decrement(1.0));

    let res = next.run(req).await;

    let status = res.status().as_u16();
    let latency = start.elapsed();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method.clone(), "route" => route.clone())
        .record(latency.as_secs_f64());
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
fn scopeguard<F: FnOnce()>(f: F) -> Guard<F> {
    Guard(Some(f))
}
