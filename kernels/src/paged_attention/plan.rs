//! Work decomposition shared by the CPU and CUDA backends.
//!
//! A *row* is one (query token, query head) pair. The rows of one sequence and KV head are
//! numbered token-major (`row = j * group + head_in_group`), so a decode step's rows are exactly
//! the query heads of one GQA group. A [`Tile`] is a run of at most `max_rows` consecutive rows
//! of one (sequence, KV head); it needs the keys `kv_lo..kv_hi`. When there are fewer tiles than
//! `min_items`, long tiles are split along the context into [`WorkItem`]s of at least
//! `min_split` tokens, whose partial softmax states (running max, sum, unnormalised output) are
//! merged afterwards, flash-decoding style.

use super::PagedAttentionArgs;

/// How to cut the work for one backend.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlanConfig {
    /// Most rows per tile (a kernel's register/scratch budget).
    pub max_rows: usize,
    /// Split contexts when there are fewer tiles than this (e.g. 4 × threads, 2 × SMs).
    pub min_items: usize,
    /// Shortest context split, in tokens.
    pub min_split: usize,
}

/// Rows `row_start..row_start + num_rows` of (seq, kv_head), with the keys they need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tile {
    pub seq: usize,
    pub kv_head: usize,
    pub row_start: usize,
    pub num_rows: usize,
    /// First key position any row attends to.
    pub kv_lo: usize,
    /// One past the last key position any row attends to.
    pub kv_hi: usize,
    /// Number of work items (context splits) of this tile.
    pub splits: usize,
    /// First partial-state row of this tile (split tiles only): split `k`, row `r` is partial
    /// row `partial_base + k * num_rows + r`.
    pub partial_base: usize,
}

/// One unit of parallel work: keys `kv_start..kv_end` for the rows of `tiles[tile]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WorkItem {
    pub tile: usize,
    pub split: usize,
    pub kv_start: usize,
    pub kv_end: usize,
}

/// The tiles and items of one call. Items of a tile are consecutive, in split order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    pub tiles: Vec<Tile>,
    pub items: Vec<WorkItem>,
    /// Partial-state rows needed by all split tiles (the CUDA backend's scratch size).
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    pub partial_rows: usize,
}

/// Position, first attended key and one-past-last attended key of row `row` of sequence `s`
/// (validated args).
pub(crate) fn row_keys(args: &PagedAttentionArgs<'_>, s: usize, row: usize) -> (usize, usize) {
    let (_, q_len) = args.seq_queries(s);
    let pos = args.context_lens[s] as usize - q_len + row / args.group_size();
    let lo = args
        .sliding_window
        .map_or(0, |w| (pos + 1).saturating_sub(w));
    (lo, pos + 1)
}

impl Plan {
    /// Cuts validated `args` into tiles and work items.
    pub(crate) fn new(args: &PagedAttentionArgs<'_>, cfg: &PlanConfig) -> Self {
        let group = args.group_size();
        let mut tiles = Vec::new();
        for seq in 0..args.num_seqs() {
            let (_, q_len) = args.seq_queries(seq);
            let rows = q_len * group;
            for kv_head in 0..args.num_kv_heads {
                for row_start in (0..rows).step_by(cfg.max_rows.max(1)) {
                    let num_rows = cfg.max_rows.max(1).min(rows - row_start);
                    let (kv_lo, _) = row_keys(args, seq, row_start);
                    let (_, kv_hi) = row_keys(args, seq, row_start + num_rows - 1);
                    tiles.push(Tile {
                        seq,
                        kv_head,
                        row_start,
                        num_rows,
                        kv_lo,
                        kv_hi,
                        splits: 1,
                        partial_base: 0,
                    });
                }
            }
        }
        let split_len = if tiles.len() >= cfg.min_items {
            usize::MAX
        } else {
            let total: usize = tiles.iter().map(|t| t.kv_hi - t.kv_lo).sum();
            let align = args.block_size.max(1);
            total
                .div_ceil(cfg.min_items.max(1))
                .max(cfg.min_split)
                .div_ceil(align)
                .saturating_mul(align)
        };
        let mut items = Vec::with_capacity(tiles.len());
        let mut partial_rows = 0;
        for (index, tile) in tiles.iter_mut().enumerate() {
            let len = tile.kv_hi - tile.kv_lo;
            tile.splits = len.div_ceil(split_len).max(1);
            if tile.splits > 1 {
                tile.partial_base = partial_rows;
                partial_rows += tile.splits * tile.num_rows;
            }
            let step = len.div_ceil(tile.splits);
            for split in 0..tile.splits {
                let kv_start = tile.kv_lo + split * step;
                items.push(WorkItem {
                    tile: index,
                    split,
                    kv_start,
                    kv_end: (kv_start + step).min(tile.kv_hi),
                });
            }
        }
        Plan {
            tiles,
            items,
            partial_rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args<'a>(
        qsl: &'a [u32],
        ctx: &'a [u32],
        bt: &'a [i32],
        mbs: usize,
    ) -> PagedAttentionArgs<'a> {
        PagedAttentionArgs {
            num_heads: 8,
            num_kv_heads: 2,
            head_size: 16,
            block_size: 16,
            num_blocks: 1024,
            query_start_loc: qsl,
            context_lens: ctx,
            block_tables: bt,
            max_blocks_per_seq: mbs,
            scale: 1.0,
            sliding_window: None,
        }
    }

    #[test]
    fn items_cover_every_tile_exactly_once() {
        let bt: Vec<i32> = (0..2 * 64).collect();
        let a = args(&[0, 1, 41], &[1000, 40], &bt, 64);
        let plan = Plan::new(
            &a,
            &PlanConfig {
                max_rows: 16,
                min_items: 64,
                min_split: 64,
            },
        );
        // seq 0: 4 rows per kv head -> 2 tiles; seq 1: 160 rows per kv head -> 10 tiles each.
        assert_eq!(plan.tiles.len(), 2 + 20);
        let mut partial = 0;
        for (t, tile) in plan.tiles.iter().enumerate() {
            let items: Vec<_> = plan.items.iter().filter(|i| i.tile == t).collect();
            assert_eq!(items.len(), tile.splits);
            assert_eq!(items[0].kv_start, tile.kv_lo);
            assert_eq!(items.last().unwrap().kv_end, tile.kv_hi);
            assert!(
                items
                    .windows(2)
                    .all(|w| w[0].kv_end == w[1].kv_start && w[0].split + 1 == w[1].split)
            );
            if tile.splits > 1 {
                assert_eq!(tile.partial_base, partial);
                partial += tile.splits * tile.num_rows;
            }
        }
        assert_eq!(plan.partial_rows, partial);
        assert!(
            plan.tiles[0].splits > 1,
            "the long decode sequence is split"
        );
        // Causal: the last tile of seq 1 ends at its context length.
        assert_eq!(plan.tiles[11].kv_hi, 40);
        assert_eq!(plan.tiles[2].kv_hi, 4);
    }

    #[test]
    fn enough_tiles_means_no_split() {
        let bt: Vec<i32> = (0..64).collect();
        let a = args(&[0, 1], &[1000], &bt, 64);
        let plan = Plan::new(
            &a,
            &PlanConfig {
                max_rows: 16,
                min_items: 2,
                min_split: 64,
            },
        );
        assert_eq!(plan.items.len(), 2);
        assert_eq!(plan.partial_rows, 0);
    }
}
