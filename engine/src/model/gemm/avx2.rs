//! The AVX2 + FMA micro-kernels of [`super`], for x86-64 CPUs without AVX-512 (or with it
//! hidden by a hypervisor, as on some of the project's VMs).
//!
//! AVX2 has 16 vector registers of 8 lanes, a quarter of AVX-512's register file, so the
//! `MR × NR` (12 × 32) tile is computed in parts that each keep their accumulators in registers:
//!
//! - one row (f32: up to two): the whole panel width at once (`R × 4` accumulators), one pass
//!   over the panel, so batch-1 decode streams each weight once;
//! - more rows: groups of up to [`F32_ROWS`] (f32) or [`PAIR_ROWS`] (bf16) rows times one half
//!   of the panel (16 columns, two vectors per row). The panel is read once per group and half;
//!   after the first pass it comes from L2.
//!
//! The activations are first copied ([`pack_f32`], [`pack_pairs`]) so that each group's rows
//! are interleaved (`[kk][row]`, bf16: `[pair][row][2]`): a step's broadcasts then read a few
//! adjacent bytes instead of one value from each of up to six rows (measured on a standalone
//! copy of the 6 × 16 loop with an L2-resident panel: 71 % of the FMA peak row-major, 84 %
//! interleaved at k = 4864; 83 % / 85 % at k = 896); the copy costs `m × k` moves per matmul,
//! shared by all panels. The first pass over each panel also prefetches the next one, so a
//! panel's first pass does not wait for DRAM.
//!
//! [`tile`] runs f32 weights with FMA; [`tile_pairs`] runs bf16 pair panels by widening the
//! weights exactly (shift the even bf16 up, mask the odd one) against bf16-rounded f32
//! activations, so it computes what every other bf16 path computes.
#![allow(unsafe_code)]
// Register tiles are indexed by row in fixed-size loops the compiler unrolls.
#![allow(clippy::needless_range_loop)]

use std::arch::x86_64::*;

use half::bf16;
use rayon::prelude::*;

use super::{MR, NR, PAR_CONVERT_ROWS, Tile};

/// Rows per group of the f32 kernel over half a panel: 12 accumulators, 2 weights, 1 broadcast.
const F32_ROWS: usize = 6;
/// Rows per group of the bf16 kernel over half a panel: 8 accumulators, 4 widened weights, 1
/// broadcast.
const PAIR_ROWS: usize = 4;
/// Up to this many rows the f32 kernel covers the whole panel width in one pass (8
/// accumulators, 4 weights, 1 broadcast).
const F32_FULL_WIDTH_ROWS: usize = 2;
/// Up to this many rows the bf16 kernel covers the whole panel width in one pass (4
/// accumulators, 8 widened weights, 1 broadcast).
const PAIR_FULL_WIDTH_ROWS: usize = 1;

/// Dispatches `rows` (1..=6) to `$kernel::<R, $v>($args…)`.
macro_rules! by_rows {
    ($rows:expr, $kernel:ident, $v:literal, $($arg:expr),*) => {
        match $rows {
            1 => $kernel::<1, $v>($($arg),*),
            2 => $kernel::<2, $v>($($arg),*),
            3 => $kernel::<3, $v>($($arg),*),
            4 => $kernel::<4, $v>($($arg),*),
            5 => $kernel::<5, $v>($($arg),*),
            6 => $kernel::<6, $v>($($arg),*),
            _ => unreachable!("row groups hold 1 to 6 rows"),
        }
    };
}

/// The body [`tile`] and [`tile_pairs`] share: runs `$kernel` over the row groups of the tile
/// (`$full` rows or fewer: the whole width at once; else groups of `$group` rows times the two
/// halves of the panel), the first pass prefetching the next panel when `$first`.
macro_rules! tile_groups {
    ($kernel:ident, $x:expr, $mr:expr, $row_len:expr, $panel:expr, $first:expr, $tile:expr,
     $full:expr, $group:expr) => {{
        let (x, mr, row_len, panel, tile) = ($x, $mr, $row_len, $panel, $tile);
        let mut next = next_panel(panel, $first);
        for (g, r) in groups(mr, $full, $group) {
            let xg = x[g * row_len..(g + r) * row_len].as_ptr();
            let out = &mut tile[g..g + r];
            let w = panel.as_ptr();
            // SAFETY: avx2 and fma were detected by the caller; group `g` holds `r × row_len`
            // values at `xg` and the panel `row_len × NR` elements (the caller's asserts),
            // `out` has `r` rows, and each kernel's columns `col .. col + 8V` end at `NR`.
            unsafe {
                if mr <= $full {
                    by_rows!(r, $kernel, 4, xg, row_len, w, next.take(), out, 0);
                } else {
                    for col in [0, 16] {
                        by_rows!(r, $kernel, 2, xg, row_len, w, next.take(), out, col);
                    }
                }
            }
        }
    }};
}

/// Computes `tile[i][j] = Σ_kk x(i, kk) · panel[kk·NR + j]` for `i < mr`, `x` being `mr` rows
/// of `k` values in [`pack_f32`]'s layout. Only called when avx2 and fma were detected at run
/// time.
pub(super) fn tile(x: &[f32], mr: usize, k: usize, panel: &[f32], first: bool, tile: &mut Tile) {
    assert!(mr <= MR && x.len() >= mr * k && panel.len() >= k * NR);
    tile_groups!(
        f32_r,
        x,
        mr,
        k,
        panel,
        first,
        tile,
        F32_FULL_WIDTH_ROWS,
        F32_ROWS
    );
}

/// As [`tile`] for bf16 pair panels: `x` holds `mr` rows of `kp` bf16-rounded f32 values in
/// [`pack_pairs`]'s layout. Only called when avx2 and fma were detected at run time.
pub(super) fn tile_pairs(
    x: &[f32],
    mr: usize,
    kp: usize,
    panel: &[bf16],
    first: bool,
    tile: &mut Tile,
) {
    assert!(mr <= MR && kp.is_multiple_of(2) && x.len() >= mr * kp && panel.len() >= kp * NR);
    tile_groups!(
        pairs_r,
        x,
        mr,
        kp,
        panel,
        first,
        tile,
        PAIR_FULL_WIDTH_ROWS,
        PAIR_ROWS
    );
}

/// The row groups of an `mr`-row tile as (first row, rows), in the order the kernels and the
/// packing walk them: one group up to `full_width` rows, else groups of `group` rows.
fn groups(mr: usize, full_width: usize, group: usize) -> impl Iterator<Item = (usize, usize)> {
    let step = if mr <= full_width { mr.max(1) } else { group };
    (0..mr).step_by(step).map(move |g| (g, (mr - g).min(step)))
}

/// Copies `x` (`[m, k]`) into `out` in the kernels' interleaved layout: per `MR`-row tile, per
/// row group of `r` rows, element `(i, c)` (row `i`, padded column `c < width`) at
/// `(c / unit)·r·unit + i·unit + c % unit`; columns past `k` are zero and every element of
/// `m × width` is written (the scratch is not cleared between calls). `convert` maps each value.
#[allow(clippy::too_many_arguments)]
fn pack<'a>(
    x: &[f32],
    m: usize,
    k: usize,
    width: usize,
    unit: usize,
    (full_width, group): (usize, usize),
    out: &'a mut Vec<f32>,
    convert: impl Fn(f32) -> f32 + Sync,
) -> &'a [f32] {
    if out.len() < m * width {
        out.resize(m * width, 0.0);
    }
    let out = &mut out[..m * width];
    let pack_tile = |(src, dst): (&[f32], &mut [f32])| {
        let mr = src.len() / k;
        for (g, r) in groups(mr, full_width, group) {
            let dst = &mut dst[g * width..(g + r) * width];
            for i in 0..r {
                let row = &src[(g + i) * k..(g + i + 1) * k];
                // Unit `u` of row `i` in step `q` lands at `(q·r + i)·unit + u`.
                for (q, step) in row.chunks(unit).enumerate() {
                    let at = (q * r + i) * unit;
                    for (u, &v) in step.iter().enumerate() {
                        dst[at + u] = convert(v);
                    }
                }
                for c in k..width {
                    dst[(c / unit * r + i) * unit + c % unit] = 0.0;
                }
            }
        }
    };
    if m >= PAR_CONVERT_ROWS {
        x.par_chunks(MR * k)
            .zip(out.par_chunks_mut(MR * width))
            .for_each(pack_tile);
    } else {
        x.chunks(MR * k)
            .zip(out.chunks_mut(MR * width))
            .for_each(pack_tile);
    }
    out
}

/// `x` (`[m, k]`, f32) in the interleaved layout [`tile`] reads.
pub(super) fn pack_f32<'a>(x: &[f32], m: usize, k: usize, out: &'a mut Vec<f32>) -> &'a [f32] {
    pack(x, m, k, k, 1, (F32_FULL_WIDTH_ROWS, F32_ROWS), out, |v| v)
}

/// `x` (`[m, k]`) rounded to bf16 (nearest-even, exact in f32), rows padded with zeros to `kp`,
/// in the interleaved pair layout [`tile_pairs`] reads.
pub(super) fn pack_pairs<'a>(
    x: &[f32],
    m: usize,
    k: usize,
    kp: usize,
    out: &'a mut Vec<f32>,
) -> &'a [f32] {
    pack(
        x,
        m,
        k,
        kp,
        2,
        (PAIR_FULL_WIDTH_ROWS, PAIR_ROWS),
        out,
        |v| bf16::from_f32(v).to_f32(),
    )
}

/// The next panel's first byte when this is the panel's first tile: it follows this panel in
/// memory (panels are stored back to back) and is usually what this thread runs next. The
/// first kernel pass of the tile prefetches it, spread over its steps, so that panel arrives from
/// DRAM while this one is computed (measured: without it a 64-row matmul spends about a fifth
/// of its time waiting for each panel's first pass). Past the last panel the hints are harmless.
fn next_panel<W>(panel: &[W], first: bool) -> Option<*const u8> {
    first.then(|| panel.as_ptr_range().end.cast::<u8>())
}

/// Prefetches (into L2) the `2 × 64` bytes of the next panel that step `step` of a pass covers:
/// a pass has as many steps as the panel has rows of `NR` columns, each of `128` bytes of f32 or
/// of bf16 pairs, so one pass prefetches the whole next panel.
#[inline(always)]
fn prefetch_step(next: Option<*const u8>, step: usize) {
    if let Some(at) = next {
        let line = at.wrapping_add(step * 128);
        // SAFETY: `_mm_prefetch` is a hint; any address is allowed.
        unsafe {
            _mm_prefetch::<_MM_HINT_T1>(line.cast::<i8>());
            _mm_prefetch::<_MM_HINT_T1>(line.wrapping_add(64).cast::<i8>());
        }
    }
}

/// Stores `R × V` accumulators into rows `0..R`, columns `col .. col + 8V` of `out`.
///
/// # Safety
/// avx2 must be available; `out` must hold `R` rows and `col + 8V ≤ NR`.
#[inline(always)]
unsafe fn store<const R: usize, const V: usize>(
    acc: &[[__m256; V]; R],
    out: &mut [[f32; NR]],
    col: usize,
) {
    for i in 0..R {
        for v in 0..V {
            // SAFETY: `col + 8v + 8 ≤ NR` (caller's contract), inside row `i` of `out`.
            unsafe { _mm256_storeu_ps(out[i].as_mut_ptr().add(col + 8 * v), acc[i][v]) };
        }
    }
}

/// `R` rows of f32 activations against columns `col .. col + 8V` of an f32 panel.
///
/// # Safety
/// avx2 and fma must be available; `x` must hold `R × k` readable values (`[kk][row]`),
/// `panel` `k × NR`, `out` `R` rows, and `col + 8V ≤ NR`.
#[target_feature(enable = "avx2,fma")]
unsafe fn f32_r<const R: usize, const V: usize>(
    x: *const f32,
    k: usize,
    panel: *const f32,
    next: Option<*const u8>,
    out: &mut [[f32; NR]],
    col: usize,
) {
    let mut acc = [[_mm256_setzero_ps(); V]; R];
    for kk in 0..k {
        prefetch_step(next, kk);
        // SAFETY: `kk < k` and `col + 8V ≤ NR`: inside the panel (caller's contract).
        let w: [__m256; V] =
            std::array::from_fn(|v| unsafe { _mm256_loadu_ps(panel.add(kk * NR + col + 8 * v)) });
        for i in 0..R {
            // SAFETY: `kk·R + i < R·k`, inside `x` (caller's contract).
            let a = _mm256_set1_ps(unsafe { *x.add(kk * R + i) });
            for v in 0..V {
                acc[i][v] = _mm256_fmadd_ps(a, w[v], acc[i][v]);
            }
        }
    }
    // SAFETY: the caller's contract on `out` and `col`.
    unsafe { store(&acc, out, col) };
}

/// `R` rows of bf16-rounded f32 activations against columns `col .. col + 8V` of a bf16 pair
/// panel, widening the weights to f32.
///
/// # Safety
/// avx2 and fma must be available; `x` must hold `R × kp` readable values (`[pair][row][2]`),
/// `panel` `kp × NR`, `out` `R` rows, and `col + 8V ≤ NR`.
#[target_feature(enable = "avx2,fma")]
unsafe fn pairs_r<const R: usize, const V: usize>(
    x: *const f32,
    kp: usize,
    panel: *const bf16,
    next: Option<*const u8>,
    out: &mut [[f32; NR]],
    col: usize,
) {
    let mut acc = [[_mm256_setzero_ps(); V]; R];
    let high = _mm256_set1_epi32(0xFFFF_0000u32 as i32);
    for p in 0..kp / 2 {
        prefetch_step(next, p);
        // Column c's pair (even k in the low half, odd k in the high half) is u32 lane c of
        // the pair-row.
        // SAFETY: `p < kp / 2` and `col + 8V ≤ NR`: 2·(col + 8V) ≤ 2·NR bf16 of pair-row `p`
        // are readable (caller's contract).
        let c: [__m256i; V] = std::array::from_fn(|v| unsafe {
            _mm256_loadu_si256(panel.add(p * 2 * NR + 2 * (col + 8 * v)).cast())
        });
        let even: [__m256; V] =
            std::array::from_fn(|v| _mm256_castsi256_ps(_mm256_slli_epi32::<16>(c[v])));
        let odd: [__m256; V] =
            std::array::from_fn(|v| _mm256_castsi256_ps(_mm256_and_si256(c[v], high)));
        for i in 0..R {
            // SAFETY: `(p·R + i)·2 + 1 < R·kp`, inside `x` (caller's contract).
            let a = _mm256_set1_ps(unsafe { *x.add((p * R + i) * 2) });
            for v in 0..V {
                acc[i][v] = _mm256_fmadd_ps(a, even[v], acc[i][v]);
            }
            // SAFETY: as above.
            let b = _mm256_set1_ps(unsafe { *x.add((p * R + i) * 2 + 1) });
            for v in 0..V {
                acc[i][v] = _mm256_fmadd_ps(b, odd[v], acc[i][v]);
            }
        }
    }
    // SAFETY: the caller's contract on `out` and `col`.
    unsafe { store(&acc, out, col) };
}
