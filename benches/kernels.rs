//! Kernel microbenchmarks: paged attention, sampling, logits mask, and the memory-bandwidth
//! reference they are compared with (all in one binary, so one run gives the roofline).

use criterion::criterion_group;

#[path = "kernels/bandwidth.rs"]
mod bandwidth;
#[path = "kernels/logits_mask.rs"]
mod logits_mask;
#[path = "kernels/paged_attention.rs"]
mod paged_attention;
#[path = "kernels/sampling.rs"]
mod sampling;

criterion_group! {
    name = kernels;
    config = dyno_benches::criterion_config();
    targets = bandwidth::bench, paged_attention::bench, sampling::bench, logits_mask::bench
}
fn main() {
    let started = std::time::SystemTime::now();
    kernels();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
    if !dyno_benches::smoke_only() {
        let dir = dyno_benches::roofline::criterion_dir();
        match dyno_benches::roofline::render(&dir, Some(started)) {
            Some(table) => println!("\n{table}"),
            None => eprintln!("no criterion results under {}", dir.display()),
        }
    }
}
