//! The event stream (`GET /api/v1/events/stream`): a server-sent events
//! parser and the stream that reads one response with it. The server sends
//! a `ready` message, then `event` messages whose data is an event as
//! `GET /api/v1/events` lists it, with `id:` its resume position, and
//! comments as keep-alives.
//!
//! The stream does not reconnect by itself: a caller that wants to survive
//! a drop opens a new one with [`EventStream::last_event_id`], and the
//! server resumes after that id.

use crate::types::Event;
use crate::Error;
use std::time::Duration;

/// One dispatched server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseMessage {
    /// The `id:` field of this message, if it had one.
    pub id: Option<String>,
    /// The `event:` field; `message` when absent.
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

impl SseMessage {
    /// Whether this message carries an event (not `ready` or another kind).
    pub fn is_event(&self) -> bool {
        self.event == "event" || self.event == "message"
    }

    /// The data as an event (the shape of `GET /api/v1/events` items).
    pub fn parse_event(&self) -> Result<Event, Error> {
        serde_json::from_str(&self.data).map_err(|e| Error::Decode {
            url: "event stream".into(),
            message: format!("{e} in `{}`", truncate(&self.data, 200)),
        })
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Incremental parser of the `text/event-stream` format: feed it bytes as
/// they arrive, take whole messages out.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of a line not yet ended.
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a `\n` starting this one is part
    /// of the same line end.
    after_cr: bool,
    data: Option<String>,
    event: Option<String>,
    id: Option<String>,
    /// The last `id:` seen, which the spec keeps across messages.
    last_id: Option<String>,
    /// The last `retry:` the server asked for, in milliseconds.
    pub retry_ms: Option<u64>,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// The last `id:` seen so far (what a reconnect sends as `Last-Event-ID`).
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Feeds bytes; returns the messages they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseMessage> {
        let mut out = Vec::new();
        for &b in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, false);
            match b {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(m) = self.line_done(&String::from_utf8_lossy(&line)) {
                        out.push(m);
                    }
                }
                _ => self.line.push(b),
            }
        }
        out
    }

    fn line_done(&mut self, line: &str) -> Option<SseMessage> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None; // a comment, e.g. a keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "event" => self.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => {
                self.id = Some(value.to_owned());
                self.last_id = Some(value.to_owned());
            }
            "retry" => self.retry_ms = value.parse().ok().or(self.retry_ms),
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseMessage> {
        let event = self.event.take();
        let id = self.id.take();
        let data = self.data.take()?;
        Some(SseMessage {
            id,
            event: event
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "message".into()),
            data,
        })
    }
}

/// An open event stream.
pub struct EventStream {
    pub(crate) response: reqwest::Response,
    pub(crate) parser: SseParser,
    pub(crate) ready: std::collections::VecDeque<SseMessage>,
}

impl EventStream {
    /// The next message; `Ok(None)` when the server closed the stream.
    pub async fn next(&mut self) -> Result<Option<SseMessage>, Error> {
        self.next_within(None).await
    }

    /// As [`EventStream::next`], failing with [`Error::Idle`] when the
    /// server sends nothing at all (not even a keep-alive) for `idle`: a
    /// connection that silently died.
    pub async fn next_within(
        &mut self,
        idle: Option<Duration>,
    ) -> Result<Option<SseMessage>, Error> {
        loop {
            if let Some(m) = self.ready.pop_front() {
                return Ok(Some(m));
            }
            let url = self.response.url().to_string();
            let chunk = match idle {
                Some(idle) => tokio::time::timeout(idle, self.response.chunk())
                    .await
                    .map_err(|_| Error::Idle {
                        url: url.clone(),
                        idle,
                    })?,
                None => self.response.chunk().await,
            };
            match chunk {
                Ok(Some(bytes)) => self.ready.extend(self.parser.feed(&bytes)),
                Ok(None) => return Ok(None),
                Err(source) => return Err(Error::Transport { url, source }),
            }
        }
    }

    /// The last id the server sent: resume from it after a drop.
    pub fn last_event_id(&self) -> Option<&str> {
        self.parser.last_id()
    }

    /// The reconnection delay the server asked for, if it did.
    pub fn retry_ms(&self) -> Option<u64> {
        self.parser.retry_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_messages_split_anywhere() {
        let text = ": keep-alive\nid: evt_1\nevent: event\ndata: {\"a\":1}\n\nid: evt_2\r\ndata: x\r\ndata: y\r\n\r\ndata\n\n";
        for split in 0..text.len() {
            let mut p = SseParser::new();
            let mut got = p.feed(&text.as_bytes()[..split]);
            got.extend(p.feed(&text.as_bytes()[split..]));
            assert_eq!(
                got,
                vec![
                    SseMessage {
                        id: Some("evt_1".into()),
                        event: "event".into(),
                        data: "{\"a\":1}".into()
                    },
                    SseMessage {
                        id: Some("evt_2".into()),
                        event: "message".into(),
                        data: "x\ny".into()
                    },
                    SseMessage {
                        id: None,
                        event: "message".into(),
                        data: "".into()
                    },
                ],
                "split at {split}"
            );
            assert_eq!(p.last_id(), Some("evt_2"));
        }
    }

    #[test]
    fn ignores_messages_without_data_and_keeps_retry() {
        let mut p = SseParser::new();
        assert!(p.feed(b"retry: 1500\nid: 7\n\n").is_empty());
        assert_eq!(p.retry_ms, Some(1500));
        assert_eq!(p.last_id(), Some("7"));
    }
}
