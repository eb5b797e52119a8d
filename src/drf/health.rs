//! `/ht/`, the original's django-health-check page: HTML by default, JSON on request, never cached.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Map, Value};

use super::negotiation::query_param;

/// A check's result: "working", or "unavailable: <reason>".
pub type Check = (&'static str, String);

pub const WORKING: &str = "working";

/// 200 when every check is working, 503 otherwise; JSON for `?format=json` or an `Accept` that
/// names application/json, else the HTML page.
pub fn page(checks: &[Check], query: Option<&str>, headers: &HeaderMap) -> Response {
    let status = if checks.iter().all(|(_, s)| s == WORKING) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let wants_json = query.and_then(|q| query_param(q, "format")).as_deref() == Some("json")
        || headers
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("application/json"));
    let mut res = if wants_json {
        let body: Map<String, Value> = checks
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

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
