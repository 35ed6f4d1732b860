//! Message bodies fit for logs (H5): secret-looking values replaced, and cut
//! to [`MAX_LOGGED_BODY`].
//!
//! A body is read as a stream of JSON tokens and written out as it is read,
//! so logging one costs at most its cut size in memory, and stops reading
//! once the cut is reached: a 127 MiB answer logged at `-vv` is never
//! parsed whole (issue 26; it used to take the bridge to 4.95 GB, and its
//! exit to 5 s). The only thing read past the cut is nothing at all; a
//! string that is long and must be hidden is skipped over, not copied.

/// The most of a body a log line shows.
pub const MAX_LOGGED_BODY: usize = 16 * 1024;

/// Member names whose string values are secrets wherever they appear.
const SECRET_KEYS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "client_secret",
    "code",
    "code_verifier",
    "password",
    "secret",
    "authorization",
    "api_key",
    "apikey",
    "cookie",
    "assertion",
    "subject_token",
];

/// A message body fit for `-vv` logs: compact JSON with secret-looking
/// values replaced, cut short when long. Not JSON (as far as it was read):
/// shown only as its length.
pub fn redact_body(body: &[u8]) -> String {
    let mut out = Vec::with_capacity(body.len().min(MAX_LOGGED_BODY) + 64);
    let ended = Scanner::new(body, &mut out).run();
    match ended {
        Ok(Ended::Whole) => String::from_utf8_lossy(&out).into_owned(),
        Ok(Ended::Cut) => {
            let mut text = String::from_utf8_lossy(&out).into_owned();
            let cut = (0..=MAX_LOGGED_BODY.min(text.len()))
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            text.truncate(cut);
            text.push_str(&format!("… <{} bytes in all>", body.len()));
            text
        }
        Err(NotJson) => format!("<{} bytes, not JSON>", body.len()),
    }
}

/// Redacts a parsed message in place, as [`redact_body`] does (for the
/// recorder, which keeps messages up to 1 MiB as JSON).
pub fn redact_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            for (key, member) in map.iter_mut() {
                // Strings only: `"code": -32000` in a JSON-RPC error is no secret.
                if member.is_string() && is_secret_key(key.as_bytes()) {
                    *member = Value::String("[redacted]".into());
                } else {
                    redact_json(member);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::String(text) if looks_like_secret(text.as_bytes()) => *text = "[redacted]".into(),
        _ => {}
    }
}

fn is_secret_key(key: &[u8]) -> bool {
    SECRET_KEYS.iter().any(|s| {
        let s = s.as_bytes();
        key.len() >= s.len()
            && key[key.len() - s.len()..].eq_ignore_ascii_case(s)
            && (key.len() == s.len() || matches!(key[key.len() - s.len() - 1], b'_' | b'-'))
    })
}

/// Bearer/Basic/DPoP credentials and JWTs, wherever they appear in a
/// string's text (its escapes decoded by [`decoded`], in a body).
fn looks_like_secret(text: &[u8]) -> bool {
    let start = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(text.len());
    let head = &text[start..];
    let scheme =
        |name: &[u8]| head.len() > name.len() && head[..name.len()].eq_ignore_ascii_case(name);
    if scheme(b"bearer ") || scheme(b"basic ") || scheme(b"dpop ") {
        return true;
    }
    // A JWT: three base64url segments, the first starting with `eyJ` ('{"').
    let mut parts = text.split(|&b| b == b'.');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some(h), Some(p), Some(_), None) if h.starts_with(b"eyJ") && h.len() > 10 && p.len() > 10
    )
}

/// The longest string decoded before it is checked; a longer one is
/// checked as written (past the cut, only its first 16 KiB could show).
const MAX_DECODED: usize = 4 * MAX_LOGGED_BODY;

/// A string token's content as its reader sees it, escapes decoded, so
/// that no spelling (`\u0042earer`, `access\u005ftoken`) hides a secret
/// from the checks. Borrowed as written when there is no escape, nearly
/// always, or when it is longer than [`MAX_DECODED`].
fn decoded(content: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    use std::borrow::Cow;
    if !content.contains(&b'\\') || content.len() > MAX_DECODED {
        return Cow::Borrowed(content);
    }
    let mut quoted = Vec::with_capacity(content.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(content);
    quoted.push(b'"');
    match serde_json::from_slice::<String>(&quoted) {
        Ok(text) => Cow::Owned(text.into_bytes()),
        Err(_) => Cow::Borrowed(content),
    }
}

/// The body was not JSON, as far as it was read.
struct NotJson;

/// How a scan ended.
enum Ended {
    /// The whole body was read and written.
    Whole,
    /// The output reached the cut; the rest was not read.
    Cut,
}

/// Where the scanner is in the current container.
#[derive(Clone, Copy, PartialEq)]
enum Frame {
    /// In an object, a member name (or `}`) comes next.
    Key,
    /// In an object, a member's value comes next; `secret` when its name
    /// marks its string value as a secret.
    Value { secret: bool },
    /// In an array.
    Array,
}

/// A one-pass JSON tokenizer that writes what it reads, compacted and
/// redacted, until the output reaches the cut.
struct Scanner<'a> {
    input: &'a [u8],
    at: usize,
    out: &'a mut Vec<u8>,
    stack: Vec<Frame>,
}

impl<'a> Scanner<'a> {
    fn new(input: &'a [u8], out: &'a mut Vec<u8>) -> Self {
        Scanner {
            input,
            at: 0,
            out,
            stack: Vec::new(),
        }
    }

    fn run(&mut self) -> Result<Ended, NotJson> {
        let mut seen_value = false;
        loop {
            if self.out.len() > MAX_LOGGED_BODY {
                return Ok(Ended::Cut);
            }
            self.skip_whitespace();
            let Some(&byte) = self.input.get(self.at) else {
                return match self.stack.is_empty() && seen_value {
                    true => Ok(Ended::Whole),
                    false => Err(NotJson),
                };
            };
            if self.stack.is_empty() && seen_value {
                return Err(NotJson);
            }
            match (byte, self.stack.last().copied()) {
                (b'}', Some(Frame::Key)) | (b']', Some(Frame::Array)) => {
                    self.stack.pop();
                    self.push(byte);
                    self.after_value();
                    seen_value = true;
                }
                (b',', Some(Frame::Key)) => self.push(byte),
                (b',', Some(Frame::Array)) => self.push(byte),
                (b'"', Some(Frame::Key)) => {
                    let key = self.string_token()?;
                    let secret = is_secret_key(&decoded(key));
                    self.out
                        .extend_from_slice(&self.input[self.at - key.len() - 2..self.at]);
                    self.skip_whitespace();
                    if self.input.get(self.at) != Some(&b':') {
                        return Err(NotJson);
                    }
                    self.push(b':');
                    *self.stack.last_mut().expect("in an object") = Frame::Value { secret };
                }
                (_, Some(Frame::Key)) => return Err(NotJson),
                (b'{', _) => {
                    self.push(byte);
                    self.stack.push(Frame::Key);
                }
                (b'[', _) => {
                    self.push(byte);
                    self.stack.push(Frame::Array);
                }
                (b'"', frame) => {
                    let start = self.at;
                    let text = self.string_token()?;
                    let secret = matches!(frame, Some(Frame::Value { secret: true }));
                    if secret || looks_like_secret(&decoded(text)) {
                        self.out.extend_from_slice(b"\"[redacted]\"");
                    } else {
                        let room = MAX_LOGGED_BODY + 1 - self.out.len().min(MAX_LOGGED_BODY);
                        let whole = &self.input[start..self.at];
                        self.out.extend_from_slice(&whole[..whole.len().min(room)]);
                    }
                    self.after_value();
                    seen_value = true;
                }
                (b'-' | b'0'..=b'9' | b't' | b'f' | b'n', _) => {
                    let start = self.at;
                    while self.input.get(self.at).is_some_and(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.')
                    }) {
                        self.at += 1;
                    }
                    self.out.extend_from_slice(&self.input[start..self.at]);
                    self.after_value();
                    seen_value = true;
                }
                _ => return Err(NotJson),
            }
        }
    }

    fn push(&mut self, byte: u8) {
        self.out.push(byte);
        self.at += 1;
    }

    /// A value ended: in an object, a member name comes next.
    fn after_value(&mut self) {
        if let Some(frame @ Frame::Value { .. }) = self.stack.last_mut() {
            *frame = Frame::Key;
        }
    }

    fn skip_whitespace(&mut self) {
        while self
            .input
            .get(self.at)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.at += 1;
        }
    }

    /// Reads a string token from its opening quote to past its closing one;
    /// returns what is between them, escapes as written. Copies nothing.
    fn string_token(&mut self) -> Result<&'a [u8], NotJson> {
        let input = self.input;
        let start = self.at + 1;
        let mut at = start;
        loop {
            match input.get(at) {
                None => return Err(NotJson),
                Some(b'"') => break,
                Some(b'\\') => at += 2,
                Some(0..=0x1f) => return Err(NotJson),
                Some(_) => at += 1,
            }
        }
        self.at = at + 1;
        Ok(&input[start..at])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_lose_token_values_at_any_depth() {
        let body = br#"{"result":{"access_token":"AT-1","nested":[{"refresh_token":"RT-2"}],
            "note":"Bearer abc.def","jwt":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig",
            "my_api_key":"K-3","name":"echo","code":-32000}}"#;
        let shown = redact_body(body);
        for secret in ["AT-1", "RT-2", "Bearer abc", "eyJhbGci", "K-3"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        assert!(shown.contains(r#""name":"echo""#), "{shown}");
        assert!(shown.contains(r#""code":-32000"#), "{shown}");
    }

    #[test]
    fn a_body_is_shown_compact_with_its_values_as_written() {
        let body =
            b"{ \"id\" : 12345678901234567890,\n \"a\": [1.5e3, true, null, \"\\u00e9\\\"\"] }";
        assert_eq!(
            redact_body(body),
            r#"{"id":12345678901234567890,"a":[1.5e3,true,null,"\u00e9\""]}"#
        );
        assert_eq!(redact_body(b"[]"), "[]");
        assert_eq!(redact_body(br#""x""#), r#""x""#);
    }

    #[test]
    fn long_bodies_are_cut_and_non_json_is_not_shown() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(100_000));
        let shown = redact_body(big.as_bytes());
        assert!(shown.len() < MAX_LOGGED_BODY + 100, "{}", shown.len());
        assert!(
            shown.ends_with("… <100008 bytes in all>"),
            "{}",
            &shown[shown.len() - 40..]
        );
        assert_eq!(redact_body(b"<html>"), "<6 bytes, not JSON>");
        for broken in [
            &b"{\"a\":1"[..],
            b"{\"a\" 1}",
            b"[1,2]]",
            b"",
            b"{1:2}",
            b"\"open",
        ] {
            assert!(redact_body(broken).ends_with("not JSON>"), "{:?}", broken);
        }
    }

    /// A secret written with JSON escapes is the same secret: the checks
    /// read a string as its reader would (as the parse into `Value` did).
    #[test]
    fn escaped_spellings_do_not_hide_a_secret() {
        let body = br#"{"access\u005ftoken":"AT-1","note":"\u0042earer abc","jwt":"eyJhbGciOiJIUzI1NiJ9\u002eeyJzdWIiOiIxMjM0In0.sig","ok":"a\"b"}"#;
        let shown = redact_body(body);
        for secret in ["AT-1", "earer abc", "eyJzdWIi"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        assert!(shown.contains(r#""ok":"a\"b""#), "{shown}");
    }

    /// Issue 26: past the cut, nothing more is read; a long secret is
    /// skipped, not copied.
    #[test]
    fn a_huge_body_is_read_only_up_to_the_cut() {
        let many = format!(
            "[{}1]",
            "{\"type\":\"text\",\"text\":\"x\"},".repeat(400_000)
        );
        let mut out = Vec::new();
        let mut scanner = Scanner::new(many.as_bytes(), &mut out);
        assert!(matches!(scanner.run(), Ok(Ended::Cut)));
        let read = scanner.at;
        assert!(
            read < MAX_LOGGED_BODY * 2,
            "read {read} of {} bytes",
            many.len()
        );
        assert!(out.len() <= MAX_LOGGED_BODY + 64, "{}", out.len());
        let secret = format!("{{\"token\":\"{}\",\"b\":1}}", "s".repeat(1 << 20));
        assert_eq!(
            redact_body(secret.as_bytes()),
            r#"{"token":"[redacted]","b":1}"#
        );
    }
}
