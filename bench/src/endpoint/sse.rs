//! Server-sent events from a byte stream that arrives in arbitrary pieces.
//!
//! An event ends at a blank line (`\n\n`, `\r\n\r\n` or a mix). Of its lines only `data:` ones
//! matter (one optional space after the colon is dropped, several `data:` lines are joined with
//! `\n` as the SSE spec says); comments (`: ping`), `event:`, `id:` and `retry:` lines are
//! skipped. [`SseSplitter::finish`] hands out a last event that the server did not terminate
//! with a blank line, so a stream that ends without `[DONE]` or without the final blank line
//! loses nothing.
//!
//! The splitter copies each piece once into its buffer and hands out borrowed slices of it:
//! no allocation per event unless an event has several `data:` lines.

use memchr::memchr;

/// Splits a stream of bytes into SSE `data` payloads. See the [module docs](self).
#[derive(Debug, Default)]
pub struct SseSplitter {
    buf: Vec<u8>,
    /// Start of the first line not yet consumed.
    line_start: usize,
    /// Range of the current event's single `data:` payload inside `buf`.
    data: Option<(usize, usize)>,
    /// The joined payload when the current event has more than one `data:` line.
    joined: Option<Vec<u8>>,
}

impl SseSplitter {
    /// An empty splitter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `bytes` and calls `on_event` with the payload of every event they complete, in
    /// order. An event the server sent with no `data:` line is skipped.
    pub fn push(&mut self, bytes: &[u8], mut on_event: impl FnMut(&[u8])) {
        self.buf.extend_from_slice(bytes);
        while let Some(nl) = memchr(b'\n', &self.buf[self.line_start..]) {
            let end = self.line_start + nl;
            let mut line_end = end;
            if line_end > self.line_start && self.buf[line_end - 1] == b'\r' {
                line_end -= 1;
            }
            let start = self.line_start;
            self.line_start = end + 1;
            if line_end == start {
                self.dispatch(&mut on_event);
            } else {
                self.field(start, line_end);
            }
        }
        self.compact();
    }

    /// Ends the stream: a pending event (data lines with no blank line after them, or a last
    /// line with no newline) is handed to `on_event`.
    pub fn finish(&mut self, mut on_event: impl FnMut(&[u8])) {
        if self.line_start < self.buf.len() {
            let (start, mut end) = (self.line_start, self.buf.len());
            if self.buf[end - 1] == b'\r' {
                end -= 1;
            }
            self.line_start = self.buf.len();
            self.field(start, end);
        }
        self.dispatch(&mut on_event);
        self.buf.clear();
        self.line_start = 0;
    }

    /// Bytes held for an unfinished event.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    fn field(&mut self, start: usize, end: usize) {
        let line = &self.buf[start..end];
        let Some(rest) = line.strip_prefix(b"data:") else {
            return; // comment, event:, id:, retry: or an unknown field
        };
        let offset = if rest.first() == Some(&b' ') { 6 } else { 5 };
        let (ds, de) = (start + offset, end);
        match (&mut self.joined, self.data) {
            (Some(joined), _) => {
                joined.push(b'\n');
                joined.extend_from_slice(&self.buf[ds..de]);
            }
            (None, Some((s, e))) => {
                let mut joined = self.buf[s..e].to_vec();
                joined.push(b'\n');
                joined.extend_from_slice(&self.buf[ds..de]);
                self.joined = Some(joined);
            }
            (None, None) => self.data = Some((ds, de)),
        }
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(&[u8])) {
        if let Some(joined) = self.joined.take() {
            on_event(&joined);
        } else if let Some((s, e)) = self.data {
            on_event(&self.buf[s..e]);
        }
        self.data = None;
    }

    /// Drops consumed bytes once no pending range points into them.
    fn compact(&mut self) {
        let keep_from = match self.data {
            Some((s, _)) => s.min(self.line_start),
            None => self.line_start,
        };
        if keep_from == 0 {
            return;
        }
        self.buf.drain(..keep_from);
        self.line_start -= keep_from;
        if let Some((s, e)) = &mut self.data {
            *s -= keep_from;
            *e -= keep_from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(pieces: &[&[u8]]) -> Vec<String> {
        let mut sse = SseSplitter::new();
        let mut out = Vec::new();
        for p in pieces {
            sse.push(p, |e| out.push(String::from_utf8_lossy(e).into_owned()));
        }
        sse.finish(|e| out.push(String::from_utf8_lossy(e).into_owned()));
        out
    }

    #[test]
    fn events_across_pieces_with_comments_and_crlf() {
        let events = split(&[
            b": ping\n\nda",
            b"ta: {\"a\":1}\r\n\r",
            b"\ndata:{\"b\":2}\n\nevent: x\ndata: [DONE]\n\n",
        ]);
        assert_eq!(events, ["{\"a\":1}", "{\"b\":2}", "[DONE]"]);
    }

    #[test]
    fn an_unterminated_last_event_is_kept() {
        assert_eq!(
            split(&[b"data: {\"a\":1}\n\ndata: {\"z\":0}"]),
            ["{\"a\":1}", "{\"z\":0}"]
        );
        assert_eq!(split(&[b"data: {\"z\":0}\n"]), ["{\"z\":0}"]);
        assert!(split(&[b": only a comment\n\n"]).is_empty());
    }

    #[test]
    fn several_data_lines_are_joined() {
        assert_eq!(split(&[b"data: a\ndata: b\n\n"]), ["a\nb"]);
    }

    #[test]
    fn byte_by_byte_gives_the_same_events() {
        let stream = b"data: {\"x\":\"1\"}\n\n: c\n\ndata: {\"x\":\"2\"}\r\n\r\ndata: [DONE]\n\n";
        let pieces: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(split(&pieces), split(&[stream]));
        let mut sse = SseSplitter::new();
        sse.push(stream, |_| {});
        assert_eq!(sse.pending(), 0, "consumed bytes are dropped");
    }
}
