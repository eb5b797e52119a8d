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
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tower::ServiceBuilder;
use tower::util::{MapRequest, MapResponse};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::drf::{self, ApiError};
use crate::state::AppState;
use crate::telemetry::{Observe, ObserveLayer, RouteLabels};

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

/// Limits for building the routes only to read their documentation: it does not depend on them.
const ANY_LIMITS: Limits = Limits {
    max_body_bytes: 0,
    request_timeout: Duration::from_secs(1),
    max_concurrent_requests: 1,
};

/// The application as the listener serves it.
pub type App =
    MapRequest<MapResponse<Observe<Router>, fn(Response) -> Response>, fn(Request) -> Request>;

/// Every route with its documentation: utoipa-axum registers a route and its OpenAPI operation in
/// one call, so the document cannot list a route that is not served or miss one that is.
fn routes(limits: &Limits) -> OpenApiRouter<AppState> {
    // Client-facing routes get a timeout and load shedding; probes and metrics do not, so an
    // overloaded pod is not also declared dead.
    // The body limit here too: these are the routes that read bodies, and one `layer` call is
    // one boxed service per request.
    let guarded = ServiceBuilder::new()
        .layer(guard::GuardLayer::new(
            limits.max_concurrent_requests,
            limits.request_timeout,
        ))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes));
    let public = users::router().merge(hello::router()).layer(guarded);
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(public)
        .merge(ops::router())
}

/// The OpenAPI document of the application, with the answers middleware gives on top of the
/// handlers' own: 503 on the guarded routes (shed, timed out, database unavailable) and 406 from
/// the API's content negotiation.
pub fn openapi() -> Value {
    let mut doc = serde_json::to_value(routes(&ANY_LIMITS).into_openapi()).expect("serialisable");
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

/// The whole application: the layers every response passes, around the router. They wrap the
/// router once: as a `Router::layer` they would wrap each route, and axum clones a route's boxed
/// service and boxes its future on every request.
pub fn app(state: AppState, limits: &Limits) -> App {
    let (router, doc) = routes(limits).split_for_parts();
    let labels = RouteLabels::new(doc.paths.paths.keys().map(String::as_str));
    let metrics = state.metrics().clone();
    let router: Router = router
        .fallback(drf::routing::not_found)
        .method_not_allowed_fallback(drf::routing::method_not_allowed)
        .with_state(state);
    // Outermost first. The request id (taken from `x-request-id` or made, and returned) belongs to
    // the access log, so `Observe` handles it. Trailing slashes are added before routing, so that
    // `/api/users` reaches the `/api/users/` route.
    ServiceBuilder::new()
        .map_request(drf::routing::add_trailing_slash as fn(Request) -> Request)
        .map_response(security_headers as fn(Response) -> Response)
        .layer(ObserveLayer::new(metrics, labels, internal_error))
        .service(router)
}

/// The answer to a request whose handler panicked.
fn internal_error() -> Response {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error.").into_response()
}

/// Set on every response unless the handler set them; one layer, not one per header (each layer
/// is one more future per request).
fn security_headers(mut res: Response) -> Response {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route's template is the label of the paths it serves, and only of those.
    #[test]
    fn each_route_is_labelled_with_its_template() {
        let doc = routes(&ANY_LIMITS).into_openapi();
        let templates: Vec<&str> = doc.paths.paths.keys().map(String::as_str).collect();
        assert!(templates.len() >= 10, "{templates:?}");
        let labels = RouteLabels::new(templates.iter().copied());
        for template in &templates {
            let path = template.replace("{id}", "007");
            assert_eq!(labels.of(&path).as_deref(), Some(*template), "{path}");
        }
        for path in ["/nowhere", "/api/users/7/x/", "/hello/", "/api/users"] {
            assert_eq!(labels.of(path), None, "{path}");
        }
    }
}
