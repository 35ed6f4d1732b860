//! A raw view of JSON-RPC messages: what routing needs, and nothing more.
//!
//! A message stays the bytes it arrived as ([`Message::raw`]); this module only
//! reads the routing fields (`id`, `method`, whether it is a response) through
//! borrowed `RawValue`s, so ids such as `1.0` or `9007199254740993`, unknown
//! members, key order and batches survive untouched (T10, T11). Message types
//! here never derive `Serialize`: the bridge has no way to re-encode a client's
//! message even by accident.
//!
//! It also builds the few messages the bridge writes itself: error responses
//! and its own requests with bridge-private ids (T12).

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// JSON-RPC error codes the bridge answers with.
pub mod code {
    /// The line is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// JSON, but not a JSON-RPC message.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The request names something the bridge refuses (a hidden tool).
    pub const INVALID_PARAMS: i64 = -32602;
    /// The server or the network failed; the message says what happened.
    /// Same code as the MCP SDKs' `ConnectionClosed`.
    pub const UPSTREAM: i64 = -32000;
    /// The server did not answer in time. Same code as the SDKs' `RequestTimeout`.
    pub const TIMEOUT: i64 = -32001;
    /// MCP's "resource not found", for resources the bridge filters.
    pub const RESOURCE_NOT_FOUND: i64 = -32002;
}

/// The id of a request exactly as it was written, e.g. `1`, `"1"` or `1.0`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RawId(Box<str>);

impl RawId {
    fn new(raw: &RawValue) -> Self {
        RawId(raw.get().into())
    }

    /// The id as JSON text, ready to be written back verbatim.
    pub fn as_json(&self) -> &str {
        &self.0
    }

    /// A key under which a server's echo of this id is found again.
    ///
    /// Servers written in JavaScript turn `1.0` into `1` and round integers
    /// past 2^53, so numbers are compared by their `f64` value; strings and
    /// anything else by their exact text.
    pub fn match_key(&self) -> IdKey {
        match self.0.as_bytes().first() {
            Some(b'-' | b'0'..=b'9') => match self.0.parse::<f64>() {
                Ok(n) => IdKey::Number(n.to_bits()),
                Err(_) => IdKey::Text(self.0.clone()),
            },
            _ => IdKey::Text(self.0.clone()),
        }
    }

    /// An id from its JSON text, e.g. a `requestId` read from `params`.
    pub fn from_json(text: &str) -> Self {
        RawId(text.trim().into())
    }

    /// A bridge-private id: a string no ordinary client would choose (T12).
    pub fn private(purpose: &str, n: u64) -> Self {
        RawId(format!("\"mcp-tether:{purpose}:{n}\"").into())
    }
}

impl fmt::Debug for RawId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for RawId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// See [`RawId::match_key`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IdKey {
    Number(u64),
    Text(Box<str>),
}

/// What a single (non-batch) message is, as far as routing cares.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Request {
        id: RawId,
        method: Box<str>,
    },
    Notification {
        method: Box<str>,
    },
    /// A result or an error. `id` is `None` for `"id": null` (an answer to
    /// something the peer could not parse).
    Response {
        id: Option<RawId>,
    },
}

/// The shape of a whole message: one, or a batch (T10).
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Single(Kind),
    Batch(Vec<Kind>),
}

/// One JSON-RPC message (or batch): its bytes, and what routing read from them.
#[derive(Clone)]
pub struct Message {
    raw: Bytes,
    shape: Shape,
}

/// Why bytes are not a message. Each variant maps to the JSON-RPC error the
/// bridge answers with.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not valid JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("not a JSON-RPC message: {reason}")]
    Invalid {
        reason: &'static str,
        id: Option<RawId>,
    },
}

impl ParseError {
    /// The JSON-RPC error response for this failure.
    pub fn to_response(&self) -> Bytes {
        match self {
            ParseError::NotJson(_) => error_response(
                None,
                code::PARSE_ERROR,
                &format!("Parse error: {self}"),
                None,
            ),
            ParseError::Invalid { id, .. } => error_response(
                id.as_ref(),
                code::INVALID_REQUEST,
                &format!("Invalid Request: {self}"),
                None,
            ),
        }
    }
}

/// The routing members of one message, borrowed from its bytes.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<Option<&'a RawValue>>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(default)]
    result: Option<IgnoredAny>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

/// Tells `"id": null` (Some(None)) apart from no `id` at all (None).
fn present<'de, D>(d: D) -> Result<Option<Option<&'de RawValue>>, D::Error>
where
    D: de::Deserializer<'de>,
{
    let raw = <&RawValue>::deserialize(d)?;
    Ok(Some((raw.get() != "null").then_some(raw)))
}

impl Message {
    /// Reads a message a server sent, as [`Message::parse`] does, after
    /// making sure a host can read it (issue 26): bytes that are not UTF-8
    /// can only stand inside a JSON string, so each invalid sequence
    /// becomes U+FFFD and the message stays JSON. A valid message, nearly
    /// always, keeps its bytes untouched. The flag says whether any byte
    /// was replaced.
    pub fn parse_from_server(raw: Bytes) -> Result<(Self, bool), ParseError> {
        let (raw, repaired) = match std::str::from_utf8(&raw) {
            Ok(_) => (raw, false),
            Err(_) => (
                Bytes::from(String::from_utf8_lossy(&raw).into_owned()),
                true,
            ),
        };
        Ok((Message::parse(raw)?, repaired))
    }

    /// Reads the routing fields of `raw` without copying or re-encoding it.
    pub fn parse(raw: Bytes) -> Result<Self, ParseError> {
        let shape = match first_non_space(&raw) {
            Some(b'[') => {
                let items: Vec<&RawValue> =
                    serde_json::from_slice(&raw).map_err(ParseError::NotJson)?;
                if items.is_empty() {
                    return Err(invalid("an empty batch", None));
                }
                let kinds = items
                    .iter()
                    .map(|item| match first_non_space(item.get().as_bytes()) {
                        Some(b'{') => classify(item.get().as_bytes()),
                        // Not read as a message: serde would take an
                        // array's items as the members in order, so `[1,
                        // "ping"]` became a request (found by the fuzz gate).
                        _ => Err(invalid("a batch holds only objects", None)),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Shape::Batch(kinds)
            }
            Some(b'{') => Shape::Single(classify(&raw)?),
            _ => {
                // Validate first, so that garbage is a parse error and only
                // well-formed non-objects are "invalid request" (a number
                // beyond `f64` is well-formed: read raw, not as a value).
                serde_json::from_slice::<&RawValue>(&raw).map_err(ParseError::NotJson)?;
                return Err(invalid("expected an object or a batch", None));
            }
        };
        Ok(Message { raw, shape })
    }

    /// The message exactly as received.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// Consumes the message, giving back its bytes.
    pub fn into_raw(self) -> Bytes {
        self.raw
    }

    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// Every part of the message (one for a single message).
    pub fn kinds(&self) -> &[Kind] {
        match &self.shape {
            Shape::Single(kind) => std::slice::from_ref(kind),
            Shape::Batch(kinds) => kinds,
        }
    }

    /// The ids of the requests in this message, which each need one answer.
    pub fn request_ids(&self) -> impl Iterator<Item = &RawId> {
        self.kinds().iter().filter_map(|kind| match kind {
            Kind::Request { id, .. } => Some(id),
            _ => None,
        })
    }

    /// The method of a single request or notification.
    pub fn method(&self) -> Option<&str> {
        match &self.shape {
            Shape::Single(Kind::Request { method, .. } | Kind::Notification { method }) => {
                Some(method)
            }
            _ => None,
        }
    }

    /// The id of a single request.
    pub fn request_id(&self) -> Option<&RawId> {
        match &self.shape {
            Shape::Single(Kind::Request { id, .. }) => Some(id),
            _ => None,
        }
    }

    /// Whether this is a single request with the given method.
    pub fn is_request(&self, wanted: &str) -> bool {
        matches!(&self.shape, Shape::Single(Kind::Request { method, .. }) if &**method == wanted)
    }

    /// Whether every part is a notification or a response, so no answer is due.
    pub fn expects_no_answer(&self) -> bool {
        self.request_ids().next().is_none()
    }

    /// The target a request names: `params.name` (tools/call, prompts/get) or
    /// `params.uri` (resources/*). Read on demand: most messages never need it.
    pub fn params_target(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct Outer<'a> {
            #[serde(borrow)]
            params: Option<Target<'a>>,
        }
        #[derive(Deserialize)]
        struct Target<'a> {
            #[serde(borrow)]
            name: Option<Cow<'a, str>>,
            #[serde(borrow)]
            uri: Option<Cow<'a, str>>,
        }
        let method = self.method()?;
        let outer: Outer<'_> = serde_json::from_slice(&self.raw).ok()?;
        let target = outer.params?;
        match method {
            "tools/call" | "prompts/get" => target.name.map(Cow::into_owned),
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
                target.uri.map(Cow::into_owned)
            }
            _ => None,
        }
    }

    /// The protocol version a request declares in `params._meta` (2026-07-28
    /// hosts) or, for `initialize`, in `params.protocolVersion`.
    pub fn declared_protocol_version(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct Outer {
            params: Option<Params>,
        }
        #[derive(Deserialize)]
        struct Params {
            #[serde(rename = "protocolVersion")]
            protocol_version: Option<String>,
            #[serde(rename = "_meta")]
            meta: Option<Meta>,
        }
        #[derive(Deserialize)]
        struct Meta {
            #[serde(rename = "io.modelcontextprotocol/protocolVersion")]
            protocol_version: Option<String>,
        }
        let outer: Outer = serde_json::from_slice(&self.raw).ok()?;
        let params = outer.params?;
        params
            .meta
            .and_then(|m| m.protocol_version)
            .or(if self.is_request("initialize") {
                params.protocol_version
            } else {
                None
            })
    }

    /// For a response to `initialize`: the protocol version the server chose.
    pub fn negotiated_protocol_version(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct Outer {
            result: Option<InitResult>,
        }
        #[derive(Deserialize)]
        struct InitResult {
            #[serde(rename = "protocolVersion")]
            protocol_version: Option<String>,
        }
        serde_json::from_slice::<Outer>(&self.raw)
            .ok()?
            .result?
            .protocol_version
    }

    /// A member of `params`, as raw JSON text (`requestId`,
    /// `requestState`…). Read on demand: most messages never need it.
    pub fn param(&self, key: &str) -> Option<String> {
        let object = RawObject::parse(&self.raw).ok()?;
        let params = RawObject::parse(object.get("params")?.as_bytes()).ok()?;
        params.get(key).map(str::to_owned)
    }

    /// A copy of this single message under another id: how the bridge
    /// replays a client's `initialize` as its own (T2, T12), and gives an
    /// answer fetched under a private id back under the host's. Only the
    /// `id` member changes; every other member keeps its bytes and position.
    pub fn with_id(&self, id: &RawId) -> Option<Message> {
        let mut object = RawObject::parse(&self.raw).ok()?;
        object.set("id", id.as_json());
        Message::parse(object.to_bytes()).ok()
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("shape", &self.shape)
            .field("len", &self.raw.len())
            .finish()
    }
}

fn classify(raw: &[u8]) -> Result<Kind, ParseError> {
    let env: Envelope<'_> = match serde_json::from_slice(raw) {
        Ok(env) => env,
        Err(e) if e.is_data() => return Err(invalid("a member has the wrong type", None)),
        Err(e) => return Err(ParseError::NotJson(e)),
    };
    let id = env.id.map(|id| id.map(RawId::new));
    match (env.method, id) {
        (Some(method), Some(Some(id))) => Ok(Kind::Request {
            id,
            method: method.into(),
        }),
        (Some(method), None) => Ok(Kind::Notification {
            method: method.into(),
        }),
        (Some(_), Some(None)) => Err(invalid("a request's id must not be null", None)),
        (None, id) if env.result.is_some() || env.error.is_some() => {
            Ok(Kind::Response { id: id.flatten() })
        }
        (None, id) => Err(invalid(
            "it has neither a method nor a result or error",
            id.flatten(),
        )),
    }
}

fn invalid(reason: &'static str, id: Option<RawId>) -> ParseError {
    ParseError::Invalid { reason, id }
}

fn first_non_space(bytes: &[u8]) -> Option<u8> {
    bytes
        .iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// A JSON-RPC error response, with `id` written back verbatim (`null` if none).
pub fn error_response(
    id: Option<&RawId>,
    code: i64,
    message: &str,
    data: Option<&serde_json::Value>,
) -> Bytes {
    let id = id.map_or("null", RawId::as_json);
    let message = serde_json::to_string(message).expect("a string always serializes");
    let data = data.map(|d| format!(",\"data\":{d}")).unwrap_or_default();
    Bytes::from(format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"error\":{{\"code\":{code},\"message\":{message}{data}}}}}"
    ))
}

/// A result the bridge answers with on its own behalf; `result` is raw JSON.
pub fn result_response(id: &RawId, result: &str) -> Message {
    Message::parse(Bytes::from(format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{},\"result\":{result}}}",
        id.as_json()
    )))
    .expect("a result the bridge made is JSON-RPC")
}

/// A request the bridge makes on its own behalf; `params` is raw JSON.
pub fn request(id: &RawId, method: &str, params: Option<&str>) -> Message {
    let method = serde_json::to_string(method).expect("a string always serializes");
    let params = params
        .map(|p| format!(",\"params\":{p}"))
        .unwrap_or_default();
    Message::parse(Bytes::from(format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":{method}{params}}}",
        id.as_json()
    )))
    .expect("a request the bridge made is JSON-RPC")
}

/// A notification the bridge sends on its own behalf.
pub fn notification(method: &str) -> Message {
    let method = serde_json::to_string(method).expect("a string always serializes");
    Message::parse(Bytes::from(format!(
        "{{\"jsonrpc\":\"2.0\",\"method\":{method}}}"
    )))
    .expect("a well-formed notification")
}

/// A JSON object read as an ordered list of members with raw values, so one
/// member can be replaced while every other keeps its bytes and position.
pub struct RawObject<'a> {
    members: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> RawObject<'a> {
    pub fn parse(raw: &'a [u8]) -> Result<Self, serde_json::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Vec<(Cow<'de, str>, Cow<'de, str>)>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    members.push((key, Cow::Borrowed(value.get())));
                }
                Ok(members)
            }
        }
        let mut de = serde_json::Deserializer::from_slice(raw);
        let members = de::Deserializer::deserialize_map(&mut de, MembersVisitor)?;
        de.end()?;
        Ok(RawObject { members })
    }

    /// The raw JSON text of a member. A name written twice means what
    /// JavaScript's and Python's parsers take it to mean: the last one.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// Replaces a member's value (raw JSON text), or appends the member. A
    /// name written twice gets the new value in both places, so parsers
    /// that keep the first and those that keep the last read the same
    /// (found by fuzzing, issue 7).
    pub fn set(&mut self, key: &str, raw_json: &str) {
        let mut found = false;
        for (k, v) in &mut self.members {
            if k == key {
                *v = Cow::Owned(raw_json.to_owned());
                found = true;
            }
        }
        if !found {
            self.members
                .push((Cow::Owned(key.to_owned()), Cow::Owned(raw_json.to_owned())));
        }
    }

    pub fn to_bytes(&self) -> Bytes {
        let len: usize = self
            .members
            .iter()
            .map(|(k, v)| k.len() + v.len() + 4)
            .sum();
        let mut out = String::with_capacity(len + 2);
        out.push('{');
        for (i, (key, value)) in self.members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(key).expect("a string always serializes"));
            out.push(':');
            out.push_str(value);
        }
        out.push('}');
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Issue 7: any line from the host is a message or a parse error
        /// whose answer is valid JSON-RPC; nothing panics.
        #[test]
        fn any_line_is_a_message_or_a_clear_error(
            line in prop_oneof![
                ".{0,64}".prop_map(String::into_bytes),
                proptest::collection::vec(any::<u8>(), 0..64),
                r#"\{"jsonrpc":"2\.0","id":[0-9a-z"\.\-]{1,12},"method":"[a-z/]{1,12}"\}"#
                    .prop_map(String::into_bytes),
            ],
        ) {
            match Message::parse(Bytes::from(line.clone())) {
                Ok(msg) => prop_assert_eq!(msg.raw().as_ref(), line.as_slice()),
                Err(e) => {
                    let answer: serde_json::Value = serde_json::from_slice(&e.to_response())
                        .expect("the error answer is JSON");
                    prop_assert_eq!(&answer["jsonrpc"], "2.0");
                    prop_assert!(answer["error"]["code"].is_i64());
                }
            }
        }
    }

    fn parse(text: &str) -> Result<Message, ParseError> {
        Message::parse(Bytes::copy_from_slice(text.as_bytes()))
    }

    fn kind(text: &str) -> Kind {
        match parse(text).expect("parses").shape {
            Shape::Single(kind) => kind,
            Shape::Batch(_) => panic!("not a single message"),
        }
    }

    /// T11: ids are kept as written, whatever their JSON type.
    #[test]
    fn request_ids_keep_their_exact_text() {
        for id in ["1", "\"1\"", "1.0", "9007199254740993", "-0", "\"\"", "1e3"] {
            let text = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
            assert_eq!(
                kind(&text),
                Kind::Request {
                    id: RawId(id.into()),
                    method: "ping".into()
                }
            );
        }
    }

    #[test]
    fn classifies_notifications_and_responses() {
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Kind::Notification {
                method: "notifications/initialized".into()
            }
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":7,"result":{}}"#),
            Kind::Response {
                id: Some(RawId("7".into()))
            }
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#),
            Kind::Response { id: None }
        );
    }

    #[test]
    fn methods_with_escapes_are_decoded() {
        assert_eq!(
            kind(r#"{"id":1,"method":"tools\/call"}"#),
            Kind::Request {
                id: RawId("1".into()),
                method: "tools/call".into()
            }
        );
    }

    /// T10: a batch is one message with one view per element.
    #[test]
    fn batches_are_one_message_with_every_part_classified() {
        let msg = parse(r#"[{"id":1,"method":"a"},{"method":"b"},{"id":"x","result":1}]"#)
            .expect("parses");
        assert_eq!(msg.kinds().len(), 3);
        assert_eq!(
            msg.request_ids().map(RawId::as_json).collect::<Vec<_>>(),
            ["1"]
        );
    }

    #[test]
    fn garbage_is_a_parse_error_with_null_id() {
        for text in ["{", "hello", "{\"id\":1,", "\u{0}"] {
            let err = parse(text).expect_err("refused");
            assert!(matches!(err, ParseError::NotJson(_)), "{text}: {err}");
            let answer: serde_json::Value =
                serde_json::from_slice(&err.to_response()).expect("answer is JSON");
            assert_eq!(answer["error"]["code"], code::PARSE_ERROR);
            assert_eq!(answer["id"], serde_json::Value::Null);
        }
    }

    /// Found by the fuzz gate: a batch element that is an array was read
    /// by position, its first item taken as the id, its second as the
    /// method.
    #[test]
    fn a_batch_element_that_is_not_an_object_is_invalid_with_no_id() {
        for text in [
            r#"[[1,"ping"]]"#,
            "[[ 73E973]]",
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},7]"#,
        ] {
            let err = parse(text).expect_err("refused");
            assert!(
                matches!(err, ParseError::Invalid { id: None, .. }),
                "{text}: {err:?}"
            );
        }
    }

    /// Valid JSON beyond `f64` is not a parse error: ids and numbers are
    /// read raw.
    #[test]
    fn a_number_beyond_f64_is_json() {
        let err = parse("73E973").expect_err("refused");
        assert!(matches!(err, ParseError::Invalid { .. }), "{err}");
        let err = parse(r#"{"id":73E973}"#).expect_err("refused");
        let answer = err.to_response();
        let echoed: &RawValue = serde_json::from_slice(&answer).expect("JSON");
        assert!(echoed.get().contains(r#""id":73E973"#), "{answer:?}");
        let answer = parse(r#"{"jsonrpc":"2.0","id":1,"result":{"x":3e822}}"#).expect("a response");
        assert!(matches!(answer.kinds()[0], Kind::Response { .. }));
    }

    #[test]
    fn json_that_is_not_a_message_is_an_invalid_request() {
        for text in ["42", "[]", "{}", r#"{"id":3}"#, r#"{"method":5}"#, "null"] {
            let err = parse(text).expect_err("refused");
            assert!(matches!(err, ParseError::Invalid { .. }), "{text}: {err}");
        }
        let err = parse(r#"{"id":3}"#).expect_err("refused");
        let answer: serde_json::Value = serde_json::from_slice(&err.to_response()).unwrap();
        assert_eq!(answer["id"], 3);
        assert_eq!(answer["error"]["code"], code::INVALID_REQUEST);
    }

    #[test]
    fn numeric_ids_match_their_javascript_echo() {
        let key = |s: &str| RawId(s.into()).match_key();
        assert_eq!(key("1"), key("1.0"));
        assert_eq!(key("9007199254740993"), key("9007199254740992"));
        assert_ne!(key("1"), key("\"1\""));
        assert_ne!(key("\"a\""), key("\"b\""));
    }

    /// T12: replaying a request under a private id changes only the id.
    #[test]
    fn with_id_replaces_only_the_id() {
        let msg = parse(r#"{"jsonrpc":"2.0","id":1.0,"method":"initialize","params":{"big":9007199254740993,"z":1,"a":2}}"#).unwrap();
        let copy = msg.with_id(&RawId::private("reinit", 3)).unwrap();
        assert_eq!(
            std::str::from_utf8(copy.raw()).unwrap(),
            r#"{"jsonrpc":"2.0","id":"mcp-tether:reinit:3","method":"initialize","params":{"big":9007199254740993,"z":1,"a":2}}"#
        );
    }

    #[test]
    fn reads_the_target_a_request_names() {
        let call =
            parse(r#"{"id":1,"method":"tools/call","params":{"name":"echo","arguments":{}}}"#)
                .unwrap();
        assert_eq!(call.params_target().as_deref(), Some("echo"));
        let read =
            parse(r#"{"id":1,"method":"resources/read","params":{"uri":"file:///x"}}"#).unwrap();
        assert_eq!(read.params_target().as_deref(), Some("file:///x"));
        let list = parse(r#"{"id":1,"method":"tools/list","params":{"name":"x"}}"#).unwrap();
        assert_eq!(list.params_target(), None);
    }

    #[test]
    fn error_responses_echo_the_id_verbatim() {
        let id = RawId("9007199254740993".into());
        let text = error_response(Some(&id), -32000, "boom \"quoted\"", None);
        assert_eq!(
            std::str::from_utf8(&text).unwrap(),
            r#"{"jsonrpc":"2.0","id":9007199254740993,"error":{"code":-32000,"message":"boom \"quoted\""}}"#
        );
    }
}
