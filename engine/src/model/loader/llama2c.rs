//! llama2.c checkpoints (`.bin`): a header of 7 little-endian `i32` — dim, hidden_dim,
//! n_layers, n_heads, n_kv_heads, vocab_size (negative ⇒ separate classifier), seq_len — then
//! f32 arrays: token embedding, per-layer stacks of rms_att, wq, wk, wv, wo, rms_ffn, w1 (gate),
//! w2 (down), w3 (up), then rms_final, the RoPE tables (skipped) and the classifier if unshared.
//! Q/K rows use the interleaved RoPE pairing.

use std::path::Path;

use crate::error::{EngineError, Result};
use crate::model::config::{ModelConfig, RopeStyle};
use crate::model::weights::{LayerWeights, Weights};
use crate::tokenizer::Llama2cTokenizer;

/// Reads the checkpoint and its tokenizer: `tokenizer` if given, else `tokenizer.bin` or the one
/// `tok*.bin` beside the checkpoint.
///
/// # Errors
/// [`EngineError::ModelFile`] for a missing, truncated or inconsistent file.
pub fn load(path: &Path, tokenizer: Option<&Path>) -> Result<(Weights, Llama2cTokenizer)> {
    let bytes = std::fs::read(path).map_err(|e| EngineError::model_file(path, e))?;
    let weights = parse(&bytes).map_err(|reason| EngineError::model_file(path, reason))?;
    let tok_path = match tokenizer {
        Some(t) => t.to_path_buf(),
        None => find_tokenizer(path)?,
    };
    Ok((weights, Llama2cTokenizer::from_file(&tok_path)?))
}

fn find_tokenizer(model: &Path) -> Result<std::path::PathBuf> {
    let dir = model.parent().unwrap_or(Path::new("."));
    let default = dir.join("tokenizer.bin");
    if default.is_file() {
        return Ok(default);
    }
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| EngineError::model_file(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("tok") && n.ends_with(".bin"))
        })
        .collect();
    found.sort();
    found.into_iter().next().ok_or_else(|| {
        EngineError::model_file(
            dir,
            "holds no tokenizer.bin (or tok*.bin) for the llama2.c checkpoint; pass --tokenizer",
        )
    })
}

fn parse(bytes: &[u8]) -> std::result::Result<Weights, String> {
    let header: Vec<i32> = bytes
        .get(..28)
        .ok_or("corrupt llama2.c checkpoint: shorter than its 28-byte header")?
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if header.iter().enumerate().any(|(i, &v)| v <= 0 && i != 5) || header[5] == 0 {
        return Err(format!(
            "corrupt llama2.c checkpoint: header {header:?} has a non-positive dimension"
        ));
    }
    let [dim, hidden, layers, heads, kv_heads, vocab, seq_len] =
        [0, 1, 2, 3, 4, 5, 6].map(|i| header[i].unsigned_abs() as usize);
    let shared = header[5] > 0;
    if dim % heads != 0 || heads % kv_heads != 0 {
        return Err(format!(
            "corrupt llama2.c checkpoint: dim {dim}, heads {heads}, kv_heads {kv_heads} do not divide"
        ));
    }
    let hd = dim / heads;
    let kv = kv_heads * hd;
    let floats = (bytes.len() - 28) / 4;
    let per_layer = 2 * dim + dim * dim * 2 + 2 * dim * kv + 3 * dim * hidden;
    let expected = vocab * dim
        + layers * per_layer
        + dim
        + seq_len * hd
        + if shared { 0 } else { vocab * dim };
    if floats != expected || !(bytes.len() - 28).is_multiple_of(4) {
        return Err(format!(
            "corrupt llama2.c checkpoint: {} bytes of weights, expected {} for header {header:?}",
            bytes.len() - 28,
            expected * 4
        ));
    }
    let mut at = 28;
    let mut take = |n: usize| -> Vec<f32> {
        let v = bytes[at..at + 4 * n]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        at += 4 * n;
        v
    };
    let embed = take(vocab * dim);
    let mut stack = |n: usize| -> Vec<Vec<f32>> { (0..layers).map(|_| take(n)).collect() };
    let [rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3] = [
        dim,
        dim * dim,
        kv * dim,
        kv * dim,
        dim * dim,
        dim,
        hidden * dim,
        dim * hidden,
        hidden * dim,
    ]
    .map(|n| stack(n).into_iter());
    let mut layer_weights = Vec::with_capacity(layers);
    for (
        (((((((attn_norm, q_proj), k_proj), v_proj), o_proj), mlp_norm), gate_proj), down_proj),
        up_proj,
    ) in rms_att
        .zip(wq)
        .zip(wk)
        .zip(wv)
        .zip(wo)
        .zip(rms_ffn)
        .zip(w1)
        .zip(w2)
        .zip(w3)
    {
        layer_weights.push(LayerWeights {
            attn_norm,
            q_proj,
            k_proj,
            v_proj,
            o_proj,
            qkv_bias: None,
            qk_norm: None,
            mlp_norm,
            gate_proj,
            up_proj,
            down_proj,
        });
    }
    let final_norm = take(dim);
    let _rope_tables = take(seq_len * hd);
    let lm_head = (!shared).then(|| take(vocab * dim));
    let config = ModelConfig {
        architecture: "llama2.c".into(),
        hidden_size: dim,
        intermediate_size: hidden,
        num_layers: layers,
        num_heads: heads,
        num_kv_heads: kv_heads,
        head_dim: hd,
        vocab_size: vocab,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        rope_scaling: None,
        rope_style: RopeStyle::Interleaved,
        max_position_embeddings: seq_len,
        tie_word_embeddings: shared,
        qkv_bias: false,
        qk_norm: false,
        sliding_window: None,
        bos_token_id: Some(1),
        // llama2.c's `run.c` ends a sample when BOS (1) comes next: TinyStories checkpoints
        // delimit stories with BOS, not EOS.
        eos_token_ids: vec![2, 1],
    };
    Ok(Weights {
        config,
        embed,
        layers: layer_weights,
        final_norm,
        lm_head,
    })
}
