//! Packed-panel matmul for many activation rows (prefill, large decode batches):
//! `out[m, n] = x[m, k] · w[n, k]ᵀ`.
//!
//! The weight is packed once, at load, into panels of [`NR`] output columns stored k-major
//! (`panel[kk][j] = w[p·NR + j][kk]`, zero-padded past `n`). The AVX-512 micro-kernel keeps an
//! `MR × NR` tile of `out` in 24 registers and, for each `kk`, loads one panel row (two vectors)
//! and broadcasts `MR` activations: 24 FMAs per 14 loads, so it runs at the FMA ports' rate
//! rather than the load ports'. Panels are split across rayon threads; rows are walked in blocks
//! whose activations stay in L2 while each panel streams past them.
//!
//! Why not candle's matmul: on stable Rust its `gemm` backend uses the AVX2 (256-bit)
//! micro-kernel even on AVX-512 CPUs (the AVX-512 one needs the crate's nightly feature), which
//! measured ≈ 50–70 GFLOP/s on this 2-core machine for the 0.5B shapes.
//!
//! bf16 weights are packed as bf16 and widened to f32 in registers (exact); activations,
//! products and sums are f32 for both.

#[cfg(target_arch = "x86_64")]
mod avx512;

use half::bf16;
use rayon::prelude::*;

use super::dtype::WeightDtype;
use super::gemv::WeightElem;

/// Output columns per panel (two 16-lane vectors).
pub const NR: usize = 32;
/// Activation rows per micro-kernel tile.
pub const MR: usize = 12;
/// Activation bytes per row block (kept in L2 while the panels stream past).
const ROW_BLOCK_BYTES: usize = 512 << 10;

/// A weight packed into k-major panels of [`NR`] columns.
#[derive(Clone, Debug)]
pub enum PackedWeight {
    /// f32 panels.
    F32(Panels<f32>),
    /// bf16 panels.
    Bf16(Panels<bf16>),
}

/// Panels of one element type: `panels × k × NR` values.
#[derive(Clone, Debug)]
pub struct Panels<W> {
    data: Vec<W>,
    n: usize,
    k: usize,
}

impl<W: WeightElem + Default> Panels<W> {
    fn pack(w: &[W], n: usize, k: usize) -> Self {
        assert_eq!(w.len(), n * k, "weight is not [n, k]");
        let num_panels = n.div_ceil(NR);
        let mut data = vec![W::default(); num_panels * k * NR];
        data.par_chunks_mut(k * NR)
            .enumerate()
            .for_each(|(p, panel)| {
                for j in 0..NR.min(n - p * NR) {
                    let row = &w[(p * NR + j) * k..(p * NR + j + 1) * k];
                    for (kk, &v) in row.iter().enumerate() {
                        panel[kk * NR + j] = v;
                    }
                }
            });
        Self { data, n, k }
    }
}

impl<W: WeightElem> Panels<W> {
    /// Panel `p`: `k × NR` values.
    fn panel(&self, p: usize) -> &[W] {
        &self.data[p * self.k * NR..(p + 1) * self.k * NR]
    }
}

impl PackedWeight {
    /// Packs a row-major `[n, k]` f32 weight, stored as `dtype` (bf16 rounds to nearest even).
    pub fn pack(w: &[f32], n: usize, k: usize, dtype: WeightDtype) -> Self {
        match dtype {
            WeightDtype::F32 => Self::F32(Panels::pack(w, n, k)),
            WeightDtype::Bf16 => {
                let wb: Vec<bf16> = w.par_iter().map(|&v| bf16::from_f32(v)).collect();
                Self::Bf16(Panels::pack(&wb, n, k))
            }
        }
    }

    /// Output features.
    pub fn n(&self) -> usize {
        match self {
            Self::F32(p) => p.n,
            Self::Bf16(p) => p.n,
        }
    }

    /// Input features.
    pub fn k(&self) -> usize {
        match self {
            Self::F32(p) => p.k,
            Self::Bf16(p) => p.k,
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        match self {
            Self::F32(p) => p.data.len() * 4,
            Self::Bf16(p) => p.data.len() * 2,
        }
    }
}

/// `out[m, n] = x[m, k] · wᵀ` on the fastest path this CPU supports.
///
/// # Panics
/// If `x` is not `[m, k]` or `out` not `[m, n]` for the weight's `n` and `k`.
pub fn matmul_packed(x: &[f32], m: usize, w: &PackedWeight, out: &mut [f32]) {
    match w {
        PackedWeight::F32(p) => run(x, m, p, out),
        PackedWeight::Bf16(p) => run(x, m, p, out),
    }
}

/// A raw output pointer that tasks writing disjoint column stripes share.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: every task writes only the output columns of its own panels (see `run`), so no two
// threads touch the same element.
#[allow(unsafe_code)]
unsafe impl Send for OutPtr {}
// SAFETY: as above.
#[allow(unsafe_code)]
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// The pointer (a method, so closures capture the whole `Send` wrapper).
    fn get(self) -> *mut f32 {
        self.0
    }
}

fn run<W: WeightElem>(x: &[f32], m: usize, w: &Panels<W>, out: &mut [f32]) {
    let (n, k) = (w.n, w.k);
    assert_eq!(x.len(), m * k, "x is not [m, k]");
    assert_eq!(out.len(), m * n, "out is not [m, n]");
    if m == 0 || n == 0 {
        return;
    }
    let num_panels = n.div_ceil(NR);
    let rows_per_block = (ROW_BLOCK_BYTES / (k * 4)).max(MR) / MR * MR;
    let ptr = OutPtr(out.as_mut_ptr());
    let use_avx512 = avx512_available();
    for r0 in (0..m).step_by(rows_per_block) {
        let rows = (m - r0).min(rows_per_block);
        let xb = &x[r0 * k..(r0 + rows) * k];
        (0..num_panels).into_par_iter().for_each(|p| {
            let cols = NR.min(n - p * NR);
            let panel = w.panel(p);
            for i0 in (0..rows).step_by(MR) {
                let mr = (rows - i0).min(MR);
                let mut tile = [[0.0f32; NR]; MR];
                let xt = &xb[i0 * k..(i0 + mr) * k];
                if use_avx512 {
                    #[cfg(target_arch = "x86_64")]
                    avx512::tile(xt, mr, k, panel, &mut tile);
                } else {
                    tile_portable(xt, mr, k, panel, &mut tile);
                }
                for (i, row) in tile.iter().enumerate().take(mr) {
                    let offset = (r0 + i0 + i) * n + p * NR;
                    // SAFETY: `offset + cols ≤ m × n` (row `r0 + i0 + i < m`, columns
                    // `p·NR .. p·NR + cols ≤ n`), and only the task of panel `p` writes these
                    // columns, so the writes are in bounds and never race.
                    #[allow(unsafe_code)]
                    unsafe {
                        std::ptr::copy_nonoverlapping(row.as_ptr(), ptr.get().add(offset), cols);
                    }
                }
            }
        });
    }
}

fn avx512_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The portable micro-kernel: the same tile, plain loops.
fn tile_portable<W: WeightElem>(
    x: &[f32],
    mr: usize,
    k: usize,
    panel: &[W],
    tile: &mut [[f32; NR]; MR],
) {
    for kk in 0..k {
        let wrow = &panel[kk * NR..(kk + 1) * NR];
        for i in 0..mr {
            let a = x[i * k + kk];
            for (t, w) in tile[i].iter_mut().zip(wrow) {
                *t += a * w.to_f32();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(x: &[f32], m: usize, w: &[f32], n: usize, k: usize) -> Vec<f32> {
        let mut out = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k)
                    .map(|kk| f64::from(x[i * k + kk]) * f64::from(w[j * k + kk]))
                    .sum();
            }
        }
        out.into_iter().map(|v| v as f32).collect()
    }

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Tolerance: f32 sums of `k` products of values in [-1, 1] against an f64 reference:
        /// 1e-5 × k absolute.
        #[test]
        fn matches_the_reference(m in 1usize..40, n in 1usize..80, k in 1usize..300, seed in any::<u64>()) {
            let x = values(m * k, seed);
            let w = values(n * k, seed ^ 0xABCD);
            let want = reference(&x, m, &w, n, k);
            let packed = PackedWeight::pack(&w, n, k, WeightDtype::F32);
            let mut got = vec![f32::NAN; m * n];
            matmul_packed(&x, m, &packed, &mut got);
            let tol = 1e-5 * k as f32;
            for (g, r) in got.iter().zip(&want) {
                prop_assert!((g - r).abs() <= tol, "got {g}, want {r}");
            }
            // bf16: the same math over the bf16-rounded weights.
            let wb: Vec<f32> = w.iter().map(|&v| bf16::from_f32(v).to_f32()).collect();
            let want_b = reference(&x, m, &wb, n, k);
            let packed_b = PackedWeight::pack(&w, n, k, WeightDtype::Bf16);
            matmul_packed(&x, m, &packed_b, &mut got);
            for (g, r) in got.iter().zip(&want_b) {
                prop_assert!((g - r).abs() <= tol, "bf16: got {g}, want {r}");
            }
            // The portable tile agrees with the dispatched one.
            let mut tile_a = [[0.0f32; NR]; MR];
            let mr = m.min(MR);
            tile_portable(&x[..mr * k], mr, k, packed_f32(&packed).panel(0), &mut tile_a);
            for (i, row) in tile_a.iter().enumerate().take(mr) {
                for j in 0..NR.min(n) {
                    prop_assert!((row[j] - want[i * n + j]).abs() <= tol);
                }
            }
        }
    }

    fn packed_f32(p: &PackedWeight) -> &Panels<f32> {
        match p {
            PackedWeight::F32(p) => p,
            PackedWeight::Bf16(_) => unreachable!(),
        }
    }
}
