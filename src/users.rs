//! The users API, wire-compatible with the original DRF `UserViewSet` (see shared/contract).

use axum::Json;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::db::{DbError, User};
use crate::error::ApiError;
use crate::input::{self, DNI_MAX, NAME_MAX};

pub const LIST_PATH: &str = "/api/users/";
pub const DETAIL_PATH: &str = "/api/users/{id}/";
const LIST_ALLOW: &str = "GET, POST, HEAD, OPTIONS";
const DETAIL_ALLOW: &str = "GET, PUT, PATCH, DELETE, HEAD, OPTIONS";
const ROOT_ALLOW: &str = "GET, HEAD, OPTIONS";

/// Largest page `?limit=` may ask for; without `limit` the whole list is returned, as before.
pub const MAX_LIMIT: i64 = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(api_root))
        .routes(routes!(list_users, create_user, options_list))
        .routes(routes!(
            get_user,
            update_user,
            patch_user,
            delete_user,
            options_detail
        ))
        .route_layer(axum::middleware::from_fn(api_negotiation))
}

/// DRF content negotiation (JSON is the only renderer) plus the headers every API response has.
async fn api_negotiation(path: MatchedPath, req: Request, next: Next) -> Response {
    let query = req.uri().query().unwrap_or_default();
    let format = form_pairs(query)
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
    let allow = match path.as_str() {
        LIST_PATH => LIST_ALLOW,
        DETAIL_PATH => DETAIL_ALLOW,
        _ => ROOT_ALLOW,
    };
    let headers = res.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    headers
        .entry(header::ALLOW)
        .or_insert(HeaderValue::from_static(allow));
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

fn form_pairs(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(query).unwrap_or_default()
}

/// The body, capped by the configured limit (413, not a buffering of anything a client sends).
fn body_or_413(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    match body {
        Ok(b) => Ok(b),
        Err(BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_))) => {
            Err(ApiError::payload_too_large(limit))
        }
        Err(e) => Err(ApiError::bad_request(format!(
            "Could not read the request body: {e}"
        ))),
    }
}

/// Path ids go through Python's int() in the original: `01` and `+1` are user 1; anything that
/// is not an integer, or does not fit in 64 bits, is simply not found.
fn parse_id(raw: &str) -> Result<i64, ApiError> {
    let s = raw.trim();
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::not_found());
    }
    digits.parse::<i64>().map_err(|_| ApiError::not_found())
}

#[utoipa::path(get, path = "/api/", tag = "users",
    responses((status = 200, description = "Links to the API's collections", body = Object, example = json!({"users": "http://localhost:8000/api/users/"}))))]
async fn api_root(headers: HeaderMap) -> Json<Value> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    Json(json!({ "users": format!("{scheme}://{host}{LIST_PATH}") }))
}

#[derive(utoipa::IntoParams)]
#[allow(dead_code)] // documents the query string; parsed by hand for DRF-style errors
struct ListParams {
    /// Page size, 1..=1000. Without it the whole list is returned.
    limit: Option<i64>,
    /// Users to skip (with or without `limit`).
    offset: Option<i64>,
}

#[utoipa::path(get, path = "/api/users/", tag = "users", params(ListParams),
    responses((status = 200, description = "Users in ascending id order", body = [User]),
              (status = 400, description = "Invalid limit or offset")))]
async fn list_users(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<User>>, ApiError> {
    let pairs = form_pairs(query.as_deref().unwrap_or_default());
    let param = |key: &str, min: i64, max: i64| -> Result<Option<i64>, ApiError> {
        match pairs.iter().rev().find(|(k, _)| k == key) {
            None => Ok(None),
            Some((_, v)) => match v.trim().parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(ApiError::field(
                    key,
                    &format!("Ensure this value is an integer from {min} to {max}."),
                )),
            },
        }
    };
    let limit = param("limit", 1, MAX_LIMIT)?;
    let offset = param("offset", 0, i64::MAX)?.unwrap_or(0);
    Ok(Json(state.db.list(limit, offset).await?))
}

#[utoipa::path(post, path = "/api/users/", tag = "users",
    request_body(description = "JSON, form-urlencoded or multipart form",
        content((UserBody = "application/json"), (UserBody = "application/x-www-form-urlencoded"), (UserBody = "multipart/form-data"))),
    responses((status = 201, description = "Created", body = User),
              (status = 400, description = "Validation error or `{\"detail\":\"User already exists\"}`"),
              (status = 413, description = "Body over the configured limit"),
              (status = 415, description = "Unsupported content type")))]
async fn create_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let fields = input::parse_body(&headers, body_or_413(body, state.max_body_bytes)?).await?;
    let user = input::validate_user(&fields, false)?;
    let (dni, name) = (user.dni.unwrap_or_default(), user.name.unwrap_or_default());
    match state.db.create(&dni, &name).await {
        Ok(user) => Ok((StatusCode::CREATED, Json(user))),
        // The original answered "User already exists" when the submitted dni matched as sent,
        // and the serializer's field error when only the trimmed value did. Keep both shapes.
        Err(DbError::Conflict) if input::raw_dni(&fields).as_deref() == Some(dni.as_str()) => {
            Err(ApiError::bad_request("User already exists"))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: bodies are validated field by field, DRF-style
struct UserBody {
    /// 1..=13 code points after trimming; unique. Numbers are accepted and stored as text.
    #[schema(max_length = 13)]
    dni: String,
    /// 1..=30 code points after trimming.
    #[schema(max_length = 30)]
    name: String,
}

#[utoipa::path(get, path = "/api/users/{id}/", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = User), (status = 404, description = "No such user")))]
async fn get_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<User>, ApiError> {
    let id = parse_id(&id)?;
    state
        .db
        .get(id)
        .await?
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

#[utoipa::path(put, path = "/api/users/{id}/", tag = "users", params(("id" = i64, Path)),
    request_body(content = UserBody),
    responses((status = 200, body = User), (status = 400), (status = 404), (status = 413), (status = 415)))]
async fn update_user(
    state: State<AppState>,
    id: Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<User>, ApiError> {
    save(state, id, headers, body, false).await
}

#[utoipa::path(patch, path = "/api/users/{id}/", tag = "users", params(("id" = i64, Path)),
    request_body(content = UserBody, description = "Any subset of the fields"),
    responses((status = 200, body = User), (status = 400), (status = 404), (status = 413), (status = 415)))]
async fn patch_user(
    state: State<AppState>,
    id: Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<User>, ApiError> {
    save(state, id, headers, body, true).await
}

async fn save(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    partial: bool,
) -> Result<Json<User>, ApiError> {
    // As in DRF: the object is looked up before the body is parsed (404 beats 400/415).
    let id = parse_id(&id)?;
    let current = state.db.get(id).await?.ok_or_else(ApiError::not_found)?;
    let fields = input::parse_body(&headers, body_or_413(body, state.max_body_bytes)?).await?;
    let input = input::validate_user(&fields, partial)?;
    let dni = input.dni.unwrap_or(current.dni);
    let name = input.name.unwrap_or(current.name);
    state
        .db
        .update(id, &dni, &name)
        .await?
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

#[utoipa::path(delete, path = "/api/users/{id}/", tag = "users", params(("id" = i64, Path)),
    responses((status = 204, description = "Deleted; the id is never reused"), (status = 404)))]
async fn delete_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    if state.db.delete(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}

fn metadata(name: &str, action: Option<&str>) -> Value {
    let mut meta = json!({
        "name": name,
        "description": "",
        "renders": ["application/json"],
        "parses": ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"],
    });
    if let Some(action) = action {
        meta["actions"] = json!({ action: {
            "id": {"type": "integer", "required": false, "read_only": true, "label": "ID"},
            "dni": {"type": "string", "required": true, "read_only": false, "label": "Dni", "max_length": DNI_MAX},
            "name": {"type": "string", "required": true, "read_only": false, "label": "Name", "max_length": NAME_MAX},
        }});
    }
    meta
}

#[utoipa::path(options, path = "/api/users/", tag = "users",
    responses((status = 200, description = "DRF-style metadata: fields and their limits", body = Object)))]
async fn options_list() -> Json<Value> {
    Json(metadata("User List", Some("POST")))
}

#[utoipa::path(options, path = "/api/users/{id}/", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, description = "DRF-style metadata; no `actions` for an unknown id", body = Object)))]
async fn options_detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let exists = match parse_id(&id) {
        Ok(id) => state.db.get(id).await?.is_some(),
        Err(_) => false,
    };
    Ok(Json(metadata("User Instance", exists.then_some("PUT"))))
}
