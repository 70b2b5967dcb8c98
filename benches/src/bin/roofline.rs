//! Prints the roofline table of the last `cargo bench -p dyno-benches --bench kernels` run.
//!
//! Usage: `cargo run -p dyno-benches --release --bin roofline [CRITERION_DIR] > docs/perf/kernels.md`.

use std::io::Write as _;
use std::path::PathBuf;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(dyno_benches::roofline::criterion_dir);
    match dyno_benches::roofline::render(&dir, None) {
        Some(table) => {
            // A closed pipe (e.g. `| head`) is not an error worth a panic.
            let _ = std::io::stdout().write_all(table.as_bytes());
        }
        None => {
            eprintln!(
                "no criterion results under {}: run `cargo bench -p dyno-benches --bench kernels` first",
                dir.display()
            );
            std::process::exit(2);
        }
    }
}
