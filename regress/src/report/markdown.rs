//! Markdown rendering of a [`Report`].
//!
//! Layout: a result line with the exit code; a context line; a table of the benchmarks that
//! need attention (regressions, inconclusive, missing, improvements) followed by the others in a
//! collapsed `<details>` table; then environment (sentinels, steal time, flags), counters and notes.

use std::fmt::Write as _;

use super::Report;
use crate::verdict::{BenchmarkResult, CounterVerdict, Effect, Verdict};

pub(super) fn render(report: &Report) -> String {
    let j = &report.judgement;
    let ctx = &report.context;
    let mut out = String::new();
    let title = if ctx.title.is_empty() {
        "dyno regress"
    } else {
        ctx.title.as_str()
    };
    let _ = writeln!(
        out,
        "### {title}: **{}** (exit {})\n",
        j.outcome.as_str(),
        report.exit_code
    );

    let mut facts = Vec::new();
    if let (Some(b), Some(h)) = (&ctx.base, &ctx.head) {
        facts.push(format!("base `{b}` → head `{h}`"));
    }
    if let Some(s) = &ctx.suite {
        facts.push(format!("suite `{s}`"));
    }
    if let Some(p) = &ctx.profile {
        facts.push(format!("profile `{p}`"));
    }
    facts.push(format!("q = {}", j.q));
    facts.push(format!(
        "{} benchmark(s) in the family, ≥ {} blocks needed",
        j.family_size, j.min_blocks
    ));
    let _ = writeln!(out, "{}\n", facts.join(" · "));

    let mut rows: Vec<&BenchmarkResult> = j.benchmarks.iter().collect();
    rows.sort_by(|a, b| a.verdict.cmp(&b.verdict).then_with(|| a.id.cmp(&b.id)));
    let (quiet, attention): (Vec<&BenchmarkResult>, Vec<&BenchmarkResult>) = rows
        .into_iter()
        .partition(|r| r.verdict == Verdict::NoRegression);
    if !attention.is_empty() {
        table(&mut out, &attention);
        out.push('\n');
    }
    if !quiet.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>{} benchmark(s) without regression</summary>\n",
            quiet.len()
        );
        table(&mut out, &quiet);
        out.push_str("\n</details>\n\n");
    }

    let env = &j.environment;
    let _ = writeln!(
        out,
        "**Environment:** {}",
        if env.trusted {
            "trusted"
        } else {
            "**untrusted**"
        }
    );
    for s in &env.sentinels {
        let change = s
            .effect
            .map_or_else(|| "no data".to_string(), |e| change_with_ci(&e));
        let p = s
            .p_value
            .map_or_else(String::new, |p| format!(", p = {}", fmt_p(p)));
        let band = if s.in_band {
            "in band"
        } else {
            "**out of band**"
        };
        let _ = writeln!(
            out,
            "- sentinel `{}`: {change}{p}, {} blocks, {band}",
            s.id, s.blocks
        );
    }
    match env.steal_time_fraction {
        Some(steal) => {
            let _ = writeln!(out, "- steal time {:.2} %", steal * 100.0);
        }
        None => out.push_str("- steal time not measured\n"),
    }
    for f in &env.flags {
        let _ = writeln!(out, "- health flag: {f}");
    }
    for n in &env.notes {
        let _ = writeln!(out, "- {n}");
    }

    let moved: Vec<String> = j
        .benchmarks
        .iter()
        .flat_map(|b| b.counters.iter().map(move |c| (b, c)))
        .filter(|(_, c)| c.verdict != CounterVerdict::Equal)
        .map(|(b, c)| {
            let v = |x: Option<u64>| x.map_or_else(|| "—".to_string(), |x| x.to_string());
            let what = match c.verdict {
                CounterVerdict::Increased => "increased",
                CounterVerdict::Decreased => "decreased",
                CounterVerdict::Missing => "one side only",
                CounterVerdict::Equal => "equal",
            };
            format!(
                "- `{}` `{}`: {} → {} ({what})",
                b.id,
                c.name,
                v(c.base),
                v(c.head)
            )
        })
        .collect();
    if !moved.is_empty() {
        let _ = writeln!(out, "\n**Counters that changed:**\n{}", moved.join("\n"));
    }

    let notes: Vec<String> = j
        .benchmarks
        .iter()
        .filter(|b| b.verdict != Verdict::NoRegression || !b.notes.is_empty())
        .flat_map(|b| b.notes.iter().map(move |n| format!("- `{}`: {n}", b.id)))
        .chain(j.notes.iter().map(|n| format!("- {n}")))
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "\n**Notes:**\n{}", notes.join("\n"));
    }
    out
}

fn table(out: &mut String, rows: &[&BenchmarkResult]) {
    out.push_str("| benchmark | change | interval | threshold | p (BH) | blocks | verdict |\n");
    out.push_str("|---|---:|---|---:|---:|---:|---|\n");
    for r in rows {
        let t = r.timing.as_ref();
        let effect = t.and_then(|t| t.effect);
        let change = effect.map_or_else(|| "—".to_string(), |e| pct(e.change));
        let interval = effect.map_or_else(
            || "—".to_string(),
            |e| format!("[{}, {}]", pct(e.ci_lower), pct(e.ci_upper)),
        );
        let threshold = t.map_or_else(
            || "—".to_string(),
            |t| format!("±{:.2} %", t.threshold * 100.0),
        );
        let p = t
            .and_then(|t| t.p_adjusted)
            .map_or_else(|| "—".to_string(), fmt_p);
        let blocks = t.map_or_else(|| "—".to_string(), |t| t.blocks.to_string());
        let verdict = match r.verdict {
            Verdict::Regression => "**regression**".to_string(),
            v => v.as_str().to_string(),
        };
        let _ = writeln!(
            out,
            "| `{}` | {change} | {interval} | {threshold} | {p} | {blocks} | {verdict} |",
            r.id
        );
    }
}

fn change_with_ci(e: &Effect) -> String {
    format!(
        "{} [{}, {}]",
        pct(e.change),
        pct(e.ci_lower),
        pct(e.ci_upper)
    )
}

fn pct(x: f64) -> String {
    format!("{:+.2} %", x * 100.0)
}

fn fmt_p(p: f64) -> String {
    if p >= 0.001 {
        format!("{p:.3}")
    } else {
        format!("{p:.1e}")
    }
}
