//! CUDA paged attention (`paged_attention.cu`): the host plans work items exactly like the CPU
//! backend (`plan.rs`), uploads them with the metadata, and launches one CTA per item, plus a
//! merge kernel for split contexts.
#![allow(unsafe_code)]

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use super::plan::{Plan, PlanConfig};
use super::{PagedAttentionArgs, PagedAttentionOp, ReshapeAndCacheArgs};
use crate::cuda::{CudaBackend, KernelSource, driver_err};
use crate::device::{DType, FloatElem};
use crate::{KernelError, Result};

/// The embedded kernel source.
pub static SOURCE: KernelSource = KernelSource {
    name: "paged_attention.cu",
    code: include_str!("paged_attention.cu"),
};

/// Threads per CTA (`NTHREADS` in the `.cu`).
const THREADS: u32 = 128;
/// Split contexts until there are about this many work items: ~15 CTAs per H100 SM, i.e. several
/// waves at 3–4 resident CTAs per SM, so the last wave's tail stays small. A split costs only
/// its partial output (rows × head_size floats) and a share of the merge launch.
const MIN_ITEMS: usize = 2048;
/// Shortest context split, in tokens.
const MIN_SPLIT: usize = 512;
/// Lane layouts with 16-byte loads: a head size that is a multiple of the vector width and at
/// most one of these capacities runs the smallest such kernel (`d64`, `d128`, `d256`).
const VECTOR_CAPACITIES: [usize; 3] = [64, 128, 256];

/// The kernel variant for `head_size` with `T`: `d{capacity}` or `generic`.
fn variant<T: FloatElem>(head_size: usize) -> Option<usize> {
    let vec = 16 / size_of::<T>();
    if !head_size.is_multiple_of(vec) {
        return None;
    }
    VECTOR_CAPACITIES.into_iter().find(|&cap| head_size <= cap)
}

const OP: &str = "paged_attention";

/// The `.cu` name of a dtype.
fn dtype_name<T: FloatElem>(op: &'static str) -> Result<&'static str> {
    let name = match T::DTYPE {
        DType::F32 => "f32",
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        other => {
            return Err(KernelError::invalid(
                op,
                "key_cache",
                format!("has dtype {other}; the CUDA kernels take f32, f16 or bf16"),
            ));
        }
    };
    if size_of::<T>() != T::DTYPE.size() {
        return Err(KernelError::invalid(
            op,
            "key_cache",
            format!(
                "element type is {} bytes but claims dtype {}",
                size_of::<T>(),
                T::DTYPE
            ),
        ));
    }
    Ok(name)
}

/// Rows per CTA of the kernel variant for a GQA group of `group` heads.
fn rows_per_cta(group: usize, fast: bool) -> usize {
    match group {
        1 => 1,
        2..=4 => 4,
        _ if fast => 8,
        _ => 4,
    }
}

fn to_i32(v: usize, what: &'static str) -> Result<i32> {
    i32::try_from(v).map_err(|_| {
        KernelError::invalid(
            OP,
            what,
            format!("{v} exceeds the CUDA kernels' 32-bit indexing"),
        )
    })
}

impl PagedAttentionOp for CudaBackend {
    fn paged_attention<T: FloatElem>(
        &self,
        out: &mut CudaSlice<f32>,
        query: &CudaSlice<f32>,
        key_cache: &CudaSlice<T>,
        value_cache: &CudaSlice<T>,
        args: &PagedAttentionArgs<'_>,
    ) -> Result<()> {
        // Buffers of zero elements are allocated with one element on this backend.
        let len = |n: usize, want: usize| if want == 0 && n == 1 { 0 } else { n };
        let q_elems = args.query_elems().unwrap_or(usize::MAX);
        let cache = args.cache_elems().unwrap_or(usize::MAX);
        args.validate(
            len(query.len(), q_elems),
            len(key_cache.len(), cache),
            len(value_cache.len(), cache),
            len(out.len(), q_elems),
        )?;
        let dtype = dtype_name::<T>(OP)?;
        if args.num_tokens() == 0 {
            return Ok(());
        }
        to_i32(q_elems, "query")?;
        to_i32(
            args.context_lens.iter().copied().max().unwrap_or(0) as usize,
            "context_lens",
        )?;
        let d = args.head_size;
        let capacity = variant::<T>(d);
        let rows = rows_per_cta(args.group_size(), capacity.is_some());
        let plan = Plan::new(
            args,
            &PlanConfig {
                max_rows: rows,
                min_items: MIN_ITEMS,
                min_split: MIN_SPLIT,
            },
        );
        let tiles: Vec<i32> = plan
            .tiles
            .iter()
            .flat_map(|t| {
                [
                    t.seq,
                    t.kv_head,
                    t.row_start,
                    t.num_rows,
                    t.splits,
                    t.partial_base,
                    t.kv_lo,
                    t.kv_hi,
                ]
            })
            .map(|v| v as i32)
            .collect();
        let items: Vec<i32> = plan
            .items
            .iter()
            .flat_map(|i| [i.tile, i.kv_start, i.kv_end, i.split])
            .map(|v| v as i32)
            .collect();
        let split_tiles: Vec<i32> = (0..plan.tiles.len())
            .filter(|&t| plan.tiles[t].splits > 1)
            .map(|t| t as i32)
            .collect();
        let up = |e: &'static str| driver_err(e);
        let s = self.stream();
        let d_qsl = s
            .clone_htod(args.query_start_loc)
            .map_err(up("uploading query_start_loc"))?;
        let d_ctx = s
            .clone_htod(args.context_lens)
            .map_err(up("uploading context_lens"))?;
        let d_tables = if args.block_tables.is_empty() {
            s.alloc_zeros::<i32>(1)
        } else {
            s.clone_htod(args.block_tables)
        }
        .map_err(up("uploading block_tables"))?;
        let d_tiles = s
            .clone_htod(&tiles)
            .map_err(up("uploading the work plan"))?;
        let d_items = s
            .clone_htod(&items)
            .map_err(up("uploading the work plan"))?;
        let partial_rows = plan.partial_rows.max(1);
        let mut d_partial_acc = s
            .alloc_zeros::<f32>(partial_rows * d)
            .map_err(up("allocating split scratch"))?;
        let mut d_partial_ml = s
            .alloc_zeros::<f32>(partial_rows * 2)
            .map_err(up("allocating split scratch"))?;

        let name = match capacity {
            Some(cap) => format!("paged_attention_{dtype}_d{cap}_r{rows}"),
            None => format!("paged_attention_{dtype}_generic_r{rows}"),
        };
        let func = self.function(&SOURCE, &name)?;
        let scale_log2 = args.scale * std::f32::consts::LOG2_E;
        let window = to_i32(args.sliding_window.unwrap_or(0), "sliding_window")?;
        let (heads, kv_heads, head_size) = (
            to_i32(args.num_heads, "num_heads")?,
            to_i32(args.num_kv_heads, "num_kv_heads")?,
            d as i32,
        );
        let (block_size, max_blocks) = (
            args.block_size as i32,
            to_i32(args.max_blocks_per_seq, "max_blocks_per_seq")?,
        );
        let cfg = LaunchConfig {
            grid_dim: (to_i32(plan.items.len(), "work items")? as u32, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut launch = s.launch_builder(&func);
        launch
            .arg(&mut *out)
            .arg(query)
            .arg(key_cache)
            .arg(value_cache)
            .arg(&d_qsl)
            .arg(&d_ctx)
            .arg(&d_tables)
            .arg(&d_tiles)
            .arg(&d_items)
            .arg(&mut d_partial_acc)
            .arg(&mut d_partial_ml)
            .arg(&heads)
            .arg(&kv_heads)
            .arg(&head_size)
            .arg(&block_size)
            .arg(&max_blocks)
            .arg(&scale_log2)
            .arg(&window);
        // SAFETY: the arguments match the kernel signature (PA_ARGS in the .cu: float*, const
        // float*, 2 × const T*, 2 × const uint*, 3 × const int*, 2 × float*, 6 × int, float, int)
        // in order. validate() checked query/out = tokens × heads × head_size, both caches =
        // num_blocks × kv_heads × block_size × head_size, every block id that a context length
        // reaches is < num_blocks and every context fits its table row; the plan's items only
        // cover positions < context_lens and rows < q_len × group; partial rows < partial_rows.
        // So every load and store stays inside its buffer.
        unsafe { launch.launch(cfg) }.map_err(driver_err("launching paged_attention"))?;

        if !split_tiles.is_empty() {
            let d_split = s
                .clone_htod(&split_tiles)
                .map_err(up("uploading the merge plan"))?;
            let merge = self.function(&SOURCE, "paged_attention_merge")?;
            let cfg = LaunchConfig {
                grid_dim: (split_tiles.len() as u32, rows as u32, 1),
                block_dim: (THREADS, 1, 1),
                shared_mem_bytes: 0,
            };
            let mut launch = s.launch_builder(&merge);
            launch
                .arg(&mut *out)
                .arg(&d_tiles)
                .arg(&d_split)
                .arg(&d_qsl)
                .arg(&d_partial_acc)
                .arg(&d_partial_ml)
                .arg(&heads)
                .arg(&kv_heads)
                .arg(&head_size);
            // SAFETY: arguments match `paged_attention_merge` (float*, 3 × const int/uint*,
            // 2 × const float*, 3 × int). Each split tile's partial rows were all written by the
            // previous launch on the same stream (partial_base + split × num_rows + r <
            // partial_rows), and the output rows are valid token/head rows of `out`.
            unsafe { launch.launch(cfg) }.map_err(driver_err("launching paged_attention_merge"))?;
        }
        Ok(())
    }

    fn reshape_and_cache<T: FloatElem>(
        &self,
        key: &CudaSlice<f32>,
        value: &CudaSlice<f32>,
        key_cache: &mut CudaSlice<T>,
        value_cache: &mut CudaSlice<T>,
        args: &ReshapeAndCacheArgs<'_>,
    ) -> Result<()> {
        let elems = args.num_tokens * args.num_kv_heads * args.head_size;
        let len = |n: usize| if elems == 0 && n == 1 { 0 } else { n };
        args.validate(
            len(key.len()),
            len(value.len()),
            key_cache.len(),
            value_cache.len(),
        )?;
        let dtype = dtype_name::<T>("reshape_and_cache")?;
        if args.num_tokens == 0 {
            return Ok(());
        }
        let s = self.stream();
        let d_slots = s
            .clone_htod(args.slot_mapping)
            .map_err(driver_err("uploading slot_mapping"))?;
        let func = self.function(&SOURCE, &format!("reshape_and_cache_{dtype}"))?;
        let (kv_heads, head_size, block_size) = (
            args.num_kv_heads as i32,
            args.head_size as i32,
            args.block_size as i32,
        );
        let cfg = LaunchConfig {
            grid_dim: (args.num_tokens as u32, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut launch = s.launch_builder(&func);
        launch
            .arg(key)
            .arg(value)
            .arg(key_cache)
            .arg(value_cache)
            .arg(&d_slots)
            .arg(&kv_heads)
            .arg(&head_size)
            .arg(&block_size);
        // SAFETY: arguments match `reshape_and_cache_<dtype>` (2 × const float*, 2 × T*,
        // const long long*, 3 × int). validate() checked key/value = tokens × kv_heads ×
        // head_size, the caches' size, every non-negative slot < num_blocks × block_size and
        // that no slot repeats (so no two CTAs write the same element).
        unsafe { launch.launch(cfg) }.map_err(driver_err("launching reshape_and_cache"))?;
        Ok(())
    }
}
