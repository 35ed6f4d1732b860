//! `mcp-tether login | logout | status`: credentials outside the assistant.
//!
//! - `login URL [options]` signs in ahead of time, with every option the
//!   bridge takes, so the assistant never waits on a browser.
//! - `logout URL | --all` revokes the refresh token where the server offers
//!   revocation (RFC 7009), then deletes what is stored.
//! - `status [URL] [--json]` shows, per server, whether it is signed in, the
//!   issuer, client id, scopes and expiry. Never a secret.
//!
//! These are the edges of the program: errors are `anyhow` with context.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};
use url::Url;

use crate::auth::discovery;
use crate::auth::grant::{self, Target};
use crate::auth::{Authorizer, challenge};
use crate::cli::Cli;
use crate::config::Config;
use crate::http::Http;
use crate::printable::for_terminal;
use crate::store::credentials::Credentials;
use crate::telemetry::log::redact_url;

/// Whether `name` (the first argument) selects a command instead of the
/// bridge: read from the commands clap knows, so no list can drift from
/// them (issue 15).
pub fn is_command(name: &str) -> bool {
    use clap::CommandFactory as _;
    CommandCli::command()
        .get_subcommands()
        .any(|command| command.get_name() == name)
}

/// `mcp-tether <command>`.
#[derive(Debug, Parser)]
#[command(name = "mcp-tether", version)]
pub struct CommandCli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in to a server now, so the assistant finds the login done.
    ///
    /// Takes the bridge's options (--header, --static-oauth-client-info,
    /// --scope…).
    Login(Box<Cli>),
    /// Revoke and delete the stored sign-in of a server, or of all servers.
    Logout {
        /// The server's URL.
        #[arg(required_unless_present = "all")]
        url: Option<String>,
        /// Every server.
        #[arg(long, conflicts_with = "url")]
        all: bool,
    },
    /// Connect to a server and report what it is, with timings.
    ///
    /// Signs in if needed, then reports the transport, protocol version,
    /// session, authorization, server info, capabilities, and how many
    /// tools, prompts and resources it has. Takes the bridge's options; -v
    /// shows the traffic.
    Probe {
        #[command(flatten)]
        cli: Box<Cli>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Take over mcp-remote's sign-in for a server, so switching needs no new login.
    ///
    /// Reads ~/.mcp-auth (or MCP_REMOTE_CONFIG_DIR). Give the URL and
    /// options exactly as in the mcp-remote config. (The bridge also does
    /// this by itself the first time the server asks for a sign-in.)
    ImportMcpRemote(Box<Cli>),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff).
    ///
    /// For example into ~/.local/share/man/man1/mcp-tether.1.
    Man,
    /// Turn a --record recording into a readable timeline and a summary.
    Replay {
        /// The recording (JSON Lines, from --record).
        file: std::path::PathBuf,
        /// Only the summary, not the timeline.
        #[arg(long)]
        summary: bool,
        /// Keep reading as the recording grows (a bridge still recording).
        #[arg(long, conflicts_with = "summary")]
        follow: bool,
    },
    /// List the bridges running for you, or watch one's traffic live.
    ///
    /// The list shows each bridge's server, pid, uptime, transport and
    /// protocol, session, sign-in, requests in flight and last error. With
    /// a choice, shows that bridge's traffic as -v logs it: the copy your
    /// assistant launched, without restarting it.
    Watch {
        /// Which bridge: its number in the list, its pid, or part of its URL.
        choice: Option<String>,
        /// Message bodies too, redacted (as -vv).
        #[arg(long)]
        bodies: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Finish a browser sign-in a bridge handed over (internal: the bridge
    /// starts it when its host's patience runs out; see `auth::handoff`).
    #[command(hide = true)]
    FinishSignIn(Box<Cli>),
    /// Show what is stored: signed in or not, issuer, client, scopes, expiry.
    Status {
        /// Only this server.
        url: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a command on a runtime of its own.
pub fn run(command: Command) -> anyhow::Result<()> {
    if !matches!(command, Command::Probe { .. }) {
        crate::telemetry::log::init(&crate::telemetry::log::LogConfig::default(), None)
            .context("cannot set up logging")?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match command {
            Command::Probe { cli, json } => run_probe(*cli, json).await,
            Command::Completions { shell } => completions(shell),
            Command::Man => manual(),
            Command::Login(cli) => login(*cli).await,
            Command::ImportMcpRemote(cli) => import_mcp_remote(*cli).await,
            Command::Logout { url, all } => logout(url.as_deref(), all).await,
            Command::FinishSignIn(cli) => finish_sign_in(*cli).await,
            Command::Status { url, json } => status(url.as_deref(), json),
            Command::Replay {
                file,
                summary,
                follow: false,
            } => replay(&file, summary),
            Command::Replay { file, .. } => crate::telemetry::replay::follow(&file).await,
            Command::Watch {
                choice: None, json, ..
            } => crate::telemetry::watch::list(json).await,
            Command::Watch {
                choice: Some(choice),
                bodies,
                json,
            } => crate::telemetry::watch::attach(&choice, bodies, json).await,
        }
    })
}

/// Whether the command line asks for help about the whole program rather
/// than runs it: `help [COMMAND]`, or `-h`/`--help` anywhere outside a
/// command. Then [`print_help`] answers (issue 27: `--help` listed no
/// command, and `help` was taken for a URL).
pub fn asks_for_help(args: &[std::ffi::OsString]) -> bool {
    let first = args.get(1).and_then(|a| a.to_str());
    match first {
        Some("help") => true,
        Some(name) if is_command(name) => false,
        _ => args.iter().skip(1).any(|a| a == "-h" || a == "--help"),
    }
}

/// Prints the help [`asks_for_help`] found asked for, as cargo and git
/// do: the bridge's options with every command listed (one line each), or
/// one command's own help (`help login`). Exits.
pub fn print_help(args: &[std::ffi::OsString]) -> ! {
    match whole_command().try_get_matches_from(args) {
        Err(shown) => shown.exit(),
        // `help` with no command behind it: the whole help.
        Ok(_) => {
            let _ = whole_command().print_long_help();
            std::process::exit(0)
        }
    }
}

/// The whole command line as one clap command: the bridge's arguments,
/// with the commands as subcommands. For help, completions and the manual.
pub fn whole_command() -> clap::Command {
    use clap::CommandFactory as _;
    let mut command = Cli::command().args_conflicts_with_subcommands(true);
    for sub in CommandCli::command().get_subcommands() {
        command = command.subcommand(sub.clone());
    }
    command
}

fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut command = whole_command();
    clap_complete::generate(shell, &mut command, "mcp-tether", &mut std::io::stdout());
    Ok(())
}

fn manual() -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(whole_command()).render(&mut out)?;
    Ok(())
}

async fn run_probe(mut cli: Cli, as_json: bool) -> anyhow::Result<()> {
    cli.headers_timeout
        .get_or_insert(crate::probe::HEADERS_TIMEOUT);
    let mut config = Config::from_cli(cli)?;
    // The report is the output and says what failed, once; the bridge's
    // log reaches stderr only with -v. Without it, stderr says only what
    // needs the person now: a sign-in prompt, and how long a step waits.
    let quiet = config.log.verbosity == 0;
    config.log.silent |= quiet;
    let events = crate::probe::Events::new(quiet);
    let mut layers: Vec<crate::telemetry::log::BoxedLayer> = vec![Box::new(events.clone())];
    layers.extend(
        crate::telemetry::record::Recorder::layer(config.record.as_ref())
            .context("cannot open the recording file")?,
    );
    crate::telemetry::log::init_with(&config.log, None, layers).context("cannot set up logging")?;
    if !as_json {
        // Said at once, so a slow server is seen to be waited for.
        use std::io::Write as _;
        println!("Probing {}", redact_url(&config.url));
        let _ = std::io::stdout().flush();
    }
    let report = crate::probe::run(&config, &events).await;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report.json)?);
    } else {
        print!("{}", report.text);
    }
    if !report.ok {
        bail!("the probe failed");
    }
    Ok(())
}

fn replay(file: &std::path::Path, summary_only: bool) -> anyhow::Result<()> {
    let reader = crate::telemetry::replay::open_recording(file)?;
    let text = crate::telemetry::replay::render(reader, summary_only)
        .with_context(|| format!("reading {}", file.display()))?;
    print!("{text}");
    Ok(())
}

async fn import_mcp_remote(cli: Cli) -> anyhow::Result<()> {
    let config = Config::from_cli(cli)?;
    let Some(options) = config.auth.clone() else {
        bail!("you pass your own Authorization header, so there is no sign-in to take over");
    };
    let http = Http::new(&config.http_settings())?;
    let shown = redact_url(&config.url);
    let base = crate::auth::mcp_remote::base_dir()
        .context("no home directory, so no mcp-remote store to look in")?;
    let auth = Authorizer::new(http.for_oauth(), config.url.clone(), options);
    let found = discovery::discover(&http, &config.url, None)
        .await
        .with_context(|| format!("finding {shown}'s authorization server"))?;
    match auth.import_mcp_remote(&found)? {
        Some(dir) => println!(
            "Took over mcp-remote's sign-in for {shown} from {}.",
            dir.display()
        ),
        None => bail!(
            "mcp-remote has no sign-in for {shown} with these options under {} (give the URL \
             and options exactly as in the mcp-remote config)",
            base.display()
        ),
    }
    Ok(())
}

/// `finish-sign-in`: what a bridge handed over on stdin, finished with
/// the bridge's own options (`auth::handoff`).
#[cfg(unix)]
async fn finish_sign_in(cli: Cli) -> anyhow::Result<()> {
    use std::io::Read as _;
    let config = Config::from_cli(cli)?;
    let options = config
        .auth
        .clone()
        .context("nothing to sign in to: an Authorization header is given")?;
    let mut json = Vec::new();
    std::io::stdin().take(1 << 20).read_to_end(&mut json)?;
    let handover: crate::auth::handoff::Handover =
        serde_json::from_slice(&json).context("not a sign-in handed over by a bridge")?;
    let http = Http::new(&config.http_settings())?;
    let auth = Authorizer::new(http.for_oauth(), config.url.clone(), options);
    // SAFETY: the bridge that started this process passed these listeners
    // on, open, and keeps no use of them.
    unsafe { auth.finish_handed_over(handover) }.await?;
    Ok(())
}

#[cfg(not(unix))]
async fn finish_sign_in(_cli: Cli) -> anyhow::Result<()> {
    bail!("a sign-in is handed over only on Unix")
}

async fn login(cli: Cli) -> anyhow::Result<()> {
    let told_how_long = cli.compat.auth_timeout.is_some();
    let config = Config::from_cli(cli)?;
    let Some(mut options) = config.auth.clone() else {
        bail!(
            "you pass your own Authorization header, so there is nothing for mcp-tether to sign in to"
        );
    };
    if !told_how_long {
        options.auth_timeout = crate::config::LOGIN_AUTH_TIMEOUT;
    }
    // At a terminal, the URL is on the screen to open by hand.
    options.without_browser = crate::auth::WithoutBrowser::Wait;
    let http = Http::new(&config.http_settings())?;
    let shown = redact_url(&config.url);
    let auth = Authorizer::new(http.for_oauth(), config.url.clone(), options);
    let sent = auth.header();
    match probe(&http, &config.url, &auth).await? {
        None if sent.is_some() => println!("Already signed in to {shown}."),
        None => println!("{shown} does not ask for sign-in."),
        Some(refusal) => {
            auth.on_rejection(
                refusal.challenge.as_ref(),
                sent.as_ref(),
                crate::auth::Renewal::SignInIfNeeded,
            )
            .await
            .with_context(|| format!("signing in to {shown}"))?;
            if probe(&http, &config.url, &auth).await?.is_some() {
                bail!(
                    "signed in, but {shown} still refuses the token; check the scopes it needs (--scope)"
                );
            }
            println!("Signed in to {shown}.");
        }
    }
    Ok(())
}

/// Asks the server what a host's first request would meet. `Some` with the
/// challenge when it refuses authorization. A session the probe opens is
/// deleted at once.
async fn probe(
    http: &Http,
    url: &Url,
    auth: &Authorizer,
) -> anyhow::Result<Option<challenge::Refusal>> {
    let token = auth.header();
    let shown = redact_url(url);
    let initialize = json!({
        "jsonrpc": "2.0", "id": "mcp-tether:login", "method": "initialize",
        "params": { "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": { "name": "mcp-tether", "version": env!("CARGO_PKG_VERSION") } }
    });
    // The token, with a DPoP proof for each request when it is bound.
    let with_token = |request: reqwest::RequestBuilder, method: &str| {
        let request = match &token {
            Some(token) => request.header(AUTHORIZATION, token.clone()),
            None => return request,
        };
        match auth.dpop_proof(method, url) {
            Some(proof) => request.header("dpop", proof),
            None => request,
        }
    };
    let post = with_token(http.request(Method::POST, url), "POST")
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json, text/event-stream")
        .body(initialize.to_string());
    let response = http.send(post, &shown).await?;
    if let Some(refusal) = challenge::refusal(response.status(), response.headers()) {
        return Ok(Some(refusal));
    }
    if let Some(session) = response.headers().get("mcp-session-id").cloned() {
        let delete = with_token(http.request(Method::DELETE, url), "DELETE")
            .header("mcp-session-id", session);
        let _ = http.send(delete, &shown).await;
    }
    if response.status().is_success() {
        return Ok(None);
    }
    // A legacy HTTP+SSE server answers POST on its stream URL with 404/405:
    // ask its event stream instead.
    let get = with_token(http.request(Method::GET, url), "GET").header(ACCEPT, "text/event-stream");
    let response = http.send(get, &shown).await?;
    Ok(challenge::refusal(response.status(), response.headers()))
}

async fn logout(url: Option<&str>, all: bool) -> anyhow::Result<()> {
    let config_dir = crate::config_dir().context("no configuration directory on this system")?;
    let targets: Vec<(Credentials, Option<Url>)> = match (url, all) {
        (_, true) => Credentials::all(&config_dir)
            .into_iter()
            .map(|c| {
                let url = c.info().and_then(|i| Url::parse(&i.url).ok());
                (c, url)
            })
            .collect(),
        (Some(url), false) => {
            let url = Url::parse(url).with_context(|| format!("'{url}' is not a URL"))?;
            vec![(Credentials::for_server(&config_dir, &url, None), Some(url))]
        }
        (None, false) => bail!("name a server's URL, or pass --all"),
    };
    if targets.is_empty() {
        println!("Not signed in to any server.");
    }
    for (credentials, url) in targets {
        let shown = url.as_ref().map(redact_url).unwrap_or_else(|| {
            format!(
                "a server whose URL was not recorded (its files: {})",
                credentials.dir().display()
            )
        });
        if !all
            && credentials.info().is_none()
            && credentials.tokens::<grant::Tokens>(None).is_none()
        {
            // Issue 16: say so, rather than "signed out" of nothing.
            println!(
                "Not signed in to {shown}: nothing is stored for it (`mcp-tether status` lists \
                 the servers with a sign-in)."
            );
            continue;
        }
        let revoked = match &url {
            Some(url) => revoke(&credentials, url).await,
            None => Ok(false),
        };
        credentials
            .forget_all()
            .with_context(|| format!("deleting {}", credentials.dir().display()))?;
        match revoked {
            Ok(true) => println!("Signed out of {shown}: token revoked, credentials deleted."),
            Ok(false) => println!(
                "Signed out of {shown}: credentials deleted (the server offers no revocation)."
            ),
            Err(e) => println!(
                "Signed out of {shown}: credentials deleted; revoking the token failed: {e:#}"
            ),
        }
    }
    Ok(())
}

/// Revokes the stored refresh token (or access token) at the issuer.
async fn revoke(credentials: &Credentials, url: &Url) -> anyhow::Result<bool> {
    let Some((issuer, tokens)) = credentials.tokens::<grant::Tokens>(None) else {
        return Ok(false);
    };
    let Some((_, client)) = credentials.any_client() else {
        return Ok(false);
    };
    let http = crate::config::standalone_http()?;
    let found = discovery::discover(&http, url, None).await?;
    if found.server.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Ok(false);
    }
    let target = Target {
        server: &found.server,
        client: &client,
        resource: None,
        scope: None,
        dpop: None,
    };
    let (token, refresh) = match &tokens.refresh_token {
        Some(refresh_token) => (refresh_token, true),
        None => (&tokens.access_token, false),
    };
    Ok(grant::revoke(&http, &target, token, refresh).await?)
}

fn status(url: Option<&str>, as_json: bool) -> anyhow::Result<()> {
    let config_dir = crate::config_dir().context("no configuration directory on this system")?;
    let servers = match url {
        Some(url) => {
            let url = Url::parse(url).with_context(|| format!("'{url}' is not a URL"))?;
            vec![Credentials::for_server(&config_dir, &url, None)]
        }
        None => Credentials::all(&config_dir),
    };
    let reports: Vec<Value> = servers
        .iter()
        .map(report)
        .filter(|r| r["url"].is_string() || url.is_some())
        .collect();
    if as_json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
        return Ok(());
    }
    if reports.is_empty() {
        println!(
            "Not signed in to any server. (Credentials live in {}.)",
            config_dir.display()
        );
    }
    for report in reports {
        // What was stored and what failed may come from a server: shown,
        // never obeyed by the terminal.
        let url = report["url"].as_str().or(url).unwrap_or("(unknown server)");
        println!("{}", for_terminal(url));
        match report["signed_in"].as_bool() {
            Some(true) => {
                let expiry = match report["expires_in_seconds"].as_i64() {
                    Some(s) if s <= 0 => "expired".to_owned(),
                    Some(s) => format!("expires in {}", human(Duration::from_secs(s as u64))),
                    None => "no expiry given".to_owned(),
                };
                let refresh = if report["refreshable"] == true {
                    "refreshable"
                } else {
                    "not refreshable"
                };
                println!("  signed in: yes ({expiry}, {refresh})");
            }
            _ => println!("  signed in: no"),
        }
        for (label, key) in [
            ("issuer", "issuer"),
            ("client id", "client_id"),
            ("scopes", "scopes"),
            ("stored in", "stored_in"),
        ] {
            if let Some(value) = report[key].as_str() {
                println!("  {label}: {}", for_terminal(value));
            }
        }
        if let (Some(ago), Some(message)) = (
            report["last_error"]["seconds_ago"].as_i64(),
            report["last_error"]["message"].as_str(),
        ) {
            let ago = human(Duration::from_secs(ago.max(0) as u64));
            println!("  last error ({ago} ago): {}", for_terminal(message));
        }
    }
    Ok(())
}

/// One server's status, without secrets.
fn report(credentials: &Credentials) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let tokens = credentials.tokens::<grant::Tokens>(None);
    let client = credentials.any_client::<grant::ClientIdentity>();
    json!({
        "url": credentials.info().map(|i| i.url),
        "signed_in": tokens.is_some(),
        "issuer": tokens.as_ref().map(|(issuer, _)| issuer.clone()).or_else(|| client.as_ref().map(|(i, _)| i.clone())),
        "client_id": client.map(|(_, c)| c.client_id),
        "scopes": tokens.as_ref().and_then(|(_, t)| t.scope.clone()),
        "expires_in_seconds": tokens.as_ref().and_then(|(_, t)| t.expires_at).map(|at| at as i64 - now),
        "refreshable": tokens.as_ref().is_some_and(|(_, t)| t.refresh_token.is_some()),
        "stored_in": credentials.secrets_location(),
        "last_error": credentials.last_error().map(|e| json!({
            "at": e.at,
            "seconds_ago": now - e.at as i64,
            "message": e.message,
        })),
    })
}

fn human(duration: Duration) -> String {
    let s = duration.as_secs();
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h", s / 3600),
    }
}
