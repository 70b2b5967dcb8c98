//! One model forward step (`Model::forward` over the paged KV cache), for the built-in `tiny` and
//! a dummy-weight model of the Qwen2.5-0.5B shape (`models/qwen05-shape` in the shared data), with
//! f32 and bf16 linear weights side by side:
//! - `decode_b{1,8,32}`: one new token for each of 1, 8 or 32 sequences, each with 128 tokens
//!   already cached (the cache holds zeros: attention costs the same whatever the values, and
//!   filling it by prefill would take about 30 s for 32 sequences of the 0.5B shape here);
//! - `prefill_512`: one sequence's 512-token prompt (the LM head runs on its last row only).
//!
//! Throughput is in tokens. After a measuring run [`report`] prints each batch-1 decode's weight
//! bytes per second beside a DRAM read measured in the same process: batch-1 decode streams every
//! linear weight once, so that ratio is how close the step is to the memory floor.
//!
//! The quick profile (`--quick`, and `--test` smoke runs) leaves out the 0.5B prefill, which
//! takes several seconds per step. The 0.5B model loads in about 1–2 s per dtype (random weights,
//! about 1.4 GB in f32); when the shared data directory is absent it is skipped with a note.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use criterion::{Criterion, SamplingMode, Throughput};
use dyno_benches::{Profile, bench_id, cpu_label, profile};
use dyno_engine::model::{ModelDtype, WeightDtype};
use dyno_engine::{
    BatchInput, BlockId, KvCache, KvDtype, LlamaModel, LoadFormat, LoadOptions, Model, load_model,
};

/// Cached tokens of each decoding sequence.
const CONTEXT: usize = 128;
/// Decode batch sizes.
const DECODE_BATCHES: [usize; 3] = [1, 8, 32];
/// Prompt tokens of the prefill bench.
const PREFILL: usize = 512;
const BLOCK_SIZE: usize = 16;

/// (benchmark ID, bytes of weights one step streams) of every decode bench registered, for
/// [`report`].
static STREAMED: Mutex<Vec<(String, u64)>> = Mutex::new(Vec::new());

/// `$DYNO_SHARED_DATA`, else `../shared/data` beside the workspace root.
fn shared_data() -> PathBuf {
    std::env::var_os("DYNO_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")))
}

/// The models to bench: a short name for IDs and how to load it with a given dtype.
fn models() -> Vec<(&'static str, String, LoadFormat)> {
    let mut models = vec![("tiny", "tiny".to_owned(), LoadFormat::Auto)];
    let qwen = shared_data().join("models/qwen05-shape");
    if qwen.join("config.json").is_file() {
        models.push((
            "qwen05",
            qwen.to_string_lossy().into_owned(),
            LoadFormat::Dummy,
        ));
    } else {
        eprintln!(
            "note: model_forward qwen05 benches skipped: no {} (set DYNO_SHARED_DATA)",
            qwen.join("config.json").display()
        );
    }
    models
}

fn load(spec: &str, load_format: LoadFormat, dtype: WeightDtype) -> LlamaModel {
    let options = LoadOptions {
        load_format,
        dtype: ModelDtype::from(dtype),
        ..LoadOptions::default()
    };
    load_model(spec, &options)
        .unwrap_or_else(|e| panic!("loading {spec} as {dtype}: {e}"))
        .model
}

/// The step and a cache that holds it: `seqs` sequences of `new` tokens after `cached` tokens,
/// each on its own run of blocks.
fn step(model: &LlamaModel, seqs: usize, cached: usize, new: usize) -> (BatchInput, KvCache) {
    let per_seq = (cached + new).div_ceil(BLOCK_SIZE);
    let kv = KvCache::new(model.config(), seqs * per_seq, BLOCK_SIZE, KvDtype::F32)
        .expect("valid kv cache");
    let vocab = model.config().vocab_size as u32;
    let mut batch = BatchInput::new(BLOCK_SIZE);
    for s in 0..seqs {
        let blocks: Vec<BlockId> = (s * per_seq..(s + 1) * per_seq)
            .map(|b| BlockId(b as u32))
            .collect();
        let tokens: Vec<u32> = (0..new as u32)
            .map(|t| (t * 31 + s as u32 * 7 + 3) % vocab)
            .collect();
        batch.push_seq(&tokens, cached, &blocks, true);
    }
    (batch, kv)
}

/// Registers the model-forward benchmarks.
pub fn bench(c: &mut Criterion) {
    let quick = profile() == Profile::Quick;
    let label = cpu_label(&dyno_kernels::CpuBackend::new());
    let dtypes = [WeightDtype::F32, WeightDtype::Bf16];
    let mut g = c.benchmark_group("model_forward");
    // Steps take milliseconds to seconds: every sample runs the same number of steps.
    g.sampling_mode(SamplingMode::Flat);
    for (name, spec, format) in models() {
        // Both dtypes loaded at once so each shape's f32 and bf16 runs are adjacent in time.
        let mut loaded: Vec<LlamaModel> = dtypes.iter().map(|&d| load(&spec, format, d)).collect();
        let mut shapes: Vec<(String, usize, usize, usize)> = DECODE_BATCHES
            .iter()
            .map(|&b| (format!("{name}_decode_b{b}"), b, CONTEXT, 1))
            .collect();
        if !(quick && name != "tiny") {
            shapes.push((format!("{name}_prefill_{PREFILL}"), 1, 0, PREFILL));
        }
        for (shape, seqs, cached, new) in shapes {
            let prefill = new > 1;
            g.sample_size(if prefill && name != "tiny" { 10 } else { 20 });
            g.throughput(Throughput::Elements((seqs * new) as u64));
            for model in &mut loaded {
                let id = bench_id(&label, "model_forward", model.dtype().as_str(), &shape);
                if seqs == 1 && !prefill {
                    STREAMED
                        .lock()
                        .expect("registry")
                        .push((id.clone(), model.streamed_weight_bytes() as u64));
                }
                let (batch, mut kv) = step(model, seqs, cached, new);
                g.bench_function(id, |b| {
                    b.iter(|| model.forward(&batch, &mut kv).expect("forward"))
                });
            }
        }
    }
    g.finish();
}

/// Prints batch-1 decode as weight bytes per second beside the DRAM read bandwidth measured now
/// (same thread count, a buffer as large as the largest model's weights), for the results
/// written since `since`. Weights smaller than the last-level cache (`tiny`) can exceed 100 %.
pub fn report(since: SystemTime) {
    let streamed = STREAMED.lock().expect("registry").clone();
    if streamed.is_empty() {
        return;
    }
    let medians =
        dyno_benches::roofline::medians(&dyno_benches::roofline::criterion_dir(), Some(since));
    let rows: Vec<(String, u64, f64)> = streamed
        .into_iter()
        .filter_map(|(id, bytes)| {
            let (_, ns) = medians.iter().find(|(m, _)| *m == id)?;
            Some((id, bytes, *ns))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let largest = rows.iter().map(|r| r.1).max().unwrap_or(0) as usize;
    let buffer: Vec<f32> = (0..largest.max(256 << 20) / 4)
        .map(|i| (i % 1024) as f32)
        .collect();
    let threads = rayon::current_num_threads();
    let isa = dyno_kernels::Isa::detect();
    let mut times: Vec<f64> = (0..7)
        .map(|_| {
            let t = std::time::Instant::now();
            std::hint::black_box(dyno_kernels::bandwidth::read(&buffer, threads, isa));
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let dram = (buffer.len() * 4) as f64 / times[times.len() / 2] / 1e9;
    println!(
        "\n# Batch-1 decode against memory bandwidth\n\nDRAM read ({threads} threads, {} MiB, median of 7): {dram:.1} GB/s.\n",
        (buffer.len() * 4) >> 20
    );
    println!("| benchmark | weights | median | weight GB/s | % DRAM read |");
    println!("|---|---:|---:|---:|---:|");
    for (id, bytes, ns) in rows {
        let gbps = bytes as f64 / ns;
        println!(
            "| `{id}` | {:.1} MiB | {:.2} ms | {gbps:.1} | {:.0} % |",
            bytes as f64 / (1 << 20) as f64,
            ns / 1e6,
            100.0 * gbps / dram
        );
    }
}
