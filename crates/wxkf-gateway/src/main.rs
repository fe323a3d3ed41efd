//! `wxkf-gateway`: run a Kf bot server from a config file, or check the file.
//!
//! ```sh
//! wxkf-gateway check --config gateway.toml   # 0: valid; 2: names the key and the reason
//! wxkf-gateway run --config gateway.toml     # or WXKF_GATEWAY_CONFIG=gateway.toml
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use wxkf_gateway::{Config, Gateway};

#[derive(Parser)]
#[command(
    name = "wxkf-gateway",
    version,
    about = "A ready-to-run WeChat Customer Service (WeCom Kf) bot server: webhook, OpenAI-compatible or Dify backends behind wxkf-bot's guarantees"
)]
struct Cli {
    /// Log lines as text (default) or one JSON object per line, for log shippers.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the callback route and run the bot until SIGTERM or Ctrl-C.
    Run {
        /// The config file (TOML, docs/gateway.md).
        #[arg(long, env = "WXKF_GATEWAY_CONFIG")]
        config: PathBuf,
    },
    /// Validate the config file (and that its secrets can be read): exit 0, or 2 naming the key.
    Check {
        /// The config file (TOML, docs/gateway.md).
        #[arg(long, env = "WXKF_GATEWAY_CONFIG")]
        config: PathBuf,
    },
}

fn init_logs(format: LogFormat) {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing_subscriber::filter::LevelFilter>().ok())
        .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO);
    let builder = tracing_subscriber::fmt().with_max_level(level).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Waits for SIGTERM or Ctrl-C.
async fn stop_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C still stops the gateway");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM"),
            _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match cli.command {
        Command::Check { config } => {
            match Config::load(&config).and_then(|c| c.resolve_secrets().map(|l| (c, l))) {
                Ok((c, literal)) => {
                    for key in literal {
                        eprintln!(
                            "warning: {key}: the secret is written in the file; prefer \"env:NAME\" or \"file:PATH\""
                        );
                    }
                    println!(
                        "{}: ok ({} route(s), {} backend(s))",
                        config.display(),
                        c.routes.len(),
                        c.backends.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {}: {e}", config.display());
                    ExitCode::from(2)
                }
            }
        }
        Command::Run { config } => {
            let config = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {}: {e}", config.display());
                    return ExitCode::from(2);
                }
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            runtime.block_on(async {
                let gateway = match Gateway::start(config).await {
                    Ok(g) => g,
                    Err(e) => {
                        tracing::error!(error = %wxkf_client::error::chain(&e), "the gateway did not start");
                        return ExitCode::FAILURE;
                    }
                };
                match gateway.serve(stop_signal()).await {
                    Ok(()) => {
                        tracing::info!("wxkf-gateway stopped");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        tracing::error!(error = %wxkf_client::error::chain(&e), "the gateway stopped with an error");
                        ExitCode::FAILURE
                    }
                }
            })
        }
    }
}
