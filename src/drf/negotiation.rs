//! DRF content negotiation: JSON is the only renderer, `?format=` picks a renderer by name, and
//! every API response says which methods its path allows and that it varies by `Accept`.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// The `Allow` header of a path, as DRF lists the view's methods.
#[derive(Clone, Copy)]
pub struct Allow(pub &'static str);

/// Middleware for the API routes (`from_fn_with_state(Allow(..), negotiate)`).
pub async fn negotiate(State(allow): State<Allow>, req: Request, next: Next) -> Response {
    let query = req.uri().query().unwrap_or_default();
    let format = query_pairs(query)
        .into_iter()
        .rev()
        .find(|(k, _)| k == "format")
        .map(|(_, v)| v);
    let mut res = if format.as_deref().is_some_and(|f| f != "json") {
        ApiError::not_found().into_response()
    } else if !accepts_json(req.headers()) {
        ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "Could not satisfy the request Accept header.",
        )
        .into_response()
    } else {
        next.run(req).await
    };
    let headers = res.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    headers
        .entry(header::ALLOW)
        .or_insert(HeaderValue::from_static(allow.0));
    res
}

fn accepts_json(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    accept.split(',').any(|part| {
        let mut it = part.split(';');
        let media = it.next().unwrap_or_default().trim().to_ascii_lowercase();
        let refused = it.any(|p| p.trim().replace(' ', "") == "q=0");
        !refused
            && matches!(
                media.as_str(),
                "" | "*/*" | "application/*" | "application/json"
            )
    })
}

/// Query string pairs as Django's QueryDict reads them (the last value of a key wins).
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(query).unwrap_or_default()
}

/// The last value of a query parameter.
pub fn query_param(query: &str, key: &str) -> Option<String> {
    query_pairs(query)
        .into_iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}
