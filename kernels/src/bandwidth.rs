//! Memory-bandwidth probes: the machine limit every kernel is compared with.
//!
//! [`read`] streams a buffer once and sums it (the cheapest possible full read); [`write()`]
//! fills one; [`copy`] streams one buffer into another. Both split the buffer across `threads` scoped threads
//! (contiguous chunks) and use AVX-512 when the CPU has it, like the kernels they are compared
//! with. Use buffers far larger than the last-level cache to measure DRAM; benches and
//! `dyno bench` report the kernels' bytes per second beside these.
#![allow(unsafe_code)]

use crate::cpu::Isa;

/// Sums `data` using `threads` threads (≥ 1); returns the sum so the read cannot be elided.
pub fn read(data: &[f32], threads: usize, isa: Isa) -> f32 {
    let threads = threads.max(1);
    if threads == 1 {
        return read_chunk(data, isa);
    }
    let chunk = data.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = data
            .chunks(chunk)
            .map(|c| s.spawn(move || read_chunk(c, isa)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("probe thread"))
            .sum()
    })
}

/// Overwrites every element of `data` with `value` using `threads` threads (≥ 1): the write
/// limit, which bounds kernels that must store a whole row (e.g. a mostly-disallowed logits mask).
pub fn write(data: &mut [f32], value: f32, threads: usize) {
    let threads = threads.max(1);
    let chunk = data.len().div_ceil(threads).max(1);
    if threads == 1 {
        data.fill(value);
        std::hint::black_box(data);
        return;
    }
    std::thread::scope(|s| {
        for d in data.chunks_mut(chunk) {
            s.spawn(move || {
                d.fill(value);
                std::hint::black_box(d);
            });
        }
    });
}

/// Copies `src` into `dst` (equal lengths) using `threads` threads (≥ 1).
pub fn copy(src: &[f32], dst: &mut [f32], threads: usize) {
    assert_eq!(
        src.len(),
        dst.len(),
        "copy: source and destination lengths differ"
    );
    let threads = threads.max(1);
    let chunk = src.len().div_ceil(threads).max(1);
    if threads == 1 {
        dst.copy_from_slice(src);
        return;
    }
    std::thread::scope(|s| {
        for (d, c) in dst.chunks_mut(chunk).zip(src.chunks(chunk)) {
            s.spawn(move || d.copy_from_slice(c));
        }
    });
}

fn read_chunk(data: &[f32], isa: Isa) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx512 {
        // SAFETY: `Isa::Avx512` is only constructed after run-time detection of AVX-512F.
        return unsafe { read_avx512(data) };
    }
    let _ = isa;
    let mut acc = [0f32; 16];
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn read_avx512(data: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let mut a0 = _mm512_setzero_ps();
    let mut a1 = _mm512_setzero_ps();
    let mut a2 = _mm512_setzero_ps();
    let mut a3 = _mm512_setzero_ps();
    let mut blocks = data.chunks_exact(64);
    for b in &mut blocks {
        let p = b.as_ptr();
        // SAFETY: `b` has exactly 64 floats, so the four 16-float loads are in bounds.
        unsafe {
            a0 = _mm512_add_ps(a0, _mm512_loadu_ps(p));
            a1 = _mm512_add_ps(a1, _mm512_loadu_ps(p.add(16)));
            a2 = _mm512_add_ps(a2, _mm512_loadu_ps(p.add(32)));
            a3 = _mm512_add_ps(a3, _mm512_loadu_ps(p.add(48)));
        }
    }
    let sum = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
    _mm512_reduce_add_ps(sum) + blocks.remainder().iter().sum::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_sums_and_copy_copies() {
        let data: Vec<f32> = (0..1000).map(|i| (i % 7) as f32).collect();
        let expected: f32 = data.iter().sum();
        for isa in [Isa::Portable, Isa::detect()] {
            for threads in [1, 2, 3] {
                assert_eq!(read(&data, threads, isa), expected);
            }
        }
        let mut w = vec![0.0; 1000];
        write(&mut w, 3.0, 2);
        assert!(w.iter().all(|&v| v == 3.0));
        let mut dst = vec![0.0; 1000];
        copy(&data, &mut dst, 2);
        assert_eq!(dst, data);
    }
}
