//! The translation stage between the host's side and the transport, chosen
//! by detection: what the host's messages become on the way out, and what
//! the server's become on the way in, when the two speak different eras.
//!
//! Transports know nothing of eras. They send what this stage lets through
//! ([`Translation::outbound`]) and hand every message the server sends to
//! it ([`Translation::inbound`]), saying only on which stream it came
//! ([`Origin`]); what the stage decides goes to the host, back to the
//! server, or waits. So a translation works on every transport alike: a
//! 2026-07-28 host on a legacy HTTP+SSE server is translated exactly as on
//! Streamable HTTP (E8).
//!
//! A handshake host on a 2026-07-28-only server is still translated inside
//! `upstream/modern.rs`, which is both that revision's exchange and its
//! translator (ARCHITECTURE.md says so).

use std::sync::Mutex;

use super::relay::{Relay, Resume};
use crate::jsonrpc::{self, IdKey, Kind, Message, RawId, Shape};

/// On which stream the server sent a message: what the transport can tell.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Origin<'a> {
    /// The reply stream of the host's request with this id.
    Call(&'a RawId),
    /// A stream that belongs to no request (Streamable HTTP's GET stream).
    Outside,
    /// One stream carries everything (legacy HTTP+SSE): the transport
    /// cannot tell.
    Unknown,
}

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
}

/// Where one server message goes.
pub(crate) enum Inbound {
    /// To the host.
    Host(Message),
    /// Back to the server: the stage answered it.
    Server(Message),
    /// Nowhere yet: it waits for the host's next move.
    Held,
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
}

impl Translation {
    /// For a 2026-07-28 host on a handshake server: `discover` is the
    /// `server/discover` result the bridge answers with, made from the
    /// server's answer to the `initialize` it sent on the host's behalf.
    pub fn modern_host(discover: String) -> Translation {
        Translation::ModernHost(ModernHost {
            discover,
            relay: Relay::default(),
            in_flight: Mutex::default(),
        })
    }

    /// What the host's message becomes on its way to the server.
    pub fn outbound(&self, msg: &Message) -> Outbound {
        match self {
            Translation::PassThrough => Outbound::Send,
            Translation::ModernHost(modern) => modern.outbound(msg),
        }
    }

    /// Where the server's message goes. `pending` says whether the host
    /// still waits for an answer to a request.
    pub fn inbound(
        &self,
        msg: Message,
        origin: Origin<'_>,
        pending: impl Fn(&IdKey) -> bool,
    ) -> Inbound {
        match self {
            Translation::PassThrough => Inbound::Host(msg),
            Translation::ModernHost(modern) => modern.inbound(msg, origin, pending),
        }
    }
}

/// E8: the bridge answers `server/discover` itself, and the server's own
/// requests during a call become `input_required` answers ([`Relay`]).
pub(crate) struct ModernHost {
    discover: String,
    relay: Relay,
    /// The host's requests sent and not yet answered, in order: the call a
    /// server request belongs to when its stream cannot say.
    in_flight: Mutex<Vec<RawId>>,
}

impl ModernHost {
    fn outbound(&self, msg: &Message) -> Outbound {
        if let Some(id) = msg.request_id()
            && msg.is_request("server/discover")
        {
            return Outbound::Answer(jsonrpc::result_response(id, &self.discover));
        }
        if let Resume::Answers(to_server, to_host) = self.relay.resume(msg) {
            // A retry continues the server's call; only the answers go.
            return Outbound::Continue { to_server, to_host };
        }
        match msg.shape() {
            Shape::Single(Kind::Request { id, .. }) => {
                self.in_flight
                    .lock()
                    .expect("in flight lock")
                    .push(id.clone());
            }
            Shape::Single(Kind::Notification { method })
                if &**method == "notifications/cancelled" =>
            {
                if let Some(cancelled) = msg.param("requestId") {
                    let key = RawId::from_json(&cancelled).match_key();
                    self.forget(&key);
                }
            }
            _ => {}
        }
        Outbound::Send
    }

    fn inbound(
        &self,
        msg: Message,
        origin: Origin<'_>,
        pending: impl Fn(&IdKey) -> bool,
    ) -> Inbound {
        match msg.shape() {
            Shape::Single(Kind::Request { .. }) => {}
            Shape::Single(Kind::Response { id: Some(id) }) => {
                self.forget(&id.match_key());
                return Inbound::Host(self.relay.redirect(msg));
            }
            _ => return Inbound::Host(msg),
        }
        let call = match origin {
            Origin::Call(id) => Some(id.clone()),
            Origin::Outside => None,
            Origin::Unknown => self.only_call_in_flight(pending),
        };
        let Some(call) = call else {
            return self.answer_outside_a_call(&msg);
        };
        match self.relay.server_asks(&call, &msg) {
            Some(ask) => Inbound::Host(ask),
            None => Inbound::Held,
        }
    }

    fn forget(&self, key: &IdKey) {
        self.in_flight
            .lock()
            .expect("in flight lock")
            .retain(|id| &id.match_key() != key);
    }

    /// The host's one request in flight, when there is exactly one: on a
    /// stream that carries everything, a server request can belong to no
    /// other. With several, which one asked cannot be told.
    fn only_call_in_flight(&self, pending: impl Fn(&IdKey) -> bool) -> Option<RawId> {
        let mut in_flight = self.in_flight.lock().expect("in flight lock");
        // Requests the ledger answered otherwise (a failure, a timeout).
        in_flight.retain(|id| pending(&id.match_key()));
        match in_flight.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        }
    }

    /// A server request that belongs to no call the bridge can name: the
    /// 2026-07-28 revision has no way to ask a client anything outside a
    /// call. `ping` is answered here; anything else is refused with a
    /// reason, so the server does not wait forever.
    fn answer_outside_a_call(&self, request: &Message) -> Inbound {
        let Some(id) = request.request_id() else {
            return Inbound::Held;
        };
        let method = request.method().unwrap_or_default();
        if method == "ping" {
            return Inbound::Server(jsonrpc::result_response(id, "{}"));
        }
        tracing::info!(
            "refused the server's {method} outside a call: the host speaks MCP 2026-07-28, which has no such requests"
        );
        let refusal = jsonrpc::error_response(
            Some(id),
            -32601,
            &format!(
                "the client speaks MCP 2026-07-28 and can answer {method} only as part of one call (input_required); this request belongs to none the bridge can tell"
            ),
            None,
        );
        match Message::parse(refusal) {
            Ok(refusal) => Inbound::Server(refusal),
            Err(_) => Inbound::Held,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(text: &str) -> Message {
        Message::parse(Bytes::copy_from_slice(text.as_bytes())).unwrap()
    }

    fn text(m: &Message) -> &str {
        std::str::from_utf8(m.raw()).unwrap()
    }

    #[test]
    fn pass_through_touches_nothing() {
        let t = Translation::PassThrough;
        let request = msg(r#"{"jsonrpc":"2.0","id":1,"method":"server/discover"}"#);
        assert!(matches!(t.outbound(&request), Outbound::Send));
        let ask = msg(r#"{"jsonrpc":"2.0","id":0,"method":"sampling/createMessage"}"#);
        let Inbound::Host(delivered) = t.inbound(ask.clone(), Origin::Unknown, |_| true) else {
            panic!("passes to the host");
        };
        assert_eq!(delivered.raw(), ask.raw());
    }

    /// E8: the bridge answers `server/discover` with what the server's
    /// `initialize` said.
    #[test]
    fn e8_discover_is_answered_by_the_bridge() {
        let t = Translation::modern_host(r#"{"supportedVersions":["2026-07-28"]}"#.into());
        let discover = msg(r#"{"jsonrpc":"2.0","id":"d","method":"server/discover"}"#);
        let Outbound::Answer(answer) = t.outbound(&discover) else {
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
    /// to the retry.
    #[test]
    fn e8_a_request_on_a_shared_stream_belongs_to_the_only_call_in_flight() {
        let t = Translation::modern_host("{}".into());
        let call = msg(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"ask"}}"#);
        assert!(matches!(t.outbound(&call), Outbound::Send));
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
        let Outbound::Continue { to_server, to_host } = t.outbound(&msg(&retry.to_string())) else {
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
            r#"{"jsonrpc":"2.0","id":6,"result":{"content":[]}}"#
        );
    }

    /// With two calls in flight on a shared stream, which one asked cannot
    /// be told: the server gets a refusal that says so, not silence.
    #[test]
    fn e8_a_request_with_two_calls_in_flight_is_refused_with_a_reason() {
        let t = Translation::modern_host("{}".into());
        for id in [1, 2] {
            let call =
                format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{}}}}"#);
            t.outbound(&msg(&call));
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

    #[test]
    fn e8_ping_outside_a_call_is_answered_and_others_refused() {
        let t = Translation::modern_host("{}".into());
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
