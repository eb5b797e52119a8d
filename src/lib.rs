//! shipshape: the users API and hello service.
//!
//! Modules depend downwards only: `startup` builds the application from `configuration` and
//! `routes`; `routes` speak HTTP through `drf` and work on `domain` values; `domain` reads
//! `storage` rows; `storage` knows SQL and nothing above it. `client` is the binary's own HTTP
//! client (`healthcheck`, `smoke`).

pub mod client;
pub mod configuration;
pub mod domain;
pub mod drf;
pub mod routes;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;

/// The source revision the binary was built from (SHIPSHAPE_REVISION at build time).
pub const REVISION: &str = match option_env!("SHIPSHAPE_REVISION") {
    Some(r) => r,
    None => "unknown",
};
