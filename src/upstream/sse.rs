//! Server-Sent Events as JSON-RPC messages: the one reader for every stream
//! the bridge reads (a POST's reply, the GET stream, the legacy transport).
//!
//! It remembers the last event id and the server's `retry` advice, which is
//! what resuming a dropped stream needs (T5). Parsing is eventsource-stream's.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};
use reqwest::Response;

use crate::error::UpstreamError;
use crate::jsonrpc::Message;

type Events = Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<reqwest::Error>>> + Send>>;

/// What one SSE event carried, as far as MCP is concerned.
#[derive(Debug)]
pub enum Item {
    /// A JSON-RPC message (`message` events, or events with no type).
    Message(Message),
    /// The legacy transport's `endpoint` event: where to POST (T7).
    Endpoint(String),
}

/// Reads JSON-RPC messages from an event stream.
pub struct SseReader {
    events: Events,
    shown_url: String,
    /// The id of the last event that had one, for `Last-Event-ID`.
    pub last_event_id: Option<String>,
    /// The server's advice on how long to wait before reconnecting.
    pub retry: Option<Duration>,
}

impl SseReader {
    pub fn new(response: Response, shown_url: &str) -> Self {
        SseReader {
            events: Box::pin(response.bytes_stream().eventsource()),
            shown_url: shown_url.to_owned(),
            last_event_id: None,
            retry: None,
        }
    }

    /// Continues after a resumed stream, keeping the resumption state.
    pub fn resume_with(&mut self, response: Response) {
        self.events = Box::pin(response.bytes_stream().eventsource());
    }

    /// The next item, `Ok(None)` when the server ends the stream. `idle`
    /// bounds the wait for each event; `None` waits as long as it takes.
    pub async fn next(&mut self, idle: Option<Duration>) -> Result<Option<Item>, UpstreamError> {
        loop {
            let next = match idle {
                Some(limit) => tokio::time::timeout(limit, self.events.next())
                    .await
                    .map_err(|_| UpstreamError::Timeout {
                        url: self.shown_url.clone(),
                        phase: "send the next part of its answer",
                        flag: "body-timeout",
                        after: limit,
                    })?,
                None => self.events.next().await,
            };
            let event = match next {
                None => return Ok(None),
                Some(Ok(event)) => event,
                Some(Err(e)) => {
                    return Err(UpstreamError::ConnectionLost {
                        url: self.shown_url.clone(),
                        reason: match e {
                            EventStreamError::Transport(e) => crate::error::describe_reqwest(&e),
                            other => other.to_string(),
                        },
                    });
                }
            };
            if !event.id.is_empty() {
                self.last_event_id = Some(event.id.clone());
            }
            if let Some(retry) = event.retry {
                self.retry = Some(retry);
            }
            if let Some(item) = self.item(event) {
                return Ok(Some(item));
            }
        }
    }

    fn item(&self, event: Event) -> Option<Item> {
        match event.event.as_str() {
            "endpoint" => Some(Item::Endpoint(event.data.trim().to_owned())),
            "message" | "" if !event.data.trim().is_empty() => {
                match Message::parse(Bytes::from(event.data.into_bytes())) {
                    Ok(msg) => Some(Item::Message(msg)),
                    Err(e) => {
                        tracing::warn!(url = %self.shown_url, "skipped an event that is not a JSON-RPC message: {e}");
                        None
                    }
                }
            }
            // A priming event (an id, no data) or an event type MCP does not use.
            _ => None,
        }
    }
}
