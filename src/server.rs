//! `shipshape serve`: start-up, and the shutdown sequence load balancers need.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::ServiceExt;
use axum::extract::Request;
use axum::serve::ListenerExt;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tower::Layer;
use tower::util::MapRequestLayer;

use crate::app::{self, AppState, Limits};
use crate::config::{ConfigError, ServeArgs};
use crate::db::Db;

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("http_request_duration_seconds".into()),
            LATENCY_BUCKETS,
        )?
        .install_recorder()?;
    metrics::gauge!(
        "shipshape_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
        "revision" => crate::ops::REVISION
    )
    .set(1.0);
    Ok(handle)
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let db = Db::connect_lazy(&args.db)?;
    tracing::info!(database = %args.db.redacted_url(), backend = db.backend(), "database configured");
    if args.migrate_on_start {
        db.migrate()
            .await
            .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))?;
        tracing::info!("migrations applied");
    }

    let metrics = install_metrics()?;
    let upkeep = metrics.clone();
    tokio::spawn(async move {
        // Histograms are drained into the exporter's buckets on upkeep.
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });

    let shutting_down = Arc::new(AtomicBool::new(false));
    let state = AppState {
        db: db.clone(),
        greeting: args.greeting.as_str().into(),
        shutting_down: shutting_down.clone(),
        max_body_bytes: args.max_body_bytes,
        metrics,
        openapi: Arc::new(OnceLock::new()),
    };
    let limits = Limits {
        max_body_bytes: args.max_body_bytes,
        request_timeout: args.request_timeout(),
        max_concurrent_requests: args.max_concurrent_requests as usize,
    };
    let router = app::build(state, &limits);
    let service = MapRequestLayer::new(app::add_trailing_slash).layer(router);

    let addr = SocketAddr::new(args.bind_address, args.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ConfigError(format!("cannot listen on {addr}: {e}")))?;
    let local = listener.local_addr()?;
    // Small JSON responses should leave at once, not wait for Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    tracing::info!(addr = %local, "listening");

    let drain = Duration::from_secs(args.shutdown_drain_secs);
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
    let stop_accepting = async move {
        shutdown_signal().await;
        // Readiness fails first; the listener keeps serving while load balancers deregister us.
        shutting_down.store(true, Ordering::SeqCst);
        tracing::info!(drain_secs = drain.as_secs(), "shutdown: draining");
        tokio::time::sleep(drain).await;
        tracing::info!(
            grace_secs = grace.as_secs(),
            "shutdown: no new connections, finishing in-flight requests"
        );
        let _ = drained_tx.send(());
    };
    let server = axum::serve(listener, ServiceExt::<Request>::into_make_service(service))
        .with_graceful_shutdown(stop_accepting);

    let grace_expired = async move {
        if drained_rx.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        res = server => res?,
        () = grace_expired => tracing::warn!("shutdown: grace period over, dropping remaining requests"),
    }
    db.close().await;
    tracing::info!("shutdown complete");
    Ok(())
}

async fn shutdown_signal() {
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
