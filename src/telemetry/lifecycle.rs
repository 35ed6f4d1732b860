//! The bridge's lifecycle as data (issue 25): every change of state that
//! `watch`, `status`, `probe` and `replay` report is one event from here,
//! carrying a `lifecycle` field that names it ([`Change`]) and fields for
//! its values (`transport`, `session`, `era`, `signin`). Readers take the
//! fields, never the sentence, so a sentence can be reworded freely; the
//! sentence is for the person reading `-v`.

use std::time::Duration;

/// The field every lifecycle event carries.
pub const FIELD: &str = "lifecycle";

/// What changed: the value of the [`FIELD`] field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Connected over a transport (`transport`; with `era` when known).
    Connected,
    /// Connected again over a transport after losing it (`transport`).
    Reconnected,
    /// The stream to the server broke; reconnecting.
    Reconnecting,
    /// A reply stream broke off and is resumed where it stopped (T5).
    Resuming,
    /// The server started a session (`session`: its fingerprint).
    Session,
    /// The server keeps no session.
    Stateless,
    /// The server forgot the session; a new one is started.
    SessionRestarted,
    /// The protocol era the server answered `initialize` in (`era`).
    Era,
    /// The era the server answered `server/discover` in (`era`).
    Discovered,
    /// From here on the bridge translates between eras (`era`).
    Translating,
    /// Signed in, by any grant (`signin = "done"`).
    SignedIn,
    /// The access token was refreshed (`signin = "done"`).
    Refreshed,
    /// `--header-command` runs again after the server refused its headers.
    HeaderCommand,
}

impl Change {
    const ALL: [Change; 13] = [
        Change::Connected,
        Change::Reconnected,
        Change::Reconnecting,
        Change::Resuming,
        Change::Session,
        Change::Stateless,
        Change::SessionRestarted,
        Change::Era,
        Change::Discovered,
        Change::Translating,
        Change::SignedIn,
        Change::Refreshed,
        Change::HeaderCommand,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Change::Connected => "connected",
            Change::Reconnected => "reconnected",
            Change::Reconnecting => "reconnecting",
            Change::Resuming => "resuming",
            Change::Session => "session",
            Change::Stateless => "stateless",
            Change::SessionRestarted => "session_restarted",
            Change::Era => "era",
            Change::Discovered => "discovered",
            Change::Translating => "translating",
            Change::SignedIn => "signed_in",
            Change::Refreshed => "refreshed",
            Change::HeaderCommand => "header_command",
        }
    }

    /// The change a `lifecycle` field's value names.
    pub fn parse(value: &str) -> Option<Change> {
        Change::ALL.into_iter().find(|c| c.as_str() == value)
    }
}

// Set by [`reword_on_this_thread`]. Clippy 1.96 for windows-gnu asks for
// a `const` initializer here, which it is (a false positive of
// `missing_const_for_thread_local` on that target's thread-local keys).
#[allow(clippy::missing_const_for_thread_local)]
mod reworded {
    thread_local! {
        pub static REWORDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
}
use reworded::REWORDED;

/// From now on, on this thread, every lifecycle event says a sentence
/// that shares no word with its usual one, and keeps its fields. For the
/// test that the readers (`watch`, `status`, `probe`, `replay`) say the
/// same whatever the sentences say (issue 25); the bridge never calls it.
#[doc(hidden)]
pub fn reword_on_this_thread() {
    REWORDED.set(true);
}

/// The sentence an event says: `usual`, unless this thread rewords them.
/// Written straight into the event, with no `String` made for it.
fn sentence(usual: std::fmt::Arguments<'_>) -> Sentence<'_> {
    Sentence(if REWORDED.get() { None } else { Some(usual) })
}

/// An event's sentence: its usual words, or none when reworded.
struct Sentence<'a>(Option<std::fmt::Arguments<'a>>);

impl std::fmt::Display for Sentence<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(usual) => f.write_fmt(usual),
            None => f.write_str("(reworded)"),
        }
    }
}

pub fn connected(transport: &str) {
    tracing::info!(
        lifecycle = "connected",
        transport,
        "{}",
        sentence(format_args!("connected over {transport}"))
    );
}

/// Connected, with the era settled at once (a 2026-07-28 exchange).
pub fn connected_speaking(transport: &str, era: &str) {
    tracing::info!(
        lifecycle = "connected",
        transport,
        era,
        "{}",
        sentence(format_args!("speaking MCP {era} over {transport}"))
    );
}

pub fn reconnected(transport: &str) {
    tracing::info!(
        lifecycle = "reconnected",
        transport,
        "{}",
        sentence(format_args!("reconnected over {transport}"))
    );
}

/// The stream broke (`lost` says how): a warning, since what was in flight
/// on it failed.
pub fn reconnecting(lost: &dyn std::fmt::Display) {
    tracing::warn!(
        lifecycle = "reconnecting",
        "{}",
        sentence(format_args!("{lost}; reconnecting"))
    );
}

pub fn resuming(last_event: &str, wait: Duration) {
    tracing::info!(
        lifecycle = "resuming",
        "{}",
        sentence(format_args!(
            "reply stream dropped; resuming after event {last_event:?} in {wait:?}"
        ))
    );
}

/// `session`: the session id's fingerprint, never the id.
pub fn session_started(session: &str) {
    tracing::info!(
        lifecycle = "session",
        session,
        "{}",
        sentence(format_args!("session {session} started"))
    );
}

pub fn stateless() {
    tracing::info!(
        lifecycle = "stateless",
        "{}",
        sentence(format_args!("the server keeps no session (stateless)"))
    );
}

pub fn session_restarted(status: u16) {
    tracing::info!(
        lifecycle = "session_restarted",
        "{}",
        sentence(format_args!(
            "the server forgot the session (HTTP {status}); starting a new one"
        ))
    );
}

/// The server answered `initialize` in `era`: passed through.
pub fn negotiated(era: &str) {
    tracing::info!(
        lifecycle = "era",
        era,
        "{}",
        sentence(format_args!(
            "the server answered initialize (MCP {era}); messages pass as they are"
        ))
    );
}

/// A server that spoke only 2026-07-28 answers `initialize` in `era`
/// again: passed through from here on.
pub fn negotiated_again(era: &str) {
    tracing::info!(
        lifecycle = "era",
        era,
        "{}",
        sentence(format_args!(
            "the server now answers initialize (MCP {era}); messages pass as they are from here on"
        ))
    );
}

/// The server answered `server/discover` in `era`.
pub fn discovered(era: &str) {
    tracing::info!(
        lifecycle = "discovered",
        era,
        "{}",
        sentence(format_args!(
            "the server speaks MCP {era} (server/discover)"
        ))
    );
}

/// From here on the bridge translates for a host that sends `initialize`
/// (`since_start`: from the first message, or after the server changed).
pub fn translating(era: &str, since_start: bool) {
    let era = format!("{era} (translated)");
    match since_start {
        true => tracing::info!(
            lifecycle = "translating",
            era = era.as_str(),
            "{}",
            sentence(format_args!(
                "the server speaks only MCP {era}; translating for this host (initialize-based)"
            ))
        ),
        false => tracing::info!(
            lifecycle = "translating",
            era = era.as_str(),
            "{}",
            sentence(format_args!(
                "the server now speaks only MCP {era}; translating from here on"
            ))
        ),
    }
}

/// `server`: the redacted URL.
pub fn signed_in(server: &str) {
    tracing::info!(
        lifecycle = "signed_in",
        signin = "done",
        "{}",
        sentence(format_args!("signed in to {server}"))
    );
}

pub fn refreshed() {
    tracing::info!(
        lifecycle = "refreshed",
        signin = "done",
        "{}",
        sentence(format_args!("refreshed the access token"))
    );
}

/// The server refused the headers `--header-command` gave; it runs again.
pub fn header_command_again() {
    tracing::info!(
        lifecycle = "header_command",
        "{}",
        sentence(format_args!(
            "the server refused the headers; running --header-command again"
        ))
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_is_named_once() {
        for change in Change::ALL {
            assert_eq!(Change::parse(change.as_str()), Some(change));
        }
        assert_eq!(Change::parse("connected over"), None);
    }
}
