//! `--dataset-*` flags into `dyno-bench`'s dataset readers.

use anyhow::Result;
use dyno_bench::dataset::{BenchTokenizer, SampleRequest};

use crate::args::bench::DatasetFlags;

/// Samples the requests the flags describe.
pub fn sample(flags: &DatasetFlags, tokenizer: &dyn BenchTokenizer) -> Result<Vec<SampleRequest>> {
    let _ = (flags, tokenizer);
    anyhow::bail!("datasets: wiring pending")
}
