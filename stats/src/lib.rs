//! dyno-stats: the statistical core of dyno and its run-record file format. Pure and
//! deterministic: every random choice takes an explicit seed, and the only IO is reading and
//! atomically writing record files in [`record`].
//!
//! # Key types
//! - [`Samples`] → [`Summary`]: n, mean, standard deviation, min, max, median, MAD and a list of
//!   [`Percentile`]s (type-7 interpolation, defined in [`summary`]).
//! - [`bootstrap_ci`] with [`BootstrapConfig`] (seeded percentile bootstrap of any statistic)
//!   → [`BootstrapEstimate`] holding a [`ConfidenceInterval`].
//! - Rank tests on paired or independent data: [`SignedRank`] (Wilcoxon signed-rank: exact with
//!   ties up to 50 non-zero differences, normal approximation above, smallest attainable p),
//!   [`WalshAverages`] / [`hodges_lehmann()`] (Hodges–Lehmann estimate, distribution-free bounds),
//!   [`MannWhitney`] (U test with HL shift) and [`Welch`] (unequal-variance t via `statrs`). Each
//!   exposes one-sided [`PValues`]; pick a tail with [`Alternative`].
//! - [`bh_reject`] / [`benjamini_hochberg`]: false-discovery-rate control across a family.
//! - [`blocks_for_power`] / [`power_of_blocks`]: how many paired blocks a signed-rank test
//!   needs to catch a shift of a given size (normal-theory planning figures).
//! - [`Change`]: a ratio with interval and [`ChangeVerdict`] from paired per-block log-ratios.
//! - [`record::RunRecord`], [`record::MachineProfile`] (stable, bucketed machine identity with a
//!   directory `key()`), [`record::write_atomic`] and [`record::read`].
//!
//! # Usage
//! ```
//! use dyno_stats::{Alternative, SignedRank, WalshAverages, bh_reject};
//!
//! // ln(head / base) of 16 paired blocks: head is about 3 % slower.
//! let log_ratios: Vec<f64> = (0..16).map(|i| 0.03 + 0.004 * ((i * 7 % 5) as f64 - 2.0)).collect();
//! let test = SignedRank::test(&log_ratios)?;
//! let p = test.p_value(Alternative::Greater);
//! assert!(p < 1e-4 && test.min_p_value(Alternative::Greater) == 0.5f64.powi(16));
//!
//! let walsh = WalshAverages::new(&log_ratios)?;
//! let hl = walsh.interval(0.95)?;
//! assert!((hl.estimate.exp() - 1.0 - 0.0305).abs() < 0.002 && hl.ci.contains(0.03));
//!
//! // Across the benchmarks of one run, at q = 0.01:
//! let family = bh_reject(&[p, 0.4, 0.03], 0.01)?;
//! assert_eq!(family.rejected, vec![true, false, false]);
//! # Ok::<(), dyno_stats::StatsError>(())
//! ```

pub mod alternative;
pub mod bootstrap;
pub mod change;
pub mod error;
pub mod fdr;
pub mod hodges_lehmann;
pub mod interval;
pub mod mann_whitney;
pub mod power;
mod ranks;
pub mod record;
pub mod summary;
pub mod welch;
pub mod wilcoxon;

pub use alternative::{Alternative, Method, PValues};
pub use bootstrap::{BootstrapConfig, BootstrapEstimate, bootstrap_ci};
pub use change::{Change, ChangeRule, ChangeVerdict};
pub use error::{Result, StatsError};
pub use fdr::{BhDecision, benjamini_hochberg, bh_reject};
pub use hodges_lehmann::{Bound, HodgesLehmann, WalshAverages, hodges_lehmann};
pub use interval::ConfidenceInterval;
pub use mann_whitney::MannWhitney;
pub use power::{SIGNED_RANK_EFFICIENCY, blocks_for_power, power_of_blocks};
pub use summary::{Percentile, Samples, Summary, median, percentile};
pub use welch::Welch;
pub use wilcoxon::SignedRank;
