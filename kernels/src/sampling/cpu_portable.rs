//! Portable sampling kernels: plain Rust over slices, one element at a time. The AVX2 path is
//! the same code compiled with AVX2 + FMA enabled (`f32::mul_add` then becomes `vfmadd`, with
//! the same bits). Every kernel computes exactly what its AVX-512 twin computes.
#![allow(unsafe_code)]

use super::cpu::Cands;

macro_rules! kernels {
    ($( $(#[$doc:meta])* fn $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty ; )*) => { $(
        $(#[$doc])*
        /// `avx2`: run the copy compiled for AVX2 + FMA (only when the CPU has them).
        pub(super) fn $name(avx2: bool, $($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn compiled_for_avx2($($arg: $ty),*) -> $ret {
                    imp::$name($($arg),*)
                }
                // SAFETY: `avx2` is true only for `Isa::Avx2` or better, which is constructed
                // after run-time detection of AVX2 and FMA.
                return unsafe { compiled_for_avx2($($arg),*) };
            }
            let _ = avx2;
            imp::$name($($arg),*)
        }
    )* };
}

kernels! {
    /// Largest value, and whether the row holds a NaN or `+inf`.
    fn scan_max(x: &[f32]) -> (f32, bool);
    /// Index of the first element equal to `v` (which must occur).
    fn find_first(x: &[f32], v: f32) -> usize;
    /// Appends every `x[i] > tau` (ids `base + i`) to `c`; returns whether a NaN was seen.
    fn collect_gt(x: &[f32], base: u32, tau: f32, c: &mut Cands) -> bool;
    /// Total mass `Σ q` over `R = {x > -inf, t ≥ min_t}`; appends `R ∩ {x ≥ tau}` to `c`.
    fn mass_collect(x: &[f32], m: f32, scale: f32, min_t: f32, tau: f32, c: &mut Cands) -> u64;
    /// Appends `R ∩ {x ≥ tau}` to `c` (no masses).
    fn collect_ge(x: &[f32], m: f32, scale: f32, min_t: f32, tau: f32, c: &mut Cands) -> ();
    /// Every token's mass (0 outside `R`) into `masses`; returns their sum.
    fn mass_store(x: &[f32], m: f32, scale: f32, min_t: f32, masses: &mut Vec<u32>) -> u64;
    /// Fills `c.qs` with the masses of `c.xs`.
    fn weights(c: &mut Cands, m: f32, scale: f32) -> ();
    /// Count (or mass) of the candidates strictly before `lo`, and strictly before `hi`, in the
    /// row order; copies the band `lo ≼ e ≺ hi` to `dst`.
    fn split(
        c: &Cands, lo: (f32, u32), hi: (f32, u32), use_mass: bool, dst: &mut Cands
    ) -> (u64, u64);
    /// Copies the candidates strictly before `pivot` (`keep_before`), or the others, to `dst`.
    fn keep_side(
        c: &Cands, pivot: (f32, u32), keep_before: bool, use_mass: bool, dst: &mut Cands
    ) -> ();
    /// The first candidate (array order) not after `limit` whose running mass exceeds `r`.
    fn pick_cands(c: &Cands, limit: (f32, u32), r: u64) -> u32;
    /// The first index whose running mass exceeds `r`.
    fn pick_masses(masses: &[u32], r: u64) -> usize;
    /// `Σ 2^((x - m) · log2 e)` in f64 (the softmax denominator of the raw logprobs).
    fn sum_exp(x: &[f32], m: f32) -> f64;
}

mod imp {
    use super::super::before;
    use super::super::cpu::Cands;
    use super::super::rng::{exp2_unit, mass};

    #[inline(always)]
    pub(super) fn scan_max(x: &[f32]) -> (f32, bool) {
        let mut m = f32::NEG_INFINITY;
        let mut nan = false;
        for &v in x {
            nan |= v.is_nan();
            m = m.max(v);
        }
        (m, nan || m == f32::INFINITY)
    }

    #[inline(always)]
    pub(super) fn find_first(x: &[f32], v: f32) -> usize {
        x.iter().position(|&y| y == v).expect("the value occurs")
    }

    #[inline(always)]
    pub(super) fn collect_gt(x: &[f32], base: u32, tau: f32, c: &mut Cands) -> bool {
        let mut nan = false;
        for (i, &v) in x.iter().enumerate() {
            nan |= v.is_nan();
            if v > tau {
                c.xs.push(v);
                c.ids.push(base + i as u32);
            }
        }
        nan
    }

    #[inline(always)]
    pub(super) fn mass_collect(
        x: &[f32],
        m: f32,
        scale: f32,
        min_t: f32,
        tau: f32,
        c: &mut Cands,
    ) -> u64 {
        let mut z = 0u64;
        for (i, &v) in x.iter().enumerate() {
            let t = (v - m) * scale;
            if t >= min_t && v > f32::NEG_INFINITY {
                z += u64::from(mass(t));
                if v >= tau {
                    c.xs.push(v);
                    c.ids.push(i as u32);
                }
            }
        }
        z
    }

    #[inline(always)]
    pub(super) fn collect_ge(x: &[f32], m: f32, scale: f32, min_t: f32, tau: f32, c: &mut Cands) {
        for (i, &v) in x.iter().enumerate() {
            if (v - m) * scale >= min_t && v > f32::NEG_INFINITY && v >= tau {
                c.xs.push(v);
                c.ids.push(i as u32);
            }
        }
    }

    #[inline(always)]
    pub(super) fn mass_store(
        x: &[f32],
        m: f32,
        scale: f32,
        min_t: f32,
        masses: &mut Vec<u32>,
    ) -> u64 {
        masses.clear();
        masses.extend(x.iter().map(|&v| {
            let t = (v - m) * scale;
            if t >= min_t { mass(t) } else { 0 }
        }));
        masses.iter().map(|&q| u64::from(q)).sum()
    }

    #[inline(always)]
    pub(super) fn weights(c: &mut Cands, m: f32, scale: f32) {
        c.qs.clear();
        c.qs.extend(c.xs.iter().map(|&v| mass((v - m) * scale)));
    }

    #[inline(always)]
    pub(super) fn split(
        c: &Cands,
        lo: (f32, u32),
        hi: (f32, u32),
        use_mass: bool,
        dst: &mut Cands,
    ) -> (u64, u64) {
        dst.clear();
        let (mut w_lo, mut w_hi) = (0u64, 0u64);
        for i in 0..c.xs.len() {
            let e = (c.xs[i], c.ids[i]);
            let w = if use_mass { u64::from(c.qs[i]) } else { 1 };
            let (before_lo, before_hi) = (before(e, lo), before(e, hi));
            w_lo += if before_lo { w } else { 0 };
            w_hi += if before_hi { w } else { 0 };
            if !before_lo && before_hi {
                dst.xs.push(e.0);
                dst.ids.push(e.1);
                if use_mass {
                    dst.qs.push(c.qs[i]);
                }
            }
        }
        (w_lo, w_hi)
    }

    #[inline(always)]
    pub(super) fn keep_side(
        c: &Cands,
        pivot: (f32, u32),
        keep_before: bool,
        use_mass: bool,
        dst: &mut Cands,
    ) {
        dst.clear();
        for i in 0..c.xs.len() {
            let e = (c.xs[i], c.ids[i]);
            let keep = before(e, pivot) == keep_before;
            if keep {
                dst.xs.push(e.0);
                dst.ids.push(e.1);
                if use_mass {
                    dst.qs.push(c.qs[i]);
                }
            }
        }
    }

    #[inline(always)]
    pub(super) fn pick_cands(c: &Cands, limit: (f32, u32), r: u64) -> u32 {
        let mut cum = 0u64;
        for i in 0..c.xs.len() {
            let e = (c.xs[i], c.ids[i]);
            if !before(limit, e) {
                cum += u64::from(c.qs[i]);
                if cum > r {
                    return e.1;
                }
            }
        }
        unreachable!("pick_cands: r is below the total mass")
    }

    #[inline(always)]
    pub(super) fn pick_masses(masses: &[u32], r: u64) -> usize {
        let mut cum = 0u64;
        for (i, &q) in masses.iter().enumerate() {
            cum += u64::from(q);
            if cum > r {
                return i;
            }
        }
        unreachable!("pick_masses: r is below the total mass")
    }

    #[inline(always)]
    pub(super) fn sum_exp(x: &[f32], m: f32) -> f64 {
        x.iter()
            .map(|&v| f64::from(exp2_unit((v - m) * std::f32::consts::LOG2_E)))
            .sum()
    }
}
