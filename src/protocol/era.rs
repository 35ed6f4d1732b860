//! Protocol eras (spec-checklist E1–E8): what a 2026-07-28 ("modern")
//! request must carry, and the few translations between the eras.
//!
//! Legacy revisions (2025-11-25 and earlier) open a session with
//! `initialize`; the modern revision has no handshake, and every request
//! states its version, the client's capabilities and identity in
//! `params._meta`. Desktop hosts are legacy clients today, so when a server
//! speaks only the modern revision the bridge speaks it for them.
//!
//! Everything here reads and builds JSON, with no I/O; the one piece of
//! state is [`ToolHeaders`], the `x-mcp-header` designations learned from
//! the latest `tools/list` (behind a mutex, shared by the transports). A
//! host's message is
//! changed only where the translation must (its `params._meta`, and on a
//! Multi Round-Trip retry `inputResponses` and `requestState`); every other
//! member keeps its bytes ([`RawObject`]).

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::protocol::jsonrpc::{Message, RawId, RawObject};

/// The modern revisions this bridge speaks, newest last.
pub use super::tools::{Designations, ToolHeaders, param_headers, tool_headers};

pub const MODERN_VERSIONS: &[&str] = &["2026-07-28"];
/// The newest modern revision: what a probe asks for first.
pub const LATEST_MODERN: &str = "2026-07-28";
/// The handshake revisions, oldest first.
pub const HANDSHAKE_VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
/// What a legacy host is told when it asks for a version the bridge does
/// not know.
pub const LATEST_HANDSHAKE: &str = "2025-11-25";

/// `_meta` keys of the per-request envelope (2026-07-28 basic/index).
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// UnsupportedProtocolVersionError (E7).
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// Whether `version` is a modern (per-request envelope) revision.
pub fn is_modern(version: &str) -> bool {
    MODERN_VERSIONS.contains(&version)
}

/// The newest modern revision both sides speak, from a server's list.
pub fn mutual_modern(supported: &[String]) -> Option<&'static str> {
    MODERN_VERSIONS
        .iter()
        .rev()
        .find(|v| supported.iter().any(|s| s == *v))
        .copied()
}

/// What a legacy host said about itself in `initialize`: what the bridge
/// states on its behalf in every modern request.
#[derive(Clone, Debug)]
pub struct HostProfile {
    /// The legacy version the host asked for.
    pub version: String,
    /// `capabilities`, as the host wrote it.
    pub capabilities: String,
    /// `clientInfo`, as the host wrote it.
    pub client_info: Option<String>,
}

impl Default for HostProfile {
    /// A host that said nothing of itself: no capabilities, no identity.
    fn default() -> Self {
        HostProfile {
            version: LATEST_HANDSHAKE.into(),
            capabilities: "{}".into(),
            client_info: None,
        }
    }
}

impl HostProfile {
    /// Reads a host's `initialize` request.
    pub fn from_initialize(msg: &Message) -> Option<Self> {
        #[derive(Deserialize)]
        struct Params<'a> {
            #[serde(rename = "protocolVersion")]
            version: Option<String>,
            #[serde(borrow)]
            capabilities: Option<&'a RawValue>,
            #[serde(rename = "clientInfo", borrow)]
            client_info: Option<&'a RawValue>,
        }
        let params: Params<'_> = params_of(msg.raw())?;
        Some(HostProfile {
            version: params.version.unwrap_or_else(|| LATEST_HANDSHAKE.into()),
            capabilities: params.capabilities.map_or("{}", RawValue::get).to_owned(),
            client_info: params.client_info.map(|v| v.get().to_owned()),
        })
    }

    /// Reads the envelope a modern host's request carries, to speak for it
    /// to a legacy server (E8).
    pub fn from_envelope(msg: &Message) -> Option<Self> {
        let meta = request_meta(msg.raw())?;
        let capabilities = meta
            .get(META_CLIENT_CAPABILITIES)
            .map_or_else(|| "{}".to_owned(), Value::to_string);
        Some(HostProfile {
            version: LATEST_HANDSHAKE.into(),
            capabilities,
            client_info: meta.get(META_CLIENT_INFO).map(Value::to_string),
        })
    }

    /// Whether the host declared the capability a server-to-client request
    /// needs (`elicitation`, `sampling`, `roots`).
    pub fn can_answer(&self, method: &str) -> bool {
        let needed = match method {
            "elicitation/create" => "elicitation",
            "sampling/createMessage" => "sampling",
            "roots/list" => "roots",
            _ => return false,
        };
        serde_json::from_str::<BTreeMap<String, &RawValue>>(&self.capabilities)
            .is_ok_and(|caps| caps.contains_key(needed))
    }

    /// The version a legacy host is told the server speaks: its own, when
    /// the bridge knows it.
    pub fn negotiated_version(&self) -> &str {
        HANDSHAKE_VERSIONS
            .iter()
            .find(|v| **v == self.version)
            .copied()
            .unwrap_or(LATEST_HANDSHAKE)
    }

    /// The `_meta` members of a modern request made for this host.
    pub fn envelope(&self, version: &str, log_level: Option<&str>) -> Vec<(&'static str, String)> {
        let mut meta = vec![
            (META_PROTOCOL_VERSION, json_string(version)),
            (META_CLIENT_CAPABILITIES, self.capabilities.clone()),
        ];
        if let Some(info) = &self.client_info {
            meta.push((META_CLIENT_INFO, info.clone()));
        }
        if let Some(level) = log_level {
            meta.push((META_LOG_LEVEL, json_string(level)));
        }
        meta
    }
}

/// The `params._meta` object of a request, if it has one.
fn request_meta(raw: &[u8]) -> Option<serde_json::Map<String, Value>> {
    #[derive(Deserialize)]
    struct Params {
        #[serde(rename = "_meta")]
        meta: Option<serde_json::Map<String, Value>>,
    }
    params_of::<Params>(raw)?.meta
}

/// The `params` member of a request, read as `T`.
pub(super) fn params_of<'a, T: Deserialize<'a>>(raw: &'a [u8]) -> Option<T> {
    #[derive(Deserialize)]
    struct Request<T> {
        params: Option<T>,
    }
    serde_json::from_slice::<Request<T>>(raw).ok()?.params
}

/// The protocol version a request states in its `_meta` envelope.
pub fn envelope_version(msg: &Message) -> Option<String> {
    request_meta(msg.raw())?
        .get(META_PROTOCOL_VERSION)?
        .as_str()
        .map(str::to_owned)
}

/// The era a host speaks, read from its first message: a modern host states
/// a modern version in `_meta` (or asks `server/discover`).
pub fn host_is_modern(msg: &Message) -> bool {
    msg.is_request("server/discover")
        || msg
            .declared_protocol_version()
            .is_some_and(|v| is_modern(&v) && !msg.is_request("initialize"))
}

/// A request rewritten for a modern server: `params._meta` gains `meta`
/// (members the host set itself are kept), `params` gains `extra` (the
/// Multi Round-Trip answers), and the id becomes `id` when given. Every
/// other member keeps its bytes.
pub fn with_envelope(
    raw: &[u8],
    id: Option<&RawId>,
    meta: &[(&str, String)],
    extra: &[(&str, String)],
) -> Option<Bytes> {
    let mut message = RawObject::parse(raw).ok()?;
    let params_raw = message.get("params").unwrap_or("{}").to_owned();
    let mut params = RawObject::parse(params_raw.as_bytes()).ok()?;
    let meta_raw = params.get("_meta").unwrap_or("{}").to_owned();
    let mut envelope = RawObject::parse(meta_raw.as_bytes()).ok()?;
    for (key, value) in meta {
        if envelope.get(key).is_none() {
            envelope.set(key, value);
        }
    }
    for (key, value) in extra {
        params.set(key, value);
    }
    params.set("_meta", std::str::from_utf8(&envelope.to_bytes()).ok()?);
    message.set("params", std::str::from_utf8(&params.to_bytes()).ok()?);
    if let Some(id) = id {
        message.set("id", id.as_json());
    }
    Some(message.to_bytes())
}

/// What a server's `server/discover` result says (E1, E3).
#[derive(Clone, Debug)]
pub struct Discovered {
    pub supported: Vec<String>,
    pub capabilities: String,
    pub server_info: Option<String>,
    pub instructions: Option<String>,
}

impl Discovered {
    /// Reads a `server/discover` answer; `None` if it is not a result.
    pub fn from_answer(answer: &Message) -> Option<Self> {
        #[derive(Deserialize)]
        struct Result_<'a> {
            #[serde(rename = "supportedVersions")]
            supported: Vec<String>,
            #[serde(borrow)]
            capabilities: Option<&'a RawValue>,
            #[serde(rename = "serverInfo", borrow)]
            server_info: Option<&'a RawValue>,
            #[serde(borrow)]
            instructions: Option<&'a RawValue>,
            #[serde(rename = "_meta")]
            meta: Option<BTreeMap<String, Box<RawValue>>>,
        }
        let result: Result_<'_> = result_of(answer)?;
        let server_info = result.server_info.map(|v| v.get().to_owned()).or_else(|| {
            result
                .meta
                .as_ref()
                .and_then(|m| m.get(META_SERVER_INFO))
                .map(|v| v.get().to_owned())
        });
        Some(Discovered {
            supported: result.supported,
            capabilities: result.capabilities.map_or("{}", RawValue::get).to_owned(),
            server_info,
            instructions: result.instructions.map(|v| v.get().to_owned()),
        })
    }

    /// The `initialize` result a legacy host gets from a modern server (E3).
    pub fn initialize_result(&self, version: &str, fallback_name: &str) -> String {
        let server_info = self.server_info.clone().unwrap_or_else(|| {
            format!(
                "{{\"name\":{},\"version\":\"unknown\"}}",
                json_string(fallback_name)
            )
        });
        let mut result = format!(
            "{{\"protocolVersion\":{},\"capabilities\":{},\"serverInfo\":{}",
            json_string(version),
            self.capabilities,
            server_info
        );
        if let Some(instructions) = &self.instructions {
            result.push_str(",\"instructions\":");
            result.push_str(instructions);
        }
        result.push('}');
        result
    }

    /// Whether the server announces changes to `kind` (`tools`, `prompts`,
    /// `resources`) and so has something for a `subscriptions/listen` stream.
    pub fn announces_changes(&self, kind: &str) -> bool {
        serde_json::from_str::<Value>(&self.capabilities)
            .ok()
            .and_then(|caps| caps.get(kind)?.get("listChanged")?.as_bool())
            .unwrap_or(false)
    }
}

/// The `discover` answer a modern host gets from a legacy server (E8),
/// from that server's `initialize` result.
pub fn discover_result_from_initialize(initialize_answer: &Message) -> Option<String> {
    #[derive(Deserialize)]
    struct Init<'a> {
        #[serde(borrow)]
        capabilities: Option<&'a RawValue>,
        #[serde(rename = "serverInfo", borrow)]
        server_info: Option<&'a RawValue>,
        #[serde(borrow)]
        instructions: Option<&'a RawValue>,
    }
    let init: Init<'_> = result_of(initialize_answer)?;
    // A DiscoverResult is cacheable (SEP-2549): `ttlMs` 0 and a private
    // scope promise nothing the handshake server did not say. The server's
    // name goes where the 2026-07-28 schema puts it, in `_meta`.
    let mut result = format!(
        "{{\"resultType\":\"complete\",\"supportedVersions\":{},\"capabilities\":{},\"ttlMs\":0,\"cacheScope\":\"private\"",
        serde_json::to_string(MODERN_VERSIONS).expect("strings serialize"),
        init.capabilities.map_or("{}", RawValue::get),
    );
    if let Some(info) = init.server_info {
        result.push_str(&format!(
            ",\"_meta\":{{{}:{}}}",
            json_string(META_SERVER_INFO),
            info.get()
        ));
    }
    if let Some(instructions) = init.instructions {
        result.push_str(",\"instructions\":");
        result.push_str(instructions.get());
    }
    result.push('}');
    Some(result)
}

/// The methods whose 2026-07-28 results are cacheable (SEP-2549) and so
/// must say `ttlMs` and `cacheScope`.
const CACHEABLE: &[&str] = &[
    "tools/list",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "server/discover",
];

/// Whether `method` only reads: the cacheable methods, whose results may
/// be kept and so cannot have done anything, and `ping`. Sending one twice
/// changes nothing on the server (`http` resends one whose connection was
/// closed under it).
pub fn only_reads(method: &str) -> bool {
    method == "ping" || CACHEABLE.contains(&method)
}

/// A handshake server's answer to `method`, made a valid 2026-07-28 result
/// for a modern host (E8, issue 19): `resultType` (every result), `ttlMs`
/// and `cacheScope` (cacheable results: 0 and private, which promise
/// nothing the server did not say), and the server's name in
/// `_meta["io.modelcontextprotocol/serverInfo"]`. Members the server sent
/// keep their bytes; a member it already sent is never replaced. `None`
/// when `answer` is not a result (errors pass as they are).
pub fn complete_result(method: &str, answer: &[u8], server_info: Option<&str>) -> Option<Bytes> {
    let mut outer = RawObject::parse(answer).ok()?;
    let mut result = RawObject::parse(outer.get("result")?.as_bytes()).ok()?;
    let mut changed = false;
    let mut add = |result: &mut RawObject<'_>, key: &str, value: &str| {
        if result.get(key).is_none() {
            result.set(key, value);
            changed = true;
        }
    };
    add(&mut result, "resultType", "\"complete\"");
    if CACHEABLE.contains(&method) {
        add(&mut result, "ttlMs", "0");
        add(&mut result, "cacheScope", "\"private\"");
    }
    if let Some(info) = server_info {
        let meta = result.get("_meta").map(str::to_owned);
        let with_info = match meta.as_deref().map(|m| RawObject::parse(m.as_bytes())) {
            None => Some(format!("{{{}:{info}}}", json_string(META_SERVER_INFO))),
            Some(Ok(mut meta)) if meta.get(META_SERVER_INFO).is_none() => {
                meta.set(META_SERVER_INFO, info);
                Some(String::from_utf8_lossy(&meta.to_bytes()).into_owned())
            }
            Some(_) => None,
        };
        if let Some(with_info) = with_info {
            result.set("_meta", &with_info);
            changed = true;
        }
    }
    if !changed {
        return None;
    }
    outer.set("result", &String::from_utf8_lossy(&result.to_bytes()));
    Some(outer.to_bytes())
}

/// The server's `serverInfo` from its `initialize` answer, as raw JSON.
pub fn server_info_of(initialize_answer: &Message) -> Option<String> {
    #[derive(Deserialize)]
    struct Init<'a> {
        #[serde(rename = "serverInfo", borrow)]
        server_info: Option<&'a RawValue>,
    }
    let init: Init<'_> = result_of(initialize_answer)?;
    init.server_info.map(|info| info.get().to_owned())
}

/// The versions an UnsupportedProtocolVersionError names (E7), if `answer`
/// is one.
pub fn unsupported_version(answer: &Message) -> Option<Vec<String>> {
    #[derive(Deserialize)]
    struct Outer {
        error: Option<ErrorObject>,
    }
    #[derive(Deserialize)]
    struct ErrorObject {
        code: i64,
        data: Option<Data>,
    }
    #[derive(Deserialize)]
    struct Data {
        supported: Option<Vec<String>>,
    }
    let error = serde_json::from_slice::<Outer>(answer.raw()).ok()?.error?;
    (error.code == UNSUPPORTED_PROTOCOL_VERSION)
        .then(|| error.data.and_then(|d| d.supported).unwrap_or_default())
}

/// The SEP-2243 routing headers of a request with `method`, the same from
/// every transport: `Mcp-Method`; `Mcp-Name` (its `params.name` or
/// `params.uri`, made header-safe) for `tools/call`, `prompts/get` and
/// `resources/read`; and for `tools/call`, the tool's `Mcp-Param-*`
/// headers. Servers of earlier revisions ignore them.
pub fn routing_headers(
    method: &str,
    msg: &Message,
    tools: &ToolHeaders,
) -> Vec<(std::borrow::Cow<'static, str>, String)> {
    let mut headers = vec![("mcp-method".into(), method.to_owned())];
    let named = matches!(method, "tools/call" | "prompts/get" | "resources/read");
    let Some(name) = named.then(|| msg.params_target()).flatten() else {
        return headers;
    };
    headers.push(("mcp-name".into(), header_safe(&name)));
    if method == "tools/call" {
        let params = tools.for_call(&name, msg).into_iter();
        headers.extend(params.map(|(header, value)| (header.into(), value)));
    }
    headers
}

/// One request a server asks the client to answer before it can finish
/// (Multi Round-Trip Requests, SEP-2322).
#[derive(Clone, Debug, PartialEq)]
pub struct InputRequest {
    /// The server's key for it; the answer goes back under the same key.
    pub key: String,
    pub method: String,
    /// `params`, as the server wrote them.
    pub params: Option<String>,
}

/// What a modern answer asks of the client.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// A final result or an error: the answer (`resultType` absent means
    /// complete).
    Complete,
    /// `resultType: "input_required"`: answer `requests`, then retry the
    /// request with `inputResponses` and, when given, `requestState`
    /// (echoed verbatim).
    InputRequired {
        requests: Vec<InputRequest>,
        state: Option<String>,
    },
}

/// Reads whether an answer is final or asks for input (E4).
pub fn outcome(answer: &Message) -> Outcome {
    #[derive(Deserialize)]
    struct Result_<'a> {
        #[serde(rename = "resultType")]
        result_type: Option<String>,
        #[serde(rename = "inputRequests", borrow)]
        input_requests: Option<std::collections::BTreeMap<String, &'a RawValue>>,
        #[serde(rename = "requestState", borrow)]
        request_state: Option<&'a RawValue>,
    }
    #[derive(Deserialize)]
    struct Embedded<'a> {
        method: String,
        #[serde(borrow)]
        params: Option<&'a RawValue>,
    }
    let Some(result) = result_of::<Result_<'_>>(answer) else {
        return Outcome::Complete;
    };
    if result.result_type.as_deref() != Some("input_required") {
        return Outcome::Complete;
    }
    let requests = result
        .input_requests
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(key, raw)| {
            let embedded: Embedded<'_> = serde_json::from_str(raw.get()).ok()?;
            Some(InputRequest {
                key,
                method: embedded.method,
                params: embedded.params.map(|p| p.get().to_owned()),
            })
        })
        .collect();
    Outcome::InputRequired {
        requests,
        state: result.request_state.map(|s| s.get().to_owned()),
    }
}

/// The `result` member of an answer, read as `T`.
pub(super) fn result_of<'a, T: Deserialize<'a>>(answer: &'a Message) -> Option<T> {
    #[derive(Deserialize)]
    struct Answer<T> {
        result: Option<T>,
    }
    serde_json::from_slice::<Answer<T>>(answer.raw())
        .ok()?
        .result
}

/// A value as it may travel in an `Mcp-*` header (SEP-2243): as it is when
/// it is plain visible ASCII, else base64 inside the `=?base64?…?=` sentinel.
pub fn header_safe(value: &str) -> String {
    let looks_encoded = value.starts_with("=?base64?") && value.ends_with("?=");
    let plain = value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !value.starts_with([' ', '\t'])
        && !value.ends_with([' ', '\t'])
        && !looks_encoded;
    if plain {
        value.to_owned()
    } else {
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(value)
        )
    }
}

/// A JSON string literal.
pub fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_use_the_base64_sentinel_when_unsafe() {
        assert_eq!(header_safe("us-west1"), "us-west1");
        assert_eq!(header_safe(""), "");
        assert_eq!(
            header_safe("Hello, 世界"),
            "=?base64?SGVsbG8sIOS4lueVjA==?="
        );
        assert_eq!(header_safe(" padded "), "=?base64?IHBhZGRlZCA=?=");
        assert_eq!(header_safe("line1\nline2"), "=?base64?bGluZTEKbGluZTI=?=");
        assert_eq!(
            header_safe("=?base64?literal?="),
            "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="
        );
    }

    /// SEP-2243: one list of routing headers for every transport;
    /// `Mcp-Name` only on the three methods that name something (Streamable
    /// HTTP used to send it on `resources/subscribe` too).
    #[test]
    fn routing_headers_name_only_calls_prompts_and_reads() {
        let tools = ToolHeaders::default();
        let names = |text: &str| {
            let m = msg(text);
            routing_headers(m.method().unwrap(), &m, &tools)
        };
        assert_eq!(
            names(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#),
            [
                ("mcp-method".into(), "tools/call".to_owned()),
                ("mcp-name".into(), "echo".to_owned())
            ]
        );
        let read = names(
            r#"{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///x"}}"#,
        );
        assert_eq!(read[1], ("mcp-name".into(), "file:///x".to_owned()));
        let subscribe = names(
            r#"{"jsonrpc":"2.0","id":3,"method":"resources/subscribe","params":{"uri":"file:///x"}}"#,
        );
        assert_eq!(
            subscribe,
            [("mcp-method".into(), "resources/subscribe".to_owned())]
        );
    }

    fn msg(text: &str) -> Message {
        Message::parse(Bytes::copy_from_slice(text.as_bytes())).expect("a message")
    }

    fn legacy_host() -> HostProfile {
        HostProfile::from_initialize(&msg(
            r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"elicitation":{}},"clientInfo":{"name":"host","version":"1"}}}"#,
        ))
        .expect("a profile")
    }

    #[test]
    fn e3_only_params_meta_changes_when_a_request_gains_its_envelope() {
        let host = legacy_host();
        let raw = br#"{"jsonrpc":"2.0","id":1.0,"method":"tools/call","params":{"name":"big","arguments":{"n":9007199254740993},"x":[1,2]}}"#;
        let out =
            with_envelope(raw, None, &host.envelope("2026-07-28", Some("info")), &[]).unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"jsonrpc":"2.0","id":1.0,"method":"tools/call","params":{"name":"big","arguments":{"n":9007199254740993},"x":[1,2],"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}},"io.modelcontextprotocol/clientInfo":{"name":"host","version":"1"},"io.modelcontextprotocol/logLevel":"info"}}}"#
        );
    }

    #[test]
    fn e3_a_request_without_params_gets_them_and_the_hosts_own_meta_is_kept() {
        let host = legacy_host();
        let out = with_envelope(
            br#"{"jsonrpc":"2.0","id":"a","method":"tools/list"}"#,
            None,
            &host.envelope("2026-07-28", None),
            &[],
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["params"]["_meta"][META_PROTOCOL_VERSION], "2026-07-28");
        let out = with_envelope(
            br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"_meta":{"progressToken":7}}}"#,
            Some(&RawId::private("retry", 3)),
            &host.envelope("2026-07-28", None),
            &[("requestState", "\"s\"".into())],
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["params"]["_meta"]["progressToken"], 7);
        assert_eq!(v["params"]["requestState"], "s");
        assert_eq!(v["id"], "mcp-tether:retry:3");
    }

    /// Found by fuzzing: a request whose `params` names `_meta` twice still
    /// carries the envelope, whichever of the two a server's parser keeps.
    #[test]
    fn e3_a_twice_named_meta_gets_the_envelope_in_both() {
        let host = legacy_host();
        let raw = br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"t","_meta":{"a":1},"_meta":{"progressToken":1}}}"#;
        let out = with_envelope(raw, None, &host.envelope("2026-07-28", None), &[]).unwrap();
        let text = std::str::from_utf8(&out).unwrap();
        assert_eq!(text.matches(META_PROTOCOL_VERSION).count(), 2, "{text}");
        let last: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(last["params"]["_meta"]["progressToken"], 1);
    }

    #[test]
    fn e3_initialize_is_answered_from_discover_in_the_hosts_version() {
        let answer = msg(
            r#"{"jsonrpc":"2.0","id":"p","result":{"supportedVersions":["2026-07-28"],"capabilities":{"tools":{"listChanged":true}},"instructions":"hi","_meta":{"io.modelcontextprotocol/serverInfo":{"name":"s","version":"2"}}}}"#,
        );
        let found = Discovered::from_answer(&answer).unwrap();
        assert!(found.announces_changes("tools"));
        assert!(!found.announces_changes("prompts"));
        let result = found.initialize_result(legacy_host().negotiated_version(), "example.com");
        assert_eq!(
            result,
            r#"{"protocolVersion":"2025-06-18","capabilities":{"tools":{"listChanged":true}},"serverInfo":{"name":"s","version":"2"},"instructions":"hi"}"#
        );
    }

    #[test]
    fn e7_unsupported_version_errors_name_what_the_server_speaks() {
        let answer = msg(
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32022,"message":"Unsupported protocol version","data":{"supported":["2026-07-28","2025-11-25"],"requested":"x"}}}"#,
        );
        let supported = unsupported_version(&answer).unwrap();
        assert_eq!(mutual_modern(&supported), Some("2026-07-28"));
        assert_eq!(mutual_modern(&["2025-11-25".to_owned()]), None);
        assert!(unsupported_version(&msg(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#)).is_none());
    }

    #[test]
    fn e4_input_required_results_are_read_and_anything_else_is_complete() {
        let answer = msg(
            r#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required","inputRequests":{"confirm":{"method":"elicitation/create","params":{"message":"ok?"}}},"requestState":"opaque"}}"#,
        );
        assert_eq!(
            outcome(&answer),
            Outcome::InputRequired {
                requests: vec![InputRequest {
                    key: "confirm".into(),
                    method: "elicitation/create".into(),
                    params: Some(r#"{"message":"ok?"}"#.into()),
                }],
                state: Some("\"opaque\"".into()),
            }
        );
        assert_eq!(
            outcome(&msg(r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#)),
            Outcome::Complete
        );
        assert_eq!(
            outcome(&msg(
                r#"{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m"}}"#
            )),
            Outcome::Complete
        );
    }

    #[test]
    fn e4_only_declared_capabilities_are_asked_of_the_host() {
        let host = legacy_host();
        assert!(host.can_answer("elicitation/create"));
        assert!(!host.can_answer("sampling/createMessage"));
        assert!(!host.can_answer("roots/list"));
    }

    #[test]
    fn sep_2243_designated_arguments_become_mcp_param_headers() {
        let list = msg(
            r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"t","inputSchema":{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"},"n":{"type":"integer","x-mcp-header":"N"},"opt":{"type":"boolean","x-mcp-header":"Opt"},"f":{"type":"number"}}}},{"name":"bad","inputSchema":{"type":"object","properties":{"o":{"type":"object","x-mcp-header":"O"}}}}]}}"#,
        );
        let headers = tool_headers(&list);
        assert!(headers["bad"].is_empty());
        let call = br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"t","arguments":{"region":"Hello, \u4e16\u754c","n":42,"opt":null,"f":3.5}}}"#;
        let mut mirrored = param_headers(&headers["t"], call);
        mirrored.sort();
        assert_eq!(
            mirrored,
            vec![
                ("mcp-param-N".to_owned(), "42".to_owned()),
                (
                    "mcp-param-Region".to_owned(),
                    "=?base64?SGVsbG8sIOS4lueVjA==?=".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn e8_a_legacy_initialize_result_becomes_a_discover_result() {
        let init = msg(
            r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"old","version":"1"}}}"#,
        );
        assert_eq!(
            discover_result_from_initialize(&init).unwrap(),
            r#"{"resultType":"complete","supportedVersions":["2026-07-28"],"capabilities":{"tools":{}},"ttlMs":0,"cacheScope":"private","_meta":{"io.modelcontextprotocol/serverInfo":{"name":"old","version":"1"}}}"#
        );
    }

    /// Issue 19: what a handshake server answers becomes a valid
    /// 2026-07-28 result (the SDKs reject one without `resultType`, or a
    /// cacheable one without `ttlMs` and `cacheScope`); what it sent keeps
    /// its bytes, and what it already said is not replaced.
    #[test]
    fn e8_a_handshake_result_is_completed_for_a_modern_host() {
        let info = Some(r#"{"name":"old","version":"1"}"#);
        let listed = complete_result(
            "tools/list",
            br#"{"jsonrpc":"2.0","id":1.0,"result":{"tools":[{"name":"t","n":1e400}]}}"#,
            info,
        )
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&listed).unwrap(),
            r#"{"jsonrpc":"2.0","id":1.0,"result":{"tools":[{"name":"t","n":1e400}],"resultType":"complete","ttlMs":0,"cacheScope":"private","_meta":{"io.modelcontextprotocol/serverInfo":{"name":"old","version":"1"}}}}"#
        );
        let called = complete_result(
            "tools/call",
            br#"{"jsonrpc":"2.0","id":2,"result":{"content":[],"_meta":{"x":1}}}"#,
            info,
        )
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&called).unwrap(),
            r#"{"jsonrpc":"2.0","id":2,"result":{"content":[],"_meta":{"x":1,"io.modelcontextprotocol/serverInfo":{"name":"old","version":"1"}},"resultType":"complete"}}"#
        );
        let asked = br#"{"jsonrpc":"2.0","id":3,"result":{"resultType":"input_required","inputRequests":{}}}"#;
        assert!(complete_result("tools/call", asked, None).is_none());
        let failed = br#"{"jsonrpc":"2.0","id":4,"error":{"code":-32601,"message":"no"}}"#;
        assert!(complete_result("tools/list", failed, info).is_none());
    }

    #[test]
    fn host_era_is_read_from_the_first_message() {
        assert!(!host_is_modern(&msg(
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2026-07-28"}}"#
        )));
        assert!(host_is_modern(&msg(
            r#"{"jsonrpc":"2.0","id":1,"method":"server/discover"}"#
        )));
        assert!(host_is_modern(&msg(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#
        )));
    }
}
