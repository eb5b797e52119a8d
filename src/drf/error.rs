//! DRF's error shapes: every error leaves as JSON with the status DRF would use, either
//! `{"detail": ...}` or field errors `{"field": ["message", ...]}`. Server-side failures are logged,
//! never echoed to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::storage::DbError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({ "detail": detail.into() }),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found.")
    }

    pub fn fields(errors: Map<String, Value>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: Value::Object(errors),
        }
    }

    pub fn field(field: &str, message: &str) -> Self {
        Self::fields(Map::from_iter([(field.to_owned(), json!([message]))]))
    }

    pub fn non_field(message: impl Into<String>) -> Self {
        Self::field("non_field_errors", &message.into())
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Unsupported media type \"{content_type}\" in request."),
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body is larger than the limit of {limit} bytes."),
        )
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, detail)
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            // Callers map Conflict to the message their endpoint uses; this is the fallback.
            DbError::Conflict => super::serializer::dni_taken(),
            DbError::Unavailable(err) => {
                tracing::warn!(error = %err, "database unavailable");
                ApiError::unavailable("Database unavailable, try again later.")
            }
            DbError::Other(err) => {
                tracing::error!(error = %err, "database error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error.")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
