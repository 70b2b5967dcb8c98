//! Fast CPU paged attention: plans work items (see `plan.rs`), runs them on rayon with the
//! per-ISA item kernel (`cpu_avx512.rs`, `cpu_portable.rs`), then normalises or merges the
//! partial softmax states into `out`. Also the CPU `reshape_and_cache`.
#![allow(unsafe_code)]

use std::any::TypeId;

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};
use rayon::prelude::*;

use super::plan::{Plan, PlanConfig, Tile, WorkItem, row_keys};
use super::{PagedAttentionArgs, PagedAttentionOp, ReshapeAndCacheArgs, reference};
use crate::Result;
use crate::cpu::{CpuBackend, Isa};
use crate::device::FloatElem;

/// Keys scored per online-softmax step (a multiple of 16).
pub(super) const CHUNK: usize = 64;
/// Most (token, head) rows per tile: 8 decode tokens of a 4-head group, or 2 of a 16-head one.
const MAX_ROWS: usize = 32;
/// Shortest context split when there are too few tiles for the threads.
const MIN_SPLIT: usize = 256;
/// Below this many (row, key) pairs the call stays on the calling thread.
const PARALLEL_MIN_WORK: usize = 1 << 14;

impl PagedAttentionOp for CpuBackend {
    fn paged_attention<T: FloatElem>(
        &self,
        out: &mut Vec<f32>,
        query: &Vec<f32>,
        key_cache: &Vec<T>,
        value_cache: &Vec<T>,
        args: &PagedAttentionArgs<'_>,
    ) -> Result<()> {
        paged_attention(self.isa(), out, query, key_cache, value_cache, args)
    }

    fn reshape_and_cache<T: FloatElem>(
        &self,
        key: &Vec<f32>,
        value: &Vec<f32>,
        key_cache: &mut Vec<T>,
        value_cache: &mut Vec<T>,
        args: &ReshapeAndCacheArgs<'_>,
    ) -> Result<()> {
        reshape_and_cache(key, value, key_cache, value_cache, args)
    }
}

/// KV dtypes with a fast path. Sealed: only f32, f16 and bf16.
pub(super) trait KvElem: FloatElem {
    /// Which of the three it is, for `match`es that monomorphisation folds away.
    const KIND: Kind;
    /// Widens a row to f32.
    fn widen(src: &[Self], dst: &mut [f32]);
}

/// The storage format of a [`KvElem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    F32,
    F16,
    Bf16,
}

impl KvElem for f32 {
    const KIND: Kind = Kind::F32;
    #[inline(always)]
    fn widen(src: &[f32], dst: &mut [f32]) {
        dst.copy_from_slice(src);
    }
}
impl KvElem for f16 {
    const KIND: Kind = Kind::F16;
    #[inline(always)]
    fn widen(src: &[f16], dst: &mut [f32]) {
        src.convert_to_f32_slice(dst);
    }
}
impl KvElem for bf16 {
    const KIND: Kind = Kind::Bf16;
    #[inline(always)]
    fn widen(src: &[bf16], dst: &mut [f32]) {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = f32::from_bits(u32::from(s.to_bits()) << 16);
        }
    }
}

/// Reinterprets `&[T]` as `&[U]` when they are the same type.
fn cast<T: 'static, U: 'static>(s: &[T]) -> Option<&[U]> {
    (TypeId::of::<T>() == TypeId::of::<U>()).then(|| {
        // SAFETY: `T` and `U` are the same type, so this is the identity cast.
        unsafe { &*(s as *const [T] as *const [U]) }
    })
}

/// Mutable [`cast`].
fn cast_mut<T: 'static, U: 'static>(s: &mut [T]) -> Option<&mut [U]> {
    (TypeId::of::<T>() == TypeId::of::<U>()).then(|| {
        // SAFETY: `T` and `U` are the same type, so this is the identity cast.
        unsafe { &mut *(s as *mut [T] as *mut [U]) }
    })
}

/// Fast CPU paged attention over host slices with an explicit ISA (used by the backend, tests and
/// benches). KV types other than f32/f16/bf16 fall back to the reference.
pub fn paged_attention<T: FloatElem>(
    isa: Isa,
    out: &mut [f32],
    query: &[f32],
    key_cache: &[T],
    value_cache: &[T],
    args: &PagedAttentionArgs<'_>,
) -> Result<()> {
    args.validate(query.len(), key_cache.len(), value_cache.len(), out.len())?;
    if let (Some(k), Some(v)) = (cast::<T, bf16>(key_cache), cast::<T, bf16>(value_cache)) {
        run(isa, out, query, k, v, args);
    } else if let (Some(k), Some(v)) = (cast::<T, f16>(key_cache), cast::<T, f16>(value_cache)) {
        run(isa, out, query, k, v, args);
    } else if let (Some(k), Some(v)) = (cast::<T, f32>(key_cache), cast::<T, f32>(value_cache)) {
        run(isa, out, query, k, v, args);
    } else {
        reference::paged_attention(out, query, key_cache, value_cache, args)?;
    }
    Ok(())
}

/// One query row of a work item.
#[derive(Debug, Clone, Copy)]
pub(super) struct RowInfo {
    /// Offset of the row in `query` (and `out`).
    pub q_off: usize,
    /// First attended key position.
    pub lo: usize,
    /// One past the last attended key position.
    pub hi: usize,
}

impl RowInfo {
    /// A padding row that attends to nothing.
    pub const PAD: RowInfo = RowInfo {
        q_off: 0,
        lo: 0,
        hi: 0,
    };

    /// The attended keys of this row within the chunk `c0..c0 + n`, as chunk indices `a..b`.
    #[inline(always)]
    pub fn window(&self, c0: usize, n: usize) -> (usize, usize) {
        (
            self.lo.saturating_sub(c0).min(n),
            self.hi.saturating_sub(c0).min(n),
        )
    }
}

/// Everything an item kernel reads.
pub(super) struct ItemCtx<'a, T> {
    pub query: &'a [f32],
    pub key_cache: &'a [T],
    pub value_cache: &'a [T],
    pub args: &'a PagedAttentionArgs<'a>,
    pub seq: usize,
    pub kv_head: usize,
    pub kv_start: usize,
    pub kv_end: usize,
    pub rows: &'a [RowInfo],
}

/// Per-thread scratch, reused across items.
#[derive(Default)]
pub(super) struct Scratch {
    pub q: Vec<f32>,
    pub acc: Vec<f32>,
    pub s: Vec<f32>,
    pub m: Vec<f32>,
    pub l: Vec<f32>,
    pub alpha: Vec<f32>,
    pub offs: Vec<usize>,
    pub offs_next: Vec<usize>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
    rows: Vec<RowInfo>,
}

/// The softmax state an item leaves for its rows: running max `m`, sum `l` and the
/// unnormalised output `acc` (`[rows, head_size]`, natural order).
#[derive(Debug, Default)]
pub(super) struct ItemResult {
    pub m: Vec<f32>,
    pub l: Vec<f32>,
    pub acc: Vec<f32>,
}

fn run<T: KvElem>(
    isa: Isa,
    out: &mut [f32],
    query: &[f32],
    key_cache: &[T],
    value_cache: &[T],
    args: &PagedAttentionArgs<'_>,
) {
    let threads = rayon::current_num_threads();
    let cfg = PlanConfig {
        max_rows: MAX_ROWS,
        min_items: if threads > 1 { 4 * threads } else { 1 },
        min_split: MIN_SPLIT,
    };
    let plan = Plan::new(args, &cfg);
    let work: usize = plan
        .tiles
        .iter()
        .map(|t| t.num_rows * (t.kv_hi - t.kv_lo))
        .sum();
    let exec = |sc: &mut Scratch, item: &WorkItem| {
        run_item(
            isa,
            query,
            key_cache,
            value_cache,
            args,
            &plan.tiles[item.tile],
            item,
            sc,
        )
    };
    let results: Vec<ItemResult> =
        if plan.items.len() > 1 && threads > 1 && work >= PARALLEL_MIN_WORK {
            plan.items
                .par_iter()
                .map_init(Scratch::default, exec)
                .collect()
        } else {
            let mut sc = Scratch::default();
            plan.items.iter().map(|item| exec(&mut sc, item)).collect()
        };
    let mut next = 0;
    for tile in &plan.tiles {
        write_tile(out, args, tile, &results[next..next + tile.splits]);
        next += tile.splits;
    }
}

#[allow(clippy::too_many_arguments)]
fn run_item<T: KvElem>(
    isa: Isa,
    query: &[f32],
    key_cache: &[T],
    value_cache: &[T],
    args: &PagedAttentionArgs<'_>,
    tile: &Tile,
    item: &WorkItem,
    sc: &mut Scratch,
) -> ItemResult {
    let mut rows = std::mem::take(&mut sc.rows);
    rows.clear();
    rows.extend((tile.row_start..tile.row_start + tile.num_rows).map(|row| {
        let (lo, hi) = row_keys(args, tile.seq, row);
        RowInfo {
            q_off: out_offset(args, tile, row),
            lo,
            hi,
        }
    }));
    let ctx = ItemCtx {
        query,
        key_cache,
        value_cache,
        args,
        seq: tile.seq,
        kv_head: tile.kv_head,
        kv_start: item.kv_start,
        kv_end: item.kv_end,
        rows: &rows,
    };
    let mut res = ItemResult::default();
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` is only constructed after run-time detection of AVX-512F/BW/VL/DQ.
        Isa::Avx512 => unsafe { super::cpu_avx512::item(&ctx, sc, &mut res) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` is only constructed after run-time detection of AVX2, FMA and F16C.
        Isa::Avx2 => unsafe { super::cpu_portable::item_avx2(&ctx, sc, &mut res) },
        _ => super::cpu_portable::item(&ctx, sc, &mut res),
    }
    sc.rows = rows;
    res
}

/// Offset in `query`/`out` of row `row` (token-major within the sequence) of `tile`'s group.
fn out_offset(args: &PagedAttentionArgs<'_>, tile: &Tile, row: usize) -> usize {
    let group = args.group_size();
    let (first, _) = args.seq_queries(tile.seq);
    let token = first + row / group;
    let head = tile.kv_head * group + row % group;
    (token * args.num_heads + head) * args.head_size
}

/// Normalises (one split) or merges (several) the items of `tile` into `out`.
fn write_tile(out: &mut [f32], args: &PagedAttentionArgs<'_>, tile: &Tile, parts: &[ItemResult]) {
    let d = args.head_size;
    for r in 0..tile.num_rows {
        let off = out_offset(args, tile, tile.row_start + r);
        let dst = &mut out[off..off + d];
        let m = parts
            .iter()
            .map(|p| p.m[r])
            .fold(f32::NEG_INFINITY, f32::max);
        let weight = |p: &ItemResult| {
            if p.m[r] == f32::NEG_INFINITY {
                0.0
            } else {
                (p.m[r] - m).exp()
            }
        };
        let total: f32 = parts.iter().map(|p| p.l[r] * weight(p)).sum();
        let inv = if total > 0.0 { 1.0 / total } else { 0.0 };
        dst.fill(0.0);
        for p in parts {
            let w = weight(p) * inv;
            for (o, &a) in dst.iter_mut().zip(&p.acc[r * d..(r + 1) * d]) {
                *o += w * a;
            }
        }
    }
}

/// `e^x` for `x ≤ 0` to a few ulp, branch-free so it vectorises (Cody–Waite reduction, degree-7
/// polynomial). Inputs below -87 give about `1.6e-38` instead of a smaller value or 0.
#[inline(always)]
pub(super) fn exp_neg(x: f32) -> f32 {
    let x = x.max(-87.0);
    // Round to nearest with the 1.5 * 2^23 trick (no libm call, vectorisable).
    let n = (x * std::f32::consts::LOG2_E + 12_582_912.0) - 12_582_912.0;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = poly_exp(r);
    p * f32::from_bits((((n as i32) + 127) as u32) << 23)
}

/// ln 2 split for Cody–Waite reduction: `LN2_HI` has 9 significant bits, so `n * LN2_HI` is exact.
pub(super) const LN2_HI: f32 = 355.0 / 512.0;
/// The rest of ln 2.
pub(super) const LN2_LO: f32 = -2.121_944_4e-4;
/// Taylor coefficients 1/k! of e^r, k = 0..=7 (|r| ≤ ln2/2: truncation error < 6e-9).
pub(super) const EXP_POLY: [f32; 8] = [
    1.0,
    1.0,
    0.5,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
];

#[inline(always)]
fn poly_exp(r: f32) -> f32 {
    let mut p = EXP_POLY[7];
    for &c in EXP_POLY[..7].iter().rev() {
        p = p * r + c;
    }
    p
}

/// Fast CPU `reshape_and_cache` over host slices (validates first): row-wise conversion with
/// `half`'s SIMD slice converters.
pub fn reshape_and_cache<T: FloatElem>(
    key: &[f32],
    value: &[f32],
    key_cache: &mut [T],
    value_cache: &mut [T],
    args: &ReshapeAndCacheArgs<'_>,
) -> Result<()> {
    args.validate(key.len(), value.len(), key_cache.len(), value_cache.len())?;
    let d = args.head_size;
    let write = |cache: &mut [T], src: &[f32], dst: usize| {
        let dst = &mut cache[dst..dst + d];
        if let Some(c) = cast_mut::<T, f32>(dst) {
            c.copy_from_slice(src);
        } else if let Some(c) = cast_mut::<T, f16>(dst) {
            c.convert_from_f32_slice(src);
        } else if let Some(c) = cast_mut::<T, bf16>(dst) {
            c.convert_from_f32_slice(src);
        } else {
            for (o, &x) in dst.iter_mut().zip(src) {
                *o = T::from_f32(x);
            }
        }
    };
    for (t, &slot) in args.slot_mapping.iter().enumerate() {
        if slot < 0 {
            continue;
        }
        for kv_head in 0..args.num_kv_heads {
            let src = (t * args.num_kv_heads + kv_head) * d;
            let dst = args.slot_offset(slot as usize, kv_head);
            write(key_cache, &key[src..src + d], dst);
            write(value_cache, &value[src..src + d], dst);
        }
    }
    Ok(())
}
