//! What the host may see and use of the server: tools, prompts and
//! resources, by allow-list (`--allow-tool`, `--allow-prompt`,
//! `--allow-resource`) and deny-list (`--ignore-tool`, `--ignore-prompt`,
//! `--ignore-resource`), with `*` and `?` globs.
//!
//! A name must match an allow rule when there are any, and no ignore rule.
//! Lists (`tools/list`, `prompts/list`, `resources/list`,
//! `resources/templates/list`) lose what is filtered, every other byte kept;
//! uses of a filtered item (`tools/call`, `prompts/get`, `resources/read`,
//! `resources/subscribe`, `completion/complete` on it…) are answered by the
//! bridge with an error that names the rule. Change notifications flow, and
//! the host's next list is filtered again.
//!
//! This module only decides; [`crate::host::downstream`] applies it.

use std::borrow::Cow;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use wildmatch::WildMatch;

use crate::protocol::jsonrpc::RawObject;

/// The kinds of things the server offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Tool,
    Prompt,
    Resource,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Tool => "tool",
            Kind::Prompt => "prompt",
            Kind::Resource => "resource",
        }
    }
}

/// One option's globs, as given.
#[derive(Clone, Debug, Default)]
struct Globs(Vec<(String, WildMatch)>);

impl Globs {
    fn new(globs: &[String]) -> Self {
        Globs(
            globs
                .iter()
                .map(|g| (g.clone(), WildMatch::new(g)))
                .collect(),
        )
    }

    fn matching(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(_, m)| m.matches(name))
            .map(|(g, _)| g.as_str())
    }

    fn listed(&self) -> String {
        let globs: Vec<&str> = self.0.iter().map(|(g, _)| g.as_str()).collect();
        globs.join(", ")
    }
}

/// The rules for one kind.
#[derive(Clone, Debug, Default)]
struct Rules {
    allow: Globs,
    ignore: Globs,
}

/// Why an item is filtered, in words for the host's user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

/// The filter: rules per kind, from the command line.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    tools: Rules,
    prompts: Rules,
    resources: Rules,
}

/// The globs of each option.
#[derive(Clone, Debug, Default)]
pub struct FilterArgs<'a> {
    pub allow_tools: &'a [String],
    pub ignore_tools: &'a [String],
    pub allow_prompts: &'a [String],
    pub ignore_prompts: &'a [String],
    pub allow_resources: &'a [String],
    pub ignore_resources: &'a [String],
}

impl Filter {
    pub fn new(args: &FilterArgs<'_>) -> Self {
        let rules = |allow, ignore| Rules {
            allow: Globs::new(allow),
            ignore: Globs::new(ignore),
        };
        Filter {
            tools: rules(args.allow_tools, args.ignore_tools),
            prompts: rules(args.allow_prompts, args.ignore_prompts),
            resources: rules(args.allow_resources, args.ignore_resources),
        }
    }

    /// Whether there is any rule at all (the common case is none: then
    /// nothing is parsed).
    pub fn is_empty(&self) -> bool {
        [&self.tools, &self.prompts, &self.resources]
            .iter()
            .all(|r| r.allow.0.is_empty() && r.ignore.0.is_empty())
    }

    fn rules(&self, kind: Kind) -> &Rules {
        match kind {
            Kind::Tool => &self.tools,
            Kind::Prompt => &self.prompts,
            Kind::Resource => &self.resources,
        }
    }

    /// Why `name` (a tool or prompt name, a resource URI or URI template)
    /// is filtered, or `None` if the host may see and use it.
    pub fn verdict(&self, kind: Kind, name: &str) -> Option<Refusal> {
        let rules = self.rules(kind);
        let noun = kind.noun();
        if !rules.allow.0.is_empty() && rules.allow.matching(name).is_none() {
            return Some(Refusal(format!(
                "mcp-tether: {noun} '{name}' is not allowed by --allow-{noun} ({})",
                rules.allow.listed()
            )));
        }
        let glob = rules.ignore.matching(name)?;
        Some(Refusal(format!(
            "mcp-tether: {noun} '{name}' is hidden by --ignore-{noun} '{glob}'"
        )))
    }

    /// Why a request is refused, for the requests that use one item.
    pub fn refusal(&self, method: &str, raw: &[u8]) -> Option<Refusal> {
        if self.is_empty() {
            return None;
        }
        let (kind, name) = used_item(method, raw)?;
        self.verdict(kind, &name)
    }

    /// A list answer without the filtered items, every other byte kept;
    /// `None` if `method` is not a list or the answer has no such list.
    pub fn filter_list(&self, method: &str, raw: &[u8]) -> Option<Bytes> {
        let (kind, member, key) = match method {
            "tools/list" => (Kind::Tool, "tools", "name"),
            "prompts/list" => (Kind::Prompt, "prompts", "name"),
            "resources/list" => (Kind::Resource, "resources", "uri"),
            "resources/templates/list" => (Kind::Resource, "resourceTemplates", "uriTemplate"),
            _ => return None,
        };
        let rules = self.rules(kind);
        if rules.allow.0.is_empty() && rules.ignore.0.is_empty() {
            return None;
        }
        retain_items(raw, member, key, |name| match self.verdict(kind, name) {
            Some(refusal) => {
                tracing::debug!("filtered from {method}: {}", refusal.0);
                false
            }
            None => true,
        })
    }

    /// Whether a server notification is about a filtered resource
    /// (`notifications/resources/updated`): the host never sees those.
    pub fn hides_notification(&self, method: &str, raw: &[u8]) -> bool {
        if method != "notifications/resources/updated" || self.is_empty() {
            return false;
        }
        params_str(raw, "uri").is_some_and(|uri| self.verdict(Kind::Resource, &uri).is_some())
    }
}

/// A list answer (`result.<member>`, items named by `key`) with only the
/// items `keep` accepts by name; every kept item, and every other member,
/// keeps its bytes. `None` when the answer has no such list.
pub fn retain_items(
    raw: &[u8],
    member: &str,
    key: &str,
    mut keep: impl FnMut(&str) -> bool,
) -> Option<Bytes> {
    let mut top = RawObject::parse(raw).ok()?;
    let mut result = RawObject::parse(top.get("result")?.as_bytes()).ok()?;
    let items: Vec<&RawValue> = serde_json::from_str(result.get(member)?).ok()?;
    let kept: Vec<&str> = items
        .iter()
        .filter(|item| item_name(item.get(), key).is_none_or(|name| keep(&name)))
        .map(|item| item.get())
        .collect();
    result.set(member, &format!("[{}]", kept.join(",")));
    let result = result.to_bytes();
    top.set("result", std::str::from_utf8(&result).ok()?);
    Some(top.to_bytes())
}

/// The item a request uses: its kind and name (or URI).
fn used_item(method: &str, raw: &[u8]) -> Option<(Kind, String)> {
    match method {
        "tools/call" => Some((Kind::Tool, params_str(raw, "name")?)),
        "prompts/get" => Some((Kind::Prompt, params_str(raw, "name")?)),
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            Some((Kind::Resource, params_str(raw, "uri")?))
        }
        "completion/complete" => completion_ref(raw),
        _ => None,
    }
}

/// `params.<key>` when it is a string.
pub fn params_str(raw: &[u8], key: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Outer<'a> {
        #[serde(borrow)]
        params: Option<&'a RawValue>,
    }
    let outer: Outer<'_> = serde_json::from_slice(raw).ok()?;
    item_name(outer.params?.get(), key).map(Cow::into_owned)
}

/// The prompt or resource a completion request is about (`params.ref`).
fn completion_ref(raw: &[u8]) -> Option<(Kind, String)> {
    #[derive(Deserialize)]
    struct Outer {
        params: Params,
    }
    #[derive(Deserialize)]
    struct Params {
        #[serde(rename = "ref")]
        reference: Ref,
    }
    #[derive(Deserialize)]
    struct Ref {
        #[serde(rename = "type")]
        kind: String,
        name: Option<String>,
        uri: Option<String>,
    }
    let outer: Outer = serde_json::from_slice(raw).ok()?;
    let reference = outer.params.reference;
    match reference.kind.as_str() {
        "ref/prompt" => Some((Kind::Prompt, reference.name?)),
        "ref/resource" => Some((Kind::Resource, reference.uri?)),
        _ => None,
    }
}

/// The string member `key` of a JSON object.
fn item_name<'a>(object: &'a str, key: &str) -> Option<Cow<'a, str>> {
    let object: std::collections::HashMap<Cow<'a, str>, &'a RawValue> =
        serde_json::from_str(object).ok()?;
    let value = object.get(key)?;
    serde_json::from_str::<Cow<'a, str>>(value.get()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn filter(allow_tools: &[&str], ignore_tools: &[&str], ignore_resources: &[&str]) -> Filter {
        let (a, i, r) = (
            globs(allow_tools),
            globs(ignore_tools),
            globs(ignore_resources),
        );
        Filter::new(&FilterArgs {
            allow_tools: &a,
            ignore_tools: &i,
            ignore_resources: &r,
            ..FilterArgs::default()
        })
    }

    /// An allow-list admits only what it names; ignore rules win over it;
    /// refusals name the rule.
    #[test]
    fn allow_rules_admit_and_ignore_rules_win() {
        let f = filter(&["get_*", "echo"], &["get_secret*"], &[]);
        assert_eq!(f.verdict(Kind::Tool, "echo"), None);
        assert_eq!(f.verdict(Kind::Tool, "get_weather"), None);
        assert_eq!(
            f.verdict(Kind::Tool, "delete_repo").unwrap().0,
            "mcp-tether: tool 'delete_repo' is not allowed by --allow-tool (get_*, echo)"
        );
        assert_eq!(
            f.verdict(Kind::Tool, "get_secret_key").unwrap().0,
            "mcp-tether: tool 'get_secret_key' is hidden by --ignore-tool 'get_secret*'"
        );
        assert_eq!(f.verdict(Kind::Prompt, "anything"), None, "no prompt rules");
    }

    #[test]
    fn lists_lose_filtered_items_and_keep_every_other_byte() {
        let f = filter(&[], &["add"], &["file:///secret/*"]);
        let tools = br#"{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"echo","x":1.0},{"name":"add"}],"nextCursor":"c"}}"#;
        let kept = f.filter_list("tools/list", tools).unwrap();
        assert_eq!(
            std::str::from_utf8(&kept).unwrap(),
            r#"{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"echo","x":1.0}],"nextCursor":"c"}}"#
        );
        let templates = br#"{"jsonrpc":"2.0","id":8,"result":{"resourceTemplates":[{"uriTemplate":"file:///secret/{x}"},{"uriTemplate":"file:///pub/{x}"}]}}"#;
        let kept = f
            .filter_list("resources/templates/list", templates)
            .unwrap();
        assert!(!std::str::from_utf8(&kept).unwrap().contains("secret"));
        assert!(f.filter_list("prompts/list", tools).is_none(), "no rules");
    }

    /// Every request that uses an item is checked, completions included.
    #[test]
    fn uses_of_filtered_items_are_refused() {
        let f = filter(&[], &["add"], &["file:///secret/*"]);
        let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add"}}"#;
        assert!(f.refusal("tools/call", call).is_some());
        let read = br#"{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///secret/k"}}"#;
        assert!(f.refusal("resources/read", read).is_some());
        let complete = br#"{"jsonrpc":"2.0","id":3,"method":"completion/complete","params":{"ref":{"type":"ref/resource","uri":"file:///secret/{x}"},"argument":{"name":"x","value":""}}}"#;
        assert!(f.refusal("completion/complete", complete).is_some());
        let fine = br#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo"}}"#;
        assert!(f.refusal("tools/call", fine).is_none());
        let update = br#"{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"file:///secret/k"}}"#;
        assert!(f.hides_notification("notifications/resources/updated", update));
    }
}
