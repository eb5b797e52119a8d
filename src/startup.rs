//! Builds the application once, for `shipshape serve` and for the tests alike, and runs it with
//! the shutdown sequence load balancers need.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::ServiceExt;
use axum::extract::Request;
use axum::serve::ListenerExt;
use bytes::Bytes;
use tokio::net::TcpListener;

use crate::configuration::{ConfigError, ServeArgs};
use crate::routes::{self, App, Limits};
use crate::state::{AppState, BodyLimit, Greeting, OpenApiJson, Readiness};
use crate::storage::Db;
use crate::telemetry::Metrics;

/// A configured server: database opened (and migrated), listener bound, not serving yet.
pub struct Application {
    listener: TcpListener,
    app: App,
    db: Db,
    readiness: Readiness,
    metrics: Metrics,
    drain: Duration,
    grace: Duration,
}

impl Application {
    pub async fn build(args: ServeArgs) -> anyhow::Result<Self> {
        let db = Db::connect_lazy(&args.db)?;
        tracing::info!(database = %args.db.redacted_url(), backend = db.backend(), "database configured");
        if args.migrate_on_start {
            db.migrate()
                .await
                .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))?;
            tracing::info!("migrations applied");
        }
        db.watch_credentials();

        let metrics = Metrics::new()?;
        let readiness = Readiness::default();
        let openapi = serde_json::to_vec(&routes::openapi())?;
        let state = AppState {
            db: db.clone(),
            greeting: Greeting(args.greeting.as_str().into()),
            readiness: readiness.clone(),
            body_limit: BodyLimit(args.max_body_bytes),
            metrics: metrics.clone(),
            openapi: OpenApiJson(Bytes::from(openapi)),
        };
        let limits = Limits {
            max_body_bytes: args.max_body_bytes,
            request_timeout: args.request_timeout(),
            max_concurrent_requests: args.max_concurrent_requests as usize,
        };
        let app = routes::app(state, &limits);
        let listener = listen(SocketAddr::new(args.bind_address, args.port)).await?;
        tracing::info!(addr = %listener.local_addr()?, "listening");
        Ok(Application {
            listener,
            app,
            db,
            readiness,
            metrics,
            drain: Duration::from_secs(args.shutdown_drain_secs),
            grace: Duration::from_secs(args.shutdown_grace_secs),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then: readiness fails at once, the listener keeps
    /// serving for the drain time (load balancers deregister), then stops accepting, and
    /// in-flight requests get the grace time to finish. The pool is closed last.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Application {
            listener,
            app,
            db,
            readiness,
            metrics,
            drain,
            grace,
        } = self;
        let upkeep = tokio::spawn(metrics.upkeep());
        // Small JSON responses should leave at once, not wait for Nagle's algorithm.
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set");
            }
        });
        let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
        let stop_accepting = async move {
            shutdown.await;
            readiness.begin_shutdown();
            tracing::info!(drain_secs = drain.as_secs(), "shutdown: draining");
            tokio::time::sleep(drain).await;
            tracing::info!(
                grace_secs = grace.as_secs(),
                "shutdown: no new connections, finishing in-flight requests"
            );
            let _ = drained_tx.send(());
        };
        let server = axum::serve(listener, ServiceExt::<Request>::into_make_service(app))
            .with_graceful_shutdown(stop_accepting);
        let grace_expired = async move {
            if drained_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let result = tokio::select! {
            res = server => res.map_err(anyhow::Error::from),
            () = grace_expired => {
                tracing::warn!("shutdown: grace period over, dropping remaining requests");
                Ok(())
            }
        };
        upkeep.abort();
        db.close().await;
        tracing::info!("shutdown complete");
        result
    }
}

/// The one place the server's socket is made.
pub async fn listen(addr: SocketAddr) -> Result<TcpListener, ConfigError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| ConfigError(format!("cannot listen on {addr}: {e}")))
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot install SIGTERM handler");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!(signal = "SIGINT", "shutdown requested"),
        () = term => tracing::info!(signal = "SIGTERM", "shutdown requested"),
    }
}
