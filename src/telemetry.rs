//! What a person sees of a running bridge: logs with secrets redacted, the
//! `--record` file and its replay, the last failure per server for
//! `status`, and the `watch` endpoint. Read from tracing events' fields,
//! never from their text; nothing here changes what the bridge does.

pub mod health;
pub mod lifecycle;
pub mod log;
pub mod record;
pub mod redact;
pub mod replay;
pub mod watch;
