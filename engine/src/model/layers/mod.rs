//! Building blocks of the decoder: [`rms_norm`], [`Rope`], [`Linear`], [`silu_mul`].

mod linear;
mod norm;
mod rope;

pub use linear::Linear;
pub use norm::rms_norm;
pub(crate) use norm::rms_norm_in_place as norm_in_place;
pub use rope::Rope;

/// `gate_up` holds rows `[gate (n) | up (n)]`; writes `silu(gate) * up` into `out` (`[rows, n]`).
pub fn silu_mul(gate_up: &[f32], n: usize, out: &mut Vec<f32>) {
    out.clear();
    for row in gate_up.chunks_exact(2 * n) {
        let (g, u) = row.split_at(n);
        out.extend(g.iter().zip(u).map(|(&g, &u)| g / (1.0 + (-g).exp()) * u));
    }
}
