//! One reconnection policy for every stream the bridge reopens (issue 25):
//! Streamable HTTP's GET stream, legacy HTTP+SSE's one stream and the
//! 2026-07-28 `subscriptions/listen` stream. Each keeps a [`Reconnect`]:
//! the wait before the next try grows from the server's `retry` advice (or
//! ours) by one rule, and a stream that may be given up is given up after
//! the same count of failures in a row however it failed.

use std::time::Duration;

/// How one stream is reopened.
#[derive(Debug)]
pub(super) struct Reconnect {
    base: Duration,
    failures: u32,
    /// Failures in a row after which the stream is given up; `None`: never
    /// (legacy HTTP+SSE, the only way anything reaches the host).
    limit: Option<u32>,
}

impl Reconnect {
    pub(super) fn new(base: Duration, limit: Option<u32>) -> Reconnect {
        Reconnect {
            base,
            failures: 0,
            limit,
        }
    }

    /// Whether another try is allowed.
    pub(super) fn may_try(&self) -> bool {
        self.limit.is_none_or(|limit| self.failures < limit)
    }

    /// A try failed, or the stream ended.
    pub(super) fn failed(&mut self) {
        self.failures += 1;
    }

    /// The stream carried what it is for: its failures are forgiven.
    pub(super) fn worked(&mut self) {
        self.failures = 0;
    }

    /// A reconnection succeeded: one failure is forgiven, so a server that
    /// keeps dropping the stream at once is not hammered.
    pub(super) fn recovered(&mut self) {
        self.failures = self.failures.saturating_sub(1);
    }

    /// The server's `retry` advice becomes the base, when it gave one.
    pub(super) fn advised(&mut self, retry: Option<Duration>) {
        if let Some(retry) = retry {
            self.base = retry;
        }
    }

    /// How long to wait before the next try.
    pub(super) fn delay(&self) -> Duration {
        backoff(self.base, self.failures)
    }

    /// Waits [`Reconnect::delay`].
    pub(super) async fn wait(&self) {
        tokio::time::sleep(self.delay()).await;
    }
}

/// How long to wait before reconnecting a stream after `failures` tries in
/// a row: exponential from `base` (the server's `retry` advice, or ours), at
/// most 30 seconds.
fn backoff(base: Duration, failures: u32) -> Duration {
    base.saturating_mul(1 << failures.min(6))
        .min(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_bounded() {
        let base = Duration::from_millis(500);
        assert_eq!(backoff(base, 0), base);
        assert_eq!(backoff(base, 1), Duration::from_secs(1));
        assert_eq!(backoff(base, 20), Duration::from_secs(30));
    }

    #[test]
    fn a_stream_is_given_up_after_its_limit_and_forgiven_when_it_works() {
        let mut policy = Reconnect::new(Duration::from_millis(100), Some(3));
        for _ in 0..3 {
            assert!(policy.may_try());
            policy.failed();
        }
        assert!(!policy.may_try());
        assert_eq!(policy.delay(), Duration::from_millis(800));
        policy.worked();
        assert!(policy.may_try());
        assert_eq!(policy.delay(), Duration::from_millis(100));
        policy.advised(Some(Duration::from_secs(2)));
        policy.failed();
        assert_eq!(policy.delay(), Duration::from_secs(4));
        policy.recovered();
        assert_eq!(policy.delay(), Duration::from_secs(2));
    }

    #[test]
    fn a_stream_without_a_limit_is_never_given_up() {
        let mut policy = Reconnect::new(Duration::from_millis(500), None);
        for _ in 0..100 {
            policy.failed();
        }
        assert!(policy.may_try());
        assert_eq!(policy.delay(), Duration::from_secs(30));
    }
}
