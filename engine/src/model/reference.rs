//! A dense-attention forward written for clarity, the oracle the paged forward is tested
//! against: one sequence, contiguous K/V, naive loops, f64 softmax. Slow; for tests only.
//! [`dense_forward_bf16`] is the same oracle for a model whose linear layers are stored as bf16
//! (the arithmetic of [`crate::model::gemm`]).

use half::bf16;

use super::config::RopeStyle;
use super::weights::Weights;

/// Logits `[tokens.len(), vocab]` of every position of one sequence starting at position 0.
pub fn dense_forward(w: &Weights, tokens: &[u32]) -> Vec<f32> {
    forward(w, tokens, &|v: &[f32]| v.to_vec())
}

/// As [`dense_forward`] for bf16 linear layers: every linear weight (and the LM head) and every
/// linear layer's input vector rounded to bf16 (nearest-even), products and sums as before.
pub fn dense_forward_bf16(w: &Weights, tokens: &[u32]) -> Vec<f32> {
    let round = |v: &[f32]| -> Vec<f32> { v.iter().map(|&x| bf16::from_f32(x).to_f32()).collect() };
    let mut r = w.clone();
    r.lm_head = Some(round(w.lm_head()));
    for l in &mut r.layers {
        for m in [
            &mut l.q_proj,
            &mut l.k_proj,
            &mut l.v_proj,
            &mut l.o_proj,
            &mut l.gate_proj,
            &mut l.up_proj,
            &mut l.down_proj,
        ] {
            *m = round(m);
        }
    }
    forward(&r, tokens, &round)
}

/// The oracle; `input(v)` is what a linear layer multiplies when given `v`.
fn forward(w: &Weights, tokens: &[u32], input: &dyn Fn(&[f32]) -> Vec<f32>) -> Vec<f32> {
    let matvec = |w: &[f32], x: &[f32]| matvec(w, &input(x));
    let c = &w.config;
    let (h, hd) = (c.hidden_size, c.head_dim);
    let group = c.num_heads / c.num_kv_heads;
    let mut keys: Vec<Vec<f32>> = vec![Vec::new(); c.num_layers]; // [pos][kv_dim] flattened
    let mut values: Vec<Vec<f32>> = vec![Vec::new(); c.num_layers];
    let mut logits = Vec::new();
    for (pos, &tok) in tokens.iter().enumerate() {
        let mut x = w.embed[tok as usize * h..(tok as usize + 1) * h].to_vec();
        for (l, lw) in w.layers.iter().enumerate() {
            let xn = norm(&x, &lw.attn_norm, c.rms_norm_eps);
            let mut q = matvec(&lw.q_proj, &xn);
            let mut k = matvec(&lw.k_proj, &xn);
            let mut v = matvec(&lw.v_proj, &xn);
            if let Some([bq, bk, bv]) = &lw.qkv_bias {
                add(&mut q, bq);
                add(&mut k, bk);
                add(&mut v, bv);
            }
            for (vec, idx) in [(&mut q, 0), (&mut k, 1)] {
                for head in vec.chunks_mut(hd) {
                    if let Some(n) = &lw.qk_norm {
                        let normed = norm(head, &n[idx], c.rms_norm_eps);
                        head.copy_from_slice(&normed);
                    }
                    rotate(head, pos, c.rope_theta, c.rope_style, |f| rope_scale(c, f));
                }
            }
            keys[l].extend_from_slice(&k);
            values[l].extend_from_slice(&v);
            let mut attn = vec![0.0f32; c.q_dim()];
            for head in 0..c.num_heads {
                let kvh = head / group;
                let qh = &q[head * hd..(head + 1) * hd];
                let first = c
                    .sliding_window
                    .map_or(0, |win| (pos + 1).saturating_sub(win));
                let scores: Vec<f64> = (first..=pos)
                    .map(|p| {
                        let kp = &keys[l][(p * c.num_kv_heads + kvh) * hd..][..hd];
                        let dot: f64 = qh
                            .iter()
                            .zip(kp)
                            .map(|(a, b)| f64::from(*a) * f64::from(*b))
                            .sum();
                        dot / (hd as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = exps.iter().sum();
                for (e, p) in exps.iter().zip(first..=pos) {
                    let vp = &values[l][(p * c.num_kv_heads + kvh) * hd..][..hd];
                    for d in 0..hd {
                        attn[head * hd + d] += (e / total * f64::from(vp[d])) as f32;
                    }
                }
            }
            add(&mut x, &matvec(&lw.o_proj, &attn));
            let xn = norm(&x, &lw.mlp_norm, c.rms_norm_eps);
            let gate = matvec(&lw.gate_proj, &xn);
            let up = matvec(&lw.up_proj, &xn);
            let act: Vec<f32> = gate
                .iter()
                .zip(&up)
                .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
                .collect();
            add(&mut x, &matvec(&lw.down_proj, &act));
        }
        let xn = norm(&x, &w.final_norm, c.rms_norm_eps);
        logits.extend(matvec(w.lm_head(), &xn));
    }
    logits
}

fn rope_scale(c: &super::config::ModelConfig, freq: f32) -> f32 {
    // Reuse the model's scaling rule through a one-frequency config would hide bugs in both;
    // scaling is exercised by the config tests, so the oracle supports only unscaled RoPE.
    assert!(
        c.rope_scaling.is_none(),
        "the dense reference does not implement RoPE scaling"
    );
    freq
}

fn matvec(w: &[f32], x: &[f32]) -> Vec<f32> {
    w.chunks(x.len())
        .map(|row| {
            row.iter()
                .zip(x)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum::<f64>() as f32
        })
        .collect()
}

fn add(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
}

fn norm(x: &[f32], weight: &[f32], eps: f32) -> Vec<f32> {
    let mean_sq = x.iter().map(|v| f64::from(*v) * f64::from(*v)).sum::<f64>() / x.len() as f64;
    let inv = 1.0 / (mean_sq + f64::from(eps)).sqrt();
    x.iter()
        .zip(weight)
        .map(|(v, w)| (f64::from(*v) * inv) as f32 * w)
        .collect()
}

fn rotate(head: &mut [f32], pos: usize, theta: f32, style: RopeStyle, scale: impl Fn(f32) -> f32) {
    let half = head.len() / 2;
    for i in 0..half {
        let freq = scale(1.0 / theta.powf((2 * i) as f32 / head.len() as f32));
        let angle = f64::from(pos as f32 * freq);
        let (s, c) = (angle.sin() as f32, angle.cos() as f32);
        let (a, b) = match style {
            RopeStyle::Neox => (i, i + half),
            RopeStyle::Interleaved => (2 * i, 2 * i + 1),
        };
        let (x0, x1) = (head[a], head[b]);
        head[a] = x0 * c - x1 * s;
        head[b] = x0 * s + x1 * c;
    }
}
