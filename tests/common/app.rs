//! The application in-process, built by the same `startup::Application` as `shipshape serve`.

use std::io::Write;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Mutex, OnceLock};

use clap::{CommandFactory, FromArgMatches};
use shipshape::configuration::{Cli, Command, LogFilter, LogFormat, ServeArgs};
use shipshape::startup::Application;
use shipshape::telemetry::otel::Tracing;

use super::{Backend, Http};

pub struct TestApp {
    pub addr: SocketAddr,
    http: Http,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Deref for TestApp {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

impl TestApp {
    pub async fn spawn(backend: &Backend) -> Self {
        Self::spawn_with(backend, &[]).await
    }

    /// With extra `serve` flags, e.g. `&["--max-body-bytes", "4096"]`.
    pub async fn spawn_with(backend: &Backend, flags: &[&str]) -> Self {
        let url = backend.database_url();
        let mut all = vec!["--database-url", &url];
        all.extend_from_slice(flags);
        Self::start(&all).await
    }

    /// With exactly these `serve` flags (plus loopback, a random port, no drain); they name the
    /// database, e.g. `&["--database-url-file", path]`.
    pub async fn start(flags: &[&str]) -> Self {
        capture_logs();
        let mut argv = vec![
            "shipshape",
            "serve",
            "--bind-address",
            "127.0.0.1",
            "--port",
            "0",
            "--shutdown-drain-secs",
            "0",
        ];
        argv.extend_from_slice(flags);
        let app = Application::build(serve_args(&argv))
            .await
            .expect("the application starts");
        let addr = app.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        TestApp {
            addr,
            http: Http::new(format!("http://{addr}")),
            stop: Some(stop),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Parses `serve` flags as the binary does, but without reading the test process's environment
/// (a DATABASE_URL in the developer's shell must not leak into the tests).
fn serve_args(argv: &[&str]) -> ServeArgs {
    let command = Cli::command()
        .mut_args(|a| a.env(None::<&'static str>))
        .mut_subcommand("serve", |s| s.mut_args(|a| a.env(None::<&'static str>)));
    let matches = command
        .try_get_matches_from(argv)
        .expect("valid test flags");
    match Cli::from_arg_matches(&matches).unwrap().command {
        Some(Command::Serve(args)) => args,
        _ => unreachable!("argv names the serve command"),
    }
}

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// The process's subscriber, installed once per test binary by whichever comes first.
static TELEMETRY: OnceLock<Option<Tracing>> = OnceLock::new();

/// Every in-process application of this test binary logs here, in the binary's JSON format.
fn capture_logs() {
    TELEMETRY.get_or_init(|| {
        let info = LogFilter {
            setting: "LOG_LEVEL",
            filter: "info",
        };
        shipshape::telemetry::init_logging_to(info, LogFormat::Json, || LogWriter)
            .expect("log filter");
        None
    });
}

/// As the applications of `shipshape serve --otel-exporter-otlp-endpoint <endpoint>` do: logs
/// captured, and spans exported to `endpoint`. Call it before the first `TestApp` of the test
/// binary; the handle flushes the exporter.
pub fn capture_logs_and_traces(endpoint: &str) -> &'static Tracing {
    let tracing = TELEMETRY.get_or_init(|| {
        let args = serve_args(&[
            "shipshape",
            "serve",
            "--otel-exporter-otlp-endpoint",
            endpoint,
        ]);
        shipshape::telemetry::init_to(
            args.log_filter(),
            LogFormat::Json,
            || LogWriter,
            &args.traces,
        )
        .expect("telemetry starts")
    });
    tracing
        .as_ref()
        .expect("traces are set up before the first application of this test binary")
}

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log lines written so far by the applications of this test binary (tests running side by
/// side share them: look for something unique to the test, such as its request id).
pub fn log_lines() -> Vec<String> {
    String::from_utf8_lossy(&LOGS.lock().unwrap())
        .lines()
        .map(str::to_owned)
        .collect()
}
