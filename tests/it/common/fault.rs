//! A scripted HTTP server for faults that real servers will not produce on
//! demand: dropped streams, slow or huge answers, HTML error pages, hostile
//! endpoints, and a faithful echo for byte-level fidelity checks.
//!
//! A test gives a function from the request to the response; the server
//! records every request it gets.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use futures_util::StreamExt as _;
use serde_json::value::RawValue;

/// One request as the fault server received it.
#[derive(Clone, Debug)]
pub struct Got {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Got {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The JSON-RPC method of the body, if any.
    pub fn rpc_method(&self) -> Option<String> {
        let value: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        value.get("method")?.as_str().map(str::to_owned)
    }
}

type Script = Arc<dyn Fn(Got) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync>;

/// The fault server.
pub struct FaultServer {
    pub base: String,
    got: Arc<Mutex<Vec<Got>>>,
}

impl FaultServer {
    /// Serves `script` on 127.0.0.1 at a port of its own.
    pub async fn start<F, Fut>(script: F) -> FaultServer
    where
        F: Fn(Got) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        let script: Script = Arc::new(move |got| Box::pin(script(got)));
        let got = Arc::new(Mutex::new(Vec::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let log = Arc::clone(&got);
        let app = axum::Router::new().fallback(move |request: Request| {
            let script = Arc::clone(&script);
            let log = Arc::clone(&log);
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                let got = Got {
                    method: parts.method,
                    path: parts.uri.path().to_owned(),
                    headers: parts.headers,
                    body,
                };
                log.lock().unwrap().push(got.clone());
                script(got).await
            }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FaultServer { base, got }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Every request received so far.
    pub fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// The POSTs whose JSON-RPC method is `method`.
    pub fn posts_of(&self, method: &str) -> Vec<Got> {
        self.got()
            .into_iter()
            .filter(|g| g.method == Method::POST && g.rpc_method().as_deref() == Some(method))
            .collect()
    }
}

/// A response with a status, a content type and a body.
pub fn reply(status: u16, content_type: &str, body: impl Into<Body>) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).expect("status"))
        .header("content-type", content_type)
        .body(body.into())
        .expect("response")
}

/// A JSON response that answers the request in `got` with `result` (raw
/// JSON), echoing its id byte for byte. Batches get a batch of answers.
pub fn answer(got: &Got, result: &str) -> Response {
    reply(200, "application/json", answer_text(&got.body, result))
}

/// The text of [`answer`]: id and batch shape taken from the request bytes.
pub fn answer_text(request: &[u8], result: &str) -> String {
    let one = |item: &RawValue| -> Option<String> {
        #[derive(serde::Deserialize)]
        struct Id<'a> {
            #[serde(borrow)]
            id: Option<&'a RawValue>,
        }
        let id: Id<'_> = serde_json::from_str(item.get()).ok()?;
        Some(format!(
            r#"{{"jsonrpc":"2.0","id":{},"result":{result}}}"#,
            id.id?.get()
        ))
    };
    if request.trim_ascii_start().starts_with(b"[") {
        let items: Vec<&RawValue> = serde_json::from_slice(request).expect("a batch");
        let answers: Vec<String> = items.into_iter().filter_map(one).collect();
        format!("[{}]", answers.join(","))
    } else {
        let item: &RawValue = serde_json::from_slice(request).expect("a message");
        one(item).unwrap_or_default()
    }
}

/// `202 Accepted`, for notifications.
pub fn accepted() -> Response {
    reply(202, "text/plain", "")
}

/// An event stream made of `events` (already in SSE syntax), sent one by
/// one with `gap` between them; when `hang` is set it then stays open
/// forever instead of ending.
pub fn sse(events: Vec<String>, gap: Duration, hang: bool) -> Response {
    let stream = futures_util::stream::iter(events).then(move |event| async move {
        tokio::time::sleep(gap).await;
        Ok::<_, std::io::Error>(Bytes::from(event))
    });
    let body = if hang {
        Body::from_stream(stream.chain(futures_util::stream::pending()))
    } else {
        Body::from_stream(stream)
    };
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .body(body)
        .expect("response")
}

/// One SSE `message` event, with an id if given.
pub fn event(id: Option<&str>, data: &str) -> String {
    match id {
        Some(id) => format!("id: {id}\nevent: message\ndata: {data}\n\n"),
        None => format!("event: message\ndata: {data}\n\n"),
    }
}

/// An event stream fed by a live stream of SSE-formatted events.
pub fn sse_from(events: impl futures_util::Stream<Item = String> + Send + 'static) -> Response {
    let body = Body::from_stream(events.map(|e| Ok::<_, std::io::Error>(Bytes::from(e))));
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .body(body)
        .expect("response")
}

/// How a 2026-07-28-only server answers the handshake: `initialize` is
/// refused with the versions it speaks, `server/discover` answered with
/// tools, as `name`; `None` for anything else.
pub fn modern_handshake(got: &Got, name: &str) -> Option<Response> {
    match got.rpc_method().as_deref() {
        Some("initialize") => Some(reply(
            400,
            "application/json",
            r#"{"jsonrpc":"2.0","id":0,"error":{"code":-32022,"message":"Unsupported protocol version","data":{"supported":["2026-07-28"],"requested":"2025-11-25"}}}"#,
        )),
        Some("server/discover") => Some(answer(
            got,
            &format!(
                r#"{{"supportedVersions":["2026-07-28"],"capabilities":{{"tools":{{}}}},"serverInfo":{{"name":"{name}","version":"1"}}}}"#
            ),
        )),
        _ => None,
    }
}

/// A scripted 2026-07-28 server: refuses `initialize` the way a modern-only
/// server does, answers `server/discover`, and hands `tools/call` to `call`
/// with the number of the call (from 1).
pub async fn scripted_modern_server<F>(call: F) -> FaultServer
where
    F: Fn(Got, usize) -> Response + Send + Sync + 'static,
{
    let calls = Arc::new(AtomicUsize::new(0));
    FaultServer::start(move |got: Got| {
        let n = match got.rpc_method().as_deref() {
            Some("tools/call") => calls.fetch_add(1, Ordering::SeqCst) + 1,
            _ => 0,
        };
        let response = match got.rpc_method().as_deref() {
            Some("tools/call") => call(got, n),
            _ => modern_handshake(&got, "scripted").unwrap_or_else(accepted),
        };
        async move { response }
    })
    .await
}
