//! Server-sent-event framing of OpenAI streams: each event is `data: <json>\n\n`, the stream
//! ends with `data: [DONE]\n\n`. No comment lines (`: ping`) and no `event:` names: some
//! clients (sglang's) parse every line as JSON.

use serde::Serialize;

/// The payload of the last event.
pub const DONE: &str = "[DONE]";

/// The bytes of one event carrying `payload` as JSON.
///
/// # Errors
/// When `payload` cannot be serialized (never for this crate's types).
pub fn event<T: Serialize>(payload: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut out, payload)?;
    out.extend_from_slice(b"\n\n");
    Ok(out)
}

/// The bytes of the `[DONE]` event.
pub fn done() -> &'static [u8] {
    b"data: [DONE]\n\n"
}

/// The payload of one SSE line: `Some(payload)` for a `data:` line (one optional space after the
/// colon is dropped), `None` for comments, `event:`/`id:`/`retry:` fields and blank lines.
pub fn data_payload(line: &[u8]) -> Option<&[u8]> {
    let rest = line.strip_prefix(b"data:")?;
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    Some(rest.strip_suffix(b"\r").unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing() {
        let e = event(&serde_json::json!({"a": 1})).unwrap();
        assert_eq!(e, b"data: {\"a\":1}\n\n");
        assert_eq!(data_payload(b"data: [DONE]"), Some(&b"[DONE]"[..]));
        assert_eq!(data_payload(b"data:{}\r"), Some(&b"{}"[..]));
        assert_eq!(data_payload(b": ping"), None);
        assert_eq!(data_payload(b"event: error"), None);
    }
}
