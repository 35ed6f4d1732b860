//! The translation stage between the host's side and the transport, chosen
//! by detection: what the host's messages become on the way out, and what
//! the server's become on the way in, when the two speak different eras.
//!
//! There is one translation per pair of eras, each in a file of its own:
//!
//! - [`Translation::PassThrough`]: both speak one era;
//! - [`ModernHost`]: a 2026-07-28 host on a handshake server (E8);
//! - [`LegacyHost`]: a handshake host on a 2026-07-28 server (E3–E5).
//!
//! Transports know nothing of eras. The handshake era's transports send
//! what this stage lets through ([`Translation::outbound`]) and hand every
//! message the server sends to it ([`Translation::inbound`]), saying only on
//! which stream it came ([`Origin`]); what the stage decides goes to the
//! host, back to the server, or waits. So a translation works on every
//! transport alike: a 2026-07-28 host on a legacy HTTP+SSE server is
//! translated exactly as on Streamable HTTP.
//!
//! The 2026-07-28 exchange has no stream of its own to deliver on: each
//! request is answered in its POST. So [`LegacyHost`] carries the host's
//! message itself ([`Outbound::Carried`]): it calls the exchange with the
//! envelope it speaks, and turns its `input_required` answers into
//! questions to the host. Adding a revision means a protocol type in
//! `era`, perhaps an exchange, and one translation here.

mod legacy_host;
mod modern_host;

use std::sync::Arc;

use crate::error::UpstreamError;
use crate::protocol::jsonrpc::{IdKey, Message};
pub(crate) use crate::transport::{Inbound, Origin};
pub(crate) use legacy_host::LegacyHost;
pub(crate) use modern_host::ModernHost;

/// What to do with one host message.
pub(crate) enum Outbound {
    /// Send it as it is.
    Send,
    /// Answer the host with this; send nothing.
    Answer(Message),
    /// Send these to the server instead; then give the host this, if any.
    Continue {
        to_server: Vec<Message>,
        to_host: Option<Message>,
    },
    /// The stage carried it: it sent the server what the message became,
    /// and the host's answer went to the host.
    Carried,
}

/// The translation in force.
#[derive(Default)]
pub(crate) enum Translation {
    /// Both sides speak one era: messages pass as they are.
    #[default]
    PassThrough,
    /// A 2026-07-28 host on a server that speaks only the `initialize`
    /// handshake (E8).
    ModernHost(ModernHost),
    /// A host that opens with `initialize` on a server that speaks only
    /// the 2026-07-28 revision (E3–E5).
    LegacyHost(Arc<LegacyHost>),
}

impl Translation {
    /// For a 2026-07-28 host on a handshake server: `discover` is the
    /// `server/discover` result the bridge answers with, made from the
    /// server's answer to the `initialize` it sent on the host's behalf.
    /// `server_info`: the server's `serverInfo` from that answer.
    pub fn modern_host(discover: String, server_info: Option<String>) -> Translation {
        Translation::ModernHost(ModernHost::new(discover, server_info))
    }

    /// What the host's message becomes on its way to the server.
    pub async fn outbound(&self, msg: &Message) -> Result<Outbound, UpstreamError> {
        match self {
            Translation::PassThrough => Ok(Outbound::Send),
            Translation::ModernHost(modern) => Ok(modern.outbound(msg)),
            Translation::LegacyHost(legacy) => {
                legacy.carry(msg).await?;
                Ok(Outbound::Carried)
            }
        }
    }

    /// Where the server's message goes. `pending` says whether the host
    /// still waits for an answer to a request. ([`LegacyHost`] reads its
    /// answers from the exchange; what else the server sends is the host's.)
    pub fn inbound(
        &self,
        msg: Message,
        origin: Origin<'_>,
        pending: impl Fn(&IdKey) -> bool,
    ) -> Inbound {
        match self {
            Translation::PassThrough | Translation::LegacyHost(_) => Inbound::Host(msg),
            Translation::ModernHost(modern) => modern.inbound(msg, origin, pending),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::jsonrpc::RawId;
    use bytes::Bytes;

    fn msg(text: &str) -> Message {
        Message::parse(Bytes::copy_from_slice(text.as_bytes())).unwrap()
    }

    fn text(m: &Message) -> &str {
        std::str::from_utf8(m.raw()).unwrap()
    }

    #[tokio::test]
    async fn pass_through_touches_nothing() {
        let t = Translation::PassThrough;
        let request = msg(r#"{"jsonrpc":"2.0","id":1,"method":"server/discover"}"#);
        assert!(matches!(
            t.outbound(&request).await.unwrap(),
            Outbound::Send
        ));
        let ask = msg(r#"{"jsonrpc":"2.0","id":0,"method":"sampling/createMessage"}"#);
        let Inbound::Host(delivered) = t.inbound(ask.clone(), Origin::Unknown, |_| true) else {
            panic!("passes to the host");
        };
        assert_eq!(delivered.raw(), ask.raw());
    }

    /// E8: the bridge answers `server/discover` with what the server's
    /// `initialize` said.
    #[tokio::test]
    async fn e8_discover_is_answered_by_the_bridge() {
        let t = Translation::modern_host(r#"{"supportedVersions":["2026-07-28"]}"#.into(), None);
        let discover = msg(r#"{"jsonrpc":"2.0","id":"d","method":"server/discover"}"#);
        let Outbound::Answer(answer) = t.outbound(&discover).await.unwrap() else {
            panic!("answered here");
        };
        assert_eq!(
            text(&answer),
            r#"{"jsonrpc":"2.0","id":"d","result":{"supportedVersions":["2026-07-28"]}}"#
        );
    }

    /// E8 over legacy HTTP+SSE: a server request on the one stream belongs
    /// to the host's only call in flight, and becomes its `input_required`
    /// answer; the retry's answers go to the server and the final answer
    /// to the retry, made a complete 2026-07-28 result by the stage.
    #[tokio::test]
    async fn e8_a_request_on_a_shared_stream_belongs_to_the_only_call_in_flight() {
        let t = Translation::modern_host("{}".into(), None);
        let call = msg(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"ask"}}"#);
        assert!(matches!(t.outbound(&call).await.unwrap(), Outbound::Send));
        let ask = msg(r#"{"jsonrpc":"2.0","id":0,"method":"elicitation/create","params":{}}"#);
        let Inbound::Host(required) = t.inbound(ask, Origin::Unknown, |_| true) else {
            panic!("asked of the host");
        };
        let required: serde_json::Value = serde_json::from_slice(required.raw()).unwrap();
        assert_eq!(required["id"], 5);
        assert_eq!(required["result"]["resultType"], "input_required");
        let key = required["result"]["inputRequests"]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .unwrap()
            .clone();
        let retry = serde_json::json!({"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {
            "name": "ask", "inputResponses": {key: {"action": "accept"}},
            "requestState": required["result"]["requestState"]}});
        let Outbound::Continue { to_server, to_host } =
            t.outbound(&msg(&retry.to_string())).await.unwrap()
        else {
            panic!("the retry continues the call");
        };
        assert!(to_host.is_none());
        assert_eq!(
            text(&to_server[0]),
            r#"{"jsonrpc":"2.0","id":0,"result":{"action":"accept"}}"#
        );
        let done = msg(r#"{"jsonrpc":"2.0","id":5,"result":{"content":[]}}"#);
        let Inbound::Host(done) = t.inbound(done, Origin::Unknown, |_| true) else {
            panic!("the answer goes to the host");
        };
        assert_eq!(
            text(&done),
            r#"{"jsonrpc":"2.0","id":6,"result":{"content":[],"resultType":"complete"}}"#
        );
    }

    /// With two calls in flight on a shared stream, which one asked cannot
    /// be told: the server gets a refusal that says so, not silence.
    #[tokio::test]
    async fn e8_a_request_with_two_calls_in_flight_is_refused_with_a_reason() {
        let t = Translation::modern_host("{}".into(), None);
        for id in [1, 2] {
            let call =
                format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{}}}}"#);
            t.outbound(&msg(&call)).await.unwrap();
        }
        let ask = msg(r#"{"jsonrpc":"2.0","id":9,"method":"sampling/createMessage"}"#);
        let Inbound::Server(refusal) = t.inbound(ask, Origin::Unknown, |_| true) else {
            panic!("refused back to the server");
        };
        assert!(text(&refusal).contains("\"id\":9") && text(&refusal).contains("-32601"));
        // One answered (or failed in the ledger): the other is the only one.
        let ask = msg(r#"{"jsonrpc":"2.0","id":10,"method":"sampling/createMessage"}"#);
        let one_left = |key: &IdKey| *key == RawId::from_json("2").match_key();
        assert!(matches!(
            t.inbound(ask, Origin::Unknown, one_left),
            Inbound::Host(_)
        ));
    }

    #[tokio::test]
    async fn e8_ping_outside_a_call_is_answered_and_others_refused() {
        let t = Translation::modern_host("{}".into(), None);
        let ping = msg(r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#);
        let Inbound::Server(pong) = t.inbound(ping, Origin::Outside, |_| true) else {
            panic!("answered");
        };
        assert_eq!(text(&pong), r#"{"jsonrpc":"2.0","id":3,"result":{}}"#);
        let roots = msg(r#"{"jsonrpc":"2.0","id":4,"method":"roots/list"}"#);
        assert!(matches!(
            t.inbound(roots, Origin::Outside, |_| true),
            Inbound::Server(_)
        ));
        let note = msg(r#"{"jsonrpc":"2.0","method":"notifications/message","params":{}}"#);
        assert!(matches!(
            t.inbound(note, Origin::Outside, |_| true),
            Inbound::Host(_)
        ));
    }
}
