//! What handlers share. Each part is its own type, and a handler asks only for the parts it uses
//! (`State<Db>`, `State<Greeting>`...), which axum hands out through `FromRef`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::FromRef;
use axum::http::HeaderValue;
use bytes::Bytes;

use crate::storage::Db;
use crate::telemetry::Metrics;

/// Cloned for every request (axum hands each route a copy), so one reference count, not six.
#[derive(Clone)]
pub struct AppState(Arc<Parts>);

pub struct Parts {
    pub db: Db,
    pub greeting: Greeting,
    pub readiness: Readiness,
    pub body_limit: BodyLimit,
    pub metrics: Metrics,
    pub openapi: OpenApiJson,
}

impl AppState {
    pub fn new(parts: Parts) -> Self {
        AppState(Arc::new(parts))
    }

    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }
}

macro_rules! part {
    ($field:ident: $type:ty) => {
        impl FromRef<AppState> for $type {
            fn from_ref(state: &AppState) -> Self {
                state.0.$field.clone()
            }
        }
    };
}
part!(db: Db);
part!(greeting: Greeting);
part!(readiness: Readiness);
part!(body_limit: BodyLimit);
part!(metrics: Metrics);
part!(openapi: OpenApiJson);

/// The body of `/` and `/hello` and its Content-Length, made once: each response shares them
/// (a reference count), nothing is copied or formatted.
#[derive(Clone)]
pub struct Greeting {
    pub body: Bytes,
    pub length: HeaderValue,
}

impl Greeting {
    pub fn new(text: String) -> Self {
        let length = HeaderValue::from(text.len());
        Greeting {
            body: Bytes::from(text),
            length,
        }
    }
}

/// False once shutdown has begun: `/readyz` fails so load balancers stop sending traffic.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn shutting_down(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn begin_shutdown(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// MAX_BODY_BYTES, for the 413 message.
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

/// The OpenAPI document, serialised once at start.
#[derive(Clone)]
pub struct OpenApiJson(pub Bytes);
