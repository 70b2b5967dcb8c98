//! Exact comparison of deterministic counters (bytes moved, allocations): any increase on the
//! head side is a regression, whatever the timings say.

use crate::comparison::CounterPair;
use crate::verdict::{CounterResult, CounterVerdict, Verdict};

/// Compares each counter exactly.
pub(crate) fn compare(pairs: &[CounterPair]) -> Vec<CounterResult> {
    pairs
        .iter()
        .map(|p| CounterResult {
            name: p.name.clone(),
            base: p.base,
            head: p.head,
            verdict: match (p.base, p.head) {
                (Some(b), Some(h)) if h > b => CounterVerdict::Increased,
                (Some(b), Some(h)) if h < b => CounterVerdict::Decreased,
                (Some(_), Some(_)) => CounterVerdict::Equal,
                _ => CounterVerdict::Missing,
            },
        })
        .collect()
}

/// Combines a timing verdict (if the benchmark has timings) with counter results, adding notes.
pub(crate) fn combine(
    timing: Option<Verdict>,
    counters: &[CounterResult],
    notes: &mut Vec<String>,
) -> Verdict {
    let mut rose = false;
    let mut fell = false;
    for c in counters {
        let show = |v: Option<u64>| v.map_or_else(|| "absent".to_string(), |v| v.to_string());
        match c.verdict {
            CounterVerdict::Increased => {
                rose = true;
                notes.push(format!(
                    "counter `{}` rose from {} to {}",
                    c.name,
                    show(c.base),
                    show(c.head)
                ));
            }
            CounterVerdict::Decreased => {
                fell = true;
                notes.push(format!(
                    "counter `{}` fell from {} to {}",
                    c.name,
                    show(c.base),
                    show(c.head)
                ));
            }
            CounterVerdict::Missing => notes.push(format!(
                "counter `{}` measured on one side only (base {}, head {})",
                c.name,
                show(c.base),
                show(c.head)
            )),
            CounterVerdict::Equal => {}
        }
    }
    if rose {
        return Verdict::Regression;
    }
    match timing {
        Some(Verdict::NoRegression) | None if fell => Verdict::Improvement,
        Some(v) => v,
        None if counters
            .iter()
            .all(|c| c.verdict == CounterVerdict::Missing) =>
        {
            Verdict::Missing
        }
        None => Verdict::NoRegression,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str, base: Option<u64>, head: Option<u64>) -> CounterPair {
        CounterPair {
            name: name.into(),
            base,
            head,
        }
    }

    #[test]
    fn any_increase_is_a_regression() {
        let results = compare(&[
            pair("bytes", Some(10), Some(10)),
            pair("allocations", Some(3), Some(4)),
        ]);
        let mut notes = Vec::new();
        assert_eq!(
            combine(Some(Verdict::Improvement), &results, &mut notes),
            Verdict::Regression
        );
        assert_eq!(notes, vec!["counter `allocations` rose from 3 to 4"]);
    }

    #[test]
    fn decreases_improve_and_missing_is_noted() {
        let results = compare(&[
            pair("bytes", Some(10), Some(9)),
            pair("allocations", None, Some(4)),
        ]);
        let mut notes = Vec::new();
        assert_eq!(
            combine(Some(Verdict::NoRegression), &results, &mut notes),
            Verdict::Improvement
        );
        assert_eq!(
            combine(Some(Verdict::Inconclusive), &results, &mut notes),
            Verdict::Inconclusive
        );
        assert!(
            notes
                .iter()
                .any(|n| n.contains("one side only (base absent, head 4)")),
            "{notes:?}"
        );
        let only_missing = compare(&[pair("bytes", Some(1), None)]);
        assert_eq!(combine(None, &only_missing, &mut notes), Verdict::Missing);
        // no timings and no counters: nothing was measured
        assert_eq!(combine(None, &[], &mut notes), Verdict::Missing);
        let equal = compare(&[pair("bytes", Some(1), Some(1))]);
        assert_eq!(combine(None, &equal, &mut notes), Verdict::NoRegression);
    }
}
