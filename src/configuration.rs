//! Command line and environment configuration (12-factor: every flag has an environment twin).
//! The help texts here are the configuration reference: the README's table is generated from them
//! (tests/docs.rs fails when it drifts).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "shipshape",
    version,
    about = "The shipshape users API and hello service"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Options of `serve`, also accepted without the subcommand name.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Run the HTTP server (the default).
    Serve(ServeArgs),
    /// Apply the embedded database migrations and exit.
    Migrate(DbArgs),
    /// Probe a running server; exit 0 when it answers 2xx, 1 otherwise (for container HEALTHCHECKs).
    Healthcheck(HealthcheckArgs),
    /// Post-deploy smoke test: hello, then create/get/list/delete a user.
    Smoke(SmokeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Database: `sqlite://relative/path.db`, `sqlite:///absolute/path.db` or
    /// `postgres://user:pass@host/db?sslmode=verify-full&sslrootcert=/ca.pem`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/shipshape.db",
        hide_env_values = true
    )]
    pub database_url: String,

    /// File holding the database URL instead (e.g. a mounted Secret). PostgreSQL: re-read every
    /// second; a new URL is used once it logs in, older connections drain. Not with DATABASE_URL.
    #[arg(long, env = "DATABASE_URL_FILE", conflicts_with = "database_url")]
    pub database_url_file: Option<PathBuf>,

    /// Maximum connections in the database pool.
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,

    /// Seconds to wait for a database connection before answering 503.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_SECS", default_value_t = 3)]
    pub db_acquire_timeout_secs: u64,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to bind.
    #[arg(long, env = "BIND_ADDRESS", default_value = "0.0.0.0")]
    pub bind_address: IpAddr,

    /// Port to listen on (0 picks a free one; the chosen address is logged).
    #[arg(long, env = "PORT", default_value_t = 8000)]
    pub port: u16,

    #[command(flatten)]
    pub db: DbArgs,

    /// Apply the embedded migrations when the server starts; when all are applied it only reads
    /// (so the least-privilege application role can start with it).
    #[arg(long, env = "MIGRATE_ON_START", default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate_on_start: bool,

    /// Largest accepted request body in bytes; larger ones get 413.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,

    /// Seconds a request may take before it is answered with 503.
    #[arg(long, env = "REQUEST_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_secs: u64,

    /// Requests served at once; more are shed with 503 instead of queueing without bound (probes
    /// never are).
    #[arg(long, env = "MAX_CONCURRENT_REQUESTS", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_requests: u32,

    /// After SIGTERM: seconds to keep serving (readiness already 503) so load balancers deregister.
    #[arg(long, env = "SHUTDOWN_DRAIN_SECS", default_value_t = 3)]
    pub shutdown_drain_secs: u64,

    /// After the drain: seconds in-flight requests get to finish before the process exits anyway.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    pub shutdown_grace_secs: u64,

    /// Log filter, e.g. `info` or `shipshape=debug,sqlx=warn`. RUST_LOG, when set, is used instead.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Log filter in the same syntax (the variable every Rust program reads); when set and not
    /// empty it wins over LOG_LEVEL, so it can be added to a deployment that sets LOG_LEVEL.
    #[arg(long, env = "RUST_LOG")]
    pub rust_log: Option<String>,

    /// Log format; without it, JSON unless stdout is a terminal (one line per request).
    #[arg(long, env = "LOG_FORMAT")]
    pub log_format: Option<LogFormat>,

    #[command(flatten)]
    pub traces: TraceArgs,

    /// Body of GET / and GET /hello.
    #[arg(long, env = "GREETING", default_value = "Hello World from BenchSci!")]
    pub greeting: String,
}

/// OpenTelemetry traces (docs/observability.md). The names are the OpenTelemetry SDK's own; the
/// SDK also reads the other OTEL_* variables it defines (headers, timeout, batching, resource).
#[derive(Debug, Clone, Args)]
pub struct TraceArgs {
    /// OTLP/HTTP (protobuf) base URL of a trace collector, e.g. `http://otel-collector:4318`; spans
    /// go to its `/v1/traces`. Without it (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) no span is made
    /// or sent.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otel_exporter_otlp_endpoint: Option<String>,

    /// Full OTLP/HTTP URL for spans, used as given, e.g. `http://otel-collector:4318/v1/traces`;
    /// wins over OTEL_EXPORTER_OTLP_ENDPOINT.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")]
    pub otel_exporter_otlp_traces_endpoint: Option<String>,

    /// `service.name` of the spans; without it the one in OTEL_RESOURCE_ATTRIBUTES, else `shipshape`.
    #[arg(long, env = "OTEL_SERVICE_NAME")]
    pub otel_service_name: Option<String>,

    /// Which traces are recorded; the `parentbased_` ones follow the caller's `traceparent` decision.
    #[arg(
        long,
        env = "OTEL_TRACES_SAMPLER",
        default_value = "parentbased_always_on"
    )]
    pub otel_traces_sampler: TraceSampler,

    /// Fraction of traces the `traceidratio` samplers record, from 0 to 1 (default 1).
    #[arg(long, env = "OTEL_TRACES_SAMPLER_ARG", value_parser = ratio)]
    pub otel_traces_sampler_arg: Option<f64>,
}

/// OTEL_TRACES_SAMPLER values (OpenTelemetry SDK environment variable specification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TraceSampler {
    #[value(name = "always_on")]
    AlwaysOn,
    #[value(name = "always_off")]
    AlwaysOff,
    #[value(name = "traceidratio")]
    TraceIdRatio,
    #[value(name = "parentbased_always_on")]
    ParentBasedAlwaysOn,
    #[value(name = "parentbased_always_off")]
    ParentBasedAlwaysOff,
    #[value(name = "parentbased_traceidratio")]
    ParentBasedTraceIdRatio,
}

fn ratio(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not a number from 0 to 1")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// URL to probe; by default `http://127.0.0.1:$PORT/healthz`.
    #[arg(long)]
    pub url: Option<String>,

    /// Port of the server on this host, for the default URL.
    #[arg(long, env = "PORT", default_value_t = 8000)]
    pub port: u16,

    /// Seconds before the probe counts as failed.
    #[arg(long, default_value_t = 3)]
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Args)]
pub struct SmokeArgs {
    /// Base URL of the deployment, e.g. `https://shipshape.example.com`.
    #[arg(long, env = "SMOKE_BASE_URL")]
    pub base_url: String,

    /// Greeting expected from /hello.
    #[arg(long, env = "GREETING", default_value = "Hello World from BenchSci!")]
    pub greeting: String,

    /// Seconds each request may take.
    #[arg(long, default_value_t = 10)]
    pub timeout_secs: u64,
}

/// Invalid configuration: the process exits with code 2 and this one-line message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl ServeArgs {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// The log filter and the setting it came from: RUST_LOG when set and not empty, else
    /// LOG_LEVEL.
    pub fn log_filter(&self) -> LogFilter<'_> {
        match self.rust_log.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(filter) => LogFilter {
                setting: "RUST_LOG",
                filter,
            },
            None => LogFilter {
                setting: "LOG_LEVEL",
                filter: &self.log_level,
            },
        }
    }
}

/// A log filter (tracing-subscriber's EnvFilter syntax) and the name of the setting it came from,
/// for the error message when it is invalid.
#[derive(Debug, Clone, Copy)]
pub struct LogFilter<'a> {
    pub setting: &'static str,
    pub filter: &'a str,
}

/// Where the database URL came from, and the URL.
#[derive(Debug, Clone)]
pub enum DatabaseUrl {
    Env(String),
    File { path: PathBuf, url: String },
}

impl DatabaseUrl {
    pub fn url(&self) -> &str {
        match self {
            DatabaseUrl::Env(url) | DatabaseUrl::File { url, .. } => url,
        }
    }

    /// The setting's name, for error messages.
    pub fn name(&self) -> String {
        match self {
            DatabaseUrl::Env(_) => "DATABASE_URL".into(),
            DatabaseUrl::File { path, .. } => format!("DATABASE_URL_FILE ({})", path.display()),
        }
    }
}

impl DbArgs {
    /// DATABASE_URL, or the contents of DATABASE_URL_FILE (surrounding whitespace removed).
    pub fn database_url(&self) -> Result<DatabaseUrl, ConfigError> {
        let Some(path) = &self.database_url_file else {
            return Ok(DatabaseUrl::Env(self.database_url.clone()));
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError(format!(
                "DATABASE_URL_FILE: cannot read {}: {e}",
                path.display()
            ))
        })?;
        let url = text.trim();
        if url.is_empty() {
            return Err(ConfigError(format!(
                "DATABASE_URL_FILE: {} is empty",
                path.display()
            )));
        }
        Ok(DatabaseUrl::File {
            path: path.clone(),
            url: url.to_owned(),
        })
    }

    /// The URL without credentials, safe to log.
    pub fn redacted_url(&self) -> String {
        self.database_url()
            .map_or_else(|_| "<unreadable>".into(), |u| redact(u.url()))
    }
}

/// Drops the userinfo and query (which may hold a password) from a URL.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<unparsable>".into();
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let host_and_path = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{host_and_path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_credentials_and_query() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/shipshape?sslmode=require&password=x"),
            "postgres://db:5432/shipshape"
        );
        assert_eq!(
            redact("sqlite://data/shipshape.db"),
            "sqlite://data/shipshape.db"
        );
        assert_eq!(redact("garbage"), "<unparsable>");
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
