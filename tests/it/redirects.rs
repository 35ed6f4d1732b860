//! Issue 17: redirects keep the promises the first URL kept. Hostile
//! servers on loopback redirect the bridge; what reaches the other end is
//! recorded. (That a redirect may not lead nearer to this machine, or down
//! to plain http, is `http::tests`: on loopback every address is near.)

use serde_json::json;

use crate::common::fault::{FaultServer, Got, accepted, answer, reply};
use crate::common::{Bridge, error_message};

const INIT_RESULT: &str = r#"{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"f","version":"1"}}"#;

/// A server that answers the handshake with a session, and redirects
/// `tools/call` with `status` to `to`.
async fn redirecting(status: u16, to: String) -> FaultServer {
    FaultServer::start(move |got: Got| {
        let to = to.clone();
        async move {
            match got.rpc_method().as_deref() {
                Some("initialize") => {
                    let mut response = answer(&got, INIT_RESULT);
                    response
                        .headers_mut()
                        .insert("mcp-session-id", "s-secret-session".parse().unwrap());
                    response
                }
                Some("tools/call") => {
                    let mut response = reply(status, "text/plain", "");
                    response
                        .headers_mut()
                        .insert("location", to.parse().unwrap());
                    response
                }
                _ => accepted(),
            }
        }
    })
    .await
}

/// A server that answers every call.
async fn answering() -> FaultServer {
    FaultServer::start(|got: Got| async move {
        match got.rpc_method().as_deref() {
            Some("tools/call") => answer(&got, r#"{"content":[{"type":"text","text":"moved"}]}"#),
            _ => accepted(),
        }
    })
    .await
}

async fn call_after_handshake(bridge: &mut Bridge) -> serde_json::Value {
    bridge.initialize("2025-06-18").await;
    bridge.call_tool(1, "t", json!({})).await
}

/// Issue 17.2: a 307 to another origin (another port) takes the JSON-RPC
/// body there, but not the user's `--header` values (an API key) nor the
/// session id, as curl does without `--location-trusted`.
#[tokio::test]
async fn custom_headers_and_the_session_stay_with_their_origin() {
    let other = answering().await;
    let server = redirecting(307, other.url("/mcp")).await;
    let mut bridge = Bridge::in_process(&[
        &server.url("/mcp"),
        "--header",
        "X-Api-Key: key-for-the-first-origin",
    ]);
    let called = call_after_handshake(&mut bridge).await;
    assert_eq!(called["result"]["content"][0]["text"], "moved", "{called}");
    let got = other.got();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].rpc_method().as_deref(), Some("tools/call"));
    assert_eq!(got[0].header("x-api-key"), None, "{got:?}");
    assert_eq!(got[0].header("mcp-session-id"), None, "{got:?}");
    assert_eq!(got[0].header("mcp-method"), Some("tools/call"));
    // On the first origin, the header went as always.
    assert!(server.got().iter().all(|g| g.header("x-api-key").is_some()));
}

/// A redirect on the same origin keeps every header.
#[tokio::test]
async fn a_redirect_on_the_same_origin_keeps_the_headers() {
    let server = FaultServer::start(|got: Got| async move {
        match (got.path.as_str(), got.rpc_method().as_deref()) {
            (_, Some("initialize")) => answer(&got, INIT_RESULT),
            ("/mcp", Some("tools/call")) => {
                let mut response = reply(308, "text/plain", "");
                response
                    .headers_mut()
                    .insert("location", "/v2/mcp".parse().unwrap());
                response
            }
            (_, Some("tools/call")) => answer(&got, r#"{"content":[{"type":"text","text":"v2"}]}"#),
            _ => accepted(),
        }
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp"), "--header", "X-Api-Key: k"]);
    let called = call_after_handshake(&mut bridge).await;
    assert_eq!(called["result"]["content"][0]["text"], "v2", "{called}");
    let moved: Vec<Got> = server
        .got()
        .into_iter()
        .filter(|g| g.path == "/v2/mcp")
        .collect();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].header("x-api-key"), Some("k"));
}

/// Issue 17.1: a 302 to a POST would make it a GET; it is not followed,
/// and the error says where it led and why.
#[tokio::test]
async fn a_post_is_not_turned_into_a_get() {
    let other = answering().await;
    let server = redirecting(302, other.url("/mcp")).await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    let called = call_after_handshake(&mut bridge).await;
    let text = error_message(&called);
    assert!(
        text.contains("redirected to") && text.contains("would become a GET"),
        "{called}"
    );
    assert!(other.got().is_empty());
}

/// Issue 17.1: OAuth metadata that redirects to another origin is not
/// fetched there: the authorization server's documents are served where
/// they are named.
#[tokio::test]
async fn oauth_metadata_is_not_fetched_across_origins() {
    let elsewhere = FaultServer::start(|_| async { reply(200, "application/json", "{}") }).await;
    let target = elsewhere.url("/.well-known/oauth-protected-resource");
    let server = FaultServer::start(move |got: Got| {
        let target = target.clone();
        async move {
            if got.path.starts_with("/.well-known/") {
                let mut response = reply(302, "text/plain", "");
                response
                    .headers_mut()
                    .insert("location", target.parse().unwrap());
                return response;
            }
            let host = got.header("host").unwrap_or_default().to_owned();
            let mut response = reply(401, "text/plain", "");
            response.headers_mut().insert(
                "www-authenticate",
                format!(
                    r#"Bearer resource_metadata="http://{host}/.well-known/oauth-protected-resource/mcp""#
                )
                .parse()
                .unwrap(),
            );
            response
        }
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp"), "--auth-timeout", "2"]);
    bridge
        .send(&crate::common::initialize_request(0, "2025-06-18"))
        .await;
    let answer = bridge.answer_to(&json!(0)).await;
    assert!(answer["error"].is_object(), "{answer}");
    assert!(elsewhere.got().is_empty(), "{:?}", elsewhere.got());
}
