//! The `shipshape` binary: parses the command line and runs the chosen command.

use std::process::ExitCode;

use clap::Parser;

use shipshape::configuration::{Cli, Command, ConfigError, LogFilter};
use shipshape::startup::{Application, shutdown_signal};
use shipshape::storage::Db;
use shipshape::{client, telemetry};

/// How long the spans still queued at shutdown may take to reach the collector.
const TRACES_FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn main() -> ExitCode {
    // One TLS provider for both reqwest and sqlx (ring: no cmake/NASM in the build).
    let _ = rustls::crypto::ring::default_provider().install_default();

    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // One clear line (clap's first) and exit code 2; values of secret options are hidden.
            let text = e.render().to_string();
            eprintln!(
                "shipshape: {}",
                text.lines()
                    .next()
                    .unwrap_or("invalid arguments")
                    .trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            let _ = e.print(); // --help, --version
            return ExitCode::SUCCESS;
        }
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("shipshape: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            None => serve(cli.serve).await,
            Some(Command::Serve(args)) => serve(args).await,
            Some(Command::Migrate(db_args)) => {
                let _log = telemetry::init_logging(migrate_log_filter(), None);
                let db = Db::connect_lazy(&db_args)?;
                db.migrate().await?;
                tracing::info!(database = %db_args.redacted_url(), "migrations applied");
                db.close().await;
                Ok(ExitCode::SUCCESS)
            }
            Some(Command::Healthcheck(args)) => {
                Ok(ExitCode::from(client::healthcheck(args).await as u8))
            }
            Some(Command::Smoke(args)) => match client::smoke(args).await {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!("smoke test FAILED: {e:#}");
                    Ok(ExitCode::FAILURE)
                }
            },
        }
    });
    result.unwrap_or_else(|e| {
        // Configuration problems exit 2, like invalid flags; anything else 1.
        eprintln!("shipshape: {e:#}");
        if e.downcast_ref::<ConfigError>().is_some() {
            ExitCode::from(2)
        } else {
            ExitCode::FAILURE
        }
    })
}

async fn serve(args: shipshape::configuration::ServeArgs) -> anyhow::Result<ExitCode> {
    // Dropped last: the lines still queued are written before the process exits.
    let (_log, tracing) = match telemetry::init(args.log_filter(), args.log_format, &args.traces) {
        Ok(initialised) => initialised,
        Err(e) => {
            eprintln!("shipshape: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let served = async {
        let app = Application::build(args).await?;
        app.run_until_stopped(shutdown_signal()).await;
        anyhow::Ok(())
    }
    .await;
    if let Some(tracing) = tracing {
        // After the last request: every span is queued; send them before exiting.
        tracing.shutdown(TRACES_FLUSH_TIMEOUT).await;
    }
    served?;
    Ok(ExitCode::SUCCESS)
}

/// `migrate` logs at `info`, or as RUST_LOG says.
fn migrate_log_filter() -> LogFilter<'static> {
    match std::env::var("RUST_LOG") {
        Ok(filter) if !filter.trim().is_empty() => LogFilter {
            setting: "RUST_LOG",
            // Once per process.
            filter: filter.leak(),
        },
        _ => LogFilter {
            setting: "LOG_LEVEL",
            filter: "info",
        },
    }
}
