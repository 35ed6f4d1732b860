//! The Python test servers (tests/python/*_server.py), each a process of its
//! own, started as forks of tests/python/peers.py: one Python per test run
//! that has imported FastMCP, the MCP SDK and uvicorn once, where a server
//! started on its own spends about a second of CPU importing them.
//!
//! A [`PythonServer`] is killed when dropped, as a `kill_on_drop` child is;
//! [`PythonServer::kill`] also waits until it is gone, so that its port can
//! be taken again.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::json;
use tokio::sync::oneshot;

/// A test server forked from the peers process; killed when dropped.
pub struct PythonServer {
    id: u64,
}

impl PythonServer {
    /// Starts tests/python/`script` with `args`, `env` added to the
    /// environment, stdin, stdout and stderr on /dev/null.
    pub fn start(script: &str, args: &[&str], env: &[(&str, &str)]) -> PythonServer {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let script = python_dir().join(script);
        let env: HashMap<&str, &str> = env.iter().copied().collect();
        peers().send(&json!({ "start": id, "script": script, "args": args, "env": env }));
        PythonServer { id }
    }

    /// Kills the server and waits until it has exited.
    pub async fn kill(&mut self) {
        let exited = peers().on_exit(self.id);
        peers().send(&json!({ "kill": self.id }));
        let _ = exited.await;
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        // Never a panic here: a test that failed drops its servers too.
        let _ = peers().try_send(&json!({ "kill": self.id }));
    }
}

fn python_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python")
}

/// The peers process: its stdin, and who waits for which server to exit.
struct Peers {
    /// Never waited for: it lives as long as this process (see [`peers`]).
    _process: std::process::Child,
    stdin: Mutex<ChildStdin>,
    exits: Arc<Mutex<Exits>>,
}

#[derive(Default)]
struct Exits {
    gone: HashSet<u64>,
    waiting: HashMap<u64, oneshot::Sender<()>>,
}

/// The one peers process of this test run, started on first use. It ends
/// when this process does: its stdin closes, and it kills what is left.
fn peers() -> &'static Peers {
    static PEERS: OnceLock<Peers> = OnceLock::new();
    PEERS.get_or_init(|| {
        let dir = python_dir();
        let interpreter = dir.join(".venv/bin/python");
        assert!(
            interpreter.exists(),
            "the Python test servers are not installed; run scripts/install-test-deps first"
        );
        let mut child = Command::new(interpreter)
            .arg(dir.join("peers.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python runs tests/python/peers.py");
        let exits = Arc::new(Mutex::new(Exits::default()));
        let stdout = child.stdout.take().expect("piped");
        let seen = exits.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if let Some(id) = event["exited"].as_u64() {
                    let mut exits = seen.lock().unwrap_or_else(|e| e.into_inner());
                    match exits.waiting.remove(&id) {
                        Some(waiter) => drop(waiter.send(())),
                        None => drop(exits.gone.insert(id)),
                    }
                }
            }
        });
        Peers {
            stdin: Mutex::new(child.stdin.take().expect("piped")),
            _process: child,
            exits,
        }
    })
}

impl Peers {
    fn send(&self, request: &serde_json::Value) {
        self.try_send(request)
            .expect("tests/python/peers.py is running");
    }

    fn try_send(&self, request: &serde_json::Value) -> std::io::Result<()> {
        let mut stdin = self.stdin.lock().unwrap_or_else(|e| e.into_inner());
        writeln!(stdin, "{request}")
    }

    /// Resolves once server `id` has exited (at once if it already has).
    fn on_exit(&self, id: u64) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut exits = self.exits.lock().unwrap_or_else(|e| e.into_inner());
        if exits.gone.remove(&id) {
            let _ = tx.send(());
        } else {
            exits.waiting.insert(id, tx);
        }
        rx
    }
}
