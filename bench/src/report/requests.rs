//! The per-request JSONL (`--save-requests FILE`): one line per request with everything the
//! client observed, so any metric can be recomputed or a single slow request inspected.
//!
//! Fields: `request_id`, `success`, `error`, `prompt_len`, `output_tokens`,
//! `output_token_source`, `scheduled_s` (due time), `send_s`, `queue_ms`, `ttft_ms`,
//! `latency_ms` (E2EL), `total_ms` (to the last byte), `chunk_ms` (arrival of each
//! token-bearing chunk after the send), `chunk_tokens` (0 = not said), `connect_ms`,
//! `first_byte_ms`, `headers_ms`.

use std::path::Path;

use serde_json::json;

use crate::endpoint::RequestOutcome;
use crate::metrics::ms;

/// The JSONL text of `outcomes`.
pub fn jsonl(outcomes: &[RequestOutcome]) -> String {
    let mut out = String::new();
    for o in outcomes {
        let http = o.http.unwrap_or_default();
        let line = json!({
            "request_id": o.request_id,
            "success": o.success,
            "error": o.error,
            "prompt_len": o.prompt_len,
            "output_tokens": o.output_tokens,
            "output_token_source": o.output_token_source.as_str(),
            "scheduled_s": o.scheduled_offset.map(|d| d.as_secs_f64()),
            "send_s": o.send_offset.as_secs_f64(),
            "queue_ms": ms(o.queue_time),
            "ttft_ms": o.ttft().map(ms),
            "latency_ms": ms(o.latency),
            "total_ms": ms(o.total_time),
            "chunk_ms": o.chunks.iter().map(|c| ms(c.0)).collect::<Vec<_>>(),
            "chunk_tokens": o.chunks.iter().map(|c| c.1).collect::<Vec<_>>(),
            "connect_ms": http.connect.map(ms),
            "first_byte_ms": http.first_byte.map(ms),
            "headers_ms": http.headers.map(ms),
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// Writes [`jsonl`] of `outcomes` to `path` atomically.
///
/// # Errors
/// The IO error, naming the path.
pub fn save(path: &Path, outcomes: &[RequestOutcome]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    dyno_stats::record::write_atomic(path, jsonl(outcomes).as_bytes())
        .map_err(|e| std::io::Error::other(format!("writing {}: {e}", path.display())))
}
