//! The random number and the f32 math that define a sample, bit for bit, on every backend.
//!
//! # Generator
//! One 64-bit uniform per (request, step): output `step` of a
//! [SplitMix64](https://prng.di.unimi.it/splitmix64.c) stream (Steele, Lea, Flood 2014) seeded
//! with the request's seed, `mix64(seed + (step + 1)·γ)` with `γ = 0x9e3779b97f4a7c15`
//! ([`row_uniform`]). It depends on (seed, step) only — not on the batch, the backend, the
//! thread count or the logits.
//!
//! # The draw
//! With the kept set's exact masses `q_i` and total `Z`, the point `r = ⌊u · Z / 2^64⌋`
//! ([`pick_point`], exact in u128) falls in `[0, Z)`; the token is the one of the kept set,
//! **in increasing id order**, whose mass interval `[Σ_{j<i} q_j, Σ_{j≤i} q_j)` holds `r`.
//! Token `i` is drawn with probability `q_i / Z` (the floor makes the units of mass differ by
//! at most `Z / 2^64` relative, ≤ 2^-19 for a flat 128k vocabulary).
//!
//! # f32 `log2` and `2^x`
//! Both are fixed sequences of IEEE operations (fused multiply-adds included), so the portable
//! path (`f32::mul_add`), AVX-512 (`vfmadd`, `vscalefps`) and CUDA (`fmaf`, `scalbnf`)
//! compute the same bits:
//! - [`log2`] (for `log2(min_p)`): exponent plus `t · P(t)` with `t = m − 1`, `m ∈ [√½, √2)`,
//!   `P` of degree 7 (Chebyshev fit of `log2(1 + t) / t`, relative error ≈ 2e-7);
//! - [`mass`]: `trunc(p(f) · 2^(n + 28))` as u32, with `n = round_ties_even(t)`, `f = t − n`,
//!   `p(f) = 1 + f · P(f)`, `P` of degree 4 (relative error ≈ 2e-7), `t` clamped to ≥ −64.

/// SplitMix64's increment (the golden-ratio constant).
pub const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
/// Masses are `trunc(2^(t + MASS_BITS))` (≤ 2^28 + 32, so u32 lane sums of 8 never overflow).
pub const MASS_BITS: i32 = 28;
/// Scaled logits below this have mass 0 (and are clamped before `2^x`).
pub const T_FLOOR: f32 = -64.0;
/// `log2(1 + t) / t` on `[√½ − 1, √2 − 1]`, lowest degree first.
pub(crate) const LOG2_POLY: [f32; 8] = [
    std::f32::consts::LOG2_E,
    -7.213_529_3e-1,
    4.809_167e-1,
    -3.602_251_7e-1,
    2.872_888_7e-1,
    -2.492_718_2e-1,
    2.326_525_7e-1,
    -1.427_597_4e-1,
];
/// `(2^f − 1) / f` on `[−½, ½]`, lowest degree first.
pub(crate) const EXP2_POLY: [f32; 5] = [
    6.931_472e-1,
    2.402_235e-1,
    5.550_381e-2,
    9.666_368e-3,
    1.338_130_2e-3,
];
/// Bits of the largest f32 mantissa (as a float in `[1, 2)`) not above √2.
pub(crate) const SQRT2_BITS: u32 = 0x3fb5_04f3;

/// SplitMix64's output function (Stafford's "mix 13").
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The 64-bit uniform of one (request, step): output `step` of SplitMix64 seeded with `seed`.
pub fn row_uniform(seed: u64, step: u64) -> u64 {
    mix64(seed.wrapping_add(step.wrapping_add(1).wrapping_mul(GAMMA)))
}

/// The point `⌊u · z / 2^64⌋ ∈ [0, z)` of the draw.
#[inline]
pub fn pick_point(u: u64, z: u64) -> u64 {
    ((u128::from(u) * u128::from(z)) >> 64) as u64
}

/// The f32 `log2` of a positive normal `x` (see the module docs).
#[inline(always)]
pub fn log2(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut e = (bits >> 23) as i32 - 127;
    let mut mb = (bits & 0x007f_ffff) | 0x3f80_0000;
    if mb > SQRT2_BITS {
        mb -= 0x0080_0000;
        e += 1;
    }
    let t = f32::from_bits(mb) - 1.0;
    let mut p = LOG2_POLY[7];
    for &c in LOG2_POLY[..7].iter().rev() {
        p = p.mul_add(t, c);
    }
    t.mul_add(p, e as f32)
}

/// `p(f)` and `n` with `2^t ≈ p(f) · 2^n`, for `t` clamped to `[T_FLOOR, 0]`.
#[inline(always)]
fn exp2_parts(t: f32) -> (f32, i32) {
    let t = t.max(T_FLOOR);
    let n = t.round_ties_even();
    let f = t - n;
    let mut p = EXP2_POLY[4];
    for &c in EXP2_POLY[..4].iter().rev() {
        p = p.mul_add(f, c);
    }
    (p.mul_add(f, 1.0), n as i32)
}

/// `2^n` for `-126 ≤ n ≤ 127`, exact.
#[inline(always)]
fn pow2(n: i32) -> f32 {
    f32::from_bits(((n + 127) as u32) << 23)
}

/// The exact mass `trunc(2^(max(t, T_FLOOR) + 28))` of a scaled logit `t ≤ 0`.
#[inline(always)]
pub fn mass(t: f32) -> u32 {
    let (p, n) = exp2_parts(t);
    (p * pow2(n + MASS_BITS)) as u32
}

/// `2^t` for `t ≤ 0` (`2^T_FLOOR` below `T_FLOOR`), relative error ≈ 2e-7: the logprob path.
#[inline(always)]
pub fn exp2_unit(t: f32) -> f32 {
    let (p, n) = exp2_parts(t);
    p * pow2(n)
}

/// `ceil(p · z)` exactly, for `0 < p ≤ 1` and `z < 2^64`: the mass a top-p prefix must reach.
pub fn top_p_target(p: f32, z: u64) -> u64 {
    let bits = p.to_bits();
    let biased = (bits >> 23) & 0xff;
    // p = mant · 2^-shift exactly.
    let (mant, shift) = if biased == 0 {
        (u128::from(bits & 0x007f_ffff), 149u32)
    } else {
        (u128::from((bits & 0x007f_ffff) | 0x0080_0000), 150 - biased)
    };
    let prod = mant * u128::from(z);
    if shift >= 128 {
        return u64::from(prod != 0);
    }
    let q = prod >> shift;
    let rem = prod & ((1u128 << shift) - 1);
    (q + u128::from(rem != 0)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_is_accurate() {
        let mut worst = 0f64;
        for i in 1..200_000u32 {
            let x = i as f32 * 1.37e-4;
            let got = f64::from(log2(x));
            let want = f64::from(x).log2();
            worst = worst.max((got - want).abs() / want.abs().max(1.0));
        }
        assert!(worst < 4e-7, "worst error {worst}");
        assert_eq!(log2(1.0), 0.0);
        assert_eq!(log2(8.0), 3.0);
    }

    #[test]
    fn mass_is_accurate_and_exact_at_zero() {
        assert_eq!(mass(0.0), 1 << 28);
        assert_eq!(mass(-29.0), 0);
        assert_eq!(mass(f32::NEG_INFINITY), 0);
        for i in 0..100_000 {
            let t = -(i as f32) * 3.0e-4;
            let want = (f64::from(t) + 28.0).exp2();
            let got = f64::from(mass(t));
            assert!(
                (got - want).abs() <= want * 4e-7 + 1.0,
                "t {t}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn pick_point_spans_the_mass() {
        assert_eq!(pick_point(0, 1000), 0);
        assert_eq!(pick_point(u64::MAX, 1000), 999);
        assert_eq!(pick_point(1 << 63, 1000), 500);
    }

    #[test]
    fn top_p_target_is_the_exact_ceiling() {
        assert_eq!(top_p_target(1.0, 12345), 12345);
        assert_eq!(top_p_target(0.5, 3), 2);
        assert_eq!(top_p_target(0.5, 4), 2);
        assert_eq!(top_p_target(f32::from_bits(1), 1 << 40), 1);
        assert!((0..30).all(|k| mass(-(k as f32) * 0.37) <= (1 << 28) + 32));
        let z = (1u64 << 63) + 12_345;
        let want = (0.9f32 as f64 * z as f64).ceil();
        assert!((top_p_target(0.9, z) as f64 - want).abs() <= 2048.0);
    }

    #[test]
    fn streams_differ() {
        assert_ne!(row_uniform(1, 0), row_uniform(1, 1));
        assert_ne!(row_uniform(1, 0), row_uniform(2, 0));
    }
}
