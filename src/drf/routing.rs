//! Paths and methods as the original served them: ids through Python's `int()`, the trailing slash
//! optional (the original redirected, and lost POST bodies doing so), JSON 404s and 405s.

use axum::extract::Request;
use axum::http::{Method, StatusCode, Uri};

use super::ApiError;

/// Path ids go through Python's int() in the original: `01` and `+1` are user 1; anything that
/// is not an integer, or does not fit in 64 bits, is simply not found.
pub fn parse_id(raw: &str) -> Result<i64, ApiError> {
    let s = raw.trim();
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::not_found());
    }
    digits.parse::<i64>().map_err(|_| ApiError::not_found())
}

/// Serves the API and /ht/ with or without the trailing slash by adding it before routing.
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

/// The fallback for unknown paths.
pub async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// A known path with a method it does not serve: DRF's JSON 405 (axum adds the `Allow` header).
pub async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("Method \"{method}\" not allowed."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_python_int() {
        assert_eq!(parse_id("01").unwrap(), 1);
        assert_eq!(parse_id("+7").unwrap(), 7);
        for bad in ["", "abc", "-1", "1e3", "1.5", "9223372036854775808"] {
            assert_eq!(
                parse_id(bad).unwrap_err().status,
                StatusCode::NOT_FOUND,
                "{bad}"
            );
        }
    }
}
