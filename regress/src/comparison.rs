//! A comparison of two builds: per-benchmark paired log-ratios, deterministic counters, the
//! sentinels and the environment's health. This is the input of [`crate::judge`].
//!
//! Pairing: the timing values of one benchmark with the same block index on both sides form a
//! pair, and the pair contributes `ln(head / base)` (positive = head slower). A block measured
//! on one side only is counted in [`BenchmarkData::unpaired_blocks`] and otherwise ignored.

use std::collections::BTreeMap;

use dyno_stats::record::{HealthRecord, Side};

use crate::error::{RegressError, Result};
use crate::observation::{Metric, Observation, is_sentinel};

/// Timing data of one benchmark.
#[derive(Debug, Clone, PartialEq)]
pub enum Timing {
    /// Per-block `ln(head / base)`, in block order (may be empty if no block was paired).
    Paired(Vec<f64>),
    /// Timings exist on one side only; the payload is the side that has none.
    MissingOn(Side),
    /// No timings at all (a counter-only benchmark).
    Absent,
}

/// A deterministic counter of one benchmark on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterPair {
    /// Counter name.
    pub name: String,
    /// Value on the base side, if measured there.
    pub base: Option<u64>,
    /// Value on the head side, if measured there.
    pub head: Option<u64>,
}

/// Everything known about one benchmark in a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchmarkData {
    /// Benchmark id.
    pub id: String,
    /// Timing data.
    pub timing: Timing,
    /// Deterministic counters, sorted by name.
    pub counters: Vec<CounterPair>,
    /// Blocks with a timing on one side only (a crashed or skipped run).
    pub unpaired_blocks: usize,
}

impl BenchmarkData {
    /// A benchmark with paired log-ratios and no counters.
    pub fn paired(id: impl Into<String>, log_ratios: Vec<f64>) -> BenchmarkData {
        BenchmarkData {
            id: id.into(),
            timing: Timing::Paired(log_ratios),
            counters: Vec::new(),
            unpaired_blocks: 0,
        }
    }
}

/// The input of a judgement: benchmarks, sentinels and health of one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Comparison {
    /// The benchmarks being judged, sorted by id.
    pub benchmarks: Vec<BenchmarkData>,
    /// Same-binary A-vs-A sentinels (ids starting with [`crate::SENTINEL_PREFIX`]).
    pub sentinels: Vec<BenchmarkData>,
    /// Environment health observed during the run.
    pub health: HealthRecord,
}

impl Comparison {
    /// Pairs observations by benchmark and block. Sentinels are recognised by their id prefix.
    ///
    /// Fails on a non-positive or non-finite time, a negative or fractional counter, the same
    /// (benchmark, side, block, metric) twice, or a counter that differs between blocks of one
    /// side.
    pub fn from_observations(
        observations: &[Observation],
        health: HealthRecord,
    ) -> Result<Comparison> {
        #[derive(Default)]
        struct Acc {
            times: BTreeMap<u32, [Option<f64>; 2]>,
            counters: BTreeMap<String, [Option<u64>; 2]>,
            seen: std::collections::HashSet<(Side, u32, Metric)>,
        }
        let mut by_bench: BTreeMap<&str, Acc> = BTreeMap::new();
        for o in observations {
            let invalid = |message: String| RegressError::InvalidObservation {
                benchmark: o.benchmark.clone(),
                message,
            };
            let acc = by_bench.entry(&o.benchmark).or_default();
            if !acc.seen.insert((o.side, o.block, o.metric.clone())) {
                return Err(invalid(format!(
                    "{:?} is given twice for the {} side in block {}; give one value per side, block and metric",
                    o.metric,
                    o.side.as_str(),
                    o.block
                )));
            }
            let slot = side_index(o.side);
            match &o.metric {
                Metric::TimeNs => {
                    if !(o.value.is_finite() && o.value > 0.0) {
                        return Err(invalid(format!(
                            "time {} ns in block {} ({} side) must be a positive finite number",
                            o.value,
                            o.block,
                            o.side.as_str()
                        )));
                    }
                    acc.times.entry(o.block).or_default()[slot] = Some(o.value);
                }
                Metric::Counter(name) => {
                    if !(o.value.is_finite()
                        && o.value >= 0.0
                        && o.value.fract() == 0.0
                        && o.value < 2f64.powi(64))
                    {
                        return Err(invalid(format!(
                            "counter `{name}` = {} must be a non-negative integer",
                            o.value
                        )));
                    }
                    let value = o.value as u64;
                    let entry = &mut acc.counters.entry(name.clone()).or_default()[slot];
                    match *entry {
                        Some(first) if first != value => {
                            return Err(RegressError::NondeterministicCounter {
                                benchmark: o.benchmark.clone(),
                                counter: name.clone(),
                                side: o.side.as_str(),
                                first,
                                other: value,
                            });
                        }
                        _ => *entry = Some(value),
                    }
                }
            }
        }
        let mut out = Comparison {
            health,
            ..Comparison::default()
        };
        for (id, acc) in by_bench {
            let has = |slot: usize| acc.times.values().any(|pair| pair[slot].is_some());
            let (has_base, has_head) = (has(0), has(1));
            let timing = match (has_base, has_head) {
                (false, false) => Timing::Absent,
                (true, false) => Timing::MissingOn(Side::Head),
                (false, true) => Timing::MissingOn(Side::Base),
                (true, true) => Timing::Paired(
                    acc.times
                        .values()
                        .filter_map(|pair| match pair {
                            [Some(base), Some(head)] => Some((head / base).ln()),
                            _ => None,
                        })
                        .collect(),
                ),
            };
            let unpaired_blocks = match timing {
                Timing::Paired(_) => acc
                    .times
                    .values()
                    .filter(|p| p[0].is_none() || p[1].is_none())
                    .count(),
                _ => 0,
            };
            let counters = acc
                .counters
                .into_iter()
                .map(|(name, [base, head])| CounterPair { name, base, head })
                .collect();
            let data = BenchmarkData {
                id: id.to_string(),
                timing,
                counters,
                unpaired_blocks,
            };
            if is_sentinel(id) {
                out.sentinels.push(data)
            } else {
                out.benchmarks.push(data)
            }
        }
        Ok(out)
    }

    /// The benchmark with this id, if present.
    pub fn benchmark(&self, id: &str) -> Option<&BenchmarkData> {
        self.benchmarks.iter().find(|b| b.id == id)
    }
}

fn side_index(side: Side) -> usize {
    match side {
        Side::Base => 0,
        Side::Head => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_by_block_and_separates_sentinels() {
        let obs = vec![
            Observation::time_ns("a", Side::Base, 0, 100.0),
            Observation::time_ns("a", Side::Head, 0, 110.0),
            Observation::time_ns("a", Side::Head, 1, 90.0),
            Observation::time_ns("a", Side::Base, 1, 100.0),
            Observation::time_ns("a", Side::Base, 2, 100.0),
            Observation::time_ns("sentinel/noop", Side::Base, 0, 5.0),
            Observation::time_ns("sentinel/noop", Side::Head, 0, 5.0),
            Observation::time_ns("gone", Side::Base, 0, 5.0),
            Observation::counter("a", Side::Base, 0, "allocations", 3),
            Observation::counter("a", Side::Base, 1, "allocations", 3),
            Observation::counter("a", Side::Head, 0, "allocations", 4),
        ];
        let c = Comparison::from_observations(&obs, HealthRecord::default()).unwrap();
        assert_eq!(c.benchmarks.len(), 2);
        let a = c.benchmark("a").unwrap();
        let Timing::Paired(lr) = &a.timing else {
            panic!("{:?}", a.timing)
        };
        assert!(
            (lr[0] - 1.1f64.ln()).abs() < 1e-12
                && (lr[1] - 0.9f64.ln()).abs() < 1e-12
                && lr.len() == 2
        );
        assert_eq!(a.unpaired_blocks, 1);
        assert_eq!(
            a.counters,
            vec![CounterPair {
                name: "allocations".into(),
                base: Some(3),
                head: Some(4)
            }]
        );
        assert_eq!(
            c.benchmark("gone").unwrap().timing,
            Timing::MissingOn(Side::Head)
        );
        assert_eq!(c.sentinels[0].timing, Timing::Paired(vec![0.0]));
    }

    #[test]
    fn rejects_bad_observations() {
        let dup = [
            Observation::time_ns("a", Side::Base, 0, 1.0),
            Observation::time_ns("a", Side::Base, 0, 2.0),
        ];
        let err = Comparison::from_observations(&dup, HealthRecord::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("given twice"), "{err}");
        let neg = [Observation::time_ns("a", Side::Base, 0, -1.0)];
        let err = Comparison::from_observations(&neg, HealthRecord::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("benchmark `a`: time -1 ns"), "{err}");
        let drift = [
            Observation::counter("a", Side::Head, 0, "bytes", 10),
            Observation::counter("a", Side::Head, 1, "bytes", 11),
        ];
        let err = Comparison::from_observations(&drift, HealthRecord::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("counter `bytes` on the head side is 10 in one block and 11"),
            "{err}"
        );
    }
}
