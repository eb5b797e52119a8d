//! The users API: `/api/`, `/api/users/` and `/api/users/{id}/`, as the original DRF
//! `UserViewSet` served them (docs/contract.md).

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::domain::{NewUser, User};
use crate::drf::negotiation::{Allow, negotiate, query_pairs};
use crate::drf::parsers::request_fields;
use crate::drf::routing::{method_not_allowed, parse_id};
use crate::drf::{ApiError, metadata::metadata, serializer};
use crate::state::{AppState, BodyLimit};
use crate::storage::{Db, DbError, Listed, UserRow};

use super::wire::{
    BadRequest, Detail, NewUserForm, NewUserJson, NewUserMultipart, UserJson, UserPatchForm,
    UserPatchJson, UserPatchMultipart,
};

const LIST_PATH: &str = "/api/users/";

/// Largest page `?limit=` may ask for; without `limit` the whole list is returned, as before.
pub const MAX_LIMIT: i64 = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    let root = OpenApiRouter::new()
        .routes(json_405(routes!(api_root)))
        .route_layer(from_fn_with_state(Allow("GET, HEAD, OPTIONS"), negotiate));
    let list = OpenApiRouter::new()
        .routes(json_405(routes!(list_users, create_user, options_list)))
        .route_layer(from_fn_with_state(
            Allow("GET, POST, HEAD, OPTIONS"),
            negotiate,
        ));
    let detail = OpenApiRouter::new()
        .routes(json_405(routes!(
            get_user,
            update_user,
            patch_user,
            delete_user,
            options_detail
        )))
        .route_layer(from_fn_with_state(
            Allow("GET, PUT, PATCH, DELETE, HEAD, OPTIONS"),
            negotiate,
        ));
    root.merge(list).merge(detail)
}

/// The path's own 405, set before `negotiate` is layered, so that the 405 also carries the path's
/// `Allow` in DRF's order and `Vary` (the router-wide 405 fallback would replace an unlayered one).
fn json_405(mut routes: UtoipaMethodRouter<AppState>) -> UtoipaMethodRouter<AppState> {
    routes.2 = routes.2.fallback(method_not_allowed);
    routes
}

fn user_json(row: UserRow) -> Json<UserJson> {
    Json(User::from(row).into())
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
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query string; parsed by hand for DRF-style errors
struct ListParams {
    /// Page size. Without it the whole list is returned.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Users to skip (with or without `limit`).
    #[param(minimum = 0)]
    offset: Option<i64>,
}

#[utoipa::path(get, path = "/api/users/", tag = "users", params(ListParams),
    responses((status = 200, description = "Users in ascending id order", body = [UserJson]),
              (status = 400, description = "Invalid limit or offset", body = BadRequest)))]
async fn list_users(State(db): State<Db>, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let pairs = query_pairs(query.as_deref().unwrap_or_default());
    let param = |key: &str, min: i64, max: i64| -> Result<Option<i64>, ApiError> {
        match pairs.iter().rev().find(|(k, _)| k == key) {
            None => Ok(None),
            Some((_, v)) => match integer(v) {
                Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(ApiError::field(
                    key,
                    &format!("Ensure this value is an integer from {min} to {max}."),
                )),
            },
        }
    };
    let limit = param("limit", 1, MAX_LIMIT)?;
    let offset = param("offset", 0, i64::MAX)?.unwrap_or(0);
    Ok(match db.list_for_api(limit, offset).await? {
        // The same bytes `Json` writes (tests/api.rs compares the two backends' bodies).
        Listed::Json(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Listed::Rows(rows) => {
            let users: Vec<UserJson> = rows.into_iter().map(|r| User::from(r).into()).collect();
            Json(users).into_response()
        }
    })
}

/// A query integer: digits with an optional minus sign, nothing else.
fn integer(v: &str) -> Option<i64> {
    let digits = v.strip_prefix('-').unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

#[utoipa::path(post, path = "/api/users/", tag = "users",
    request_body(description = "JSON, form-urlencoded or multipart form. An empty body is an empty form.",
        content((NewUserJson = "application/json"), (NewUserForm = "application/x-www-form-urlencoded"), (NewUserMultipart = "multipart/form-data"))),
    responses((status = 201, description = "Created", body = UserJson),
              (status = 400, description = "Validation errors, a malformed body, or `{\"detail\": \"User already exists\"}`", body = BadRequest),
              (status = 413, description = "Body over MAX_BODY_BYTES", body = Detail),
              (status = 415, description = "Unsupported Content-Type", body = Detail)))]
async fn create_user(
    State(db): State<Db>,
    State(limit): State<BodyLimit>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<UserJson>), ApiError> {
    let fields = request_fields(&headers, body, limit.0).await?;
    let new = serializer::new_user(&fields)?;
    match db.create(new.dni.as_str(), new.name.as_str()).await {
        Ok(row) => Ok((StatusCode::CREATED, user_json(row))),
        Err(DbError::Conflict) => Err(serializer::create_conflict(&fields, &new.dni)),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(get, path = "/api/users/{id}/", tag = "users", params(("id" = i64, Path, minimum = 1, description = "Python's `int()` of the segment: `01` and `+1` are 1; anything else is not found")),
    responses((status = 200, description = "The user", body = UserJson), (status = 404, description = "No such user", body = Detail)))]
async fn get_user(
    State(db): State<Db>,
    Path(id): Path<String>,
) -> Result<Json<UserJson>, ApiError> {
    let id = parse_id(&id)?;
    db.get(id)
        .await?
        .map(user_json)
        .ok_or_else(ApiError::not_found)
}

#[utoipa::path(put, path = "/api/users/{id}/", tag = "users", params(("id" = i64, Path, minimum = 1, description = "Python's `int()` of the segment: `01` and `+1` are 1; anything else is not found")),
    request_body(description = "Both fields, as for POST.",
        content((NewUserJson = "application/json"), (NewUserForm = "application/x-www-form-urlencoded"), (NewUserMultipart = "multipart/form-data"))),
    responses((status = 200, description = "Replaced", body = UserJson),
              (status = 400, description = "Validation errors (a dni that is another user's too)", body = BadRequest),
              (status = 404, description = "No such user (checked before the body)", body = Detail),
              (status = 413, description = "Body over MAX_BODY_BYTES", body = Detail),
              (status = 415, description = "Unsupported Content-Type", body = Detail)))]
async fn update_user(
    State(db): State<Db>,
    State(limit): State<BodyLimit>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<UserJson>, ApiError> {
    // As in DRF: the object is looked up before the body is parsed (404 beats 400/415).
    let id = parse_id(&id)?;
    db.get(id).await?.ok_or_else(ApiError::not_found)?;
    let new = serializer::new_user(&request_fields(&headers, body, limit.0).await?)?;
    save(&db, id, new).await
}

#[utoipa::path(patch, path = "/api/users/{id}/", tag = "users", params(("id" = i64, Path, minimum = 1, description = "Python's `int()` of the segment: `01` and `+1` are 1; anything else is not found")),
    request_body(description = "Any of the fields; no body at all changes nothing.",
        content((UserPatchJson = "application/json"), (UserPatchForm = "application/x-www-form-urlencoded"), (UserPatchMultipart = "multipart/form-data"))),
    responses((status = 200, description = "Updated", body = UserJson),
              (status = 400, description = "Validation errors (a dni that is another user's too)", body = BadRequest),
              (status = 404, description = "No such user (checked before the body)", body = Detail),
              (status = 413, description = "Body over MAX_BODY_BYTES", body = Detail),
              (status = 415, description = "Unsupported Content-Type", body = Detail)))]
async fn patch_user(
    State(db): State<Db>,
    State(limit): State<BodyLimit>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<UserJson>, ApiError> {
    let id = parse_id(&id)?;
    let current = db.get(id).await?.ok_or_else(ApiError::not_found)?;
    let patch = serializer::user_patch(&request_fields(&headers, body, limit.0).await?)?;
    save(&db, id, patch.apply_to(current.into())).await
}

async fn save(db: &Db, id: i64, user: NewUser) -> Result<Json<UserJson>, ApiError> {
    match db.update(id, user.dni.as_str(), user.name.as_str()).await {
        Ok(Some(row)) => Ok(user_json(row)),
        Ok(None) => Err(ApiError::not_found()),
        // Updates have no pre-check in the original: always the serializer's field error.
        Err(DbError::Conflict) => Err(serializer::dni_taken()),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(delete, path = "/api/users/{id}/", tag = "users", params(("id" = i64, Path, minimum = 1, description = "Python's `int()` of the segment: `01` and `+1` are 1; anything else is not found")),
    responses((status = 204, description = "Deleted; the id is never reused"), (status = 404, description = "No such user", body = Detail)))]
async fn delete_user(State(db): State<Db>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    if db.delete(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}

#[utoipa::path(options, path = "/api/users/", tag = "users",
    responses((status = 200, description = "DRF-style metadata: fields and their limits", body = Object)))]
async fn options_list() -> Json<Value> {
    Json(metadata("User List", Some("POST")))
}

#[utoipa::path(options, path = "/api/users/{id}/", tag = "users",
    params(("id" = String, Path, description = "Anything: the metadata is answered for every id, as DRF does")),
    responses((status = 200, description = "DRF-style metadata; `actions` only when the user exists", body = Object)))]
async fn options_detail(
    State(db): State<Db>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let exists = match parse_id(&id) {
        Ok(id) => db.get(id).await?.is_some(),
        Err(_) => false,
    };
    Ok(Json(metadata("User Instance", exists.then_some("PUT"))))
}
