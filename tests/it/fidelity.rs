//! T10, T11: messages pass through untouched, byte for byte in meaning.
//!
//! The fault server here is a faithful echo: it answers with the request's
//! id copied byte for byte, which JavaScript servers cannot do (they turn
//! `1.0` into `1` and round `9007199254740993`).

use crate::common::Bridge;
use crate::common::fault::{FaultServer, accepted, answer, reply};

async fn echo_server() -> FaultServer {
    FaultServer::start(|got| async move {
        match got.rpc_method().as_deref() {
            Some(m) if m.starts_with("notifications/") => accepted(),
            _ if got.body.starts_with(b"[") => answer(&got, r#"{"batch":true}"#),
            _ => answer(
                &got,
                r#"{"big":9007199254740993,"unknown":{"kept":[1.0,2.50]}}"#,
            ),
        }
    })
    .await
}

/// T11: ids `1`, `"1"`, `1.0` and `9007199254740993` come back exactly as
/// sent, and so do a big integer and unknown members in the result.
#[tokio::test]
async fn tricky_ids_and_numbers_survive_the_round_trip() {
    let server = echo_server().await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    for id in ["1", "\"1\"", "1.0", "9007199254740993", "\"\u{e9}t\u{e9}\""] {
        let request = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list","params":{{"x-unknown":1e2}}}}"#
        );
        bridge.send(&request).await;
        let line = bridge.recv_line().await;
        assert_eq!(
            line,
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"result":{{"big":9007199254740993,"unknown":{{"kept":[1.0,2.50]}}}}}}"#
            )
        );
    }
    // The server received each request exactly as the host wrote it.
    let bodies: Vec<String> = server
        .posts_of("tools/list")
        .iter()
        .map(|g| String::from_utf8(g.body.to_vec()).unwrap())
        .collect();
    assert!(
        bodies
            .iter()
            .any(|b| b.contains(r#""id":9007199254740993,"#)),
        "{bodies:?}"
    );
    assert!(
        bodies.iter().any(|b| b.contains(r#""id":1.0,"#)),
        "{bodies:?}"
    );
    assert!(
        bodies.iter().all(|b| b.contains(r#""x-unknown":1e2"#)),
        "{bodies:?}"
    );
}

/// T10: a batch is forwarded as one POST, as written, and its answer comes
/// back as one line.
#[tokio::test]
async fn batches_are_forwarded_whole() {
    let server = echo_server().await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","id":"two","method":"b"},{"jsonrpc":"2.0","method":"notifications/x"}]"#;
    bridge.send(batch).await;
    let line = bridge.recv_line().await;
    assert_eq!(
        line,
        r#"[{"jsonrpc":"2.0","id":1,"result":{"batch":true}},{"jsonrpc":"2.0","id":"two","result":{"batch":true}}]"#
    );
    let posted: Vec<_> = server
        .got()
        .into_iter()
        .filter(|g| g.body.starts_with(b"["))
        .collect();
    assert_eq!(posted.len(), 1);
    assert_eq!(&posted[0].body[..], batch.as_bytes());
}

/// T13: a server that pretty-prints its JSON still yields one line per
/// message on stdout.
#[tokio::test]
async fn pretty_printed_answers_become_one_line() {
    let server = FaultServer::start(|got| async move {
        let text = crate::common::fault::answer_text(&got.body, "{\n  \"a\": \"x\\ny\"\n}");
        reply(200, "application/json", text.replace(",", ",\r\n"))
    })
    .await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    bridge
        .send(r#"{"jsonrpc":"2.0","id":5,"method":"m"}"#)
        .await;
    let value = bridge.recv().await;
    assert_eq!(value["result"]["a"], "x\ny");
    assert_eq!(value["id"], 5);
}

/// Malformed stdin lines get a parse error (-32700, id null) and the bridge
/// keeps going; valid JSON that is not JSON-RPC gets -32600.
#[tokio::test]
async fn malformed_lines_are_answered_and_the_bridge_keeps_going() {
    let server = echo_server().await;
    let mut bridge = Bridge::in_process(&[&server.url("/mcp")]);
    bridge.send("this is not json").await;
    let parse_error = bridge.recv().await;
    assert_eq!(parse_error["error"]["code"], -32700);
    assert_eq!(parse_error["id"], serde_json::Value::Null);
    bridge.send(r#"{"jsonrpc":"2.0","id":3}"#).await;
    let invalid = bridge.recv().await;
    assert_eq!(invalid["error"]["code"], -32600);
    assert_eq!(invalid["id"], 3);
    bridge
        .send(r#"{"jsonrpc":"2.0","id":4,"method":"tools/list"}"#)
        .await;
    let fine = bridge.recv().await;
    assert_eq!(fine["id"], 4);
    assert!(fine["result"].is_object());
}
