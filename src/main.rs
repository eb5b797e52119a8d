//! shipshape: the users API and hello service, one binary.

mod app;
mod client;
mod config;
mod db;
mod error;
mod input;
mod ops;
mod server;
mod users;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use config::{Cli, Command, LogFormat};

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
    runtime.block_on(async {
        match cli.command {
            None | Some(Command::Serve(_)) => {
                let args = match cli.command {
                    Some(Command::Serve(a)) => a,
                    _ => cli.serve,
                };
                if let Err(e) = init_logging(&args.log_level, args.log_format) {
                    eprintln!("shipshape: {e}");
                    return ExitCode::from(2);
                }
                match server::serve(args).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => fatal(&e),
                }
            }
            Some(Command::Migrate(db_args)) => {
                let _ = init_logging("info", None);
                let result = async {
                    let db = db::Db::connect_lazy(&db_args)?;
                    db.migrate().await?;
                    tracing::info!(database = %db_args.redacted_url(), "migrations applied");
                    db.close().await;
                    anyhow::Ok(())
                }
                .await;
                result.map_or_else(|e| fatal(&e), |()| ExitCode::SUCCESS)
            }
            Some(Command::Healthcheck(args)) => {
                ExitCode::from(client::healthcheck(args).await as u8)
            }
            Some(Command::Smoke(args)) => match client::smoke(args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("smoke test FAILED: {e:#}");
                    ExitCode::FAILURE
                }
            },
        }
    })
}

/// Configuration problems exit 2, like invalid flags; anything else 1.
fn fatal(e: &anyhow::Error) -> ExitCode {
    eprintln!("shipshape: {e:#}");
    if e.downcast_ref::<config::ConfigError>().is_some() {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

fn init_logging(level: &str, format: Option<LogFormat>) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(level)
        .map_err(|e| anyhow::anyhow!("invalid LOG_LEVEL {level:?}: {e}"))?;
    let format = format.unwrap_or(if std::io::stdout().is_terminal() {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
        LogFormat::Pretty => builder.init(),
    }
    Ok(())
}
