//! What every integration test shares: a driver for the built binary over
//! stdio, the real servers the tests run against, and a fault server.

pub mod era;
pub mod everything;
pub mod fastmcp;
pub mod fault;
pub mod logs;
pub mod oidc;
pub mod peers;
pub mod rmcp_server;
pub mod secret_service;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

pub use peers::PythonServer;

/// Where an in-process bridge's stderr goes: kept, for [`Bridge::stderr`].
struct Kept(Arc<Mutex<String>>);

impl std::io::Write for Kept {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap()
            .push_str(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The lines the bridge writes on stdout, as they come, read by a task of
/// their own: from the binary's pipe, or the in-process bridge's.
fn lines_of(
    stdout: impl tokio::io::AsyncRead + Unpin + Send + 'static,
) -> mpsc::UnboundedReceiver<String> {
    let (tx, lines) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut reader = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// What runs the bridge.
enum Running {
    Process(Child),
    /// `bridge::run` on a thread of its own; it ends when its stdin
    /// closes, and says whether it succeeded.
    InProcess(Option<tokio::sync::oneshot::Receiver<bool>>),
}

/// What changes from run to run in what a person reads (ports, pids,
/// uptimes, durations, sessions, times), each with its placeholder: the
/// snapshots filter it out, and the rewording test compares with it out.
pub const VARYING: &[(&str, &str)] = &[
    (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"),
    (r"\b\d+(\.\d+)? ms\b", "N ms"),
    (r"pid \d+", "pid PID"),
    (r"up \d+(s|m\d+s|h\d+m)", "up UPTIME"),
    (r"session #[0-9a-f]{6}", "session #SESSION"),
    (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", "TIME"),
];

/// How long a test waits for any one line before it fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The `initialize` request a desktop host sends.
/// The bridge the tests run: the one cargo built for this machine, or the
/// program `MCP_TETHER_EXE` names. The platform lane (scripts/platforms)
/// names a launcher of the Windows build under Wine, and runs the tests of
/// `platform` and `hosts` through it.
pub fn tether_program() -> std::path::PathBuf {
    std::env::var_os("MCP_TETHER_EXE")
        .filter(|p| !p.is_empty())
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_mcp-tether").into())
}

/// Whether the bridge under test is the Windows build, under Wine.
pub fn windows_build() -> bool {
    std::env::var_os("MCP_TETHER_EXE").is_some_and(|p| !p.is_empty())
}

pub fn initialize_request(id: i64, version: &str) -> String {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": { "roots": { "listChanged": true }, "sampling": {}, "elicitation": {} },
            "clientInfo": { "name": "mcp-tether-tests", "version": "1.0.0" }
        }
    })
    .to_string()
}

/// A running `mcp-tether`, driven over its stdin and stdout like a host
/// does: the binary ([`Bridge::start`]), or the same bridge run in this
/// process over in-memory pipes ([`Bridge::in_process`], issue 25), behind
/// one API.
pub struct Bridge {
    running: Running,
    stdin: Option<Box<dyn tokio::io::AsyncWrite + Unpin + Send>>,
    lines: mpsc::UnboundedReceiver<String>,
    stderr: Arc<Mutex<String>>,
    /// Messages read while waiting for something else, in order.
    pub seen: Vec<Value>,
    _home: tempfile::TempDir,
}

impl Bridge {
    /// Starts the binary with `args`, in an isolated home and config dir.
    pub fn start(args: &[&str]) -> Bridge {
        Self::start_with_env(args, &[])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Bridge {
        Self::start_program(&tether_program(), args, env)
    }

    /// Starts another build of the bridge (one unpacked from a package).
    pub fn start_program(program: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Bridge {
        let home = tempfile::tempdir().expect("temp home");
        let mut command = Command::new(program);
        command
            .args(args)
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join(".config"))
            .env("MCP_TETHER_CONFIG_DIR", home.path().join("mcp-tether"))
            // Never the developer's own keyring; the keychain tests say so.
            .env("MCP_TETHER_CREDENTIAL_STORE", "file")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("ALL_PROXY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the mcp-tether binary starts");
        let stdin = child
            .stdin
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncWrite + Unpin + Send>);
        let lines = lines_of(child.stdout.take().expect("stdout"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let err_pipe = child.stderr.take().expect("stderr");
        tokio::spawn(async move {
            let mut reader = BufReader::new(err_pipe).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        Bridge {
            running: Running::Process(child),
            stdin,
            lines,
            stderr,
            seen: Vec::new(),
            _home: home,
        }
    }

    /// The bridge run in this process (`bridge::run` over in-memory
    /// pipes): no binary, no process, the same calls. For tests that read
    /// what the host reads and what the bridge logs: there is no pid or
    /// signal here (those panic), and the configuration directory is the
    /// test's own.
    pub fn in_process(args: &[&str]) -> Bridge {
        Self::in_process_with_env(args, &[])
    }

    /// As [`Bridge::in_process`], with `env` as the environment the
    /// configuration reads (the process's own is not read).
    ///
    /// The bridge runs as the binary runs it: on a thread of its own, in a
    /// single-threaded runtime, with its log layers (`-v`, `--log-file`,
    /// `--record`) for that thread only ([`logs`]), stderr kept here.
    pub fn in_process_with_env(args: &[&str], env: &[(&str, &str)]) -> Bridge {
        Self::in_process_saying(args, env, Sentences::Usual)
    }

    /// As [`Bridge::in_process_with_env`], its lifecycle events saying
    /// `sentences` (`Reworded`: the test that no reader of the bridge's
    /// state reads sentences).
    pub fn in_process_saying(args: &[&str], env: &[(&str, &str)], sentences: Sentences) -> Bridge {
        use tracing_subscriber::layer::SubscriberExt as _;
        let home = tempfile::tempdir().expect("temp home");
        let (config, lookup) = configure_in_process(home.path(), args, env);
        let stderr = Arc::new(Mutex::new(String::new()));
        let kept = Arc::clone(&stderr);
        let said_to = Arc::clone(&stderr);
        let debug_dir = mcp_tether::config_dir_in(&lookup).map(|dir| dir.join("logs"));
        let mut logs =
            mcp_tether::telemetry::log::layers(&config.log, debug_dir.as_deref(), move || {
                Kept(Arc::clone(&kept))
            })
            .expect("the log layers");
        logs.layers.extend(
            mcp_tether::telemetry::record::Recorder::layer(config.record.as_ref())
                .expect("the recording file"),
        );
        let (to_bridge, bridge_in) = tokio::io::duplex(1 << 20);
        let (bridge_out, from_bridge) = tokio::io::duplex(1 << 20);
        let (done, task) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            logs::install_for_this_thread(tracing_subscriber::registry().with(logs.layers));
            sentences.apply();
            mcp_tether::telemetry::log::say_refused(logs.debug_refused);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            let result = runtime.block_on(mcp_tether::bridge::run(
                &config,
                bridge_in,
                bridge_out,
                std::future::pending(),
            ));
            runtime.shutdown_background();
            if let Err(e) = &result {
                // As the binary's `main` says it.
                let error = e.to_string();
                let said = mcp_tether::printable::for_terminal(&error);
                said_to
                    .lock()
                    .unwrap()
                    .push_str(&format!("mcp-tether: {said}\n"));
            }
            let _ = done.send(result.is_ok());
        });
        Bridge {
            running: Running::InProcess(Some(task)),
            stdin: Some(Box::new(to_bridge)),
            lines: lines_of(from_bridge),
            stderr,
            seen: Vec::new(),
            _home: home,
        }
    }

    /// Why the bridge refuses to start with `args` and `env` (the
    /// configuration's error, whole), for tests of what a person is told;
    /// `cli::a_start_up_error_is_the_answer_to_the_first_request` checks
    /// that the binary says it on stderr and answers the host with it.
    pub fn refusal(args: &[&str], env: &[(&str, &str)]) -> String {
        let home = tempfile::tempdir().expect("temp home");
        match configure(home.path(), args, env) {
            Ok(_) => panic!("{args:?} is a valid configuration"),
            Err(refused) => refused,
        }
    }

    /// The child process; tests that need one start the binary.
    fn child(&self) -> &Child {
        match &self.running {
            Running::Process(child) => child,
            Running::InProcess(_) => panic!("this test needs the binary: use Bridge::start"),
        }
    }

    /// Writes one line to the bridge's stdin: text as it is, or a JSON
    /// value in its compact form.
    pub async fn send(&mut self, line: impl std::fmt::Display) {
        let line = line.to_string();
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(line.as_bytes()).await.expect("write stdin");
        stdin.write_all(b"\n").await.expect("write stdin");
        stdin.flush().await.expect("flush stdin");
    }

    /// The next stdout line, exactly as written. Fails the test after
    /// [`PATIENCE`], showing what the bridge said on stderr.
    pub async fn recv_line(&mut self) -> String {
        match tokio::time::timeout(PATIENCE, self.lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => panic!("stdout closed; stderr:\n{}", self.stderr()),
            Err(_) => panic!(
                "no line on stdout within {PATIENCE:?}; stderr:\n{}",
                self.stderr()
            ),
        }
    }

    /// The next stdout line as JSON, waiting up to `patience`: for tests
    /// whose first answer may take long on a loaded machine (a burst of
    /// thousands of requests), where only a hang should fail.
    pub async fn recv_within(&mut self, patience: Duration) -> Value {
        match tokio::time::timeout(patience, self.lines.recv()).await {
            Ok(Some(line)) => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not one JSON value ({e}): {line}")),
            Ok(None) => panic!("stdout closed; stderr:\n{}", self.stderr()),
            Err(_) => panic!(
                "no line on stdout within {patience:?}; stderr:\n{}",
                self.stderr()
            ),
        }
    }

    /// The next stdout line, which must be one JSON value (T13).
    pub async fn recv(&mut self) -> Value {
        let line = self.recv_line().await;
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout carried a line that is not JSON ({e}): {line}"))
    }

    /// Sends a request and waits for the answer with its id; whatever else
    /// arrives meanwhile is kept in `seen`.
    pub async fn request(&mut self, id: Value, method: &str, params: Value) -> Value {
        let line = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        self.send(&line.to_string()).await;
        self.answer_to(&id).await
    }

    /// Waits for the answer with this id, keeping other messages in `seen`.
    pub async fn answer_to(&mut self, id: &Value) -> Value {
        if let Some(at) = self.seen.iter().position(|m| is_answer_to(m, id)) {
            return self.seen.remove(at);
        }
        loop {
            let msg = self.recv().await;
            if is_answer_to(&msg, id) {
                return msg;
            }
            self.seen.push(msg);
        }
    }

    /// The host's half of the handshake: initialize, then initialized.
    pub async fn initialize(&mut self, version: &str) -> Value {
        self.send(&initialize_request(0, version)).await;
        let answer = self.answer_to(&json!(0)).await;
        assert!(
            answer.get("result").is_some(),
            "initialize failed: {answer}"
        );
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
        answer
    }

    /// Calls a tool and returns the whole answer.
    pub async fn call_tool(&mut self, id: i64, name: &str, arguments: Value) -> Value {
        self.request(
            json!(id),
            "tools/call",
            json!({ "name": name, "arguments": arguments }),
        )
        .await
    }

    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Waits for the process to exit; returns whether it succeeded and how
    /// long it took.
    pub async fn wait_exit(&mut self) -> (bool, Duration) {
        let started = Instant::now();
        let success = match &mut self.running {
            Running::Process(child) => tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .expect("the bridge exits")
                .expect("wait for the bridge")
                .success(),
            Running::InProcess(task) => {
                let task = task.take().expect("waited once");
                tokio::time::timeout(Duration::from_secs(10), task)
                    .await
                    .expect("the bridge exits")
                    .unwrap_or(false)
            }
        };
        (success, started.elapsed())
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child().id().expect("running")
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child().id().expect("running") as i32;
        // SAFETY: kill(2) with a pid we own and a valid signal number.
        unsafe { libc_kill(pid, 15) };
    }

    /// Everything read from stdout after the process exited, one per line.
    pub async fn rest_of_stdout(&mut self) -> Vec<String> {
        let mut rest = Vec::new();
        while let Ok(Some(line)) =
            tokio::time::timeout(Duration::from_secs(2), self.lines.recv()).await
        {
            rest.push(line);
        }
        rest
    }

    /// The most memory the bridge has held so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let pid = self.child().id().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("VmHWM")
    }

    /// What the bridge wrote on stderr.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

/// Which sentences an in-process bridge's lifecycle events say.
#[derive(Clone, Copy)]
pub enum Sentences {
    Usual,
    Reworded,
}

impl Sentences {
    /// On the calling thread, the thread that runs the bridge.
    pub fn apply(self) {
        if let Sentences::Reworded = self {
            mcp_tether::telemetry::lifecycle::reword_on_this_thread();
        }
    }
}

/// `mcp-tether probe URL` run in process, as `commands::run_probe` runs
/// it short of printing: its own patience for answers' headers, the
/// bridge's log silent, the configuration reading `env`, and its
/// lifecycle events saying `sentences`. Its report: the text it prints,
/// the JSON `--json` prints, and whether it passed. For tests of what the
/// probe finds; what the command itself prints, on which stream, is
/// tested with the binary (`probe::probe_reports_transport_server_and_counts`).
pub async fn probe_in_process(
    url: &str,
    env: &[(&str, &str)],
    sentences: Sentences,
) -> mcp_tether::probe::Report {
    use tracing_subscriber::layer::SubscriberExt as _;
    let url = url.to_owned();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let home = tempfile::tempdir().expect("temp home");
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let patience = mcp_tether::probe::HEADERS_TIMEOUT.to_string();
        let (mut config, _) =
            configure_in_process(home.path(), &[&url, "--headers-timeout", &patience], &env);
        config.log.silent = true;
        let events = mcp_tether::probe::Events::new(false);
        logs::install_for_this_thread(tracing_subscriber::registry().with(events.clone()));
        sentences.apply();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(mcp_tether::probe::run(&config, &events))
    })
    .await
    .expect("the probe's thread")
}

/// The configuration an in-process bridge runs with: as [`configure`]
/// builds it, with credentials in files.
pub fn configure_in_process(
    home: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (
    mcp_tether::config::Config,
    impl Fn(&str) -> Option<String> + use<>,
) {
    let (mut config, lookup) = match configure(home, args, env) {
        Ok(configured) => configured,
        Err(refused) => panic!("a valid configuration: {refused}"),
    };
    if let Some(auth) = config.auth.as_mut() {
        // Never the developer's own keyring, as for the binary; the
        // keychain tests start the binary with a store of their own.
        assert!(
            !env.iter()
                .any(|(k, v)| *k == "MCP_TETHER_CREDENTIAL_STORE" && *v != "file")
                && !args.contains(&"--credential-store"),
            "a test of the OS store starts the binary"
        );
        auth.secret_store = mcp_tether::store::credentials::SecretStore::File;
    }
    (config, lookup)
}

/// The configuration the binary would build from `args` in an isolated
/// `home` (as [`Bridge::start_program`] sets it up), then `env`: the
/// configuration and the environment it reads, or why it is refused.
fn configure(
    home: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<
    (
        mcp_tether::config::Config,
        impl Fn(&str) -> Option<String> + use<>,
    ),
    String,
> {
    use clap::Parser as _;
    let cli = mcp_tether::cli::Cli::try_parse_from(
        std::iter::once("mcp-tether").chain(args.iter().copied()),
    )
    .map_err(|e| e.to_string())?;
    let mut vars = vec![
        ("HOME".to_owned(), home.display().to_string()),
        (
            "MCP_TETHER_CONFIG_DIR".to_owned(),
            home.join("mcp-tether").display().to_string(),
        ),
    ];
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let lookup = move |name: &str| {
        vars.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let config = mcp_tether::config::Config::from_cli_with_env(cli, &lookup)
        .map_err(|e| format!("{e:#}"))?;
    Ok((config, lookup))
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

fn is_answer_to(msg: &Value, id: &Value) -> bool {
    msg.get("id") == Some(id) && (msg.get("result").is_some() || msg.get("error").is_some())
}

/// The `_meta` a 2026-07-28 host puts on its requests.
pub fn modern_host_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "modern-host", "version": "1"},
    })
}

/// The files under `dir`, recursively, by name.
pub fn file_names(dir: &std::path::Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            names.extend(file_names(&path));
        } else {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names
}

/// The text of the first content block of a tool result.
pub fn tool_text(answer: &Value) -> &str {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("not a text tool result: {answer}"))
}

/// The message of an error answer.
pub fn error_message(answer: &Value) -> &str {
    answer["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error answer: {answer}"))
}

/// Starts tests/python/`script` with the pinned venv's Python (see
/// scripts/install-test-deps), forked from one that has its imports done
/// ([`peers`]); killed when dropped.
pub fn python(script: &str, args: &[&str]) -> PythonServer {
    python_with_env(script, args, &[])
}

/// [`python`], with `env` added to its environment.
pub fn python_with_env(script: &str, args: &[&str], env: &[(&str, &str)]) -> PythonServer {
    PythonServer::start(script, args, env)
}

/// A port that was free a moment ago, for servers that cannot take port 0.
///
/// The port is given to a server that binds it a second later, so it is
/// taken below the kernel's ephemeral range (32768 and up on Linux), which
/// no outgoing connection takes meanwhile, and from one counter per test
/// process, so that no two tests running at once are given the same one.
/// (A port the kernel picked, `bind(0)`, could be taken in between; the
/// suspected cause of a FastMCP server not being there, once, when its
/// test's host connected.)
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id() % COUNT;
    for _ in 0..COUNT {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (FIRST + (start + n) % COUNT) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port from {FIRST} to {}", FIRST + COUNT - 1)
}

/// Waits until something listens on `port`.
pub async fn wait_for_port(port: u16) {
    let deadline = Instant::now() + PATIENCE;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (up to 5 s) until `path` exists: a bridge's watch socket, a
/// helper's "ready" file.
pub async fn until_exists(path: &std::path::Path) {
    for _ in 0..100 {
        if path.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} never appeared", path.display());
}
