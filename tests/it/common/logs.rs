//! The logs of in-process bridges: one global subscriber that hands every
//! event to the subscriber of the bridge whose thread it happened on.
//!
//! Each in-process bridge runs on a thread of its own (as the binary runs
//! on one), so its logs are that thread's. A scoped dispatcher per thread
//! (`tracing::subscriber::set_default`) looked like the way, but `tracing`
//! caches each call site's interest and the highest level any subscriber
//! wants for the whole process, and with many scoped dispatchers made and
//! dropped by tests running in parallel, that cache was sometimes computed
//! without the bridge's own: an event was lost about one run in three
//! under load (`messages::a_flood_of_bad_events_is_summarized`). This
//! subscriber says "sometimes" to every call site and TRACE as its level,
//! so nothing is cached, and asks the thread's bridge about each event.

use std::cell::RefCell;
use std::sync::{Arc, Once};

use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::{Interest, Subscriber};
use tracing::{Event, Metadata};

type Bridge = Arc<dyn Subscriber + Send + Sync>;

thread_local! {
    static BRIDGE: RefCell<Option<Bridge>> = const { RefCell::new(None) };
}

/// Makes `subscriber` this thread's logs, for as long as the thread runs.
pub fn install_for_this_thread(subscriber: impl Subscriber + Send + Sync) {
    static GLOBAL: Once = Once::new();
    GLOBAL.call_once(|| {
        tracing::subscriber::set_global_default(ByThread)
            .expect("no other global subscriber in the test process");
    });
    BRIDGE.with(|bridge| *bridge.borrow_mut() = Some(Arc::new(subscriber)));
}

/// Runs `f` with this thread's bridge subscriber, if it has one (and the
/// thread is not being torn down).
fn with_bridge<R>(f: impl FnOnce(&dyn Subscriber) -> R) -> Option<R> {
    BRIDGE
        .try_with(|bridge| bridge.borrow().as_ref().map(|s| f(&**s)))
        .ok()
        .flatten()
}

/// The global subscriber: each call goes to the calling thread's bridge.
struct ByThread;

/// The id of a span on a thread with no bridge, which nobody reads.
const NO_SPAN: u64 = u64::MAX;

impl Subscriber for ByThread {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::TRACE)
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        with_bridge(|s| s.enabled(metadata)).unwrap_or(false)
    }

    fn event_enabled(&self, event: &Event<'_>) -> bool {
        with_bridge(|s| s.event_enabled(event)).unwrap_or(false)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        with_bridge(|s| s.new_span(span)).unwrap_or_else(|| Id::from_u64(NO_SPAN))
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        with_bridge(|s| s.record(span, values));
    }

    fn record_follows_from(&self, span: &Id, follows: &Id) {
        with_bridge(|s| s.record_follows_from(span, follows));
    }

    fn event(&self, event: &Event<'_>) {
        with_bridge(|s| s.event(event));
    }

    fn enter(&self, span: &Id) {
        with_bridge(|s| s.enter(span));
    }

    fn exit(&self, span: &Id) {
        with_bridge(|s| s.exit(span));
    }

    fn clone_span(&self, id: &Id) -> Id {
        with_bridge(|s| s.clone_span(id)).unwrap_or_else(|| id.clone())
    }

    fn try_close(&self, id: Id) -> bool {
        with_bridge(|s| s.try_close(id)).unwrap_or(false)
    }
}
