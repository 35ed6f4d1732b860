//! Server-Sent Events as JSON-RPC messages: the one reader for every stream
//! the bridge reads (a POST's reply, the GET stream, the legacy transport).
//!
//! [`Parser`] follows the WHATWG event-stream rules (CR, LF or CRLF line
//! ends, comments, `event`, `data`, `id`, `retry`, a leading BOM) in one pass
//! over the bytes: each byte is looked at once, however the stream is cut
//! into chunks. A single-line `data` field, which is how MCP servers send a
//! message, is handed on as a slice of the receive buffer, so a 50 MB answer
//! is never copied. (eventsource-stream re-parses its whole buffer on every
//! chunk: 6.4 s for one 50 MB event in a release build; this parser: see
//! ARCHITECTURE.md.)
//!
//! [`SseReader`] remembers the last event id and the server's `retry` advice,
//! which is what resuming a dropped stream needs (T5).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::Response;

use crate::error::UpstreamError;
use crate::http::{Http, MAX_BODY};
use crate::protocol::jsonrpc::Message;

/// One dispatched event.
#[derive(Debug, Default, PartialEq)]
pub struct Event {
    /// The `event` field; empty means `message`.
    pub kind: String,
    pub data: Bytes,
}

/// Incremental event-stream parser.
#[derive(Default)]
pub struct Parser {
    buf: BytesMut,
    /// How much of `buf` is known to hold no line end.
    scanned: usize,
    /// The last line ended with CR: a LF that follows belongs to it.
    after_cr: bool,
    started: bool,
    kind: String,
    data: Vec<Bytes>,
    /// The `id` field seen last, kept across events as the spec asks.
    pub last_event_id: Option<String>,
    /// The last valid `retry` field.
    pub retry: Option<Duration>,
}

impl Parser {
    /// Adds bytes received from the server.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes held that do not yet form a whole event.
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.data.iter().map(Bytes::len).sum::<usize>()
    }

    /// The next complete event, if the bytes fed so far hold one.
    pub fn next_event(&mut self) -> Option<Event> {
        while let Some(line) = self.next_line() {
            if let Some(event) = self.process(line) {
                return Some(event);
            }
        }
        None
    }

    fn next_line(&mut self) -> Option<Bytes> {
        if self.after_cr && !self.buf.is_empty() {
            if self.buf[0] == b'\n' {
                let _ = self.buf.split_to(1);
            }
            self.after_cr = false;
        }
        let Some(at) = memchr::memchr2(b'\n', b'\r', &self.buf[self.scanned..]) else {
            self.scanned = self.buf.len();
            return None;
        };
        let end = self.scanned + at;
        let line = self.buf.split_to(end).freeze();
        let terminator = self.buf.split_to(1);
        self.after_cr = terminator[0] == b'\r';
        self.scanned = 0;
        Some(line)
    }

    fn process(&mut self, mut line: Bytes) -> Option<Event> {
        if !self.started {
            self.started = true;
            if line.starts_with("\u{feff}".as_bytes()) {
                line = line.slice(3..);
            }
        }
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return None;
        }
        let (field, value) = match memchr::memchr(b':', &line) {
            Some(at) => {
                let value_at = if line.get(at + 1) == Some(&b' ') {
                    at + 2
                } else {
                    at + 1
                };
                (line.slice(..at), line.slice(value_at..))
            }
            None => (line.clone(), Bytes::new()),
        };
        match &field[..] {
            b"event" => self.kind = String::from_utf8_lossy(&value).into_owned(),
            b"data" => self.data.push(value),
            b"id" if !value.contains(&0) => {
                self.last_event_id = Some(String::from_utf8_lossy(&value).into_owned());
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                if let Ok(ms) = std::str::from_utf8(&value).unwrap_or_default().parse() {
                    self.retry = Some(Duration::from_millis(ms));
                }
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<Event> {
        let kind = std::mem::take(&mut self.kind);
        let data = match self.data.len() {
            0 => return None,
            1 => self.data.pop().expect("one piece"),
            _ => {
                let pieces = std::mem::take(&mut self.data);
                let mut joined = BytesMut::with_capacity(pieces.iter().map(|p| p.len() + 1).sum());
                for (i, piece) in pieces.iter().enumerate() {
                    if i > 0 {
                        joined.extend_from_slice(b"\n");
                    }
                    joined.extend_from_slice(piece);
                }
                joined.freeze()
            }
        };
        Some(Event { kind, data })
    }
}

/// What one SSE event carried, as far as MCP is concerned.
#[derive(Debug)]
pub enum Item {
    /// A JSON-RPC message (`message` events, or events with no type).
    Message(Message),
    /// The legacy transport's `endpoint` event: where to POST (T7).
    Endpoint(String),
}

/// How long [`SseReader::next`] waits for the server's next bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// At most the body timeout (`--body-timeout`): a request's answer.
    Bounded,
    /// As long as it takes: a stream the server writes to when it likes.
    AsLongAsItTakes,
}

/// Reads JSON-RPC messages from an event stream.
pub struct SseReader {
    response: Response,
    parser: Parser,
    http: Http,
    shown_url: String,
    /// The id of the last event that had one, for `Last-Event-ID`.
    pub last_event_id: Option<String>,
    /// The server's advice on how long to wait before reconnecting.
    pub retry: Option<Duration>,
    /// What the parser holds, counted against the shared answer budget.
    held: crate::http::Reservation,
    /// Events skipped as not JSON-RPC: a flood is summarized, not logged
    /// line by line (issue 16).
    skipped: u64,
}

/// How many skipped events are logged one by one before the rest are
/// summarized.
const SKIPPED_LOGGED: u64 = 3;

impl Drop for SseReader {
    fn drop(&mut self) {
        if self.skipped > SKIPPED_LOGGED {
            tracing::warn!(
                "… {} more events like this from {} were skipped",
                self.skipped - SKIPPED_LOGGED,
                self.shown_url
            );
        }
    }
}

impl SseReader {
    pub fn new(response: Response, http: &Http, shown_url: &str) -> Self {
        SseReader {
            response,
            parser: Parser::default(),
            http: http.clone(),
            shown_url: shown_url.to_owned(),
            last_event_id: None,
            retry: None,
            held: http.budget().reservation(),
            skipped: 0,
        }
    }

    /// Continues on a resumed stream, keeping the resumption state.
    pub fn resume_with(&mut self, response: Response) {
        self.response = response;
        self.parser = Parser::default();
    }

    /// The next item, `Ok(None)` when the server ends the stream. `wait`
    /// says how long to wait for more bytes: an answer's stream is bounded
    /// by the body timeout; the server-to-client stream waits as long as it
    /// takes.
    pub async fn next(&mut self, wait: Wait) -> Result<Option<Item>, UpstreamError> {
        loop {
            while let Some(mut event) = self.parser.next_event() {
                self.remember();
                // The event's data is counted on its own from here, until
                // it is written to the host or dropped.
                let data = std::mem::take(&mut event.data);
                event.data = self.http.hold(data, &self.shown_url)?;
                self.http
                    .count(&mut self.held, self.parser.buffered(), &self.shown_url)?;
                if let Some(item) = self.item(event) {
                    return Ok(Some(item));
                }
            }
            self.remember();
            if self.parser.buffered() > MAX_BODY {
                return Err(UpstreamError::TooLarge {
                    url: self.shown_url.clone(),
                    limit_mib: MAX_BODY >> 20,
                });
            }
            self.http
                .count(&mut self.held, self.parser.buffered(), &self.shown_url)?;
            let chunk = match wait {
                Wait::Bounded => {
                    self.http
                        .next_chunk(&mut self.response, &self.shown_url)
                        .await?
                }
                Wait::AsLongAsItTakes => {
                    self.response
                        .chunk()
                        .await
                        .map_err(|e| UpstreamError::ConnectionLost {
                            url: self.shown_url.clone(),
                            reason: crate::error::describe_reqwest(&e),
                        })?
                }
            };
            match chunk {
                Some(chunk) => self.parser.feed(&chunk),
                // An event cut off by the end of the stream is discarded.
                None => return Ok(None),
            }
        }
    }

    fn remember(&mut self) {
        if let Some(id) = self.parser.last_event_id.take() {
            self.last_event_id = Some(id);
        }
        if let Some(retry) = self.parser.retry.take() {
            self.retry = Some(retry);
        }
    }

    fn item(&mut self, event: Event) -> Option<Item> {
        match event.kind.as_str() {
            "endpoint" => Some(Item::Endpoint(
                String::from_utf8_lossy(&event.data).trim().to_owned(),
            )),
            "message" | "" if !event.data.trim_ascii().is_empty() => {
                match Message::parse_from_server(event.data) {
                    Ok((msg, repaired)) => {
                        if repaired {
                            super::note_repaired_utf8(&self.shown_url);
                        }
                        Some(Item::Message(msg))
                    }
                    Err(e) => {
                        self.skipped += 1;
                        match self.skipped {
                            n if n <= SKIPPED_LOGGED => tracing::warn!(
                                "{} sent an event that is not a JSON-RPC message; skipped it: {e}",
                                self.shown_url
                            ),
                            // 1024, 2048, 4096…: a dozen lines for millions.
                            n if n.is_power_of_two() && n >= 1024 => tracing::warn!(
                                "{} has sent {n} events that are not JSON-RPC messages so far; \
                                 all skipped",
                                self.shown_url
                            ),
                            _ => {}
                        }
                        None
                    }
                }
            }
            // A priming event (an id, no data) or an event type MCP does not use.
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(
        stream: &[u8],
        cuts: &[usize],
    ) -> (Vec<Event>, Option<String>, Option<Duration>) {
        let mut parser = Parser::default();
        let mut events = Vec::new();
        let mut from = 0;
        for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
            parser.feed(&stream[from..cut]);
            from = cut;
            while let Some(event) = parser.next_event() {
                events.push(event);
            }
        }
        (events, parser.last_event_id, parser.retry)
    }

    fn event(kind: &str, data: &str) -> Event {
        Event {
            kind: kind.into(),
            data: Bytes::copy_from_slice(data.as_bytes()),
        }
    }

    use proptest::prelude::*;

    /// Events as a server could send them: a kind, and data lines.
    fn any_events() -> impl Strategy<Value = Vec<(String, Vec<String>)>> {
        let line = "[a-z {}\":,é😀]{0,12}";
        proptest::collection::vec(
            (
                prop_oneof![
                    Just(String::new()),
                    Just("message".to_owned()),
                    "[a-z]{1,8}"
                ],
                proptest::collection::vec(line, 1..4),
            ),
            0..6,
        )
    }

    proptest! {
        /// Issue 7: whatever the events, the line endings (LF, CR, CRLF) and
        /// the places the stream is cut, the parser gives back exactly the
        /// events that were sent.
        #[test]
        fn any_stream_cut_anywhere_gives_back_its_events(
            events in any_events(),
            ending in prop_oneof![Just("\n"), Just("\r"), Just("\r\n")],
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut stream = String::new();
            for (kind, lines) in &events {
                if !kind.is_empty() {
                    stream.push_str(&format!("event: {kind}{ending}"));
                }
                for line in lines {
                    stream.push_str(&format!("data: {line}{ending}"));
                }
                stream.push_str(ending);
            }
            let stream = stream.as_bytes();
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
            cuts.sort_unstable();
            let (got, _, _) = parse_in_pieces(stream, &cuts);
            let expected: Vec<Event> = events
                .iter()
                .map(|(kind, lines)| event(kind, &lines.join("\n")))
                .collect();
            prop_assert_eq!(got, expected);
        }

        /// Any bytes at all: no panic, and nothing kept beyond what was fed.
        #[test]
        fn any_bytes_are_survived(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut parser = Parser::default();
            parser.feed(&bytes);
            while parser.next_event().is_some() {}
            prop_assert!(parser.buffered() <= bytes.len());
        }
    }

    const STREAM: &[u8] =
        b"\xEF\xBB\xBF: comment\r\nretry: 250\r\nid: 7\r\ndata: {\"a\":1}\r\n\r\n\
event: endpoint\rdata: /messages?s=1\r\revent: message\ndata:one\ndata:  two\nid\n\n\
data: ignored: no blank line follows";

    /// Any way of cutting the stream into chunks gives the same events.
    #[test]
    fn events_are_the_same_however_the_stream_is_cut() {
        let expected = vec![
            event("", "{\"a\":1}"),
            event("endpoint", "/messages?s=1"),
            event("message", "one\n two"),
        ];
        for cut in 0..=STREAM.len() {
            let (events, id, retry) = parse_in_pieces(STREAM, &[cut]);
            assert_eq!(events, expected, "cut at {cut}");
            assert_eq!(id.as_deref(), Some(""), "an empty id field resets the id");
            assert_eq!(retry, Some(Duration::from_millis(250)));
        }
        let every_byte: Vec<usize> = (1..STREAM.len()).collect();
        assert_eq!(parse_in_pieces(STREAM, &every_byte).0, expected);
    }

    #[test]
    fn a_crlf_split_between_chunks_is_one_line_end() {
        let (events, _, _) = parse_in_pieces(b"data: x\r\n\r\ndata: y\r\n\r\n", &[8, 10, 11]);
        assert_eq!(events, vec![event("", "x"), event("", "y")]);
    }

    #[test]
    fn invalid_retry_and_ids_with_nul_are_ignored() {
        let (_, id, retry) = parse_in_pieces(b"retry: 5s\nid: a\0b\ndata: x\n\n", &[]);
        assert_eq!((id, retry), (None, None));
    }

    /// A single-line data field is a slice of the receive buffer: no copy.
    #[test]
    fn single_line_data_is_not_copied() {
        let mut parser = Parser::default();
        parser.feed(b"data: payload\n\n");
        let base = parser.buf.as_ptr() as usize;
        let event = parser.next_event().unwrap();
        let at = event.data.as_ptr() as usize;
        assert_eq!(at, base + 6);
    }

    #[test]
    fn large_events_are_parsed_in_linear_time() {
        let mut parser = Parser::default();
        let chunk = vec![b'x'; 16 * 1024];
        parser.feed(b"data: ");
        for _ in 0..(64 * 64) {
            parser.feed(&chunk);
            assert!(parser.next_event().is_none());
        }
        parser.feed(b"\n\n");
        assert_eq!(parser.next_event().unwrap().data.len(), 64 * 1024 * 1024);
    }
}
