//! The printed report in vLLM's layout: label left-justified to 40 columns, value to 10,
//! floats with 2 decimals, section headers centred in 50 columns padded with `=` or `-`, std
//! never printed. dyno's additions follow vLLM's closing rule, so a script that parses vLLM's
//! block reads ours unchanged.

use std::fmt::Write;

use super::{RunHeader, ServeRun};
use crate::metrics::percentile_word;

fn line_f(out: &mut String, label: &str, v: f64) {
    let _ = writeln!(out, "{:<40} {:<10.2}", label, v);
}

fn line_i(out: &mut String, label: &str, v: usize) {
    let _ = writeln!(out, "{:<40} {:<10}", label, v);
}

fn header(out: &mut String, title: &str, fill: char) {
    let pad = 50usize.saturating_sub(title.chars().count());
    let (pad_left, pad_right) = (pad / 2, pad - pad / 2);
    let _ = writeln!(
        out,
        "{}{}{}",
        fill.to_string().repeat(pad_left),
        title,
        fill.to_string().repeat(pad_right)
    );
}

/// The lines printed before a run (vLLM's traffic description).
pub fn preamble(h: &RunHeader) -> String {
    let mut out = String::new();
    match &h.ramp_up {
        Some((strategy, start, end)) => {
            let _ = writeln!(out, "Traffic ramp-up strategy: {strategy}.");
            let _ = writeln!(
                out,
                "Will increase RPS from {start} to {end} RPS over the duration of the benchmark."
            );
        }
        None => {
            let rate = if h.request_rate.is_finite() {
                format!("{}", h.request_rate)
            } else {
                "inf".to_owned()
            };
            let _ = writeln!(out, "Traffic request rate: {rate}");
        }
    }
    let kind = if h.burstiness == 1.0 {
        "Poisson process"
    } else {
        "Gamma distribution"
    };
    let _ = writeln!(out, "Burstiness factor: {} ({kind})", h.burstiness);
    let conc = h
        .max_concurrency
        .map_or("None".to_owned(), |c| c.to_string());
    let _ = writeln!(out, "Maximum request concurrency: {conc}");
    out
}

/// The result table of `run`.
pub fn render(h: &RunHeader, run: &ServeRun) -> String {
    let m = &run.metrics;
    let mut out = String::new();
    header(&mut out, " Serving Benchmark Result ", '=');
    line_i(&mut out, "Successful requests:", m.completed);
    line_i(&mut out, "Failed requests:", m.failed);
    if let Some(c) = h.max_concurrency {
        line_i(&mut out, "Maximum request concurrency:", c);
    }
    if h.request_rate.is_finite() && h.ramp_up.is_none() {
        line_f(&mut out, "Request rate configured (RPS):", h.request_rate);
    }
    line_f(&mut out, "Benchmark duration (s):", m.duration);
    line_i(&mut out, "Total input tokens:", m.total_input);
    line_i(&mut out, "Total generated tokens:", m.total_output);
    line_f(
        &mut out,
        "Request throughput (req/s):",
        m.request_throughput,
    );
    if let Some(g) = m.request_goodput {
        line_f(&mut out, "Request goodput (req/s):", g);
    }
    line_f(
        &mut out,
        "Output token throughput (tok/s):",
        m.output_throughput,
    );
    line_f(
        &mut out,
        "Peak output token throughput (tok/s):",
        m.max_output_tokens_per_s,
    );
    line_f(
        &mut out,
        "Peak concurrent requests:",
        m.max_concurrent_requests as f64,
    );
    line_f(
        &mut out,
        "Total token throughput (tok/s):",
        m.total_token_throughput,
    );
    if let Some(p) = &m.probe {
        header(&mut out, "Probe Requests", '-');
        line_i(&mut out, "Probe requests completed:", p.completed);
        line_i(&mut out, "Probe requests failed:", p.failed);
        for (label, v) in [
            ("Median probe E2EL (ms):", p.median_e2el_ms),
            ("P99 probe E2EL (ms):", p.p99_e2el_ms),
            ("Max probe E2EL (ms):", p.max_e2el_ms),
        ] {
            if let Some(v) = v {
                line_f(&mut out, label, v);
            }
        }
    }
    for (metric, s) in &m.selected {
        header(&mut out, metric.header(), '-');
        let label = metric.label();
        line_f(&mut out, &format!("Mean {label} (ms):"), s.mean);
        line_f(&mut out, &format!("Median {label} (ms):"), s.median);
        for &(p, v) in &s.percentiles {
            line_f(
                &mut out,
                &format!("P{} {label} (ms):", percentile_word(p)),
                v,
            );
        }
    }
    let _ = writeln!(out, "{}", "=".repeat(50));
    extras(&mut out, h, run);
    out
}

/// dyno's lines after vLLM's block.
fn extras(out: &mut String, h: &RunHeader, run: &ServeRun) {
    let m = &run.metrics;
    header(out, " dyno ", '-');
    let target = run.schedule.target_rate();
    if target.is_finite() {
        line_f(out, "Target request rate (req/s):", target);
        if let Some(r) = m.achieved_request_rate {
            line_f(out, "Achieved request rate (req/s):", r);
        }
    }
    line_f(
        out,
        "Peak output throughput, tokens (tok/s):",
        m.max_output_tokens_per_s_tokens,
    );
    line_f(out, "Mean ITL per token (ms):", m.itl_per_token.mean);
    if let Some(p) = m.itl_per_token.percentile(99.0) {
        line_f(out, "P99 ITL per token (ms):", p);
    }
    if let Some(lag) = &m.send_lag {
        line_f(
            out,
            "P99 client send lag (ms):",
            lag.percentile(99.0).unwrap_or(lag.mean),
        );
    }
    if let Some(c) = &m.http.connect_ms {
        line_f(out, "Mean HTTP connect (ms):", c.mean);
    }
    if let Some(f) = &m.http.first_byte_ms {
        line_f(out, "Mean time to first byte (ms):", f.mean);
    }
    let sources: Vec<String> = m
        .token_sources
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(
        out,
        "{:<40} {}",
        "Output tokens counted by:",
        sources.join(", ")
    );
    let _ = writeln!(out, "{:<40} {}", "Tokenizer:", h.tokenizer_source);
    if let Some(s) = &run.steady {
        let _ = writeln!(
            out,
            "{:<40} {:.2}-{:.2} s (in flight >= {})",
            "Steady-state window:", s.start_s, s.end_s, s.level
        );
        line_f(
            out,
            "Steady-state output throughput (tok/s):",
            s.output_throughput,
        );
        if let Some(t) = &s.ttft_ms {
            line_f(out, "Steady-state mean TTFT (ms):", t.mean);
        }
    }
    if run.output.interrupted {
        let _ = writeln!(
            out,
            "Interrupted: partial results ({} requests not sent).",
            run.output.not_sent
        );
    }
    let mut errors: Vec<&str> = run
        .output
        .outcomes
        .iter()
        .filter_map(|o| o.error.as_deref())
        .collect();
    errors.dedup();
    if !errors.is_empty() {
        let _ = writeln!(out, "First errors:");
        for e in errors.iter().take(10) {
            let _ = writeln!(out, "  {e}");
        }
    }
    let _ = writeln!(out, "{}", "=".repeat(50));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_header_is_vllms() {
        let mut s = String::new();
        header(&mut s, "Probe Requests", '-');
        // Python: "{s:{c}^{n}}".format(s="Probe Requests", n=50, c="-").
        assert_eq!(s, "------------------Probe Requests------------------\n");
    }

    #[test]
    fn headers_centre_like_python() {
        let mut s = String::new();
        header(&mut s, " Serving Benchmark Result ", '=');
        assert_eq!(s, "============ Serving Benchmark Result ============\n");
        let mut s = String::new();
        header(&mut s, "Time to First Token", '-');
        assert_eq!(s, "---------------Time to First Token----------------\n");
        let mut s = String::new();
        line_f(&mut s, "Mean TTFT (ms):", 12.345);
        assert_eq!(s, format!("{:<40} {:<10}\n", "Mean TTFT (ms):", "12.35"));
    }
}
