//! A host that speaks the 2026-07-28 revision on a server that speaks only
//! the `initialize` handshake (spec-checklist E8), over either of that era's
//! transports.

use std::sync::Mutex;

use super::{Inbound, Origin, Outbound};
use crate::protocol::jsonrpc::{self, IdKey, Kind, Message, RawId, Shape};
use crate::upstream::relay::{Relay, Resume};

/// E8: the bridge answers `server/discover` itself, the server's own
/// requests during a call become `input_required` answers ([`Relay`]), and
/// every result is made a valid 2026-07-28 one on its way to the host
/// ([`era::complete_result`]).
pub(crate) struct ModernHost {
    discover: String,
    /// The server's `serverInfo` (raw JSON), named in every result's `_meta`.
    server_info: Option<String>,
    relay: Relay,
    /// The host's requests sent and not yet answered, in order, with their
    /// methods: the call a server request belongs to when its stream cannot
    /// say, and what an answer is an answer to.
    in_flight: Mutex<Vec<(RawId, Box<str>)>>,
}

impl ModernHost {
    /// `discover` is the `server/discover` result the bridge answers with,
    /// made from the server's answer to the `initialize` it sent on the
    /// host's behalf.
    pub(super) fn new(discover: String, server_info: Option<String>) -> Self {
        ModernHost {
            discover,
            server_info,
            relay: Relay::default(),
            in_flight: Mutex::default(),
        }
    }

    pub(super) fn outbound(&self, msg: &Message) -> Outbound {
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
            Shape::Single(Kind::Request { id, method }) => {
                self.in_flight
                    .lock()
                    .expect("in flight lock")
                    .push((id.clone(), method.clone()));
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

    pub(super) fn inbound(
        &self,
        msg: Message,
        origin: Origin<'_>,
        pending: impl Fn(&IdKey) -> bool,
    ) -> Inbound {
        match msg.shape() {
            Shape::Single(Kind::Request { .. }) => {}
            Shape::Single(Kind::Response { id: Some(id) }) => {
                let method = self.forget(&id.match_key());
                let answer = self.relay.redirect(msg);
                return Inbound::Host(match method {
                    Some(method) => self.completed(&method, answer),
                    None => answer,
                });
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

    /// Forgets the host's request `key`; its method, if it was in flight.
    fn forget(&self, key: &IdKey) -> Option<Box<str>> {
        let mut in_flight = self.in_flight.lock().expect("in flight lock");
        let at = in_flight
            .iter()
            .position(|(id, _)| &id.match_key() == key)?;
        Some(in_flight.remove(at).1)
    }

    /// The answer to a host's `method`, made a valid 2026-07-28 result:
    /// `resultType`, a cacheable result's `ttlMs` and `cacheScope`, the
    /// server's name in `_meta`; members the server sent keep their bytes
    /// (E8). Errors pass as they are.
    fn completed(&self, method: &str, answer: Message) -> Message {
        crate::protocol::era::complete_result(method, answer.raw(), self.server_info.as_deref())
            .and_then(|raw| Message::parse(raw).ok())
            .unwrap_or(answer)
    }

    /// The host's one request in flight, when there is exactly one: on a
    /// stream that carries everything, a server request can belong to no
    /// other. With several, which one asked cannot be told.
    fn only_call_in_flight(&self, pending: impl Fn(&IdKey) -> bool) -> Option<RawId> {
        let mut in_flight = self.in_flight.lock().expect("in flight lock");
        // Requests the ledger answered otherwise (a failure, a timeout).
        in_flight.retain(|(id, _)| pending(&id.match_key()));
        match in_flight.as_slice() {
            [(only, _)] => Some(only.clone()),
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
