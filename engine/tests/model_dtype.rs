//! bf16 weight storage (`--dtype bfloat16`) through the whole paged forward.
//!
//! Two checks per model, each over a step of 150 prefill rows (many register tiles of the packed
//! matmul) and decode steps of 1 to 3 rows (partial tiles):
//! - the bf16 model equals an f32 model built from the same weights rounded to bf16, within the
//!   paged-vs-dense tolerance `1e-4·(1 + |logit|)`: storage is the only difference;
//! - the bf16 model stays close to the f32 model on the unrounded weights: every logit within
//!   [`BF16_TOL`] of the f32 logits' RMS. Rounding a weight to bf16 changes it by at most 2⁻⁹
//!   relative; over these 2- and 4-layer models the logits moved by at most 0.9 % of their RMS
//!   (measured: 0.6 % and 0.5 % for the random configs, 0.85 % for `tiny`), so 3 % leaves room
//!   for other seeds without hiding a broken kernel (a wrong row or lane moves logits by tens of
//!   percent).

use dyno_engine::model::{ModelDtype, RopeStyle, WeightDtype, Weights};
use dyno_engine::{
    BatchInput, BlockId, KvCache, KvDtype, LlamaModel, LoadOptions, Model, ModelConfig, load_model,
};
use half::bf16;

/// Prompt rows of the first step: many register tiles and a partial one (150 = 12 × 12 + 6).
const PREFILL: usize = 150;

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

fn round(v: &[f32]) -> Vec<f32> {
    v.iter().map(|&x| bf16::from_f32(x).to_f32()).collect()
}

/// `w` with every weight the bf16 model stores as bf16 rounded, the embedding table kept f32.
fn rounded(w: &Weights) -> Weights {
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
    r
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
fn bf16_model_equals_f32_model_over_rounded_weights() {
    for tied in [false, true] {
        let w = Weights::random(&config(tied), 11 + u64::from(tied));
        let mut bf = LlamaModel::with_dtype(w.clone(), WeightDtype::Bf16).unwrap();
        let mut reference = LlamaModel::new(rounded(&w)).unwrap();
        assert_eq!(bf.dtype(), WeightDtype::Bf16);
        assert_eq!(
            2 * bf.streamed_weight_bytes(),
            reference.streamed_weight_bytes()
        );
        for (s, (got, want)) in run(&mut bf).iter().zip(run(&mut reference)).enumerate() {
            assert_eq!(got.len(), want.len());
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                    "tied {tied} step {s} logit {i}: bf16 model {a} vs f32 over rounded weights {b}"
                );
            }
        }
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
