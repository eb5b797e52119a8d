//! `shipshape serve`: start-up, and the shutdown sequence load balancers need.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
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

    // Under systemd socket activation the listening socket outlives this process, so connections
    // that arrive while a release restarts the service wait in its backlog instead of being refused.
    let listener = match inherited_listener(
        std::env::var("LISTEN_PID").ok().as_deref(),
        std::env::var("LISTEN_FDS").ok().as_deref(),
        std::process::id(),
        SD_LISTEN_FDS_START,
    )
    .map_err(|e| ConfigError(format!("socket activation: {e}")))?
    {
        Some(std) => {
            tracing::info!("using the listening socket passed by systemd (socket activation)");
            tokio::net::TcpListener::from_std(std)?
        }
        None => {
            let addr = SocketAddr::new(args.bind_address, args.port);
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| ConfigError(format!("cannot listen on {addr}: {e}")))?
        }
    };
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

/// First file descriptor systemd passes (sd_listen_fds(3): SD_LISTEN_FDS_START).
const SD_LISTEN_FDS_START: RawFd = 3;

/// The listening TCP socket systemd passed with socket activation, if any (the sd_listen_fds
/// protocol: `LISTEN_PID` is this process and `LISTEN_FDS` >= 1; the first socket is `first_fd`).
/// Not activated (variables unset, or meant for another process): `Ok(None)`, bind as usual.
/// Activated with something that is not one listening TCP socket: an error, never a silent bind.
fn inherited_listener(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    own_pid: u32,
    first_fd: RawFd,
) -> Result<Option<std::net::TcpListener>, String> {
    let (Some(pid), Some(fds)) = (listen_pid, listen_fds) else {
        return Ok(None);
    };
    if pid.trim().parse::<u32>().ok() != Some(own_pid) {
        return Ok(None);
    }
    match fds.trim().parse::<u32>() {
        Ok(1) => {}
        Ok(n) => return Err(format!("LISTEN_FDS={n}, expected exactly one socket")),
        Err(_) => return Err(format!("LISTEN_FDS={fds:?} is not a number")),
    }
    // SAFETY: with LISTEN_PID naming this process, systemd hands it `first_fd` and nothing else in
    // this process owns that descriptor; it is taken exactly once, here, at start-up.
    let passed = unsafe { OwnedFd::from_raw_fd(first_fd) };
    // systemd passes it without FD_CLOEXEC: keep a close-on-exec duplicate, close the original.
    let fd = passed
        .try_clone()
        .map_err(|e| format!("fd {first_fd}: {e}"))?;
    drop(passed);
    let listener = std::net::TcpListener::from(fd);
    match listener.local_addr() {
        Ok(addr) if addr.port() != 0 => {}
        Ok(addr) => return Err(format!("fd {first_fd} is not a bound TCP socket ({addr})")),
        Err(e) => return Err(format!("fd {first_fd} is not a TCP socket: {e}")),
    }
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("fd {first_fd}: {e}"))?;
    Ok(Some(listener))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::IntoRawFd;

    #[test]
    fn not_activated_when_the_variables_are_missing_or_for_another_process() {
        assert!(inherited_listener(None, None, 42, 3).unwrap().is_none());
        assert!(
            inherited_listener(Some("42"), None, 42, 3)
                .unwrap()
                .is_none()
        );
        assert!(
            inherited_listener(None, Some("1"), 42, 3)
                .unwrap()
                .is_none()
        );
        // A parent's activation leaking into a child: not ours, ignored.
        assert!(
            inherited_listener(Some("41"), Some("1"), 42, 3)
                .unwrap()
                .is_none()
        );
        assert!(
            inherited_listener(Some("x"), Some("1"), 42, 3)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn activation_with_a_wrong_socket_count_is_an_error() {
        let err = inherited_listener(Some("42"), Some("2"), 42, 3).unwrap_err();
        assert!(err.contains("LISTEN_FDS=2"), "{err}");
        let err = inherited_listener(Some("42"), Some("one"), 42, 3).unwrap_err();
        assert!(err.contains("not a number"), "{err}");
    }

    #[test]
    fn takes_the_passed_listening_socket_and_serves_on_it() {
        let original = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = original.local_addr().unwrap();
        let fd = original.into_raw_fd();
        let pid = std::process::id();
        let listener = inherited_listener(Some(&pid.to_string()), Some("1"), pid, fd)
            .unwrap()
            .expect("activated");
        assert_eq!(listener.local_addr().unwrap(), addr);
        listener.set_nonblocking(false).unwrap();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let (mut conn, _) = listener.accept().unwrap();
        client.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
    }

    #[test]
    fn a_passed_descriptor_that_is_not_a_socket_is_refused() {
        let file = std::fs::File::open("/dev/null").unwrap();
        let fd = file.into_raw_fd();
        let pid = std::process::id();
        let err = inherited_listener(Some(&pid.to_string()), Some("1"), pid, fd).unwrap_err();
        assert!(err.contains("not a TCP socket"), "{err}");
    }
}
