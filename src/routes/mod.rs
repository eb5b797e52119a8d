//! The HTTP surface: every route, the OpenAPI document generated from the same list, and the
//! middleware every response passes through.

mod guard;
mod hello;
mod ops;
mod users;
mod wire;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Response, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use tower::util::{MapRequest, MapResponseLayer};
use tower::{Layer, ServiceBuilder};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::drf::{self, ApiError};
use crate::state::AppState;
use crate::telemetry;

/// Limits of the public routes.
pub struct Limits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub max_concurrent_requests: usize,
}

#[derive(OpenApi)]
#[openapi(info(
    title = "shipshape",
    description = "Users API (wire-compatible with the original Django REST Framework app, see \
                   docs/contract.md) and hello service. Paths are also served without the trailing slash."
))]
struct ApiDoc;

/// The application as the listener serves it.
pub type App = MapRequest<Router, fn(Request) -> Request>;

/// Every route with its documentation: utoipa-axum registers a route and its OpenAPI operation in
/// one call, so the document cannot list a route that is not served or miss one that is.
fn routes(limits: &Limits) -> OpenApiRouter<AppState> {
    // Client-facing routes get a timeout and load shedding; probes and metrics do not, so an
    // overloaded pod is not also declared dead.
    let guarded = guard::GuardLayer::new(limits.max_concurrent_requests, limits.request_timeout);
    let public = users::router().merge(hello::router()).layer(guarded);
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(public)
        .merge(ops::router())
}

/// The OpenAPI document of the application, with the answers middleware gives on top of the
/// handlers' own: 503 on the guarded routes (shed, timed out, database unavailable) and 406 from
/// the API's content negotiation.
pub fn openapi() -> Value {
    let limits = Limits {
        max_body_bytes: 0,
        request_timeout: Duration::from_secs(1),
        max_concurrent_requests: 1,
    };
    let mut doc = serde_json::to_value(routes(&limits).into_openapi()).expect("serialisable");
    let detail = |description: &str| {
        json!({"description": description, "content": {"application/json": {"schema": {
            "type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}}}})
    };
    let unavailable = detail("Overloaded, timed out, or the database is unavailable: try again");
    let not_acceptable = detail("The Accept header names no JSON type");
    for (path, item) in doc["paths"].as_object_mut().expect("paths").iter_mut() {
        let api = path.starts_with("/api/");
        let guarded = api || path == "/" || path == "/hello";
        let methods = ["get", "put", "post", "delete", "options", "head", "patch"];
        for (_, operation) in item
            .as_object_mut()
            .expect("path item")
            .iter_mut()
            .filter(|(k, _)| methods.contains(&k.as_str()))
        {
            let responses = &mut operation["responses"];
            if guarded {
                responses["503"] = unavailable.clone();
            }
            if api {
                responses["406"] = not_acceptable.clone();
            }
        }
    }
    wire::complete(&mut doc);
    doc
}

/// The whole application. Every layer of the stack below wraps each route on its own, and axum
/// clones a route for each request, so they are given as one stack: one `Router::layer` call is
/// one boxed service per request, where each call would add another.
pub fn app(state: AppState, limits: &Limits) -> App {
    // Outermost first. The request id (taken from `x-request-id` or made, and returned) belongs to
    // the access log, so `Observe` handles it.
    let every_response = ServiceBuilder::new()
        .layer(MapResponseLayer::new(security_headers))
        .layer(telemetry::ObserveLayer::new(
            state.metrics().clone(),
            internal_error,
        ))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes));
    let router: Router = routes(limits)
        .split_for_parts()
        .0
        .fallback(drf::routing::not_found)
        .method_not_allowed_fallback(drf::routing::method_not_allowed)
        .layer(every_response)
        .with_state(state);
    // Before routing, so that `/api/users` reaches the `/api/users/` route.
    tower::util::MapRequestLayer::new(drf::routing::add_trailing_slash as fn(Request) -> Request)
        .layer(router)
}

/// The answer to a request whose handler panicked.
fn internal_error() -> Response<axum::body::Body> {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error.").into_response()
}

/// Set on every response unless the handler set them; one layer, not one per header (each layer
/// is one more future per request).
fn security_headers<B>(mut res: Response<B>) -> Response<B> {
    const HEADERS: [(HeaderName, HeaderValue); 4] = [
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ];
    let headers = res.headers_mut();
    headers.reserve(HEADERS.len());
    for (name, value) in HEADERS {
        headers.entry(name).or_insert(value);
    }
    res
}
