//! (being written)
use criterion::Criterion;
/// Registers this area's benchmarks.
pub fn bench(_c: &mut Criterion) {}
