//! Text from a server made safe to print (issue 26): what a server sends
//! must never drive the user's terminal. Every byte below U+0020 but the
//! tab, DEL, and the C1 controls (U+0080–U+009F, which some terminals obey
//! as escape sequences) are written as visible escapes, so an error body or
//! a `serverInfo` holding ESC or BEL can neither set the window title, clear
//! the screen, nor start a line that looks like the bridge's own.
//!
//! Logs (`OneLine`), `watch`, `status`, `replay` and `probe` all go through
//! this one function.

use std::borrow::Cow;

/// `text` with every control character but a tab escaped (`\n`, `\r`,
/// `\x1b`, `\u{9b}`…); borrowed untouched when there is none.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if is_control(c) && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if is_control(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// As [`for_terminal`], for bytes that may not be UTF-8 (a log line being
/// written): invalid sequences pass as they are, since no terminal reads
/// them as a control.
pub fn escape_bytes(text: &[u8], out: &mut Vec<u8>) {
    for chunk in text.utf8_chunks() {
        out.extend_from_slice(for_terminal(chunk.valid()).as_bytes());
        out.extend_from_slice(chunk.invalid());
    }
}

fn is_control(c: char) -> bool {
    c != '\t' && c.is_control()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_line_breaks_are_shown_not_obeyed() {
        let hostile = "ok\x1b]0;pwned\x07\x1b[2J\r\nINFO signed in\u{9b}31m\ttab";
        assert_eq!(
            for_terminal(hostile),
            "ok\\x1b]0;pwned\\x07\\x1b[2J\\r\\nINFO signed in\\u{9b}31m\ttab"
        );
        assert!(matches!(for_terminal("plain café"), Cow::Borrowed(_)));
    }

    #[test]
    fn bytes_escape_the_same_and_keep_what_is_not_utf8() {
        let mut out = Vec::new();
        escape_bytes(b"a\x1bb\xffc\n", &mut out);
        assert_eq!(out, b"a\\x1bb\xffc\\n");
    }
}
