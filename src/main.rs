//! The `mcp-tether` command: parse arguments, run the bridge, exit.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use mcp_tether::bridge::{self, Stop};
use mcp_tether::cli::Cli;
use mcp_tether::commands::{self, CommandCli};
use mcp_tether::config::Config;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if commands::asks_for_help(&args) {
        commands::print_help(&args);
    }
    let is_command = args
        .get(1)
        .and_then(|a| a.to_str())
        .is_some_and(commands::is_command);
    let result = match is_command {
        true => run_command(CommandCli::parse()),
        false => run(Cli::parse()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // An error may quote a server (an OAuth error's description):
            // shown, never obeyed by the terminal.
            let text = format!("{e:#}");
            eprintln!("mcp-tether: {}", mcp_tether::printable::for_terminal(&text));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::from_cli(cli)?;
    let debug_dir = mcp_tether::config_dir().map(|dir| dir.join("logs"));
    let mut layers = vec![mcp_tether::telemetry::watch::layer()];
    layers.extend(
        mcp_tether::telemetry::record::Recorder::layer(config.record.as_ref())
            .context("cannot open the recording file")?,
    );
    let debug_log =
        mcp_tether::telemetry::log::init_with(&config.log, debug_dir.as_deref(), layers)
            .context("cannot open the log file")?;
    if let Some(path) = debug_log {
        tracing::info!("writing a debug log to {}", path.display());
    }
    for note in &config.notes {
        tracing::warn!("{note}");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(async {
        // Inside the runtime: pipes and sockets register with its reactor.
        let (stdin, stdout) = (
            mcp_tether::host::stdio::stdin(),
            mcp_tether::host::stdio::stdout(),
        );
        // `mcp-tether watch` can see this bridge while it runs.
        let _watchable = mcp_tether::telemetry::watch::serve(
            &mcp_tether::telemetry::log::redact_url(&config.url),
        );
        bridge::run(&config, stdin, stdout, shutdown_signal()).await
    });
    // The blocking stdin reader may still wait for input: don't wait for it.
    runtime.shutdown_background();
    let stop: Stop = result?;
    tracing::debug!("exited: {stop:?}");
    Ok(())
}

fn run_command(cli: CommandCli) -> anyhow::Result<()> {
    commands::run(cli.command)
}

/// Resolves on SIGINT or SIGTERM (Ctrl-C on Windows).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
