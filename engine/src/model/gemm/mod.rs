//! Packed-panel matmul for every batch size: `out[m, n] = x[m, k] · w[n, k]ᵀ`.
//!
//! The weight is packed once, at load, into panels of [`NR`] output columns (zero-padded past
//! `n`). f32 panels are stored k-major (`panel[kk][j] = w[p·NR + j][kk]`); bf16 panels in k
//! *pairs* (`panel[kk / 2][j][kk % 2]`, `k` padded to even), the layout of AVX512-BF16's
//! `vdpbf16ps`, which multiplies a pair of bf16 activations by a pair of bf16 weights per f32
//! lane. The AVX-512 micro-kernels keep an `MR × NR` tile of `out` in 24 registers and, per step
//! along `k`, load one panel row (two vectors) and broadcast `MR` activations: 24 FMAs (or dot
//! products) per 14 loads, so they run at the arithmetic ports' rate rather than the load ports'.
//! Panels are split across rayon threads; rows are walked in blocks whose activations stay in L2
//! while each panel streams past them. At one row the same kernel streams the panels like a GEMV
//! (with software prefetch), so decode is bound by the bytes of the weight.
//!
//! **bf16 arithmetic.** With bf16 weights the activations are rounded to bf16 (nearest-even) at
//! each matmul's input, as vLLM and llama.cpp do for bf16 models; products of two bf16 are exact
//! in f32 and sums are f32. Every path computes that same function (they differ only in the order
//! of the f32 additions, and `vdpbf16ps` flushes subnormals): [`MatmulPath::Avx512Bf16`] with
//! `vdpbf16ps` (twice the multiply-adds per instruction of an f32 FMA), [`MatmulPath::Avx512`]
//! by widening both sides exactly to f32 (a shift or a mask per 16 values), [`MatmulPath::Avx2`]
//! with the same widening on 8-lane AVX2 + FMA (CPUs without AVX-512, or VMs that hide it), and
//! [`MatmulPath::Portable`] in plain loops. So a bf16 model gives the same tokens on every CPU up
//! to f32 rounding. f32 weights keep f32 activations on every path.
//!
//! Why not candle's matmul: on stable Rust its `gemm` backend uses the AVX2 (256-bit)
//! micro-kernel even on AVX-512 CPUs (the AVX-512 one needs the crate's nightly feature), which
//! measured ≈ 50–70 GFLOP/s on this 2-core machine for the 0.5B shapes.

#[cfg(target_arch = "x86_64")]
mod amx;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

use std::cell::RefCell;

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
/// bf16 panels pad `k` to this many values (zeros): one AMX tile step, so the AMX kernel never
/// reads past a panel; the other paths multiply the zero pairs like any other.
const BF16_K_PAD: usize = 32;
#[cfg(target_arch = "x86_64")]
const _: () = assert!(BF16_K_PAD.is_multiple_of(amx::K_STEP));
/// Rows from which the bf16 weights go through AMX tiles (on a CPU with AMX); fewer rows take
/// the `vdpbf16ps` path, whose register tile does not round the rows up to 16.
pub const AMX_MIN_ROWS: usize = 16;
/// Rows from which the activations are converted to bf16 on all threads.
const PAR_CONVERT_ROWS: usize = 64;

/// One `MR × NR` register tile of the output.
type Tile = [[f32; NR]; MR];
/// A tile of `R` rows (the driver's unit: [`MR`] for the register tiles, 32 for AMX).
type Rows<const R: usize> = [[f32; NR]; R];

/// Which micro-kernel [`matmul_packed_on`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatmulPath {
    /// Plain loops; runs everywhere.
    Portable,
    /// `avx2` + `fma` tiles (8 lanes, 16 registers) for x86-64 CPUs without AVX-512; bf16
    /// operands are widened exactly to f32 in registers.
    Avx2,
    /// `avx512f` FMA tiles; bf16 operands are widened exactly to f32 in registers.
    Avx512,
    /// As [`MatmulPath::Avx512`] for f32 weights; bf16 weights use `vdpbf16ps` (AVX512-BF16).
    Avx512Bf16,
    /// As [`MatmulPath::Avx512Bf16`], but bf16 weights at 16 rows or more run on AMX-BF16
    /// tiles (`tdpbf16ps`, Sapphire Rapids and later): prefill and batched decode.
    Amx,
}

impl MatmulPath {
    /// The fastest path this CPU supports (run-time detection; no build flags needed).
    pub fn detect() -> Self {
        [Self::Amx, Self::Avx512Bf16, Self::Avx512, Self::Avx2]
            .into_iter()
            .find(|p| p.is_supported())
            .unwrap_or(Self::Portable)
    }

    /// Whether this CPU can run the path.
    pub fn is_supported(self) -> bool {
        match self {
            Self::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => {
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => std::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512Bf16 => {
                std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512bf16")
            }
            #[cfg(target_arch = "x86_64")]
            Self::Amx => Self::Avx512Bf16.is_supported() && amx::supported(),
            #[cfg(not(target_arch = "x86_64"))]
            Self::Avx2 | Self::Avx512 | Self::Avx512Bf16 | Self::Amx => false,
        }
    }

    /// Name used in bench IDs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Portable => "portable",
            Self::Avx2 => "avx2",
            Self::Avx512 => "avx512",
            Self::Avx512Bf16 => "avx512bf16",
            Self::Amx => "amx",
        }
    }
}

/// A weight packed into panels of [`NR`] columns (see the module doc for the two layouts).
#[derive(Clone, Debug)]
pub enum PackedWeight {
    /// f32 panels, k-major.
    F32(Panels<f32>),
    /// bf16 panels in k pairs.
    Bf16(Panels<bf16>),
}

/// Panels of one element type: `panels × kp × NR` values, `kp` being `k` padded with zeros (to 1
/// for f32, to 32 (`BF16_K_PAD`, a multiple of the AMX k step) for bf16).
#[derive(Clone, Debug)]
pub struct Panels<W> {
    data: Vec<W>,
    n: usize,
    k: usize,
    kp: usize,
}

impl<W: WeightElem + Default> Panels<W> {
    /// Packs `w` (`[n, k]`, row-major): element `(j, kk)` of panel `p` goes to
    /// `(kk / step)·step·NR + j·step + kk % step` (step 1: k-major rows; step 2: k pairs), `k`
    /// padded with zeros to a multiple of `pad` (a multiple of `step`).
    fn pack(w: &[W], n: usize, k: usize, step: usize, pad: usize) -> Self {
        assert_eq!(w.len(), n * k, "weight is not [n, k]");
        let kp = k.next_multiple_of(pad);
        let num_panels = n.div_ceil(NR);
        let mut data = vec![W::default(); num_panels * kp * NR];
        data.par_chunks_mut(kp * NR)
            .enumerate()
            .for_each(|(p, panel)| {
                for j in 0..NR.min(n - p * NR) {
                    let row = &w[(p * NR + j) * k..(p * NR + j + 1) * k];
                    for (kk, &v) in row.iter().enumerate() {
                        panel[(kk / step) * step * NR + j * step + kk % step] = v;
                    }
                }
            });
        Self { data, n, k, kp }
    }
}

impl<W: WeightElem> Panels<W> {
    /// Panel `p`: `kp × NR` values.
    fn panel(&self, p: usize) -> &[W] {
        &self.data[p * self.kp * NR..(p + 1) * self.kp * NR]
    }
}

impl PackedWeight {
    /// Packs a row-major `[n, k]` f32 weight, stored as `dtype` (bf16 rounds to nearest even).
    pub fn pack(w: &[f32], n: usize, k: usize, dtype: WeightDtype) -> Self {
        match dtype {
            WeightDtype::F32 => Self::F32(Panels::pack(w, n, k, 1, 1)),
            WeightDtype::Bf16 => {
                let wb: Vec<bf16> = w.par_iter().map(|&v| bf16::from_f32(v)).collect();
                Self::Bf16(Panels::pack(&wb, n, k, 2, BF16_K_PAD))
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
    matmul_packed_on(MatmulPath::detect(), x, m, w, out);
}

/// [`matmul_packed`] on a chosen micro-kernel (tests and benches compare the paths).
///
/// # Panics
/// If `x` is not `[m, k]` or `out` not `[m, n]`, or this CPU does not support `path`.
pub fn matmul_packed_on(path: MatmulPath, x: &[f32], m: usize, w: &PackedWeight, out: &mut [f32]) {
    assert!(
        path.is_supported(),
        "matmul path {} is not supported by this CPU; use MatmulPath::detect()",
        path.as_str()
    );
    let (n, k) = (w.n(), w.k());
    assert_eq!(x.len(), m * k, "x is not [m, k]");
    assert_eq!(out.len(), m * n, "out is not [m, n]");
    if m == 0 || n == 0 {
        return;
    }
    match (w, path) {
        (PackedWeight::F32(p), MatmulPath::Portable) => {
            run(x, k, m, p, out, |x, mr, panel, _, t| {
                tile_portable(x, mr, k, panel, t)
            });
        }
        #[cfg(target_arch = "x86_64")]
        (PackedWeight::F32(p), MatmulPath::Avx2) => {
            SCRATCH_F32.with(|cell| {
                borrow_or_fresh(cell, |s| {
                    let s = avx2::pack_f32(x, m, k, s);
                    run(s, k, m, p, out, |x, mr, panel, first, t| {
                        avx2::tile(x, mr, k, panel, first, t);
                    });
                })
            });
        }
        #[cfg(target_arch = "x86_64")]
        (PackedWeight::Bf16(p), MatmulPath::Avx2) => {
            let kp = p.kp;
            SCRATCH_F32.with(|cell| {
                borrow_or_fresh(cell, |s| {
                    let s = avx2::pack_pairs(x, m, k, kp, s);
                    run(s, kp, m, p, out, |x, mr, panel, first, t| {
                        avx2::tile_pairs(x, mr, kp, panel, first, t);
                    });
                })
            });
        }
        #[cfg(target_arch = "x86_64")]
        (PackedWeight::F32(p), MatmulPath::Avx512 | MatmulPath::Avx512Bf16 | MatmulPath::Amx) => {
            run(x, k, m, p, out, |x, mr, panel, _, t| {
                avx512::tile(x, mr, k, panel, t)
            });
        }
        #[cfg(target_arch = "x86_64")]
        (PackedWeight::Bf16(p), MatmulPath::Amx) if m >= AMX_MIN_ROWS => {
            let half = p.kp / 2;
            let padded = m.next_multiple_of(amx::BLOCK_ROWS);
            SCRATCH_U32.with(|cell| {
                borrow_or_fresh(cell, |s| {
                    // Whole 16-row tiles are read, so the rows past `m` must be zeros (the
                    // scratch is not cleared between calls).
                    if s.len() < padded * half {
                        s.resize(padded * half, 0);
                    }
                    s[m * half..padded * half].fill(0);
                    pairs_of(x, m, k, half, s);
                    run(
                        &s[..padded * half],
                        half,
                        m,
                        p,
                        out,
                        |x, mr, panel, _, t| amx::block(x, mr, half, panel, t),
                    );
                })
            });
        }
        #[cfg(target_arch = "x86_64")]
        (PackedWeight::Bf16(p), MatmulPath::Avx512Bf16 | MatmulPath::Amx) => {
            let half = p.kp / 2;
            SCRATCH_U32.with(|cell| {
                borrow_or_fresh(cell, |s| {
                    let s = pairs_of(x, m, k, half, s);
                    run(s, half, m, p, out, |x, mr, panel, _, t| {
                        avx512::tile_dp(x, mr, half, panel, t);
                    });
                })
            });
        }
        (PackedWeight::Bf16(p), path) => {
            let kp = p.kp;
            SCRATCH_F32.with(|cell| {
                borrow_or_fresh(cell, |s| {
                    let s = rounded_of(x, m, k, kp, s);
                    match path {
                        #[cfg(target_arch = "x86_64")]
                        MatmulPath::Avx512 | MatmulPath::Avx512Bf16 | MatmulPath::Amx => {
                            run(s, kp, m, p, out, |x, mr, panel, _, t| {
                                avx512::tile_pairs(x, mr, kp, panel, t);
                            });
                        }
                        _ => run(s, kp, m, p, out, |x, mr, panel, _, t| {
                            tile_pairs_portable(x, mr, kp, panel, t);
                        }),
                    }
                })
            });
        }
        #[cfg(not(target_arch = "x86_64"))]
        (PackedWeight::F32(_), _) => unreachable!("non-portable paths are x86-64 only"),
    }
}

thread_local! {
    static SCRATCH_F32: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static SCRATCH_U32: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on the thread's scratch, or on a fresh vector when the scratch is taken (a matmul
/// called from a rayon task that this thread picked up while waiting inside another matmul).
/// The scratch is reused across calls so a large prefill does not map and zero fresh pages every
/// matmul.
fn borrow_or_fresh<T, R>(cell: &RefCell<Vec<T>>, f: impl FnOnce(&mut Vec<T>) -> R) -> R {
    match cell.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        Err(_) => f(&mut Vec::new()),
    }
}

/// `x` (`[m, k]`) converted row by row into the first `m × width` elements of `out`, which it
/// returns; on the rayon pool from `PAR_CONVERT_ROWS` rows up. `convert` must write every element
/// of its row (padding included): the scratch only grows and is not cleared between calls, so a
/// matmul does not zero its whole activation copy before overwriting it.
fn convert_rows<'a, T: Copy + Default + Send>(
    x: &[f32],
    m: usize,
    k: usize,
    width: usize,
    out: &'a mut Vec<T>,
    convert: impl Fn(&[f32], &mut [T]) + Sync,
) -> &'a [T] {
    if out.len() < m * width {
        out.resize(m * width, T::default());
    }
    let out = &mut out[..m * width];
    let convert = |(src, dst): (&[f32], &mut [T])| convert(src, dst);
    if m >= PAR_CONVERT_ROWS {
        x.par_chunks(k)
            .zip(out.par_chunks_mut(width))
            .for_each(convert);
    } else {
        x.chunks(k).zip(out.chunks_mut(width)).for_each(convert);
    }
    out
}

/// `x` (`[m, k]`) as bf16 pairs: `half` u32 per row, lane `i` = `bf16(x[2i]) | bf16(x[2i+1]) << 16`
/// (nearest-even), zero past `k`.
fn pairs_of<'a>(x: &[f32], m: usize, k: usize, half: usize, out: &'a mut Vec<u32>) -> &'a [u32] {
    convert_rows(x, m, k, half, out, |src, dst| {
        #[cfg(target_arch = "x86_64")]
        if MatmulPath::Avx512Bf16.is_supported() {
            avx512::pairs_row(src, dst);
            return;
        }
        pairs_row_portable(src, dst);
    })
}

fn pairs_row_portable(src: &[f32], dst: &mut [u32]) {
    for (i, d) in dst.iter_mut().enumerate() {
        let lo = src.get(2 * i).map_or(0, |&v| bf16::from_f32(v).to_bits());
        let hi = src
            .get(2 * i + 1)
            .map_or(0, |&v| bf16::from_f32(v).to_bits());
        *d = u32::from(lo) | (u32::from(hi) << 16);
    }
}

/// `x` (`[m, k]`) rounded to bf16 and back (exact), rows padded with zeros to `kp`.
fn rounded_of<'a>(x: &[f32], m: usize, k: usize, kp: usize, out: &'a mut Vec<f32>) -> &'a [f32] {
    convert_rows(x, m, k, kp, out, |src, dst| {
        for (d, &v) in dst.iter_mut().zip(src) {
            *d = bf16::from_f32(v).to_f32();
        }
        dst[src.len()..].fill(0.0);
    })
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

/// The driver every path shares: `x` holds `m` rows of `row_len` activation values (f32, or
/// bf16 pairs), `tile(rows, mr, panel, first, tile)` fills one `R`-row tile of the output from
/// `mr ≤ R` rows, writing every value of rows `0..mr` (the tile is reused, not zeroed, between
/// calls); `rows` starts at the tile's first row and runs to the end of `x` (so a kernel
/// that always reads whole 16-row AMX tiles can be given zero rows past `m`). `first` says it is
/// the panel's first tile in this block (a kernel may then prefetch the next panel, which follows
/// this one in memory and is usually this thread's next). Tiles start at multiples of `R` rows,
/// so a path may lay out each `R`-row chunk of `x` in its own order (the AVX2 kernels interleave
/// the rows).
fn run<const R: usize, A: Sync, W: WeightElem>(
    x: &[A],
    row_len: usize,
    m: usize,
    w: &Panels<W>,
    out: &mut [f32],
    tile: impl Fn(&[A], usize, &[W], bool, &mut Rows<R>) + Sync,
) {
    let n = w.n;
    let num_panels = n.div_ceil(NR);
    let row_bytes = (row_len * size_of::<A>()).max(1);
    let rows_per_block = (ROW_BLOCK_BYTES / row_bytes).max(R) / R * R;
    let ptr = OutPtr(out.as_mut_ptr());
    for r0 in (0..m).step_by(rows_per_block) {
        let rows = (m - r0).min(rows_per_block);
        (0..num_panels).into_par_iter().for_each(|p| {
            let cols = NR.min(n - p * NR);
            let panel = w.panel(p);
            let mut t = [[0.0f32; NR]; R];
            for i0 in (0..rows).step_by(R) {
                let mr = (rows - i0).min(R);
                tile(&x[(r0 + i0) * row_len..], mr, panel, i0 == 0, &mut t);
                for (i, row) in t.iter().enumerate().take(mr) {
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

/// The portable f32 micro-kernel: the same tile, plain loops.
fn tile_portable(x: &[f32], mr: usize, k: usize, panel: &[f32], tile: &mut Tile) {
    tile[..mr].fill([0.0; NR]);
    for kk in 0..k {
        let wrow = &panel[kk * NR..(kk + 1) * NR];
        for i in 0..mr {
            let a = x[i * k + kk];
            for (t, w) in tile[i].iter_mut().zip(wrow) {
                *t += a * w;
            }
        }
    }
}

/// The portable bf16 micro-kernel over k pairs: `x` holds `mr` rows of `kp` bf16-rounded values.
fn tile_pairs_portable(x: &[f32], mr: usize, kp: usize, panel: &[bf16], tile: &mut Tile) {
    tile[..mr].fill([0.0; NR]);
    for p in 0..kp / 2 {
        let wrow = &panel[p * 2 * NR..(p + 1) * 2 * NR];
        for i in 0..mr {
            let (a, b) = (x[i * kp + 2 * p], x[i * kp + 2 * p + 1]);
            for (t, w) in tile[i].iter_mut().zip(wrow.chunks_exact(2)) {
                *t += a * w[0].to_f32() + b * w[1].to_f32();
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

    fn round(v: &[f32]) -> Vec<f32> {
        v.iter().map(|&x| bf16::from_f32(x).to_f32()).collect()
    }

    const PATHS: [MatmulPath; 5] = [
        MatmulPath::Portable,
        MatmulPath::Avx2,
        MatmulPath::Avx512,
        MatmulPath::Avx512Bf16,
        MatmulPath::Amx,
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Tolerance: f32 sums of `k` products of values in [-1, 1] against an f64 reference:
        /// 1e-5 × k absolute, on every path this CPU supports. bf16 weights: the reference is
        /// the same sum over bf16-rounded weights *and* activations (the module's definition),
        /// so the bound is the same; `vdpbf16ps` flushing subnormals cannot matter at these
        /// magnitudes.
        #[test]
        fn matches_the_reference(m in 1usize..40, n in 1usize..80, k in 1usize..300, seed in any::<u64>()) {
            let x = values(m * k, seed);
            let w = values(n * k, seed ^ 0xABCD);
            let want = reference(&x, m, &w, n, k);
            let want_b = reference(&round(&x), m, &round(&w), n, k);
            let packed = PackedWeight::pack(&w, n, k, WeightDtype::F32);
            let packed_b = PackedWeight::pack(&w, n, k, WeightDtype::Bf16);
            let tol = 1e-5 * k as f32;
            for path in PATHS.into_iter().filter(|p| p.is_supported()) {
                let mut got = vec![f32::NAN; m * n];
                matmul_packed_on(path, &x, m, &packed, &mut got);
                for (g, r) in got.iter().zip(&want) {
                    prop_assert!((g - r).abs() <= tol, "{path:?} f32: got {g}, want {r}");
                }
                got.fill(f32::NAN);
                matmul_packed_on(path, &x, m, &packed_b, &mut got);
                for (g, r) in got.iter().zip(&want_b) {
                    prop_assert!((g - r).abs() <= tol, "{path:?} bf16: got {g}, want {r}");
                }
            }
        }

        /// The bf16 pair conversion equals `half`'s nearest-even rounding for every length,
        /// with zeros past the row.
        #[test]
        fn bf16_pairs_round_like_half(k in 1usize..200, seed in any::<u64>()) {
            let x = values(k, seed).iter().map(|v| v * 1e3).collect::<Vec<_>>();
            let half = k.div_ceil(2);
            let mut want = vec![0u32; half];
            pairs_row_portable(&x, &mut want);
            for (i, &v) in want.iter().enumerate() {
                prop_assert_eq!(v & 0xFFFF, u32::from(bf16::from_f32(x[2 * i]).to_bits()));
            }
            let mut got = Vec::new();
            pairs_of(&x, 1, k, half, &mut got);
            prop_assert_eq!(got, want);
        }
    }

    /// The activation scratch is not cleared between calls: whatever an earlier, larger call
    /// left in it (here: NaN bit patterns) must not leak into the padding of an odd `k`.
    #[test]
    fn poisoned_scratch_does_not_leak_into_bf16_padding() {
        // 3 rows: the register tiles; 20 rows: the AMX path, whose tiles also read the zero
        // rows past `m`.
        for (m, n, k) in [(3, 5, 7), (20, 5, 7), (20, 40, 45)] {
            let x = values(m * k, 11);
            let w = values(n * k, 12);
            let want = reference(&round(&x), m, &round(&w), n, k);
            let packed = PackedWeight::pack(&w, n, k, WeightDtype::Bf16);
            for path in PATHS.into_iter().filter(|p| p.is_supported()) {
                SCRATCH_F32.with(|c| *c.borrow_mut() = vec![f32::NAN; 4096]);
                SCRATCH_U32.with(|c| *c.borrow_mut() = vec![u32::MAX; 4096]);
                let mut got = vec![0.0; m * n];
                matmul_packed_on(path, &x, m, &packed, &mut got);
                for (g, r) in got.iter().zip(&want) {
                    assert!(
                        (g - r).abs() <= 1e-5 * k as f32,
                        "{path:?} m={m}: got {g}, want {r}"
                    );
                }
            }
        }
    }

    /// Which paths the proptests above exercised on this CPU (printed with `--nocapture`; the
    /// AMX path only exists on Sapphire Rapids and later).
    #[test]
    fn detect_picks_a_supported_path() {
        let path = MatmulPath::detect();
        let supported: Vec<_> = PATHS.into_iter().filter(|p| p.is_supported()).collect();
        eprintln!("matmul paths on this CPU: {supported:?}, detect: {path:?}");
        // PATHS runs from slowest to fastest: detection must pick the last one this CPU has.
        assert_eq!(supported.last(), Some(&path));
    }

    #[test]
    fn nan_and_infinity_propagate_in_bf16() {
        // 2 rows: the register tiles; 18 rows: the AMX path.
        for m in [2, 18] {
            let (n, k) = (3, 5);
            let mut x = vec![0.5f32; m * k];
            x[1] = f32::INFINITY;
            x[k + 2] = f32::NAN;
            let w = vec![0.25f32; n * k];
            let packed = PackedWeight::pack(&w, n, k, WeightDtype::Bf16);
            for path in PATHS.into_iter().filter(|p| p.is_supported()) {
                let mut got = vec![0.0; m * n];
                matmul_packed_on(path, &x, m, &packed, &mut got);
                assert!(
                    got[..n].iter().all(|v| *v == f32::INFINITY),
                    "{path:?}: {got:?}"
                );
                assert!(
                    got[n..2 * n].iter().all(|v| v.is_nan()),
                    "{path:?}: {got:?}"
                );
                assert!(
                    got[2 * n..].iter().all(|v| *v == 0.625),
                    "{path:?}: {got:?}"
                );
            }
        }
    }
}
