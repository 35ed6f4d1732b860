//! The Streamable HTTP session: its id and the negotiated protocol version
//! (T2, T3). The `initialize` a restart replays is kept once for every
//! transport ([`super::Link::opening`]).
//!
//! Every change of session bumps a generation number. A request remembers the
//! generation it was sent under, so when several requests find the session
//! gone at once, only the first starts a new one and the rest just retry.

use std::sync::Mutex;

use reqwest::header::HeaderValue;

/// What a request needs to know about the session when it is sent.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub id: Option<HeaderValue>,
    pub protocol_version: Option<String>,
    pub generation: u64,
}

/// The session shared by every request.
#[derive(Default)]
pub struct Session {
    state: Mutex<State>,
    /// Held while a new session is being started, so only one task does it.
    pub restarting: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    current: Snapshot,
}

impl Session {
    pub fn snapshot(&self) -> Snapshot {
        self.state.lock().expect("session lock").current.clone()
    }

    pub fn generation(&self) -> u64 {
        self.state.lock().expect("session lock").current.generation
    }

    /// A server accepted an `initialize`: a new session begins, with the id
    /// the server gave (none for a stateless server: T9, never invented).
    pub fn begin(&self, id: Option<HeaderValue>) -> u64 {
        let mut state = self.state.lock().expect("session lock");
        state.current = Snapshot {
            id,
            protocol_version: None,
            generation: state.current.generation + 1,
        };
        state.current.generation
    }

    /// The version the server chose in its `initialize` result (T3).
    pub fn set_protocol_version(&self, generation: u64, version: String) {
        let mut state = self.state.lock().expect("session lock");
        if state.current.generation == generation {
            state.current.protocol_version = Some(version);
        }
    }
}
