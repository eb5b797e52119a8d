//! Builds the application once, for `shipshape serve` and for the tests alike, and runs it with
//! the shutdown sequence load balancers need.

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::CONNECTION;
use axum::http::{HeaderValue, Version};
use bytes::Bytes;
use futures_util::FutureExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::configuration::{ConfigError, ServeArgs};
use crate::routes::{self, App, Limits};
use crate::state::{AppState, BodyLimit, Greeting, OpenApiJson, Parts, Readiness};
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
        let state = AppState::new(Parts {
            db: db.clone(),
            greeting: Greeting::new(args.greeting.clone()),
            readiness: readiness.clone(),
            body_limit: BodyLimit(args.max_body_bytes),
            metrics: metrics.clone(),
            openapi: OpenApiJson(Bytes::from(openapi)),
        });
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
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) {
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
        let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
        let draining = CancellationToken::new();
        let stop_accepting = {
            let draining = draining.clone();
            async move {
                shutdown.await;
                readiness.begin_shutdown();
                draining.cancel();
                tracing::info!(drain_secs = drain.as_secs(), "shutdown: draining");
                tokio::time::sleep(drain).await;
                tracing::info!(
                    grace_secs = grace.as_secs(),
                    "shutdown: no new connections, finishing in-flight requests"
                );
                let _ = drained_tx.send(());
            }
        };
        let server = serve(listener, app, draining, stop_accepting);
        let grace_expired = async move {
            if drained_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = server => {}
            () = grace_expired => {
                tracing::warn!("shutdown: grace period over, dropping remaining requests");
            }
        }
        upkeep.abort();
        db.close().await;
        tracing::info!("shutdown complete");
    }
}

/// How long a connection that has not sent its first request may still bring it once shutdown
/// begins, counted from when it was accepted. A client that has just connected has its request
/// on the way; hyper alone would close such a connection unanswered (hyperium/hyper#3792), which
/// fails requests that arrive while a release restarts the service. Go's net/http allows the same
/// 5 seconds (`closeIdleConns`); a connection that never sends anything holds shutdown no longer.
const FIRST_REQUEST_WAIT: Duration = Duration::from_secs(5);

/// Accepts connections until `stop_accepting` completes, then shuts every connection down
/// gracefully (a request in progress is finished) and returns when the last one has closed.
/// From `draining` on, HTTP/1 responses say `connection: close`: clients move to new connections
/// during the drain, so few idle ones are left to close under a request that is on its way.
async fn serve(
    listener: TcpListener,
    app: App,
    draining: CancellationToken,
    stop_accepting: impl Future<Output = ()>,
) {
    let connections = TaskTracker::new();
    let stopping = CancellationToken::new();
    let mut stop_accepting = pin!(stop_accepting);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut stop_accepting => break,
        };
        let (app, draining, stopping) = (app.clone(), draining.clone(), stopping.clone());
        connections.spawn(connection(tcp, app, draining, stopping));
    }
    // Under socket activation systemd keeps the socket: later connections wait for the next start.
    drop(listener);
    stopping.cancel();
    connections.close();
    connections.wait().await;
}

async fn connection(
    tcp: TcpStream,
    app: App,
    draining: CancellationToken,
    stopping: CancellationToken,
) {
    let first_request_by = Instant::now() + FIRST_REQUEST_WAIT;
    // Small JSON responses should leave at once, not wait for Nagle's algorithm.
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "TCP_NODELAY not set");
    }
    let request_started = Arc::new(Notify::new());
    let service = {
        let request_started = request_started.clone();
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            request_started.notify_one();
            // HTTP/2 has GOAWAY for this (sent at graceful shutdown).
            let closing = draining.is_cancelled() && req.version() <= Version::HTTP_11;
            app.clone().oneshot(req.map(Body::new)).map(move |mut res| {
                if closing && let Ok(res) = &mut res {
                    res.headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                }
                res
            })
        })
    };
    let builder = Builder::new(TokioExecutor::new());
    let mut conn = pin!(builder.serve_connection_with_upgrades(TokioIo::new(tcp), service));
    tokio::select! {
        res = conn.as_mut() => return ended(res),
        () = stopping.cancelled() => {}
    }
    // `notify_one` leaves a permit: this completes at once if a request has already started.
    tokio::select! {
        res = conn.as_mut() => return ended(res),
        _ = tokio::time::timeout_at(first_request_by, request_started.notified()) => {}
    }
    conn.as_mut().graceful_shutdown();
    ended(conn.await);
}

fn ended(res: Result<(), Box<dyn std::error::Error + Send + Sync>>) {
    if let Err(e) = res {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Errors of one connection (reset before it was accepted) are skipped; others, such as running
/// out of file descriptors, are logged and accepting pauses a second instead of spinning.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The one place the server's socket is made: the one systemd passed (socket activation), or a
/// new one bound to `addr`. Under socket activation the listening socket outlives this process, so
/// connections that arrive while a release restarts the service wait in its backlog instead of
/// being refused.
pub async fn listen(addr: SocketAddr) -> Result<TcpListener, ConfigError> {
    let inherited = inherited_listener(
        std::env::var("LISTEN_PID").ok().as_deref(),
        std::env::var("LISTEN_FDS").ok().as_deref(),
        std::process::id(),
        SD_LISTEN_FDS_START,
    )
    .map_err(|e| ConfigError(format!("socket activation: {e}")))?;
    match inherited {
        Some(std) => {
            tracing::info!("using the listening socket passed by systemd (socket activation)");
            TcpListener::from_std(std).map_err(|e| ConfigError(format!("socket activation: {e}")))
        }
        None => TcpListener::bind(addr)
            .await
            .map_err(|e| ConfigError(format!("cannot listen on {addr}: {e}"))),
    }
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
