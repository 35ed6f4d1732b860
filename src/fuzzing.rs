//! Entry points for the coverage-guided fuzz targets in `fuzz/` (issue 7),
//! built only with the `fuzzing` feature.
//!
//! Each takes any bytes, drives one parser of input that comes from outside
//! (the host's stdin, a server's event stream, its `WWW-Authenticate`
//! header, its metadata and registration documents, URLs it names, the
//! 2026-07-28 translation), and asserts what must hold for every input: no
//! panic, the bounds the parser promises, and answers that are valid JSON.
//! The fuzzers find inputs that break these; `fixtures/fuzz/` keeps the
//! interesting ones, and the unit tests replay them.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, BufReader, ReadBuf};

use crate::auth::{browser, challenge, discovery};
use crate::host::stdio::{Frame, LineReader};
use crate::protocol::era;
use crate::protocol::jsonrpc::{Message, RawId};
use crate::transport::sse::Parser;

/// Splits `data` into chunks whose sizes come from its first bytes, so the
/// fuzzer also explores where reads and network packets end.
fn chunks(data: &[u8]) -> Vec<&[u8]> {
    let Some((&seed, rest)) = data.split_first() else {
        return Vec::new();
    };
    let size = usize::from(seed % 17) + 1;
    rest.chunks(size).collect()
}

/// A reader that hands out `data` in the chunks [`chunks`] makes.
struct Chunked<'a> {
    parts: std::vec::IntoIter<&'a [u8]>,
}

impl AsyncRead for Chunked<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Some(part) = self.parts.next() {
            let n = part.len().min(buf.remaining());
            buf.put_slice(&part[..n]);
        }
        Poll::Ready(Ok(()))
    }
}

/// The host's stdin: lines framed under a small limit, each parsed; a
/// malformed line's answer is one line of JSON-RPC.
pub fn stdin_lines(data: &[u8]) {
    const LIMIT: usize = 512;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let reader = Chunked {
            parts: chunks(data).into_iter(),
        };
        let mut lines = LineReader::with_limit(BufReader::with_capacity(64, reader), LIMIT);
        while let Ok(Some(frame)) = lines.next_frame().await {
            let Frame::Line(line) = frame else { continue };
            assert!(line.len() <= LIMIT, "a line over the limit was framed");
            if let Err(e) = Message::parse(line) {
                let answer = e.to_response();
                assert!(!answer.contains(&b'\n'), "an answer spans lines");
                // Raw: an id is echoed as it came, and may be a number
                // beyond `f64` (`73E973`), which is still JSON.
                serde_json::from_slice::<&serde_json::value::RawValue>(&answer)
                    .expect("the answer is JSON");
            }
        }
    });
}

/// A server's event stream, cut anywhere: the parser holds no more than it
/// was fed, and every `message` event it gives is what the stream said.
pub fn sse(data: &[u8]) {
    let mut parser = Parser::default();
    let mut fed = 0;
    for chunk in chunks(data) {
        parser.feed(chunk);
        fed += chunk.len();
        while let Some(event) = parser.next_event() {
            assert!(event.data.len() <= fed, "an event larger than its input");
        }
        assert!(
            parser.buffered() <= fed,
            "the parser holds more than it was fed"
        );
    }
}

/// A server's `WWW-Authenticate` header values: parsing is total.
pub fn www_authenticate(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let values: Vec<&str> = text.split('\n').collect();
    for parsed in challenge::parse(values.iter().copied()) {
        let _ = parsed.param("scope");
    }
    if let Some(bearer) = challenge::bearer(values.iter().copied()) {
        let _ = bearer.asks_dpop_nonce();
    }
}

/// Metadata and registration documents a server sends: any document is
/// read or refused, and every URL in it passes the H2 check or is refused.
pub fn metadata(data: &[u8]) {
    if let Ok(resource) = serde_json::from_slice::<discovery::ResourceMetadata>(data) {
        for server in &resource.authorization_servers {
            let _ = discovery::checked_url(server);
        }
        let _ = discovery::checked_url(&resource.resource);
    }
    if let Ok(server) = serde_json::from_slice::<discovery::ServerMetadata>(data)
        && let Ok(issuer) = url::Url::parse(&server.issuer)
    {
        assert!(discovery::server_metadata_urls(&issuer).len() <= 3);
    }
    let _ = crate::auth::client::registered_identity(data, crate::auth::grant::AuthMethod::None);
}

/// URLs from servers: the H2 rule, the H1 browser check, and H6 for the
/// URL the user gives; a URL the browser check passes has no shell or
/// control characters left in it.
pub fn urls(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(url) = discovery::checked_url(&text) {
        assert!(matches!(url.scheme(), "https" | "http"));
    }
    if let Ok(url) = browser::validate(&text) {
        let shown = url.as_str();
        assert!(!shown.chars().any(|c| c.is_control() || c.is_whitespace()));
        assert!(matches!(url.scheme(), "https" | "http"));
    }
    if let Ok(url) = url::Url::parse(&text) {
        let _ = crate::reach::is_loopback(&url);
        let _ = crate::reach::of_url(&url);
        crate::reach::Guard::default().watch(&url, &url);
    }
}

/// The 2026-07-28 translation of any message: the envelope adds to
/// `params._meta` and gives valid JSON; reading outcomes, discover results
/// and tool headers of any answer is total.
pub fn era(data: &[u8]) {
    let Ok(msg) = Message::parse(Bytes::copy_from_slice(data)) else {
        return;
    };
    let profile = era::HostProfile::from_initialize(&msg).unwrap_or_default();
    let envelope = profile.envelope(era::LATEST_MODERN, Some("info"));
    if let Some(out) = era::with_envelope(
        msg.raw(),
        Some(&RawId::private("fuzz", 1)),
        &envelope,
        &[("requestState", "\"s\"".into())],
    ) {
        // Read as raw JSON: numbers of any size are valid JSON, and the
        // bridge passes them through (a `Value` would refuse 3e822).
        let meta = member(&out, &["params", "_meta", era::META_PROTOCOL_VERSION])
            .expect("the envelope gives JSON with params._meta and its version");
        assert!(meta.get().starts_with('"'), "the version is a string");
    }
    let _ = era::outcome(&msg);
    let _ = era::unsupported_version(&msg);
    let _ = era::Discovered::from_answer(&msg).map(|d| d.initialize_result("2025-11-25", "x"));
    let _ = era::discover_result_from_initialize(&msg);
    let headers = era::tool_headers(&msg);
    for designated in headers.values() {
        for (name, value) in era::param_headers(designated, msg.raw()) {
            assert!(reqwest::header::HeaderName::try_from(name).is_ok());
            assert!(reqwest::header::HeaderValue::try_from(value).is_ok());
        }
    }
}

/// The member at `path` in a JSON document, read without converting any
/// number (so any valid JSON is accepted); the last of a twice-named
/// member, as `RawObject` reads it.
fn member<'a>(json: &'a [u8], path: &[&str]) -> Option<&'a serde_json::value::RawValue> {
    use std::collections::BTreeMap;
    let mut current: &serde_json::value::RawValue = serde_json::from_slice(json).ok()?;
    for key in path {
        let object: BTreeMap<String, &serde_json::value::RawValue> =
            serde_json::from_str(current.get()).ok()?;
        current = object.get(*key)?;
    }
    Some(current)
}

/// Replays the kept inputs in `fixtures/fuzz/<target>/`.
#[cfg(test)]
mod tests {
    use super::*;

    fn replay(target: &str, run: fn(&[u8])) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/fuzz")
            .join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for entry in entries.flatten() {
            let input = std::fs::read(entry.path()).expect("a fixture");
            run(&input);
        }
    }

    #[test]
    fn kept_fuzz_inputs_still_pass() {
        replay("stdin_lines", stdin_lines);
        replay("sse", sse);
        replay("www_authenticate", www_authenticate);
        replay("metadata", metadata);
        replay("urls", urls);
        replay("era", era);
    }
}
