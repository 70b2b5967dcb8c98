//! `dyno bench compare A.json B.json`: loads both files, runs [`dyno_bench::compare`], prints
//! the table, optionally writes the JSON. Exit 0 after a comparison (whatever it found), 2 on bad
//! input.

use anyhow::{Context, Result};
use dyno_bench::compare::{self, CompareConfig};
use dyno_regress::EXIT_ERROR;

use crate::args::compare::CompareArgs;

/// Runs the command; returns the exit code.
pub fn run(args: CompareArgs) -> Result<i32> {
    let config = CompareConfig {
        q: args.q,
        level: args.level,
        resamples: args.resamples,
        seed: args.seed,
    };
    let result = compare::load(&args.a)
        .and_then(|a| compare::load(&args.b).map(|b| (a, b)))
        .and_then(|(a, b)| compare::compare(&a, &b, &config));
    let comparison = match result {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_ERROR);
        }
    };
    print!("{}", comparison.to_table());
    if let Some(path) = &args.json {
        let mut bytes =
            serde_json::to_vec_pretty(&comparison).context("serializing the comparison")?;
        bytes.push(b'\n');
        dyno_stats::record::write_atomic(path, &bytes)
            .with_context(|| format!("writing --json {}", path.display()))?;
    }
    Ok(0)
}
