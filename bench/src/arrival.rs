//! Arrival schedules: when each request of a `bench serve` run is due, computed before the run,
//! pure and deterministic for a seed (vLLM's `get_request`).
//!
//! - **Rate** (`--request-rate R --burstiness B`): inter-arrival gaps are Gamma(shape = B,
//!   scale = 1/(R·B)) (B = 1: Poisson; B = ∞: constant gaps 1/R; the coefficient of variation
//!   is 1/√B), made cumulative and then rescaled so that the last arrival lands exactly at
//!   N/R, as vLLM does; R = ∞ sends everything at t = 0.
//! - **Ramp-up** (`--ramp-up-strategy linear|exponential`): request i of N has the target rate
//!   `start + (end − start)·p` or `start·(end/start)^p` with p = i/(N − 1), its gap drawn
//!   as above at that rate; no rescaling. Each rise of the integer rate is a
//!   [`RpsChange`] (vLLM's `rps_change_events`).
//! - **Trace**: each request's own `timestamp` (seconds from the start).
//!
//! The runner sleeps until each absolute due time; a concurrency limit delays the *send*, never
//! the schedule. Time-bounded runs (`--duration`) go past the N computed offsets by repeating
//! the schedule with its period ([`Schedule::offset`]).

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Gamma};
use thiserror::Error;

/// How requests arrive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Traffic {
    /// A mean rate (requests/s, may be infinite) with Gamma-distributed gaps.
    Rate {
        /// Requests per second (`f64::INFINITY`: all at once).
        rate: f64,
        /// Gamma shape (1 = Poisson, ∞ = constant gaps).
        burstiness: f64,
    },
    /// A rate that changes from `start_rps` to `end_rps` over the run.
    RampUp {
        /// Linear or exponential.
        strategy: RampUpStrategy,
        /// Rate of the first request.
        start_rps: f64,
        /// Rate of the last request.
        end_rps: f64,
        /// Gamma shape of the gaps.
        burstiness: f64,
    },
    /// The requests' own timestamps (trace replay).
    Trace,
}

/// `--ramp-up-strategy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RampUpStrategy {
    /// `start + (end − start)·p`.
    Linear,
    /// `start·(end/start)^p`.
    Exponential,
}

impl RampUpStrategy {
    /// vLLM's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::Exponential => "exponential",
        }
    }
}

/// The integer target rate rose to `rps` with the request due at `offset_s`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RpsChange {
    /// The new integer rate.
    pub rps: u64,
    /// When, in seconds from the start of the run.
    pub offset_s: f64,
}

/// Invalid traffic settings.
#[derive(Debug, Error, PartialEq)]
pub enum ArrivalError {
    /// A parameter out of range.
    #[error("{flag} is {value}; {expected}")]
    Invalid {
        /// The flag.
        flag: &'static str,
        /// Its value.
        value: f64,
        /// What is allowed.
        expected: &'static str,
    },
    /// Trace replay without timestamps.
    #[error("request {index} has no timestamp; trace replay needs one on every request")]
    MissingTimestamp {
        /// The request's position.
        index: usize,
    },
}

/// Due times of a run's requests.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// Seconds from the start, one per request, non-decreasing.
    pub offsets: Vec<f64>,
    /// The target rate of each request (∞ for rate-inf runs, NaN for traces).
    pub rates: Vec<f64>,
    /// Rises of the integer target rate (ramp-up only).
    pub rps_change_events: Vec<RpsChange>,
    /// The time after which the schedule repeats in a time-bounded run.
    pub period: f64,
}

impl Schedule {
    /// Due time of request `i` (any `i`: past the last one the schedule repeats with its
    /// period, for `--duration` runs). Zero for an empty schedule.
    pub fn offset(&self, i: usize) -> f64 {
        let n = self.offsets.len();
        if n == 0 {
            return 0.0;
        }
        let cycle = (i / n) as f64;
        self.offsets[i % n] + cycle * self.period
    }

    /// The mean target rate: N over the last due time (∞ when everything is due at once).
    pub fn target_rate(&self) -> f64 {
        match self.offsets.last() {
            Some(&last) if last > 0.0 => self.offsets.len() as f64 / last,
            _ => f64::INFINITY,
        }
    }
}

fn check(
    flag: &'static str,
    value: f64,
    ok: bool,
    expected: &'static str,
) -> Result<(), ArrivalError> {
    if ok {
        Ok(())
    } else {
        Err(ArrivalError::Invalid {
            flag,
            value,
            expected,
        })
    }
}

/// `--burstiness` is a Gamma shape: positive (∞ allowed: constant gaps).
fn check_burstiness(burstiness: f64) -> Result<(), ArrivalError> {
    check(
        "--burstiness",
        burstiness,
        burstiness > 0.0,
        "expected a positive number",
    )
}

/// The schedule of `n` requests under `traffic`, seeded with `seed`; `timestamps` are the
/// requests' own (used by [`Traffic::Trace`]).
///
/// # Errors
/// [`ArrivalError`] for a rate ≤ 0, burstiness ≤ 0, ramp-up start > end or start ≤ 0, or a
/// trace request without a timestamp.
pub fn schedule(
    traffic: &Traffic,
    n: usize,
    seed: u64,
    timestamps: &[Option<f64>],
) -> Result<Schedule, ArrivalError> {
    let mut rng = StdRng::seed_from_u64(seed);
    match *traffic {
        Traffic::Rate { rate, burstiness } => {
            check(
                "--request-rate",
                rate,
                rate > 0.0,
                "expected a positive number or inf",
            )?;
            check_burstiness(burstiness)?;
            let rates = vec![rate; n];
            let mut offsets = cumulative_gaps(&rates, burstiness, &mut rng);
            let target = n as f64 / rate;
            if let Some(&last) = offsets.last()
                && last > 0.0
                && rate.is_finite()
            {
                let factor = target / last;
                offsets.iter_mut().for_each(|o| *o *= factor);
            }
            let period = if rate.is_finite() { target } else { 0.0 };
            Ok(Schedule {
                offsets,
                rates,
                rps_change_events: Vec::new(),
                period,
            })
        }
        Traffic::RampUp {
            strategy,
            start_rps,
            end_rps,
            burstiness,
        } => {
            check(
                "--ramp-up-start-rps",
                start_rps,
                start_rps > 0.0 && start_rps.is_finite(),
                "expected a positive number (a rate of 0 never sends)",
            )?;
            check(
                "--ramp-up-end-rps",
                end_rps,
                end_rps >= start_rps && end_rps.is_finite(),
                "expected a finite number at least --ramp-up-start-rps",
            )?;
            check_burstiness(burstiness)?;
            let rates: Vec<f64> = (0..n)
                .map(|i| {
                    let p = i as f64 / (n.saturating_sub(1).max(1)) as f64;
                    match strategy {
                        RampUpStrategy::Linear => start_rps + (end_rps - start_rps) * p,
                        RampUpStrategy::Exponential => start_rps * (end_rps / start_rps).powf(p),
                    }
                })
                .collect();
            let offsets = cumulative_gaps(&rates, burstiness, &mut rng);
            let mut events = Vec::new();
            let mut last_int = 0u64;
            for (&rate, &offset) in rates.iter().zip(&offsets) {
                let int = rate as u64;
                if int > last_int {
                    events.push(RpsChange {
                        rps: int,
                        offset_s: offset,
                    });
                    last_int = int;
                }
            }
            let period = offsets.last().copied().unwrap_or(0.0) + 1.0 / end_rps;
            Ok(Schedule {
                offsets,
                rates,
                rps_change_events: events,
                period,
            })
        }
        Traffic::Trace => {
            let mut offsets = Vec::with_capacity(n);
            for i in 0..n {
                let t = timestamps
                    .get(i)
                    .copied()
                    .flatten()
                    .ok_or(ArrivalError::MissingTimestamp { index: i })?;
                offsets.push(t.max(0.0));
            }
            // Replay is in arrival order even if the file is not sorted.
            let mut sorted = offsets.clone();
            sorted.sort_by(f64::total_cmp);
            let last = sorted.last().copied().unwrap_or(0.0);
            let period = if n > 1 {
                last + (last - sorted[0]) / (n - 1) as f64
            } else {
                last + 1.0
            };
            Ok(Schedule {
                offsets,
                rates: vec![f64::NAN; n],
                rps_change_events: Vec::new(),
                period,
            })
        }
    }
}

/// Cumulative sums of one gap per request, each drawn at that request's rate.
fn cumulative_gaps(rates: &[f64], burstiness: f64, rng: &mut StdRng) -> Vec<f64> {
    let mut t = 0.0;
    rates
        .iter()
        .map(|&rate| {
            let gap = if rate.is_infinite() {
                0.0
            } else if burstiness.is_infinite() {
                1.0 / rate
            } else {
                Gamma::new(burstiness, 1.0 / (rate * burstiness))
                    .map(|g| g.sample(rng))
                    .unwrap_or(1.0 / rate)
            };
            t += gap;
            t
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaps(s: &Schedule) -> Vec<f64> {
        let mut prev = 0.0;
        s.offsets
            .iter()
            .map(|&o| {
                let g = o - prev;
                prev = o;
                g
            })
            .collect()
    }

    fn mean_cv(x: &[f64]) -> (f64, f64) {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt() / mean)
    }

    #[test]
    fn gamma_gaps_have_the_configured_mean_and_cv() {
        for burstiness in [0.25, 1.0, 4.0] {
            let t = Traffic::Rate {
                rate: 20.0,
                burstiness,
            };
            let s = schedule(&t, 20_000, 7, &[]).unwrap();
            let (mean, cv) = mean_cv(&gaps(&s));
            assert!(
                (mean - 0.05).abs() < 1e-9,
                "normalized mean gap = 1/rate: {mean}"
            );
            let want = 1.0 / burstiness.sqrt();
            assert!(
                (cv - want).abs() < 0.05 * want,
                "b={burstiness}: cv {cv} vs {want}"
            );
            assert!(
                (s.offsets.last().unwrap() - 1000.0).abs() < 1e-6,
                "last at N/rate"
            );
        }
    }

    #[test]
    fn same_seed_same_schedule_and_edge_rates() {
        let t = Traffic::Rate {
            rate: 5.0,
            burstiness: 1.0,
        };
        assert_eq!(schedule(&t, 50, 3, &[]), schedule(&t, 50, 3, &[]));
        assert_ne!(schedule(&t, 50, 3, &[]), schedule(&t, 50, 4, &[]));
        let inf = schedule(
            &Traffic::Rate {
                rate: f64::INFINITY,
                burstiness: 1.0,
            },
            4,
            0,
            &[],
        )
        .unwrap();
        assert_eq!(inf.offsets, vec![0.0; 4]);
        assert!(inf.target_rate().is_infinite());
        let constant = schedule(
            &Traffic::Rate {
                rate: 4.0,
                burstiness: f64::INFINITY,
            },
            4,
            0,
            &[],
        )
        .unwrap();
        assert_eq!(constant.offsets, vec![0.25, 0.5, 0.75, 1.0]);
        assert_eq!(
            constant.offset(5),
            1.0 + 0.5,
            "time-bounded runs repeat the period"
        );
        assert!(
            schedule(
                &Traffic::Rate {
                    rate: 0.0,
                    burstiness: 1.0
                },
                4,
                0,
                &[]
            )
            .is_err()
        );
        assert!(
            schedule(
                &Traffic::Rate {
                    rate: 1.0,
                    burstiness: 0.0
                },
                4,
                0,
                &[]
            )
            .is_err()
        );
    }

    #[test]
    fn ramp_up_reaches_its_end_rate() {
        for strategy in [RampUpStrategy::Linear, RampUpStrategy::Exponential] {
            let t = Traffic::RampUp {
                strategy,
                start_rps: 2.0,
                end_rps: 50.0,
                burstiness: f64::INFINITY,
            };
            let s = schedule(&t, 400, 0, &[]).unwrap();
            assert_eq!(s.rates[0], 2.0);
            assert!((s.rates[399] - 50.0).abs() < 1e-9);
            let g = gaps(&s);
            assert!((g[0] - 0.5).abs() < 1e-9 && (g[399] - 0.02).abs() < 1e-9);
            // The arrival rate over the last 5 requests is the end rate (within 5 %).
            let tail = 5.0 / (s.offsets[399] - s.offsets[394]);
            assert!((tail - 50.0).abs() < 2.5, "{strategy:?}: {tail}");
            let events = &s.rps_change_events;
            assert_eq!(events.first().unwrap().rps, 2);
            assert_eq!(events.last().unwrap().rps, 50);
            assert!(
                events
                    .windows(2)
                    .all(|w| w[0].rps < w[1].rps && w[0].offset_s <= w[1].offset_s)
            );
        }
        let bad = Traffic::RampUp {
            strategy: RampUpStrategy::Linear,
            start_rps: 5.0,
            end_rps: 1.0,
            burstiness: 1.0,
        };
        assert!(schedule(&bad, 10, 0, &[]).is_err());
    }

    #[test]
    fn trace_replay_uses_the_timestamps() {
        let s = schedule(&Traffic::Trace, 3, 0, &[Some(0.0), Some(0.5), Some(2.0)]).unwrap();
        assert_eq!(s.offsets, vec![0.0, 0.5, 2.0]);
        assert_eq!(
            schedule(&Traffic::Trace, 2, 0, &[Some(1.0), None]),
            Err(ArrivalError::MissingTimestamp { index: 1 })
        );
    }
}
