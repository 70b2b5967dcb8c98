//! Sample sizes for the paired one-sided signed-rank design: how many blocks a test needs to
//! detect a shift of a given size with a given power.
//!
//! The signed-rank test and the Hodges–Lehmann estimate have an asymptotic relative efficiency
//! of 3/π (0.955) against the t-test and the mean on normal data, and more on heavy-tailed
//! data. The sizes here are those of the one-sample z-test on `n · 3/π` observations, with the
//! per-block spread `sigma` measured robustly (a MAD, scaled), so they are a normal-theory
//! planning figure: good for choosing how long to measure, not a guarantee.

use statrs::distribution::{ContinuousCDF, Normal};

use crate::error::{Result, StatsError};

/// Asymptotic relative efficiency of the signed-rank test (and of the HL estimate) against the
/// t-test (and the mean) on normal data.
pub const SIGNED_RANK_EFFICIENCY: f64 = 3.0 / std::f64::consts::PI;

/// Blocks a one-sided signed-rank test at level `alpha` needs so that a true shift of `shift`
/// is significant with probability `power`, when one block's value has spread `sigma` (same
/// unit as `shift`): `n = ((z(1-alpha) + z(power)) · sigma / shift)² / (3/π)`, rounded up.
///
/// Also usable for "the estimate exceeds a threshold `t`" with probability `power`: pass
/// `shift - t` as `shift` and `alpha = 0.5` (no significance term).
pub fn blocks_for_power(sigma: f64, shift: f64, alpha: f64, power: f64) -> Result<usize> {
    let bad = |name, value, expected| StatsError::InvalidParameter {
        name,
        value,
        expected,
    };
    if !(sigma.is_finite() && sigma >= 0.0) {
        return Err(bad("sigma", sigma, "a non-negative, finite spread"));
    }
    if !(shift.is_finite() && shift > 0.0) {
        return Err(bad("shift", shift, "a positive shift to detect"));
    }
    if !(alpha > 0.0 && alpha <= 0.5) {
        return Err(bad("alpha", alpha, "a one-sided level in (0, 0.5]"));
    }
    if !(0.5..1.0).contains(&power) {
        return Err(bad("power", power, "a probability in [0.5, 1)"));
    }
    let normal = Normal::standard();
    let z = normal.inverse_cdf(1.0 - alpha) + normal.inverse_cdf(power);
    let n = (z * sigma / shift).powi(2) / SIGNED_RANK_EFFICIENCY;
    // Guard the cast: a tiny shift against a large spread is simply "very many".
    Ok(if n >= 1e9 {
        1_000_000_000
    } else {
        n.ceil() as usize
    })
}

/// The power that `blocks` blocks give for the same design as [`blocks_for_power`].
pub fn power_of_blocks(sigma: f64, shift: f64, alpha: f64, blocks: usize) -> Result<f64> {
    if !(alpha > 0.0 && alpha <= 0.5) {
        return Err(StatsError::InvalidParameter {
            name: "alpha",
            value: alpha,
            expected: "a one-sided level in (0, 0.5]",
        });
    }
    if !(sigma.is_finite() && sigma >= 0.0 && shift.is_finite()) {
        return Err(StatsError::InvalidParameter {
            name: "sigma",
            value: sigma,
            expected: "a non-negative, finite spread and a finite shift",
        });
    }
    let normal = Normal::standard();
    if sigma == 0.0 {
        return Ok(if shift > 0.0 { 1.0 } else { 0.0 });
    }
    let se = sigma / (blocks as f64 * SIGNED_RANK_EFFICIENCY).sqrt();
    Ok(normal.cdf(shift / se - normal.inverse_cdf(1.0 - alpha)))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn textbook_size() {
        // z(0.975) + z(0.8) = 1.95996 + 0.84162 = 2.80158; (2.80158 · 1 / 0.5)^2 = 31.39;
        // / 0.95493 = 32.88 -> 33
        assert_eq!(blocks_for_power(1.0, 0.5, 0.025, 0.8).unwrap(), 33);
        // no significance term: only the estimate beyond a threshold
        // z(0.9) = 1.28155; (1.28155 · 0.04 / 0.01)^2 = 26.28; / 0.95493 = 27.52 -> 28
        assert_eq!(blocks_for_power(0.04, 0.01, 0.5, 0.9).unwrap(), 28);
        assert_eq!(blocks_for_power(0.0, 0.01, 0.01, 0.9).unwrap(), 0);
    }

    #[test]
    fn bad_parameters_are_named() {
        let e = blocks_for_power(0.01, 0.0, 0.01, 0.9).unwrap_err();
        assert!(e.to_string().contains("`shift` = 0"), "{e}");
        assert!(blocks_for_power(0.01, 0.02, 0.0, 0.9).is_err());
        assert!(blocks_for_power(0.01, 0.02, 0.01, 1.0).is_err());
        assert!(blocks_for_power(f64::NAN, 0.02, 0.01, 0.9).is_err());
        assert!(power_of_blocks(0.01, 0.02, 0.7, 10).is_err());
    }

    proptest! {
        /// The size is the smallest that reaches the power: one block fewer falls short.
        #[test]
        fn size_and_power_agree(
            sigma in 0.001f64..0.2,
            shift in 0.001f64..0.1,
            alpha in 0.0001f64..0.2,
            power in 0.5f64..0.999,
        ) {
            let n = blocks_for_power(sigma, shift, alpha, power).unwrap();
            prop_assume!(n < 1_000_000);
            prop_assert!(power_of_blocks(sigma, shift, alpha, n).unwrap() >= power - 1e-9);
            if n > 1 {
                prop_assert!(power_of_blocks(sigma, shift, alpha, n - 1).unwrap() < power + 1e-9);
            }
        }
    }
}
