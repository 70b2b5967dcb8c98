//! Flags of the in-process engine (`bench throughput`, `bench latency`, `generate`), with vLLM's
//! names and defaults.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// How the model is loaded and the engine is set up.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// `tiny` (the built-in model, no files), a Hugging Face model directory, or a llama2.c
    /// `.bin` checkpoint.
    #[arg(long, default_value = "tiny")]
    pub model: String,
    /// A tokenizer directory (`tokenizer.json`) or llama2.c `tokenizer.bin`; default: the model's.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// `auto` reads the checkpoint; `dummy` makes random weights for the model's config.
    #[arg(long, value_enum, default_value_t = LoadFormatArg::Auto)]
    pub load_format: LoadFormatArg,
    /// Weight storage type: auto (float32), float32, bfloat16.
    #[arg(long, default_value = "auto")]
    pub dtype: String,
    /// Most sequences running at once.
    #[arg(long, default_value_t = 256)]
    pub max_num_seqs: usize,
    /// Most tokens computed per step, all sequences together.
    #[arg(long, default_value_t = 8192)]
    pub max_num_batched_tokens: usize,
    /// Longest sequence (prompt plus output); default: the model's context length.
    #[arg(long)]
    pub max_model_len: Option<usize>,
    /// Tokens per KV-cache block.
    #[arg(long, default_value_t = 16)]
    pub block_size: usize,
    /// KV-cache size in bytes (suffixes K, M, G, KiB, MiB, GiB accepted); default: 4 GiB, capped
    /// at what `--max-num-seqs` full-length sequences need.
    #[arg(long, value_parser = parse_bytes)]
    pub kv_cache_memory: Option<u64>,
    /// KV-cache storage type.
    #[arg(long, value_enum, default_value_t = KvDtypeArg::Auto)]
    pub kv_cache_dtype: KvDtypeArg,
    /// Turn automatic prefix caching off (on by default, as in vLLM v1).
    #[arg(long)]
    pub no_enable_prefix_caching: bool,
    /// Schedule each prompt whole instead of in chunks.
    #[arg(long)]
    pub no_enable_chunked_prefill: bool,
    /// Most prompt tokens one sequence may run per step (0 = no cap).
    #[arg(long, default_value_t = 0)]
    pub long_prefill_token_threshold: usize,
    /// Which waiting request runs next (and which running one is preempted).
    #[arg(long, value_enum, default_value_t = PolicyArg::Fcfs)]
    pub scheduling_policy: PolicyArg,
    /// Seed of the dummy weights and of requests that bring no seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// CPU threads for the model (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// `--load-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoadFormatArg {
    /// Read the checkpoint.
    Auto,
    /// Random weights for the model's config.
    Dummy,
}

/// `--kv-cache-dtype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KvDtypeArg {
    /// float32.
    Auto,
    /// 4-byte floats.
    Float32,
    /// bfloat16.
    Bfloat16,
    /// IEEE half.
    Float16,
}

/// `--scheduling-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyArg {
    /// First come, first served.
    Fcfs,
    /// Lower `priority` first, ties by arrival.
    Priority,
}

/// Bytes from `123`, `4G`, `512MiB`, `1.5GiB` (K/M/G are powers of 1000, KiB/MiB/GiB of 1024).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a byte count; write e.g. 4GiB or 2000000000"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{s}`; use B, K, M, G, KiB, MiB or GiB"
            ));
        }
    };
    Ok((value * scale) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("123"), Ok(123));
        assert_eq!(parse_bytes("4G"), Ok(4_000_000_000));
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("1.5 KiB"), Ok(1536));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("3 parsecs").is_err());
    }
}
