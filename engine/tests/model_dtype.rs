//! bf16 weight storage (`--dtype bfloat16`) through the whole paged forward.
//!
//! Two checks per model, each over a step of 150 prefill rows (many register tiles of the packed
//! matmul) and decode steps of 1 to 3 rows (partial tiles):
//! - the bf16 model equals the dense bf16 oracle (`dense_forward_bf16`: weights and every linear
//!   layer's input rounded to bf16, the arithmetic of the packed matmul), within the
//!   paged-vs-dense tolerance `1e-4·(1 + |logit|)`;
//! - the bf16 model stays close to the f32 model on the unrounded weights: every logit within
//!   [`BF16_TOL`] of the f32 logits' RMS. Rounding a weight to bf16 changes it by at most 2⁻⁹
//!   relative; over these 2- and 4-layer models the logits moved by at most 0.9 % of their RMS
//!   (measured: 0.6 % and 0.5 % for the random configs, 0.85 % for `tiny`), so 3 % leaves room
//!   for other seeds without hiding a broken kernel (a wrong row or lane moves logits by tens of
//!   percent).

use dyno_engine::model::reference::dense_forward_bf16;
use dyno_engine::model::{ModelDtype, RopeStyle, WeightDtype, Weights};
use dyno_engine::{
    BatchInput, BlockId, KvCache, KvDtype, LlamaModel, LoadOptions, Model, ModelConfig, load_model,
};

/// Prompt rows of the first step: many register tiles and a partial one (150 = 12 × 12 + 6).
const PREFILL: usize = 150;

/// bf16 model vs the bf16 dense oracle, relative to `1 + |logit|`: the paged-vs-dense tolerance
/// of the f32 parity tests. Both round the same linear inputs to bf16, from f32 values computed in
/// different orders (paged vs dense, f32 vs f64 norms); measured worst 6.5e-8 and 3.6e-7 for the
/// two configs. An input that landed on the other side of a rounding boundary would move by one
/// bf16 step (2⁻⁸ relative) and could exceed this; a wrong row, lane or pair moves logits by tens
/// of percent.
const BF16_ORACLE_TOL: f32 = 1e-4;

/// bf16-vs-f32 tolerance, as a fraction of the RMS of the f32 logits.
const BF16_TOL: f32 = 0.03;

fn config(tied: bool) -> ModelConfig {
    ModelConfig {
        architecture: "Qwen2ForCausalLM".into(),
        hidden_size: 64,
        intermediate_size: 112,
        num_layers: 2,
        num_heads: 4,
        num_kv_heads: 2,
        head_dim: 16,
        vocab_size: 97,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        rope_scaling: None,
        rope_style: RopeStyle::Neox,
        max_position_embeddings: 256,
        tie_word_embeddings: tied,
        qkv_bias: true,
        qk_norm: false,
        sliding_window: None,
        bos_token_id: Some(1),
        eos_token_ids: vec![2],
    }
}

/// Logits of every step: a 150-token prefill of sequence 0, then three steps decoding sequence 0
/// alone and then beside the 2-token prefill and decode of sequence 1.
fn run(model: &mut LlamaModel) -> Vec<Vec<f32>> {
    let c = model.config().clone();
    let vocab = c.vocab_size as u32;
    let block_size = 16;
    let mut kv = KvCache::new(&c, 16, block_size, KvDtype::F32).unwrap();
    let tables = [
        (0..10).map(BlockId).collect::<Vec<_>>(),
        (11..13).map(BlockId).collect::<Vec<_>>(),
    ];
    let prompt: Vec<u32> = (0..PREFILL as u32).map(|i| (i * 7 + 3) % vocab).collect();
    let mut steps = Vec::new();
    let mut batch = BatchInput::new(block_size);
    batch.push_seq(&prompt, 0, &tables[0], true);
    batch.logits_rows = (0..PREFILL as u32).step_by(9).collect();
    steps.push(model.forward(&batch, &mut kv).unwrap().data);
    for step in 0..3u32 {
        let mut batch = BatchInput::new(block_size);
        batch.push_seq(
            &[(step * 13 + 5) % vocab],
            PREFILL + step as usize,
            &tables[0],
            true,
        );
        if step > 0 {
            let done = if step == 1 { 0 } else { 2 };
            let toks: Vec<u32> = if step == 1 { vec![4, 9] } else { vec![11] };
            batch.push_seq(&toks, done, &tables[1], true);
        }
        steps.push(model.forward(&batch, &mut kv).unwrap().data);
    }
    steps
}

fn rms(v: &[f32]) -> f32 {
    (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt()
}

/// The largest `|bf16 − f32|` over all steps, as a fraction of the f32 logits' RMS.
fn max_rel_diff(f32_steps: &[Vec<f32>], bf16_steps: &[Vec<f32>]) -> f32 {
    let all: Vec<f32> = f32_steps.concat();
    let scale = rms(&all);
    f32_steps
        .iter()
        .flatten()
        .zip(bf16_steps.iter().flatten())
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(0.0, f32::max)
}

#[test]
fn bf16_model_equals_the_bf16_dense_oracle() {
    for tied in [false, true] {
        let w = Weights::random(&config(tied), 11 + u64::from(tied));
        let mut bf = LlamaModel::with_dtype(w.clone(), WeightDtype::Bf16).unwrap();
        assert_eq!(bf.dtype(), WeightDtype::Bf16);
        assert_eq!(
            2 * bf.streamed_weight_bytes(),
            LlamaModel::new(w.clone()).unwrap().streamed_weight_bytes()
        );
        let vocab = w.config.vocab_size;
        let steps = run(&mut bf);
        // Sequence 0 of `run`: the prompt, then one token per decode step.
        let mut tokens: Vec<u32> = (0..PREFILL as u32)
            .map(|i| (i * 7 + 3) % vocab as u32)
            .collect();
        tokens.extend((0..3u32).map(|s| (s * 13 + 5) % vocab as u32));
        let dense = dense_forward_bf16(&w, &tokens);
        let at = |pos: usize| &dense[pos * vocab..(pos + 1) * vocab];
        let mut pairs: Vec<(usize, &[f32], &[f32])> = (0..PREFILL)
            .step_by(9)
            .enumerate()
            .map(|(r, pos)| (pos, &steps[0][r * vocab..(r + 1) * vocab], at(pos)))
            .collect();
        for (s, step) in steps.iter().enumerate().skip(1) {
            pairs.push((PREFILL + s - 1, &step[..vocab], at(PREFILL + s - 1)));
        }
        let mut worst = 0.0f32;
        for (pos, got, want) in pairs {
            for (i, (a, b)) in got.iter().zip(want).enumerate() {
                let err = (a - b).abs() / (1.0 + b.abs());
                worst = worst.max(err);
                assert!(
                    err <= BF16_ORACLE_TOL,
                    "tied {tied} position {pos} logit {i}: bf16 model {a} vs bf16 oracle {b}"
                );
            }
        }
        eprintln!("tied {tied}: worst |model − oracle| / (1 + |oracle|) = {worst:e}");
    }
}

#[test]
fn bf16_logits_stay_close_to_f32() {
    for tied in [false, true] {
        let w = Weights::random(&config(tied), 21 + u64::from(tied));
        let want = run(&mut LlamaModel::new(w.clone()).unwrap());
        let got = run(&mut LlamaModel::with_dtype(w, WeightDtype::Bf16).unwrap());
        let diff = max_rel_diff(&want, &got);
        assert!(
            diff <= BF16_TOL,
            "tied {tied}: max |bf16 − f32| is {diff} of the logits' RMS (tolerance {BF16_TOL})"
        );
    }
}

#[test]
fn builtin_tiny_loads_as_bf16_and_stays_close() {
    let load = |dtype| {
        load_model(
            "tiny",
            &LoadOptions {
                dtype,
                ..LoadOptions::default()
            },
        )
        .unwrap()
        .model
    };
    let mut f = load(ModelDtype::Auto);
    let mut b = load("bf16".parse().unwrap());
    assert_eq!(f.dtype(), WeightDtype::F32);
    assert_eq!(b.dtype(), WeightDtype::Bf16);
    let diff = max_rel_diff(&run(&mut f), &run(&mut b));
    assert!(
        diff <= BF16_TOL,
        "tiny: max |bf16 − f32| is {diff} of the logits' RMS (tolerance {BF16_TOL})"
    );
}
