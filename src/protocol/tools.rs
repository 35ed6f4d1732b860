//! The server's tools as the bridge needs them (SEP-2243, issue 25): each
//! tool's `x-mcp-header` designations, the `Mcp-Param-*` headers a
//! `tools/call` carries, and the tools no client may call. Apart from the
//! eras (`era`), which only read it for their routing headers.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use super::era::{header_safe, params_of, result_of};
use super::jsonrpc::Message;

/// A tool's `x-mcp-header` designations: the path of property names to
/// each designated argument, and its header token.
pub type Designations = Vec<(Vec<String>, String)>;

/// The one registry of the server's tools (issue 25), from every
/// `tools/list` answer the bridge sees, the host's or its own: what
/// `Mcp-Param-*` headers each `tools/call` carries, and which tools no
/// client may call (SEP-2243). Shared by every transport and the host's
/// side.
#[derive(Default)]
pub struct ToolHeaders {
    known: std::sync::Mutex<Option<HashMap<String, Designations>>>,
    /// Tools whose `x-mcp-header` annotations break SEP-2243.
    unusable: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl ToolHeaders {
    /// Learns from a `tools/list` answer (one page of it), read once;
    /// returns the tools no client may call: those whose `x-mcp-header`
    /// annotations break SEP-2243's rules (an empty or non-token name, on a
    /// property that is not a string, integer or boolean, or a duplicate
    /// ignoring case). The bridge leaves them out of the list the host sees
    /// and refuses calls to them ([`ToolHeaders::is_unusable`]). Returns
    /// those not known to be unusable before.
    pub fn learn(&self, answer: &Message) -> Vec<String> {
        let mut unusable = Vec::new();
        let learned = tools_designations(answer)
            .into_iter()
            .map(|(name, found)| match found {
                Some(found) => (name, found),
                None => {
                    unusable.push(name.clone());
                    (name, Designations::default())
                }
            })
            .collect::<Vec<_>>();
        self.known
            .lock()
            .expect("tool headers lock")
            .get_or_insert_with(HashMap::new)
            .extend(learned);
        let mut known = self.unusable.lock().expect("tool headers lock");
        unusable.retain(|name| known.insert(name.clone()));
        unusable
    }

    /// Whether `name` is a tool no client may call (SEP-2243).
    pub fn is_unusable(&self, name: &str) -> bool {
        self.unusable
            .lock()
            .expect("tool headers lock")
            .contains(name)
    }

    /// Whether any tools list was read yet.
    pub fn is_known(&self) -> bool {
        self.known.lock().expect("tool headers lock").is_some()
    }

    /// Marks the list as read, even if reading it failed: the bridge asks
    /// once, not before every call.
    pub fn mark_known(&self) {
        self.known
            .lock()
            .expect("tool headers lock")
            .get_or_insert_with(HashMap::new);
    }

    /// The `Mcp-Param-*` headers for a `tools/call` request of the tool
    /// `name` (its `params.name`, which the caller has read already).
    pub fn for_call(&self, name: &str, call: &Message) -> Vec<(String, String)> {
        let designated = self
            .known
            .lock()
            .expect("tool headers lock")
            .as_ref()
            .and_then(|known| known.get(name).cloned());
        designated.map_or_else(Vec::new, |d| param_headers(&d, call.raw()))
    }
}

/// The `x-mcp-header` designations of each tool in a `tools/list` answer:
/// tool name → (path of property names, header token). Tools whose
/// designations break the rules (SEP-2243) get none, so nothing is mirrored
/// from them (and the host never sees them: [`ToolHeaders::learn`]).
pub fn tool_headers(answer: &Message) -> HashMap<String, Designations> {
    tools_designations(answer)
        .into_iter()
        .map(|(name, found)| (name, found.unwrap_or_default()))
        .collect()
}

/// Each tool's designations, `None` where they break the rules.
fn tools_designations(answer: &Message) -> Vec<(String, Option<Designations>)> {
    #[derive(Deserialize)]
    struct List {
        tools: Vec<Tool>,
    }
    #[derive(Deserialize)]
    struct Tool {
        name: String,
        #[serde(rename = "inputSchema")]
        input_schema: Option<Value>,
    }
    let Some(list) = result_of::<List>(answer) else {
        return Vec::new();
    };
    list.tools
        .into_iter()
        .map(|tool| {
            let mut found = Vec::new();
            let valid = match &tool.input_schema {
                Some(schema) => designations(schema, &mut Vec::new(), &mut found),
                None => true,
            };
            (tool.name, valid.then_some(found))
        })
        .collect()
}

/// Collects the `x-mcp-header` designations reachable through `properties`
/// alone; false if one is malformed (not a token, not on a string, integer
/// or boolean, or a duplicate).
fn designations(
    schema: &Value,
    path: &mut Vec<String>,
    found: &mut Vec<(Vec<String>, String)>,
) -> bool {
    let Some(object) = schema.as_object() else {
        return true;
    };
    if let Some(token) = object.get("x-mcp-header") {
        let Some(token) = token.as_str() else {
            return false;
        };
        let primitive = matches!(
            object.get("type").and_then(Value::as_str),
            Some("string" | "integer" | "boolean")
        );
        let duplicate = found.iter().any(|(_, t)| t.eq_ignore_ascii_case(token));
        if path.is_empty() || !is_token(token) || !primitive || duplicate {
            return false;
        }
        found.push((path.clone(), token.to_owned()));
    }
    let Some(properties) = object.get("properties").and_then(Value::as_object) else {
        return true;
    };
    properties.iter().all(|(name, sub)| {
        path.push(name.clone());
        let ok = designations(sub, path, found);
        path.pop();
        ok
    })
}

/// An RFC 9110 token: what may follow `Mcp-Param-` in a header name.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The `Mcp-Param-*` headers a `tools/call` mirrors from its arguments
/// (SEP-2243): a designated argument that is present and a string, number or
/// boolean; values that would not survive as a header use the base64
/// sentinel.
pub fn param_headers(
    designated: &[(Vec<String>, String)],
    request: &[u8],
) -> Vec<(String, String)> {
    #[derive(Deserialize)]
    struct Params {
        arguments: Option<Value>,
    }
    if designated.is_empty() {
        return Vec::new();
    }
    let Some(arguments) = params_of::<Params>(request).and_then(|p| p.arguments) else {
        return Vec::new();
    };
    designated
        .iter()
        .filter_map(|(path, token)| {
            let value = path
                .iter()
                .try_fold(&arguments, |node, key| node.get(key))?;
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Some((format!("mcp-param-{token}"), header_safe(&text)))
        })
        .collect()
}
