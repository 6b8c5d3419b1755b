//! A server-sent-events reader over a streamed HTTP body: events with their `event:` name
//! and joined `data:` lines; comments and `retry:` ignored. A body that breaks off is an
//! `Unavailable` error so the orchestrator sees a broken stream, never a silent end.

use futures::{Stream, StreamExt};

use crate::providers::ProviderError;

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field, when the server names events (Anthropic does).
    pub(crate) event: Option<String>,
    /// The `data:` lines joined by newlines.
    pub(crate) data: String,
}

#[derive(Default)]
pub(super) struct Parser {
    buf: Vec<u8>,
    event: Option<String>,
    data: Vec<String>,
}

impl Parser {
    /// Consumes complete lines from the buffer; returns the events they finish.
    pub(super) fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
            let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line);
            if let Some(ev) = self.line(&line) {
                out.push(ev);
            }
        }
        out
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            if self.data.is_empty() {
                self.event = None;
                return None;
            }
            return Some(SseEvent {
                event: self.event.take(),
                data: std::mem::take(&mut self.data).join("\n"),
            });
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => self.data.push(value.to_owned()),
            _ => {}
        }
        None
    }

    /// An event left without its blank line when the body ended.
    pub(super) fn finish(&mut self) -> Option<SseEvent> {
        if !self.buf.is_empty() {
            let rest = String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned();
            if let Some(ev) = self.line(rest.trim_end_matches('\r')) {
                return Some(ev);
            }
        }
        self.line("")
    }
}

/// The events of a streamed response, in order.
pub(crate) fn events(
    resp: reqwest::Response,
) -> impl Stream<Item = Result<SseEvent, ProviderError>> + Send {
    let body = resp.bytes_stream();
    futures::stream::unfold(
        (
            body,
            Parser::default(),
            std::collections::VecDeque::new(),
            false,
        ),
        |(mut body, mut parser, mut ready, mut ended)| async move {
            loop {
                if let Some(ev) = ready.pop_front() {
                    return Some((Ok(ev), (body, parser, ready, ended)));
                }
                if ended {
                    return None;
                }
                match body.next().await {
                    Some(Ok(chunk)) => ready.extend(parser.feed(&chunk)),
                    Some(Err(e)) => {
                        ended = true;
                        let err = ProviderError::Unavailable(format!(
                            "the stream broke off: {}",
                            e.without_url()
                        ));
                        return Some((Err(err), (body, parser, ready, ended)));
                    }
                    None => {
                        ended = true;
                        ready.extend(parser.finish());
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_and_crlf_lines_are_reassembled() {
        let mut p = Parser::default();
        let mut got = p.feed(b"event: message_start\r\ndata: {\"a\":");
        assert!(got.is_empty());
        got.extend(p.feed(b"1}\r\n\r\n: keep-alive comment\n\ndata: x\ndata: y\n\n"));
        got.extend(p.feed(b"data: [DONE]"));
        got.extend(p.finish());
        assert_eq!(
            got,
            vec![
                SseEvent {
                    event: Some("message_start".into()),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    event: None,
                    data: "x\ny".into()
                },
                SseEvent {
                    event: None,
                    data: "[DONE]".into()
                },
            ]
        );
    }

    #[test]
    fn a_multibyte_character_split_between_chunks_survives() {
        let mut p = Parser::default();
        let text = "data: Xin chào 👋\n\n".as_bytes();
        let (a, b) = text.split_at(15);
        let mut got = p.feed(a);
        got.extend(p.feed(b));
        assert_eq!(got[0].data, "Xin chào 👋");
    }
}
