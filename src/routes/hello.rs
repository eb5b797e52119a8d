//! The hello service: `GET /hello` (and `/`, so the greeting answers at the bare address).

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use bytes::Bytes;
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
async fn root(greeting: State<Greeting>) -> Html<Bytes> {
    hello(greeting).await
}

#[utoipa::path(get, path = "/hello", tag = "hello",
    responses((status = 200, description = "The greeting (default `Hello World from BenchSci!`)", content_type = "text/html; charset=utf-8", body = String)))]
async fn hello(State(greeting): State<Greeting>) -> Html<Bytes> {
    Html(greeting.0)
}

/// As the original (Flask) answered it: empty, with the methods.
#[utoipa::path(options, path = "/hello", tag = "hello",
    responses((status = 200, description = "Empty; `Allow` lists the methods", content_type = "text/html; charset=utf-8", body = String,
        headers(("allow" = String, description = "GET, HEAD, OPTIONS")))))]
async fn options_hello() -> impl IntoResponse {
    (
        [
            (header::ALLOW, "GET, HEAD, OPTIONS"),
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        ],
        "",
    )
}
