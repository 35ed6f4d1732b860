//! The body of a POST the server accepted: one JSON-RPC message, or an
//! event stream of them (T1). Streamable HTTP and the 2026-07-28 exchange
//! both read their replies here, message by message, whatever the type.

use reqwest::Response;

use super::sse::{Item, SseReader, Wait};
use crate::error::UpstreamError;
use crate::http::{Http, content_type};
use crate::protocol::jsonrpc::Message;

/// A reply being read.
pub(super) enum Body {
    /// `application/json`: one message, until it is read.
    Json(Option<Message>),
    /// `text/event-stream`: messages as the server sends them. (Boxed: a
    /// reader is large, and a reply holds one or the other.)
    Stream(Box<SseReader>),
}

impl Body {
    /// Reads a reply by its content type. Any other type is the server's
    /// fault, and says what it was.
    pub async fn open(response: Response, http: &Http, shown: &str) -> Result<Body, UpstreamError> {
        match content_type(&response).as_str() {
            "application/json" => {
                let body = http.read_body(response, shown).await?;
                let (message, repaired) =
                    Message::parse_from_server(body).map_err(|e| UpstreamError::BadBody {
                        url: shown.to_owned(),
                        what: e.to_string(),
                    })?;
                if repaired {
                    super::note_repaired_utf8(shown);
                }
                Ok(Body::Json(Some(message)))
            }
            "text/event-stream" => Ok(Body::Stream(Box::new(SseReader::new(
                response, http, shown,
            )))),
            other => Err(UpstreamError::BadBody {
                url: shown.to_owned(),
                what: match other {
                    "" => "no content type".to_owned(),
                    other => format!("a {other} document"),
                },
            }),
        }
    }

    /// The next message, or `None` when the reply has no more. A stream
    /// waits a bounded time for each.
    pub async fn next(&mut self) -> Result<Option<Message>, UpstreamError> {
        match self {
            Body::Json(message) => Ok(message.take()),
            Body::Stream(reader) => loop {
                match reader.next(Wait::Bounded).await? {
                    Some(Item::Message(message)) => return Ok(Some(message)),
                    Some(Item::Endpoint(_)) => {}
                    None => return Ok(None),
                }
            },
        }
    }

    /// The stream, when it can be resumed where it broke off (T5): the
    /// server gave its events ids.
    pub fn resumable(&mut self) -> Option<&mut SseReader> {
        match self {
            Body::Stream(reader) if reader.last_event_id.is_some() => Some(&mut **reader),
            _ => None,
        }
    }

    /// The error for a reply that ended before the answer it owed.
    pub fn ended_early(&self, shown: &str) -> UpstreamError {
        match self {
            Body::Json(_) => UpstreamError::BadBody {
                url: shown.to_owned(),
                what: "an answer to a different request".into(),
            },
            Body::Stream(_) => UpstreamError::StreamClosed {
                url: shown.to_owned(),
            },
        }
    }
}
