//! Rotary position embedding, in both pairings ([`RopeStyle`]), with Llama-3 / linear scaling.

use crate::model::config::{ModelConfig, RopeScaling, RopeStyle};

/// Inverse frequencies of one head and the pairing convention.
#[derive(Clone, Debug)]
pub struct Rope {
    inv_freq: Vec<f32>,
    style: RopeStyle,
    head_dim: usize,
}

impl Rope {
    /// The frequencies of `config` (`theta^(-2i/d)`, then scaled).
    pub fn new(config: &ModelConfig) -> Self {
        let d = config.head_dim;
        let inv_freq = (0..d / 2)
            .map(|i| {
                let f = 1.0 / config.rope_theta.powf((2 * i) as f32 / d as f32);
                scale(f, config.rope_scaling)
            })
            .collect();
        Self {
            inv_freq,
            style: config.rope_style,
            head_dim: d,
        }
    }

    /// `cos` and `sin` tables `[positions.len(), head_dim / 2]` for one step (shared by layers).
    pub fn tables(&self, positions: &[u32]) -> (Vec<f32>, Vec<f32>) {
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(positions.len() * half);
        let mut sin = Vec::with_capacity(positions.len() * half);
        for &p in positions {
            for &f in &self.inv_freq {
                let angle = f64::from(p as f32 * f);
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        (cos, sin)
    }

    /// Rotates every head of `x` (`[tokens, heads × head_dim]`) in place, with the tables of
    /// [`Rope::tables`].
    pub fn apply(&self, x: &mut [f32], cos: &[f32], sin: &[f32]) {
        let (d, half) = (self.head_dim, self.head_dim / 2);
        let row_len = x.len() / (cos.len() / half).max(1);
        for (t, row) in x.chunks_exact_mut(row_len).enumerate() {
            let (c, s) = (
                &cos[t * half..(t + 1) * half],
                &sin[t * half..(t + 1) * half],
            );
            for head in row.chunks_exact_mut(d) {
                for i in 0..half {
                    let (a, b) = match self.style {
                        RopeStyle::Neox => (i, i + half),
                        RopeStyle::Interleaved => (2 * i, 2 * i + 1),
                    };
                    let (x0, x1) = (head[a], head[b]);
                    head[a] = x0 * c[i] - x1 * s[i];
                    head[b] = x0 * s[i] + x1 * c[i];
                }
            }
        }
    }
}

fn scale(freq: f32, scaling: Option<RopeScaling>) -> f32 {
    match scaling {
        None => freq,
        Some(RopeScaling::Linear { factor }) => freq / factor,
        Some(RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position,
        }) => {
            let old = original_max_position as f32;
            let wavelen = 2.0 * std::f32::consts::PI / freq;
            if wavelen < old / high_freq_factor {
                freq
            } else if wavelen > old / low_freq_factor {
                freq / factor
            } else {
                let smooth =
                    (old / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
                (1.0 - smooth) * freq / factor + smooth * freq
            }
        }
    }
}
