//! The last failure a bridge met with its server, kept next to the
//! server's credentials so that `mcp-tether status` can tell a user, after
//! the fact, what went wrong and when (issue 9).
//!
//! Written at most once a second, so a server that is down while the host
//! sends thousands of requests costs a few writes, not thousands.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use url::Url;

use crate::error::UpstreamError;
use crate::store::credentials::{Credentials, LastError, ServerInfo};
use crate::telemetry::log::redact_url;

/// The shortest gap between two writes.
const MIN_GAP: Duration = Duration::from_secs(1);

/// Records failures for one server.
pub struct ErrorRecorder {
    credentials: Credentials,
    info: ServerInfo,
    last_write: Mutex<Option<Instant>>,
}

impl ErrorRecorder {
    pub fn new(config_dir: &std::path::Path, url: &Url, resource: Option<&str>) -> Self {
        ErrorRecorder {
            credentials: Credentials::for_server(config_dir, url, resource),
            info: ServerInfo {
                url: redact_url(url),
                resource: resource.map(str::to_owned),
            },
            last_write: Mutex::new(None),
        }
    }

    /// Records `error`, unless one was written less than a second ago or
    /// the bridge is only shutting down.
    pub fn record(&self, error: &UpstreamError) {
        if matches!(error, UpstreamError::ShuttingDown) {
            return;
        }
        {
            let mut last = self.last_write.lock().expect("recorder lock");
            if last.is_some_and(|at| at.elapsed() < MIN_GAP) {
                return;
            }
            *last = Some(Instant::now());
        }
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let entry = LastError {
            at,
            message: error.to_string(),
        };
        if let Err(e) = self.credentials.save_last_error(&self.info, &entry) {
            tracing::debug!("could not record the last error: {e}");
        }
    }
}
