//! The host's side of the wire: newline-delimited messages on stdin and stdout.
//!
//! [`LineReader`] frames stdin into lines with a size bound; [`Outbox`] is the
//! only way to reach stdout, and [`run_writer`] the only task that writes to
//! it, so lines never interleave and nothing but JSON-RPC gets there (T13).
//! This module knows nothing of HTTP or of what the messages mean.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// The process's stdin, read on the event loop when it is a pipe or a socket
/// (what hosts give: Node-based hosts pass socketpairs), else through tokio's
/// blocking reader (a terminal, a file).
///
/// tokio's own `Stdin` hands every read to a blocking thread; on a 2-core
/// machine that hand-off was most of the bridge's per-call overhead.
pub fn stdin() -> Box<dyn AsyncRead + Unpin + Send> {
    #[cfg(unix)]
    if let Some(stream) = unix::nonblocking(&std::io::stdin()) {
        return match stream {
            unix::Stream::Pipe(file) => match tokio::net::unix::pipe::Receiver::from_file(file) {
                Ok(pipe) => Box::new(pipe),
                Err(_) => Box::new(tokio::io::stdin()),
            },
            unix::Stream::Socket(socket) => Box::new(socket),
        };
    }
    Box::new(tokio::io::stdin())
}

/// The process's stdout; see [`stdin`].
pub fn stdout() -> Box<dyn AsyncWrite + Unpin + Send> {
    #[cfg(unix)]
    if let Some(stream) = unix::nonblocking(&std::io::stdout()) {
        return match stream {
            unix::Stream::Pipe(file) => match tokio::net::unix::pipe::Sender::from_file(file) {
                Ok(pipe) => Box::new(pipe),
                Err(_) => Box::new(tokio::io::stdout()),
            },
            unix::Stream::Socket(socket) => Box::new(socket),
        };
    }
    Box::new(tokio::io::stdout())
}

#[cfg(unix)]
mod unix {
    use std::fs::File;
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;

    pub enum Stream {
        Pipe(File),
        Socket(tokio::net::UnixStream),
    }

    /// A duplicate of a standard stream's descriptor, ready for the event
    /// loop, if it is a pipe or a Unix socket. Must run inside the runtime.
    pub fn nonblocking(stream: &impl AsFd) -> Option<Stream> {
        let fd = stream.as_fd().try_clone_to_owned().ok()?;
        let file = File::from(fd);
        let kind = file.metadata().ok()?.file_type();
        if kind.is_fifo() {
            return Some(Stream::Pipe(file));
        }
        if kind.is_socket() {
            let socket = std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(file));
            socket.set_nonblocking(true).ok()?;
            return tokio::net::UnixStream::from_std(socket)
                .ok()
                .map(Stream::Socket);
        }
        None
    }
}

/// The longest line read from stdin. Longer lines are answered with a parse
/// error and skipped, so a runaway client cannot exhaust memory.
pub const MAX_LINE: usize = 64 * 1024 * 1024;

/// One frame read from stdin.
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// A line without its terminator (`\n` or `\r\n`).
    Line(Bytes),
    /// A line longer than the bound; its bytes were skipped.
    TooLong { len: usize },
}

/// Reads newline-delimited frames with a bound on their size.
///
/// Cancel-safe: a partly read line is kept in the reader, so a `select!`
/// that drops [`LineReader::next_frame`] midway loses nothing.
pub struct LineReader<R> {
    inner: R,
    max: usize,
    line: BytesMut,
    len: usize,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub fn new(inner: R) -> Self {
        Self::with_limit(inner, MAX_LINE)
    }

    pub fn with_limit(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            max,
            line: BytesMut::new(),
            len: 0,
        }
    }

    /// The next non-empty frame, or `None` at a clean end of input.
    ///
    /// A last line without a terminator still counts: hosts and shell pipes
    /// often close stdin right after the final message.
    pub async fn next_frame(&mut self) -> std::io::Result<Option<Frame>> {
        loop {
            match self.read_line().await? {
                None => return Ok(None),
                Some(Frame::Line(line)) if is_blank(&line) => continue,
                Some(frame) => return Ok(Some(frame)),
            }
        }
    }

    async fn read_line(&mut self) -> std::io::Result<Option<Frame>> {
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                return Ok(match self.len {
                    0 => None,
                    _ => Some(self.take()),
                });
            }
            let (chunk, found) = match memchr::memchr(b'\n', available) {
                Some(at) => (&available[..at], true),
                None => (available, false),
            };
            self.len += chunk.len();
            if self.len <= self.max {
                self.line.extend_from_slice(chunk);
            } else if !self.line.is_empty() {
                self.line = BytesMut::new();
            }
            let consumed = chunk.len() + usize::from(found);
            self.inner.consume(consumed);
            if found {
                return Ok(Some(self.take()));
            }
        }
    }

    /// Ends the current line, leaving the reader ready for the next.
    fn take(&mut self) -> Frame {
        let len = std::mem::take(&mut self.len);
        let mut line = std::mem::take(&mut self.line);
        if len > self.max {
            return Frame::TooLong { len };
        }
        if line.last() == Some(&b'\r') {
            line.truncate(line.len() - 1);
        }
        Frame::Line(line.freeze())
    }
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| b.is_ascii_whitespace())
}

/// A handle for sending lines to stdout. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Line>,
}

/// One line to write: one or more chunks of one JSON text, without the `\n`.
type Line = Vec<Bytes>;

/// How many lines may wait for the writer before senders wait in turn.
const OUTBOX_DEPTH: usize = 256;

impl Outbox {
    /// Creates the outbox and the receiving end that [`run_writer`] drains.
    pub fn new() -> (Outbox, mpsc::Receiver<Line>) {
        let (tx, rx) = mpsc::channel(OUTBOX_DEPTH);
        (Outbox { tx }, rx)
    }

    /// Queues one JSON text as one line. Returns false once stdout is gone.
    pub async fn send(&self, json: Bytes) -> bool {
        self.tx.send(vec![one_line(json)]).await.is_ok()
    }

    /// Whether the writer has stopped (the host closed stdout).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Resolves when the writer has stopped.
    pub async fn closed(&self) {
        self.tx.closed().await
    }
}

/// Makes a JSON text safe to write as a single line.
///
/// Valid JSON cannot hold a raw CR or LF inside a string, so any it contains
/// are whitespace between tokens and can become spaces without changing the
/// message. The common case, no line break at all, costs one scan and no copy.
pub fn one_line(json: Bytes) -> Bytes {
    if memchr::memchr2(b'\n', b'\r', &json).is_none() {
        return json;
    }
    let mut owned = json.to_vec();
    for byte in &mut owned {
        if matches!(*byte, b'\n' | b'\r') {
            *byte = b' ';
        }
    }
    Bytes::from(owned)
}

/// Writes every queued line to `out`, flushing whenever the queue runs dry.
///
/// Writes go through a buffer, so a message and its newline (and a burst of
/// small messages) leave in one system call: a host woken by half a line
/// would only go back to sleep. Large messages bypass the buffer.
///
/// Returns when every [`Outbox`] is dropped, or with the error that ended
/// writing (a broken pipe means the host went away).
pub async fn run_writer<W: AsyncWrite + Unpin>(
    out: W,
    mut rx: mpsc::Receiver<Line>,
) -> std::io::Result<()> {
    let mut out = tokio::io::BufWriter::with_capacity(64 * 1024, out);
    while let Some(line) = rx.recv().await {
        write_line(&mut out, line).await?;
        while let Ok(line) = rx.try_recv() {
            write_line(&mut out, line).await?;
        }
        out.flush().await?;
    }
    out.flush().await
}

async fn write_line<W: AsyncWrite + Unpin>(out: &mut W, line: Line) -> std::io::Result<()> {
    for chunk in line {
        out.write_all(&chunk).await?;
    }
    out.write_all(b"\n").await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8], max: usize) -> Vec<Frame> {
        let mut reader = LineReader::with_limit(input, max);
        let mut out = Vec::new();
        while let Some(frame) = reader.next_frame().await.unwrap() {
            out.push(frame);
        }
        out
    }

    fn line(text: &str) -> Frame {
        Frame::Line(Bytes::copy_from_slice(text.as_bytes()))
    }

    #[tokio::test]
    async fn splits_on_lf_and_crlf_and_skips_blank_lines() {
        assert_eq!(
            frames(b"a\r\n\n  \nb\nc", 100).await,
            [line("a"), line("b"), line("c")]
        );
    }

    #[tokio::test]
    async fn an_overlong_line_is_reported_and_the_next_one_is_read() {
        let mut input = vec![b'x'; 50];
        input.extend_from_slice(b"\nok\n");
        assert_eq!(
            frames(&input, 10).await,
            [Frame::TooLong { len: 50 }, line("ok")]
        );
    }

    #[tokio::test]
    async fn end_of_input_with_nothing_pending_is_a_clean_close() {
        assert_eq!(frames(b"", 10).await, []);
    }

    #[test]
    fn line_breaks_between_json_tokens_become_spaces() {
        let pretty = Bytes::from_static(b"{\r\n  \"a\": 1\n}");
        assert_eq!(&one_line(pretty)[..], b"{    \"a\": 1 }");
        let compact = Bytes::from_static(b"{\"a\":\"x\\ny\"}");
        assert_eq!(one_line(compact.clone()), compact);
    }

    #[tokio::test]
    async fn the_writer_ends_every_message_with_one_newline() {
        use tokio::io::AsyncReadExt;
        let (outbox, rx) = Outbox::new();
        let (write_end, mut read_end) = tokio::io::duplex(1024);
        let writer = tokio::spawn(run_writer(write_end, rx));
        assert!(outbox.send(Bytes::from_static(b"{\"a\":\n1}")).await);
        assert!(outbox.send(Bytes::from_static(b"[]")).await);
        drop(outbox);
        writer.await.unwrap().unwrap();
        let mut written = String::new();
        read_end.read_to_string(&mut written).await.unwrap();
        assert_eq!(written, "{\"a\": 1}\n[]\n");
    }
}
