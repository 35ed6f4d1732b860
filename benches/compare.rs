//! mcp-tether and mcp-remote side by side, on the same work, in one run
//! (issue 5). Run it with `bench/run` (or `bench/run --quick`); see
//! `bench/README.md`.
//!
//! The two bridges are interleaved run by run, so machine noise falls on
//! both. Upstreams: a controlled Streamable HTTP server in this process
//! (echo; a tool that returns N bytes as JSON or as SSE; sessions), and the
//! SDK's reference server, `@modelcontextprotocol/server-everything`. The
//! "direct" baseline is the same calls made with reqwest, the HTTP stack the
//! bridge itself uses, without any bridge.
//!
//! Not a test: it reports figures and asserts nothing about time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// How much work each measurement does.
struct Plan {
    quick: bool,
    startup_runs: usize,
    sequential_calls: usize,
    rounds: usize,
    concurrent_calls: usize,
    big_bytes: usize,
    big_runs: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        match quick {
            true => Plan {
                quick,
                startup_runs: 3,
                sequential_calls: 200,
                rounds: 3,
                concurrent_calls: 2000,
                big_bytes: 10 << 20,
                big_runs: 1,
            },
            false => Plan {
                quick,
                startup_runs: 10,
                sequential_calls: 500,
                rounds: 7,
                concurrent_calls: 10_000,
                big_bytes: 50 << 20,
                big_runs: 2,
            },
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Bridge {
    Tether,
    Remote,
}

impl Bridge {
    fn name(self) -> &'static str {
        match self {
            Bridge::Tether => "mcp-tether",
            Bridge::Remote => "mcp-remote",
        }
    }
}

/// Paths to what is measured.
struct Setup {
    tether: PathBuf,
    remote: PathBuf,
    everything: PathBuf,
    remote_config: tempfile::TempDir,
}

impl Setup {
    fn locate() -> Setup {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let setup = Setup {
            tether: root.join("target/release/mcp-tether"),
            remote: root.join("bench/node_modules/mcp-remote/dist/proxy.js"),
            everything: root.join(
                "tests/node/node_modules/@modelcontextprotocol/server-everything/dist/index.js",
            ),
            remote_config: tempfile::tempdir().expect("temp dir"),
        };
        for path in [&setup.tether, &setup.remote, &setup.everything] {
            assert!(
                path.exists(),
                "{} is missing: run bench/run, which builds and installs it",
                path.display()
            );
        }
        setup
    }

    fn command(&self, bridge: Bridge, url: &str) -> Command {
        let mut command = match bridge {
            Bridge::Tether => {
                let mut c = Command::new(&self.tether);
                c.arg(url).arg("--silent");
                c
            }
            Bridge::Remote => {
                let mut c = Command::new("node");
                c.arg(&self.remote).arg(url).arg("--silent");
                c.env("MCP_REMOTE_CONFIG_DIR", self.remote_config.path());
                c
            }
        };
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        command
    }
}

/// A bridge process driven over stdio.
struct Running {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Running {
    fn spawn(setup: &Setup, bridge: Bridge, url: &str) -> Running {
        let mut child = setup
            .command(bridge, url)
            .spawn()
            .expect("the bridge starts");
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::with_capacity(1 << 20, child.stdout.take().expect("stdout")).lines();
        Running {
            child,
            stdin,
            lines,
        }
    }

    async fn send(&mut self, line: &str) {
        self.stdin.write_all(line.as_bytes()).await.expect("write");
        self.stdin.write_all(b"\n").await.expect("write");
        self.stdin.flush().await.expect("flush");
    }

    async fn recv(&mut self) -> String {
        match tokio::time::timeout(Duration::from_secs(120), self.lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            other => panic!("the bridge did not answer: {other:?}"),
        }
    }

    /// Reads lines until the answer to `id`; returns it.
    async fn answer_to(&mut self, id: u64) -> String {
        loop {
            let line = self.recv().await;
            if response_id(&line) == Some(id) {
                return line;
            }
        }
    }

    async fn initialize(&mut self) {
        self.send(INIT).await;
        self.answer_to(0).await;
        self.send(INITIALIZED).await;
    }

    /// Peak resident memory of the process and all its descendants, in KiB.
    fn tree_peak_rss_kib(&self) -> u64 {
        let root = self.child.id().expect("running");
        process_tree(root)
            .iter()
            .map(|&pid| status_kib(pid, "VmHWM:"))
            .sum()
    }

    async fn close(mut self) {
        drop(self.stdin);
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// The id of a response line, if it is a response with a numeric id. Reads
/// only the start of the line: answers put `id` first or right after `result`.
fn response_id(line: &str) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: Option<u64>,
        method: Option<serde::de::IgnoredAny>,
    }
    let parsed: Id = serde_json::from_str(line).ok()?;
    match parsed.method {
        Some(_) => None,
        None => parsed.id,
    }
}

fn call(id: u64, name: &str, arguments: Value) -> String {
    json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": { "name": name, "arguments": arguments } }).to_string()
}

fn process_tree(root: u32) -> Vec<u32> {
    let mut parents: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The parent pid is the second field after the ")" that ends the name.
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok());
        if let Some(ppid) = ppid {
            parents.entry(ppid).or_default().push(pid);
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        tree.extend(parents.get(&tree[i]).cloned().unwrap_or_default());
        i += 1;
    }
    tree
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------- upstream

/// The controlled upstream: a minimal Streamable HTTP server with sessions.
async fn controlled_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/mcp", listener.local_addr().expect("address"));
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::any(
            |method: Method, headers: HeaderMap, body: Bytes| async move {
                upstream(method, headers, body)
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    url
}

fn upstream(method: Method, _headers: HeaderMap, body: Bytes) -> Response {
    let reply = |status: u16, kind: &str, body: Body| {
        Response::builder()
            .status(StatusCode::from_u16(status).unwrap())
            .header("content-type", kind)
            .body(body)
            .unwrap()
    };
    match method {
        Method::GET => return reply(405, "text/plain", Body::empty()),
        Method::DELETE => return reply(200, "text/plain", Body::empty()),
        _ => {}
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return reply(
            400,
            "application/json",
            Body::from(
                r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}"#,
            ),
        );
    };
    let id = request["id"].clone();
    let result = match request["method"].as_str().unwrap_or_default() {
        m if m.starts_with("notifications/") => return reply(202, "text/plain", Body::empty()),
        "initialize" => {
            let result = json!({ "protocolVersion": request["params"]["protocolVersion"], "capabilities": { "tools": {} }, "serverInfo": { "name": "bench-upstream", "version": "1" } });
            let mut response = reply(
                200,
                "application/json",
                Body::from(json!({ "jsonrpc": "2.0", "id": id, "result": result }).to_string()),
            );
            response
                .headers_mut()
                .insert("mcp-session-id", "bench-session".parse().unwrap());
            return response;
        }
        "tools/list" => json!({ "tools": [
            { "name": "echo", "inputSchema": { "type": "object" } },
            { "name": "bytes", "inputSchema": { "type": "object" } }
        ] }),
        "tools/call" => {
            let args = &request["params"]["arguments"];
            match request["params"]["name"].as_str() {
                Some("bytes") => {
                    let n = args["n"].as_u64().unwrap_or(0) as usize;
                    let text = "y".repeat(n);
                    let answer = format!(
                        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"{text}"}}]}}}}"#
                    );
                    drop(text);
                    return match args["sse"].as_bool() {
                        Some(true) => reply(
                            200,
                            "text/event-stream",
                            Body::from(format!("event: message\ndata: {answer}\n\n")),
                        ),
                        _ => reply(200, "application/json", Body::from(answer)),
                    };
                }
                _ => json!({ "content": [{ "type": "text", "text": args["message"] }] }),
            }
        }
        _ => json!({}),
    };
    reply(
        200,
        "application/json",
        Body::from(json!({ "jsonrpc": "2.0", "id": id, "result": result }).to_string()),
    )
}

/// server-everything over Streamable HTTP, on a port of its own.
async fn everything(setup: &Setup) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("node")
        .arg(&setup.everything)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts server-everything");
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, format!("http://localhost:{port}/mcp"))
}

// ---------------------------------------------------------------- direct

/// The same calls without a bridge: reqwest, as the bridge itself uses.
struct Direct {
    client: reqwest::Client,
    url: String,
    session: Option<String>,
}

impl Direct {
    async fn connect(url: &str) -> Direct {
        // Same TLS set-up as the bridge (reqwest is built without a provider).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut direct = Direct {
            client: reqwest::Client::new(),
            url: url.to_owned(),
            session: None,
        };
        let response = direct.post(INIT).await;
        direct.session = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        response.bytes().await.expect("initialize answer");
        direct
            .post(INITIALIZED)
            .await
            .bytes()
            .await
            .expect("initialized");
        direct
    }

    async fn post(&self, body: &str) -> reqwest::Response {
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_owned());
        if let Some(session) = &self.session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-06-18");
        }
        request.send().await.expect("direct POST")
    }

    /// One call; returns the answer's JSON text (from JSON or an SSE body).
    async fn call(&self, id: u64, message: &str) -> String {
        let text = self
            .post(&call(id, "echo", json!({ "message": message })))
            .await
            .text()
            .await
            .expect("body");
        match text.lines().find_map(|l| l.strip_prefix("data: ")) {
            Some(data) if !text.starts_with('{') => data.to_owned(),
            _ => text,
        }
    }
}

// ---------------------------------------------------------------- measurements

/// Figures for one metric: one value per run, per subject.
#[derive(Default)]
struct Metric {
    unit: &'static str,
    values: BTreeMap<&'static str, Vec<f64>>,
    /// Whether smaller is better (time, memory) or larger (throughput).
    lower_is_better: bool,
}

impl Metric {
    fn new(unit: &'static str, lower_is_better: bool) -> Metric {
        Metric {
            unit,
            values: BTreeMap::new(),
            lower_is_better,
        }
    }

    fn add(&mut self, subject: &'static str, value: f64) {
        self.values.entry(subject).or_default().push(value);
    }

    fn stats(&self, subject: &str) -> Option<(f64, f64, f64)> {
        let mut v = self.values.get(subject)?.clone();
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len().is_multiple_of(2) {
            (v[mid - 1] + v[mid]) / 2.0
        } else {
            v[mid]
        };
        Some((median, v[0], v[v.len() - 1]))
    }
}

/// The order of the two bridges in round `i`: alternating, so drift in the
/// machine's state falls on both.
fn order(i: usize) -> [Bridge; 2] {
    if i.is_multiple_of(2) {
        [Bridge::Tether, Bridge::Remote]
    } else {
        [Bridge::Remote, Bridge::Tether]
    }
}

async fn startup_and_idle(
    setup: &Setup,
    url: &str,
    plan: &Plan,
    start: &mut Metric,
    idle: &mut Metric,
) {
    for i in 0..plan.startup_runs {
        for bridge in order(i) {
            let began = Instant::now();
            let mut running = Running::spawn(setup, bridge, url);
            running.send(INIT).await;
            running.answer_to(0).await;
            start.add(bridge.name(), began.elapsed().as_secs_f64() * 1000.0);
            running.send(INITIALIZED).await;
            tokio::time::sleep(Duration::from_millis(1000)).await;
            idle.add(bridge.name(), running.tree_peak_rss_kib() as f64 / 1024.0);
            running.close().await;
        }
    }
}

async fn sequential(setup: &Setup, url: &str, plan: &Plan, metric: &mut Metric) {
    let mut tether = Running::spawn(setup, Bridge::Tether, url);
    let mut remote = Running::spawn(setup, Bridge::Remote, url);
    tether.initialize().await;
    remote.initialize().await;
    let direct = Direct::connect(url).await;
    let n = plan.sequential_calls;
    for round in 0..plan.rounds {
        for bridge in order(round) {
            let running = if bridge == Bridge::Tether {
                &mut tether
            } else {
                &mut remote
            };
            let began = Instant::now();
            for id in 1..=n as u64 {
                running
                    .send(&call(id, "echo", json!({ "message": "ping" })))
                    .await;
                running.answer_to(id).await;
            }
            metric.add(
                bridge.name(),
                began.elapsed().as_secs_f64() * 1e6 / n as f64,
            );
        }
        let began = Instant::now();
        for id in 1..=n as u64 {
            direct.call(id, "ping").await;
        }
        metric.add("direct", began.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    tether.close().await;
    remote.close().await;
}

async fn concurrent(setup: &Setup, url: &str, plan: &Plan, metric: &mut Metric) {
    const IN_FLIGHT: u64 = 32;
    for round in 0..plan.rounds {
        for bridge in order(round) {
            let mut running = Running::spawn(setup, bridge, url);
            running.initialize().await;
            let total = plan.concurrent_calls as u64;
            let began = Instant::now();
            let mut sent = 0;
            while sent < IN_FLIGHT.min(total) {
                sent += 1;
                running
                    .send(&call(sent, "echo", json!({ "message": "ping" })))
                    .await;
            }
            let mut answered = 0;
            while answered < total {
                let line = running.recv().await;
                if response_id(&line).is_some() {
                    answered += 1;
                    if sent < total {
                        sent += 1;
                        running
                            .send(&call(sent, "echo", json!({ "message": "ping" })))
                            .await;
                    }
                }
            }
            metric.add(bridge.name(), total as f64 / began.elapsed().as_secs_f64());
            running.close().await;
        }
    }
}

async fn big_result(
    setup: &Setup,
    url: &str,
    plan: &Plan,
    sse: bool,
    memory: &mut Metric,
    time: &mut Metric,
) -> bool {
    let mut intact = true;
    for i in 0..plan.big_runs {
        for bridge in order(i) {
            let mut running = Running::spawn(setup, bridge, url);
            running.initialize().await;
            let began = Instant::now();
            running
                .send(&call(
                    1,
                    "bytes",
                    json!({ "n": plan.big_bytes, "sse": sse }),
                ))
                .await;
            let line = running.answer_to(1).await;
            time.add(bridge.name(), began.elapsed().as_secs_f64());
            memory.add(bridge.name(), running.tree_peak_rss_kib() as f64 / 1024.0);
            let value: Value = serde_json::from_str(&line).expect("the answer is JSON");
            let text = value["result"]["content"][0]["text"]
                .as_str()
                .unwrap_or_default();
            let ok = text.len() == plan.big_bytes && text.bytes().all(|b| b == b'y');
            if !ok {
                eprintln!(
                    "{}: the {} MiB answer arrived damaged ({} bytes)",
                    bridge.name(),
                    plan.big_bytes >> 20,
                    text.len()
                );
            }
            intact &= ok;
            running.close().await;
        }
    }
    intact
}

fn dir_size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_dir() {
        std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| dir_size(&e.path()))
            .sum()
    } else {
        meta.len()
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.exists())
}

// ---------------------------------------------------------------- report

fn main() {
    // `cargo test --all-targets` runs this binary too, without `--bench`:
    // it is built and checked there, but measures only under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("compare: a benchmark, not a test; run it with bench/run");
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let plan = Plan::new(quick);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(plan));
}

async fn run(plan: Plan) {
    let setup = Setup::locate();
    let controlled = controlled_upstream().await;
    let (_everything, everything_url) = everything(&setup).await;
    let mut report: Vec<(String, Metric)> = Vec::new();
    let began = Instant::now();

    let mut start = Metric::new("ms", true);
    let mut idle = Metric::new("MiB", true);
    eprintln!(
        "1/5 start-up and idle memory ({} runs each)…",
        plan.startup_runs
    );
    startup_and_idle(&setup, &controlled, &plan, &mut start, &mut idle).await;
    report.push(("spawn → first initialize answer".into(), start));
    report.push((
        "peak RSS of the process tree, idle after initialize".into(),
        idle,
    ));

    for (name, url) in [
        ("controlled upstream", &controlled),
        ("server-everything", &everything_url),
    ] {
        eprintln!(
            "2/5 sequential calls, {name} ({} calls × {} rounds)…",
            plan.sequential_calls, plan.rounds
        );
        let mut seq = Metric::new("µs/call", true);
        sequential(&setup, url, &plan, &mut seq).await;
        report.push((format!("sequential tools/call round trip, {name}"), seq));
    }

    eprintln!(
        "3/5 concurrent calls, 32 in flight ({} calls × {} rounds)…",
        plan.concurrent_calls, plan.rounds
    );
    let mut conc = Metric::new("calls/s", false);
    concurrent(&setup, &controlled, &plan, &mut conc).await;
    report.push((
        "concurrent tools/call throughput, 32 in flight".into(),
        conc,
    ));

    let mut intact = true;
    for sse in [false, true] {
        let kind = if sse { "SSE" } else { "JSON" };
        eprintln!("4/5 a {} MiB result as {kind}…", plan.big_bytes >> 20);
        let mut memory = Metric::new("MiB", true);
        let mut time = Metric::new("s", true);
        intact &= big_result(&setup, &controlled, &plan, sse, &mut memory, &mut time).await;
        report.push((
            format!(
                "peak RSS forwarding a {} MiB result ({kind})",
                plan.big_bytes >> 20
            ),
            memory,
        ));
        report.push((
            format!(
                "time to forward a {} MiB result ({kind})",
                plan.big_bytes >> 20
            ),
            time,
        ));
    }

    eprintln!("5/5 sizes…");
    let mut size = Metric::new("MiB", true);
    size.add(
        "mcp-tether",
        std::fs::metadata(&setup.tether)
            .map(|m| m.len())
            .unwrap_or(0) as f64
            / (1 << 20) as f64,
    );
    let node = which("node")
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .unwrap_or(0);
    let remote_install =
        dir_size(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/node_modules"));
    size.add(
        "mcp-remote",
        (node + remote_install) as f64 / (1 << 20) as f64,
    );
    report.push((
        "on disk (mcp-tether: release binary; mcp-remote: its npm install + the node binary)"
            .into(),
        size,
    ));

    print_report(&report, &plan, intact, began.elapsed());
    write_json(&report, &plan, intact);
}

fn print_report(report: &[(String, Metric)], plan: &Plan, intact: bool, took: Duration) {
    println!();
    println!(
        "mcp-tether vs mcp-remote 0.15.1 ({} mode, {:.0} s)",
        if plan.quick { "quick" } else { "full" },
        took.as_secs_f64()
    );
    println!();
    println!(
        "| measurement | unit | mcp-tether median (min–max) | mcp-remote median (min–max) | direct | tether / remote | tether / direct |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, metric) in report {
        let cell = |subject: &str| match metric.stats(subject) {
            Some((median, min, max)) if min != max => {
                format!("{} ({}–{})", fmt(median), fmt(min), fmt(max))
            }
            Some((median, _, _)) => fmt(median),
            None => "–".into(),
        };
        let ratio = |a: &str, b: &str| match (metric.stats(a), metric.stats(b)) {
            (Some((x, _, _)), Some((y, _, _))) if y > 0.0 => format!("{:.3}", x / y),
            _ => "–".into(),
        };
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} |",
            metric.unit,
            cell("mcp-tether"),
            cell("mcp-remote"),
            cell("direct"),
            ratio("mcp-tether", "mcp-remote"),
            ratio("mcp-tether", "direct")
        );
    }
    println!();
    println!(
        "large results arrived intact: {}",
        if intact { "yes" } else { "NO" }
    );
}

fn fmt(value: f64) -> String {
    match value {
        v if v >= 100.0 => format!("{v:.0}"),
        v if v >= 10.0 => format!("{v:.1}"),
        v => format!("{v:.2}"),
    }
}

fn write_json(report: &[(String, Metric)], plan: &Plan, intact: bool) {
    let metrics: Vec<Value> = report
        .iter()
        .map(|(name, metric)| {
            let subjects: serde_json::Map<String, Value> = metric
                .values
                .iter()
                .map(|(subject, values)| {
                    let (median, min, max) = metric.stats(subject).unwrap();
                    (subject.to_string(), json!({ "median": median, "min": min, "max": max, "runs": values }))
                })
                .collect();
            json!({ "name": name, "unit": metric.unit, "lower_is_better": metric.lower_is_better, "subjects": subjects })
        })
        .collect();
    let doc = json!({
        "mode": if plan.quick { "quick" } else { "full" },
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "large_results_intact": intact,
        "metrics": metrics,
    });
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/results");
    std::fs::create_dir_all(&dir).expect("results dir");
    let path = dir.join(if plan.quick {
        "quick.json"
    } else {
        "full.json"
    });
    std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).expect("write results");
    eprintln!("results written to {}", path.display());
}
