//! A real MCP server written with `rmcp`, in the test process.
//!
//! Its tools cover what the bridge must carry: an echo, a result of N bytes,
//! a progress notification before the result, and a server-to-client request
//! (`roots/list`). Every HTTP request it receives is recorded (method and
//! headers), and [`RmcpServer::restart`] swaps in a fresh session manager, as
//! a process restart would, without changing the port.

// Roots are deprecated by the 2026-07-28 revision, but desktop hosts in use
// today rely on them: the bridge must carry them.
#![allow(deprecated)]

use std::sync::{Arc, Mutex, RwLock};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// The tools the test server offers.
#[derive(Clone)]
struct TestTools;

impl ServerHandler for TestTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = |props: Value| {
            let Value::Object(map) = json!({ "type": "object", "properties": props }) else {
                unreachable!()
            };
            Arc::new(map)
        };
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new(
                "echo",
                "Echoes its message",
                schema(json!({ "message": { "type": "string" } })),
            ),
            Tool::new(
                "bytes",
                "Returns n bytes of text",
                schema(json!({ "n": { "type": "integer" } })),
            ),
            Tool::new(
                "progress_then_answer",
                "Reports progress, then answers",
                schema(json!({})),
            ),
            Tool::new(
                "count_roots",
                "Asks the client for its roots",
                schema(json!({})),
            ),
            Tool::new(
                "announce_tools",
                "Says the tool list changed, then answers",
                schema(json!({})),
            ),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let text = match &*request.name {
            "echo" => args
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            "bytes" => {
                let n = args.get("n").and_then(Value::as_u64).unwrap_or(0) as usize;
                "x".repeat(n)
            }
            "progress_then_answer" => {
                let token = context
                    .meta
                    .get_progress_token()
                    .ok_or_else(|| ErrorData::invalid_params("send a progressToken", None))?;
                let progress =
                    ProgressNotificationParam::new(token, 50.0).with_message("working on it");
                context
                    .peer
                    .notify_progress(progress)
                    .await
                    .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
                "done".to_owned()
            }
            "count_roots" => {
                let roots = context
                    .peer
                    .list_roots()
                    .await
                    .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
                format!("{} roots", roots.roots.len())
            }
            "announce_tools" => {
                context
                    .peer
                    .notify_tool_list_changed()
                    .await
                    .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
                "announced".to_owned()
            }
            other => return Err(ErrorData::invalid_params(format!("no tool {other}"), None)),
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

/// One HTTP request as the server received it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

type Service = StreamableHttpService<TestTools, LocalSessionManager>;

/// The rmcp server, on `127.0.0.1` with a port of its own.
pub struct RmcpServer {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    current: Arc<RwLock<(Service, CancellationToken)>>,
    json_response: bool,
    stop: CancellationToken,
}

impl RmcpServer {
    /// Answers POSTs with event streams (rmcp's default).
    pub async fn start() -> RmcpServer {
        Self::start_with(false).await
    }

    /// Answers plain request-response calls with `application/json`.
    pub async fn start_json() -> RmcpServer {
        Self::start_with(true).await
    }

    async fn start_with(json_response: bool) -> RmcpServer {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let current = Arc::new(RwLock::new(service(json_response)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/mcp", listener.local_addr().expect("address"));
        let stop = CancellationToken::new();
        let app = {
            let seen = Arc::clone(&seen);
            let current = Arc::clone(&current);
            axum::Router::new().route_service(
                "/mcp",
                tower::service_fn(move |request: Request| {
                    let seen = Arc::clone(&seen);
                    let current = Arc::clone(&current);
                    async move {
                        seen.lock().unwrap().push(Seen {
                            method: request.method().to_string(),
                            headers: request.headers().clone(),
                        });
                        let service = current.read().unwrap().0.clone();
                        let response: Response<Body> = match service.oneshot(request).await {
                            Ok(response) => response.map(Body::new),
                            Err(never) => match never {},
                        };
                        Ok::<_, std::convert::Infallible>(response)
                    }
                }),
            )
        };
        let stopped = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped.cancelled().await })
                .await;
        });
        RmcpServer {
            url,
            seen,
            current,
            json_response,
            stop,
        }
    }

    /// Forgets every session, as a restarted server would.
    pub fn restart(&self) {
        let fresh = service(self.json_response);
        let (_, old_token) = std::mem::replace(&mut *self.current.write().unwrap(), fresh);
        old_token.cancel();
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests received with this HTTP method.
    pub fn seen_with(&self, method: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == method)
            .collect()
    }
}

impl Drop for RmcpServer {
    fn drop(&mut self) {
        self.stop.cancel();
        self.current.read().unwrap().1.cancel();
    }
}

fn service(json_response: bool) -> (Service, CancellationToken) {
    let token = CancellationToken::new();
    let mut config = StreamableHttpServerConfig::default();
    config.json_response = json_response;
    config.sse_retry = Some(std::time::Duration::from_millis(100));
    config.cancellation_token = token.clone();
    let service = StreamableHttpService::new(|| Ok(TestTools), Default::default(), config);
    (service, token)
}
