//! The hello service: `GET /hello` (and `/`, so the greeting answers at the bare address).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::{AppState, Greeting};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(root))
        .routes(routes!(hello, options_hello))
}

#[utoipa::path(get, path = "/", tag = "hello",
    responses((status = 200, description = "The greeting", content_type = "text/html; charset=utf-8", body = String)))]
async fn root(greeting: State<Greeting>) -> Response {
    hello(greeting).await
}

#[utoipa::path(get, path = "/hello", tag = "hello",
    responses((status = 200, description = "The greeting (default `Hello World from BenchSci!`)", content_type = "text/html; charset=utf-8", body = String)))]
async fn hello(State(greeting): State<Greeting>) -> Response {
    // Built with its length and room for the headers the middleware adds (security headers,
    // request id), so the header map is allocated once and never grows: this is the hottest path.
    let mut res = Response::new(Body::from(greeting.body));
    let headers = res.headers_mut();
    headers.reserve(8);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(HTML));
    headers.insert(header::CONTENT_LENGTH, greeting.length);
    res
}

const HTML: &str = "text/html; charset=utf-8";

/// As the original (Flask) answered it: empty, with the methods.
#[utoipa::path(options, path = "/hello", tag = "hello",
    responses((status = 200, description = "Empty; `Allow` lists the methods", content_type = "text/html; charset=utf-8", body = String,
        headers(("allow" = String, description = "GET, HEAD, OPTIONS")))))]
async fn options_hello() -> impl IntoResponse {
    (
        [
            (header::ALLOW, "GET, HEAD, OPTIONS"),
            (header::CONTENT_TYPE, HTML),
        ],
        "",
    )
}
