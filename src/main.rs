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
    if is_command {
        return match run_command(CommandCli::parse()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                say_error(&format!("{e:#}"));
                ExitCode::FAILURE
            }
        };
    }
    // The bridge: a host is on the other end of stdio. Whatever stops it
    // from starting (a usage error, a bad URL, a log file it cannot open)
    // answers the host's requests too, so the host shows why.
    let started = match Cli::try_parse_from(&args) {
        Ok(cli) => run(cli, &args).map_err(|e| format!("{e:#}")),
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let _ = e.print();
            let usage = e.render().to_string();
            let first = usage.lines().next().unwrap_or("invalid arguments");
            tell_the_host(first.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    match started {
        Ok(()) => ExitCode::SUCCESS,
        Err(text) => {
            say_error(&text);
            tell_the_host(&text);
            ExitCode::FAILURE
        }
    }
}

/// Prints an error for the person at the terminal. An error may quote a
/// server (an OAuth error's description): shown, never obeyed.
fn say_error(text: &str) {
    eprintln!("mcp-tether: {}", mcp_tether::printable::for_terminal(text));
}

/// Answers the host's requests with a start-up error, unless a person is
/// typing at stdin.
fn tell_the_host(text: &str) {
    use std::io::IsTerminal as _;
    if std::io::stdin().is_terminal() {
        return;
    }
    bridge::answer_startup_error(
        std::io::stdin(),
        std::io::stdout(),
        text,
        bridge::STARTUP_ERROR_PATIENCE,
    );
}

fn run(cli: Cli, args: &[std::ffi::OsString]) -> anyhow::Result<()> {
    let mut config = Config::from_cli(cli)?;
    // A browser sign-in that outlasts the host's patience goes on in a
    // process of this program's own, with these same arguments.
    if let (Some(auth), Ok(exe)) = (config.auth.as_mut(), std::env::current_exe())
        && cfg!(unix)
    {
        auth.handoff = Some(mcp_tether::auth::handoff::Handoff {
            exe,
            args: args.iter().skip(1).cloned().collect(),
        });
    }
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
    if let Some(auth) = config.auth.as_ref().filter(|a| !a.keeps_credentials) {
        let _ = std::fs::remove_dir_all(&auth.config_dir);
    }
    let stop: Stop = result?;
    tracing::debug!("exited: {stop:?}");
    Ok(())
}

fn run_command(cli: CommandCli) -> anyhow::Result<()> {
    commands::run(cli.command)
}

/// Resolves when the bridge is asked to stop: SIGINT or SIGTERM on Unix;
/// on Windows Ctrl-C, Ctrl-Break, the console window closed, log-off and
/// shut-down. For the last three Windows ends the process once the
/// handler returns, and tokio's handler does not return, so the bridge
/// still answers what is in flight and exits by itself (within 2 s; Windows
/// allows 5 s after a close).
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
    #[cfg(windows)]
    {
        use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close, ctrl_logoff, ctrl_shutdown};
        let (Ok(mut c), Ok(mut brk), Ok(mut close), Ok(mut logoff), Ok(mut shutdown)) = (
            ctrl_c(),
            ctrl_break(),
            ctrl_close(),
            ctrl_logoff(),
            ctrl_shutdown(),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = c.recv() => {}
            _ = brk.recv() => {}
            _ = close.recv() => {}
            _ = logoff.recv() => {}
            _ = shutdown.recv() => {}
        }
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
