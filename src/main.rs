//! The `shipshape` binary: parses the command line and runs the chosen command.

use std::process::ExitCode;

use clap::Parser;

use shipshape::configuration::{Cli, Command, ConfigError};
use shipshape::startup::{Application, shutdown_signal};
use shipshape::storage::Db;
use shipshape::{client, telemetry};

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
                let _log = telemetry::init_logging("info", None);
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
    let _log = match telemetry::init_logging(&args.log_level, args.log_format) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("shipshape: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    Application::build(args)
        .await?
        .run_until_stopped(shutdown_signal())
        .await?;
    Ok(ExitCode::SUCCESS)
}
