//! Operations endpoints: hello, liveness, readiness, the original's /ht/, metrics, version, OpenAPI.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

pub const REVISION: &str = match option_env!("SHIPSHAPE_REVISION") {
    Some(r) => r,
    None => "unknown",
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(ht))
        .routes(routes!(metrics))
        .routes(routes!(version))
}

pub fn hello_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(root))
        .routes(routes!(hello))
}

#[utoipa::path(get, path = "/", tag = "hello",
    responses((status = 200, description = "The greeting", content_type = "text/html; charset=utf-8", body = String)))]
async fn root(state: State<AppState>) -> Html<String> {
    hello(state).await
}

#[utoipa::path(get, path = "/hello", tag = "hello",
    responses((status = 200, description = "The greeting (default `Hello World from BenchSci!`)", content_type = "text/html; charset=utf-8", body = String)))]
async fn hello(State(state): State<AppState>) -> Html<String> {
    Html(state.greeting.to_string())
}

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive and serving", body = Object, example = json!({"status": "ok"}))))]
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready: database reachable, not shutting down", body = Object, example = json!({"status": "ready"})),
              (status = 503, description = "Not ready, with the reason", body = Object, example = json!({"status": "not ready", "reason": "shutting down"}))))]
async fn readyz(State(state): State<AppState>) -> Response {
    if state.shutting_down.load(Ordering::Relaxed) {
        return not_ready("shutting down");
    }
    match tokio::time::timeout(std::time::Duration::from_secs(2), state.db.ping()).await {
        Ok(Ok(())) => Json(json!({ "status": "ready" })).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database check failed");
            not_ready("database unreachable")
        }
        Err(_) => not_ready("database check timed out"),
    }
}

fn not_ready(reason: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "not ready", "reason": reason })),
    )
        .into_response()
}

/// The original's django-health-check page: HTML by default, JSON on request. It reports the
/// checks that exist here (the database and its migrations), each "working" or the error.
#[utoipa::path(get, path = "/ht/", tag = "operations",
    params(("format" = Option<String>, Query, description = "`json` for JSON")),
    responses((status = 200, description = "All checks working", body = Object, example = json!({"DatabaseBackend": "working", "MigrationsHealthCheck": "working"})),
              (status = 503, description = "A check failed")))]
async fn ht(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let db = match state.db.ping().await {
        Ok(()) => "working".to_owned(),
        Err(e) => format!("unavailable: {}", short_error(&e)),
    };
    let migrations = match state.db.migrations_applied().await {
        Ok(true) => "working".to_owned(),
        Ok(false) => "unavailable: migrations are not applied".to_owned(),
        Err(e) => format!("unavailable: {}", short_error(&e)),
    };
    let checks = [
        ("DatabaseBackend", db),
        ("MigrationsHealthCheck", migrations),
    ];
    let status = if checks.iter().all(|(_, s)| s == "working") {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let wants_json = query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|p| p == "format=json"))
        || headers
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("application/json"));
    let mut res = if wants_json {
        let body: serde_json::Map<String, Value> = checks
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(v.as_str())))
            .collect();
        (status, Json(body)).into_response()
    } else {
        let rows: String = checks
            .iter()
            .map(|(k, v)| format!("<tr><td>{k}</td><td>{}</td></tr>", html_escape(v)))
            .collect();
        let page = format!(
            "<!DOCTYPE html><html><head><title>System status</title></head><body><h1>System status</h1>\
             <table><tr><th>Service</th><th>Status</th></tr>{rows}</table></body></html>"
        );
        (status, Html(page)).into_response()
    };
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=0, no-cache, no-store, must-revalidate, private"),
    );
    res
}

fn short_error(e: &crate::db::DbError) -> &'static str {
    match e {
        crate::db::DbError::Unavailable(_) => "database unreachable",
        _ => "database error",
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain; version=0.0.4", body = String)))]
async fn metrics(State(state): State<AppState>) -> Response {
    let (size, idle, max) = state.db.pool_stats();
    metrics::gauge!("shipshape_db_pool_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("shipshape_db_pool_connections", "state" => "in_use")
        .set(size.saturating_sub(idle as u32) as f64);
    metrics::gauge!("shipshape_db_pool_max_connections").set(max as f64);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/version", tag = "operations",
    responses((status = 200, description = "Build information", body = Object, example = json!({"name": "shipshape", "version": "0.1.0", "revision": "abc1234", "database": "sqlite"}))))]
async fn version(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "name": env!("CARGO_PKG_NAME"),
        "version": env!("CARGO_PKG_VERSION"),
        "revision": REVISION,
        "database": state.db.backend(),
    }))
}
