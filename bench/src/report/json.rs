//! The result file: vLLM's top-level keys in vLLM's order (`date`, `endpoint_type`, `backend`,
//! `label`, `model_id`, `tokenizer_id`, `num_prompts`, the `--metadata` keys, `request_rate` —
//! a number or the string `"inf"` —, `burstiness`, `max_concurrency`, the ramp-up keys), then
//! the benchmark result in vLLM's order (the `probe_*` keys after `rtfx`, when probes were
//! sent), then dyno's additions under their own names.
//!
//! Without `--save-detailed` the per-request arrays vLLM deletes are left out (`input_lens`,
//! `output_lens`, `start_times`, `ttfts`, `itls`, `generated_texts`, `errors`); `latencies` and
//! `queue_times` stay, as in vLLM. Times in the arrays are seconds, metric keys milliseconds.
//!
//! The file name is vLLM's: `{label}-{rate}qps[-concurrency{N}]-{model basename}-{date}.json`,
//! or `{label}-ramp-up-{strategy}-{start}qps-{end}qps[-concurrency{N}]-{model}-{date}.json`.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::{Value, json};

use super::{RunHeader, ServeRun, format_iso, python_float};
use crate::metrics::percentile_word;
use crate::metrics::serve::ServeMetrics;
use crate::metrics::steady::SteadyState;
use crate::metrics::{MetricSummary, itl_of};

/// A JSON object that keeps its keys in insertion order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrderedJson(pub Vec<(String, Value)>);

impl OrderedJson {
    /// Appends `key: value` (or replaces an existing `key` in place).
    pub fn put(&mut self, key: &str, value: impl Into<Value>) {
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.to_owned(), value)),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }

    /// The keys, in order.
    pub fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }

    /// Compact JSON (one line), as vLLM writes it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Serialize for OrderedJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// The arrays vLLM deletes without `--save-detailed`.
pub const DETAILED_ONLY: [&str; 7] = [
    "input_lens",
    "output_lens",
    "start_times",
    "ttfts",
    "itls",
    "generated_texts",
    "errors",
];

/// vLLM's header keys.
pub fn header_json(h: &RunHeader) -> OrderedJson {
    let mut j = OrderedJson::default();
    j.put("date", h.date.clone());
    j.put("endpoint_type", h.backend.clone());
    j.put("backend", h.backend.clone());
    j.put("label", h.label.clone());
    j.put("model_id", h.model_id.clone());
    j.put("tokenizer_id", h.tokenizer_id.clone());
    j.put("num_prompts", h.num_prompts);
    for (k, v) in &h.metadata {
        j.put(k, v.clone());
    }
    j.put(
        "request_rate",
        if h.request_rate.is_finite() {
            json!(h.request_rate)
        } else {
            json!("inf")
        },
    );
    j.put("burstiness", h.burstiness);
    j.put("max_concurrency", h.max_concurrency);
    if let Some((strategy, start, end)) = &h.ramp_up {
        j.put("ramp_up_strategy", strategy.clone());
        j.put("ramp_up_start_rps", *start);
        j.put("ramp_up_end_rps", *end);
    }
    j
}

fn secs(d: std::time::Duration) -> f64 {
    d.as_secs_f64()
}

fn put_summary(j: &mut OrderedJson, name: &str, m: &MetricSummary) {
    j.put(&format!("mean_{name}_ms"), m.mean);
    j.put(&format!("median_{name}_ms"), m.median);
    j.put(&format!("std_{name}_ms"), m.std);
    for &(p, v) in &m.percentiles {
        j.put(&format!("p{}_{name}_ms", percentile_word(p)), v);
    }
}

/// The whole result of `run` under `header`; `detailed` keeps every per-request array.
pub fn result_json(header: &RunHeader, run: &ServeRun, detailed: bool) -> OrderedJson {
    let mut j = header_json(header);
    let m: &ServeMetrics = &run.metrics;
    let outcomes = &run.output.outcomes;
    j.put("duration", m.duration);
    j.put("completed", m.completed);
    j.put("failed", m.failed);
    j.put("total_input_tokens", m.total_input);
    j.put("total_output_tokens", m.total_output);
    j.put("request_throughput", m.request_throughput);
    j.put("request_goodput", m.request_goodput);
    j.put("output_throughput", m.output_throughput);
    j.put("total_token_throughput", m.total_token_throughput);
    j.put(
        "input_lens",
        outcomes.iter().map(|o| o.prompt_len).collect::<Vec<_>>(),
    );
    j.put(
        "output_lens",
        outcomes
            .iter()
            .map(|o| if o.success { o.output_tokens } else { 0 })
            .collect::<Vec<_>>(),
    );
    j.put(
        "ttfts",
        outcomes
            .iter()
            .map(|o| o.ttft().map_or(0.0, secs))
            .collect::<Vec<_>>(),
    );
    j.put(
        "itls",
        outcomes
            .iter()
            .map(|o| itl_of(o).map(secs).collect::<Vec<_>>())
            .collect::<Vec<_>>(),
    );
    j.put(
        "latencies",
        outcomes.iter().map(|o| secs(o.latency)).collect::<Vec<_>>(),
    );
    j.put(
        "start_times",
        outcomes
            .iter()
            .map(|o| secs(o.send_offset))
            .collect::<Vec<_>>(),
    );
    j.put(
        "queue_times",
        outcomes
            .iter()
            .map(|o| secs(o.queue_time))
            .collect::<Vec<_>>(),
    );
    j.put(
        "generated_texts",
        outcomes
            .iter()
            .map(|o| o.generated_text.clone())
            .collect::<Vec<_>>(),
    );
    j.put(
        "errors",
        outcomes
            .iter()
            .map(|o| o.error.clone().unwrap_or_default())
            .collect::<Vec<_>>(),
    );
    j.put("max_output_tokens_per_s", m.max_output_tokens_per_s);
    j.put("max_concurrent_requests", m.max_concurrent_requests);
    j.put("rtfx", 0.0);
    if let Some(p) = &m.probe {
        j.put("probe_completed", p.completed);
        j.put("probe_failed", p.failed);
        j.put("probe_median_e2el_ms", p.median_e2el_ms);
        j.put("probe_p99_e2el_ms", p.p99_e2el_ms);
        j.put("probe_max_e2el_ms", p.max_e2el_ms);
    }
    if !run.schedule.rps_change_events.is_empty() {
        let events: Vec<Value> = run
            .schedule
            .rps_change_events
            .iter()
            .map(|e| {
                let at = run.output.started_at + std::time::Duration::from_secs_f64(e.offset_s);
                json!({ "rps": e.rps, "timestamp": format_iso(at) })
            })
            .collect();
        j.put("rps_change_events", events);
    }
    for (metric, summary) in &m.selected {
        put_summary(&mut j, metric.key(), summary);
    }
    put_extras(&mut j, header, run);
    if !detailed {
        for k in DETAILED_ONLY {
            j.remove(k);
        }
    }
    j
}

/// dyno's keys, after vLLM's.
fn put_extras(j: &mut OrderedJson, header: &RunHeader, run: &ServeRun) {
    let m = &run.metrics;
    put_summary(j, "itl_per_token", &m.itl_per_token);
    j.put(
        "max_output_tokens_per_s_counted_in_tokens",
        m.max_output_tokens_per_s_tokens,
    );
    let target = run.schedule.target_rate();
    j.put(
        "target_request_rate",
        if target.is_finite() {
            json!(target)
        } else {
            json!("inf")
        },
    );
    j.put("achieved_request_rate", m.achieved_request_rate);
    if let Some(lag) = &m.send_lag {
        j.put("mean_send_lag_ms", lag.mean);
        j.put("p50_send_lag_ms", lag.percentile(50.0));
        j.put("p99_send_lag_ms", lag.percentile(99.0));
    }
    j.put("http_new_connections", m.http.new_connections);
    for (name, s) in [
        ("http_connect", &m.http.connect_ms),
        ("http_first_byte", &m.http.first_byte_ms),
        ("http_headers", &m.http.headers_ms),
    ] {
        if let Some(s) = s {
            j.put(&format!("mean_{name}_ms"), s.mean);
            for &(p, v) in &s.percentiles {
                j.put(&format!("p{}_{name}_ms", percentile_word(p)), v);
            }
        }
    }
    let source = match m.token_sources.len() {
        0 => "none".to_owned(),
        1 => m
            .token_sources
            .keys()
            .next()
            .copied()
            .unwrap_or("none")
            .to_owned(),
        _ => "mixed".to_owned(),
    };
    j.put("output_token_source", source);
    j.put("output_token_sources", json!(m.token_sources));
    j.put("tokenizer_source", header.tokenizer_source.clone());
    j.put("num_warmups_sent", header.warmups);
    j.put(
        "duration_limit_s",
        header.duration_limit.map(|d| d.as_secs_f64()),
    );
    j.put("interrupted", run.output.interrupted);
    j.put("not_sent", run.output.not_sent);
    if header.max_concurrency.is_some() && header.request_rate.is_infinite() {
        j.put("steady_state", run.steady.as_ref().map(steady_json));
    }
}

/// The `steady_state` object.
pub fn steady_json(s: &SteadyState) -> Value {
    let mut j = OrderedJson::default();
    j.put("threshold", s.threshold);
    j.put("in_flight_level", s.level);
    j.put("window_start_s", s.start_s);
    j.put("window_end_s", s.end_s);
    j.put("window_duration_s", s.end_s - s.start_s);
    j.put("requests", s.requests);
    j.put("request_throughput", s.request_throughput);
    j.put("output_throughput", s.output_throughput);
    for (name, m) in [
        ("ttft", &s.ttft_ms),
        ("tpot", &s.tpot_ms),
        ("itl", &s.itl_ms),
        ("e2el", &s.e2el_ms),
    ] {
        if let Some(m) = m {
            put_summary(&mut j, name, m);
        }
    }
    serde_json::to_value(&j).unwrap_or(Value::Null)
}

/// vLLM's result file name for `header`.
pub fn file_name(header: &RunHeader) -> String {
    let model = header
        .model_id
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or(&header.model_id);
    let conc = header
        .max_concurrency
        .map(|c| format!("-concurrency{c}"))
        .unwrap_or_default();
    match &header.ramp_up {
        Some((strategy, start, end)) => format!(
            "{}-ramp-up-{strategy}-{start}qps-{end}qps{conc}-{model}-{}.json",
            header.label, header.date
        ),
        None => format!(
            "{}-{}qps{conc}-{model}-{}.json",
            header.label,
            python_float(header.request_rate),
            header.date
        ),
    }
}

/// Where the result goes: `--result-filename` (inside `--result-dir` when relative) or vLLM's
/// name in `--result-dir` (default: the current directory).
pub fn result_path(header: &RunHeader, dir: Option<&Path>, filename: Option<&Path>) -> PathBuf {
    let name = filename.map_or_else(|| PathBuf::from(file_name(header)), Path::to_path_buf);
    match dir {
        Some(d) if name.is_relative() => d.join(name),
        _ => name,
    }
}

/// Writes `result` to `path` atomically; with `append`, after the file's current content and
/// a newline (vLLM's `--append-result`: one JSON document per line). Creates the directory.
///
/// # Errors
/// The IO error, naming the path.
pub fn save(path: &Path, result: &OrderedJson, append: bool) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut bytes = Vec::new();
    if append {
        match std::fs::read(path) {
            Ok(old) if !old.is_empty() => {
                bytes = old;
                bytes.push(b'\n');
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    bytes.extend_from_slice(result.to_json().as_bytes());
    dyno_stats::record::write_atomic(path, &bytes)
        .map_err(|e| std::io::Error::other(format!("writing {}: {e}", path.display())))
}
