//! The bridge run in this process (`bridge::run` over in-memory pipes),
//! driven as a host drives the binary: for every test that needs no
//! process of its own (issue 25).

use std::time::Duration;

use clap::Parser as _;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines};

use mcp_tether::cli::Cli;
use mcp_tether::config::Config;

/// The bridge, running in this process, and the host's ends of its pipes.
pub struct InProcess {
    to_bridge: DuplexStream,
    from_bridge: Lines<BufReader<DuplexStream>>,
}

impl InProcess {
    pub fn start(args: &[&str]) -> InProcess {
        let cli = Cli::try_parse_from(std::iter::once("mcp-tether").chain(args.iter().copied()))
            .expect("arguments parse");
        let config = Config::from_cli_with_env(cli, |_| None).expect("a valid configuration");
        let (to_bridge, bridge_in) = tokio::io::duplex(1 << 20);
        let (bridge_out, from_bridge) = tokio::io::duplex(1 << 20);
        tokio::spawn(async move {
            let _ = mcp_tether::bridge::run(&config, bridge_in, bridge_out, std::future::pending())
                .await;
        });
        InProcess {
            to_bridge,
            from_bridge: BufReader::new(from_bridge).lines(),
        }
    }

    pub async fn send(&mut self, message: &Value) {
        let line = format!("{message}\n");
        self.to_bridge.write_all(line.as_bytes()).await.unwrap();
    }

    /// The next message the bridge writes, whatever it is.
    pub async fn next_message(&mut self) -> Value {
        let read = async {
            let line = self.from_bridge.next_line().await.unwrap().expect("a line");
            serde_json::from_str::<Value>(&line).expect("JSON-RPC on stdout")
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("a message from the bridge")
    }

    /// The next message the bridge writes that answers `id`.
    pub async fn answer_to(&mut self, id: &Value) -> Value {
        loop {
            let message = self.next_message().await;
            if &message["id"] == id && message.get("method").is_none() {
                return message;
            }
        }
    }

    /// Opens the session as a host does: `initialize` (id 0), then
    /// `notifications/initialized`; gives the answer.
    pub async fn initialize(&mut self, version: &str) -> Value {
        let request = serde_json::from_str(&crate::common::initialize_request(0, version))
            .expect("an initialize request");
        self.send(&request).await;
        let answer = self.answer_to(&serde_json::json!(0)).await;
        self.send(&serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        answer
    }
}
