//! Operations endpoints: liveness, readiness, the original's /ht/, metrics, version, OpenAPI.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics::Label;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::drf::health::{self, Check, WORKING};
use crate::state::{AppState, OpenApiJson, Readiness};
use crate::storage::{Db, DbError};
use crate::telemetry::Metrics;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(ht))
        .routes(routes!(metrics))
        .routes(routes!(version))
        .routes(routes!(openapi_json))
}

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive and serving", body = Object, example = json!({"status": "ok"}))))]
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready: database reachable, not shutting down", body = Object, example = json!({"status": "ready"})),
              (status = 503, description = "Not ready, with the reason", body = Object, example = json!({"status": "not ready", "reason": "shutting down"}))))]
async fn readyz(State(readiness): State<Readiness>, State(db): State<Db>) -> Response {
    if readiness.shutting_down() {
        return not_ready("shutting down");
    }
    match tokio::time::timeout(std::time::Duration::from_secs(2), db.ping()).await {
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

/// The original's django-health-check page. It reports the checks that exist here (the database
/// and its migrations), each "working" or the error.
#[utoipa::path(get, path = "/ht/", tag = "operations",
    params(("format" = Option<String>, Query, description = "`json` for JSON; anything else, or none, for the HTML page")),
    responses((status = 200, description = "All checks working. JSON for `?format=json` or an `Accept` naming application/json, else HTML.",
                  content((Object = "application/json", example = json!({"DatabaseBackend": "working", "MigrationsHealthCheck": "working"})),
                          (String = "text/html; charset=utf-8"))),
              (status = 503, description = "A check failed; each check says `working` or why not",
                  content((Object = "application/json", example = json!({"DatabaseBackend": "unavailable: database unreachable", "MigrationsHealthCheck": "unavailable: database unreachable"})),
                          (String = "text/html; charset=utf-8")))))]
async fn ht(State(db): State<Db>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let database = match db.ping().await {
        Ok(()) => WORKING.to_owned(),
        Err(e) => unavailable(&e),
    };
    let migrations = match db.migrations_applied().await {
        Ok(true) => WORKING.to_owned(),
        Ok(false) => "unavailable: migrations are not applied".to_owned(),
        Err(e) => unavailable(&e),
    };
    let checks: [Check; 2] = [
        ("DatabaseBackend", database),
        ("MigrationsHealthCheck", migrations),
    ];
    health::page(&checks, query.as_deref(), &headers)
}

fn unavailable(e: &DbError) -> String {
    match e {
        DbError::Unavailable(_) => "unavailable: database unreachable".into(),
        _ => "unavailable: database error".into(),
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)))]
async fn metrics(State(metrics): State<Metrics>, State(db): State<Db>) -> Response {
    let (size, idle, max) = db.pool_stats();
    let pool = "shipshape_db_pool_connections";
    metrics.gauge(pool, vec![Label::new("state", "idle")], idle as f64);
    metrics.gauge(
        pool,
        vec![Label::new("state", "in_use")],
        size.saturating_sub(idle as u32) as f64,
    );
    metrics.gauge("shipshape_db_pool_max_connections", vec![], max as f64);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/version", tag = "operations",
    responses((status = 200, description = "Build information", body = Object, example = json!({"name": "shipshape", "version": "0.1.0", "revision": "abc1234", "database": "sqlite"}))))]
async fn version(State(db): State<Db>) -> Json<Value> {
    Json(json!({
        "name": env!("CARGO_PKG_NAME"),
        "version": env!("CARGO_PKG_VERSION"),
        "revision": crate::REVISION,
        "database": db.backend(),
    }))
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This OpenAPI 3 document", body = Object)))]
async fn openapi_json(State(doc): State<OpenApiJson>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], doc.0).into_response()
}
