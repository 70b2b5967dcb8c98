//! The paged forward against the dense reference (contiguous K/V, f64 softmax): random small
//! configs, several sequences in one varlen batch, scattered blocks, chunked prefill and decode.
//! Then HF checkpoints written here load into the same forward, and bad inputs get clear errors.

use std::path::Path;

use dyno_engine::model::reference::dense_forward;
use dyno_engine::model::{RopeStyle, Weights};
use dyno_engine::{
    BatchInput, BlockId, EngineError, GenerateOptions, KvCache, KvDtype, LlamaModel, LoadOptions,
    Model, ModelConfig, generate_greedy_tokens, load_model,
};
use safetensors::{Dtype, tensor::TensorView};

fn config(variant: u32) -> ModelConfig {
    let mut c = ModelConfig {
        architecture: "LlamaForCausalLM".into(),
        hidden_size: 48,
        intermediate_size: 80,
        num_layers: 2,
        num_heads: 4,
        num_kv_heads: 2,
        head_dim: 16,
        vocab_size: 61,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        rope_scaling: None,
        rope_style: RopeStyle::Neox,
        max_position_embeddings: 256,
        tie_word_embeddings: false,
        qkv_bias: false,
        qk_norm: false,
        sliding_window: None,
        bos_token_id: Some(1),
        eos_token_ids: vec![2],
    };
    match variant {
        1 => {
            c.num_kv_heads = 4; // MHA, tied, interleaved RoPE (llama2.c)
            c.tie_word_embeddings = true;
            c.rope_style = RopeStyle::Interleaved;
        }
        2 => {
            c.num_kv_heads = 1; // MQA + Qwen2 bias
            c.qkv_bias = true;
            c.head_dim = 8;
        }
        3 => {
            c.qk_norm = true; // Qwen3, head_dim ≠ hidden / heads
            c.head_dim = 32;
            c.rope_theta = 1_000_000.0;
        }
        4 => c.sliding_window = Some(5), // Mistral
        _ => {}
    }
    c
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
            "{what}: logit {i}: paged {a} vs dense {b}"
        );
    }
}

/// Runs two sequences through the paged forward in steps (chunked prefill, then decode), with
/// logits of every row, and compares each row with the dense forward of its prefix.
fn check_parity(variant: u32, kv_dtype: KvDtype, tol_scale: f32) {
    let c = config(variant);
    let weights = Weights::random(&c, 100 + u64::from(variant));
    let mut model = LlamaModel::new(weights.clone()).unwrap();
    let block_size = 4;
    let mut kv = KvCache::new(&c, 32, block_size, kv_dtype).unwrap();
    let seqs: [Vec<u32>; 2] = [
        (0..17).map(|i| (i * 7 + 3) % 61).collect(),
        (0..11).map(|i| (i * 11 + 5) % 61).collect(),
    ];
    // Scattered, disjoint block tables.
    let tables: [Vec<BlockId>; 2] = [
        [7, 2, 9, 4, 30, 12].map(BlockId).to_vec(),
        [1, 8, 3, 25, 5, 6].map(BlockId).to_vec(),
    ];
    let dense: Vec<Vec<f32>> = seqs.iter().map(|s| dense_forward(&weights, s)).collect();
    // Per step: how many tokens of each sequence run (prefill chunks, then decode steps).
    // The first step has 17 rows (two register tiles), the others one row each.
    let steps: [[usize; 2]; 5] = [[8, 9], [6, 1], [1, 1], [1, 0], [1, 0]];
    let mut done = [0usize; 2];
    for step in steps {
        let mut batch = BatchInput::new(block_size);
        let mut rows = Vec::new();
        for s in 0..2 {
            let n = step[s];
            batch.push_seq(&seqs[s][done[s]..done[s] + n], done[s], &tables[s], false);
            rows.extend((done[s]..done[s] + n).map(|p| (s, p)));
            done[s] += n;
        }
        batch.logits_rows = (0..batch.num_tokens() as u32).collect();
        let logits = model.forward(&batch, &mut kv).unwrap();
        for (r, &(s, p)) in rows.iter().enumerate() {
            let want = &dense[s][p * c.vocab_size..(p + 1) * c.vocab_size];
            let got = logits.row(r);
            for (i, (a, b)) in got.iter().zip(want).enumerate() {
                assert!(
                    (a - b).abs() <= tol_scale * 1e-4 * (1.0 + b.abs()),
                    "variant {variant} {kv_dtype:?} seq {s} pos {p} logit {i}: paged {a} vs dense {b}"
                );
            }
        }
    }
}

#[test]
fn paged_forward_matches_dense_reference() {
    for variant in 0..5 {
        check_parity(variant, KvDtype::F32, 1.0);
    }
}

#[test]
fn half_precision_kv_cache_stays_close() {
    check_parity(0, KvDtype::Bf16, 300.0);
    check_parity(3, KvDtype::F16, 50.0);
}

#[test]
fn greedy_is_the_same_with_and_without_chunked_prefill() {
    let c = config(3);
    let mut model = LlamaModel::new(Weights::random(&c, 7)).unwrap();
    let prompt: Vec<u32> = (0..23).map(|i| (i * 5 + 1) % 61).collect();
    let whole =
        generate_greedy_tokens(&mut model, &prompt, 12, GenerateOptions::default()).unwrap();
    for (chunk, block_size) in [(1, 1), (4, 4), (7, 16)] {
        let opts = GenerateOptions {
            prefill_chunk: Some(chunk),
            block_size,
            ..GenerateOptions::default()
        };
        let split = generate_greedy_tokens(&mut model, &prompt, 12, opts).unwrap();
        assert_eq!(whole, split, "chunk {chunk}, block size {block_size}");
    }
}

/// Writes `weights` as a Hugging Face directory: `config.json` and two safetensors shards with an
/// index, tensors stored as `dtype` (F32 or BF16).
fn write_hf(dir: &Path, w: &Weights, dtype: Dtype) {
    let c = &w.config;
    let mut config = serde_json::json!({
        "architectures": [if c.qk_norm { "Qwen3ForCausalLM" } else if c.qkv_bias { "Qwen2ForCausalLM" } else { "LlamaForCausalLM" }],
        "hidden_size": c.hidden_size, "intermediate_size": c.intermediate_size,
        "num_hidden_layers": c.num_layers, "num_attention_heads": c.num_heads,
        "num_key_value_heads": c.num_kv_heads, "head_dim": c.head_dim, "vocab_size": c.vocab_size,
        "rms_norm_eps": c.rms_norm_eps, "rope_theta": c.rope_theta,
        "max_position_embeddings": c.max_position_embeddings,
        "tie_word_embeddings": c.tie_word_embeddings, "bos_token_id": 1, "eos_token_id": 2,
        "hidden_act": "silu"
    });
    if c.qkv_bias && !c.qk_norm {
        config["attention_bias"] = true.into();
    }
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, &[f32])> = vec![
        (
            "model.embed_tokens.weight".into(),
            vec![c.vocab_size, c.hidden_size],
            &w.embed,
        ),
        (
            "model.norm.weight".into(),
            vec![c.hidden_size],
            &w.final_norm,
        ),
    ];
    if let Some(head) = &w.lm_head {
        tensors.push((
            "lm_head.weight".into(),
            vec![c.vocab_size, c.hidden_size],
            head,
        ));
    }
    let (h, i, q, kv) = (c.hidden_size, c.intermediate_size, c.q_dim(), c.kv_dim());
    for (l, lw) in w.layers.iter().enumerate() {
        let p = |s: &str| format!("model.layers.{l}.{s}");
        tensors.extend([
            (
                p("input_layernorm.weight"),
                vec![h],
                lw.attn_norm.as_slice(),
            ),
            (p("self_attn.q_proj.weight"), vec![q, h], &lw.q_proj),
            (p("self_attn.k_proj.weight"), vec![kv, h], &lw.k_proj),
            (p("self_attn.v_proj.weight"), vec![kv, h], &lw.v_proj),
            (p("self_attn.o_proj.weight"), vec![h, q], &lw.o_proj),
            (p("post_attention_layernorm.weight"), vec![h], &lw.mlp_norm),
            (p("mlp.gate_proj.weight"), vec![i, h], &lw.gate_proj),
            (p("mlp.up_proj.weight"), vec![i, h], &lw.up_proj),
            (p("mlp.down_proj.weight"), vec![h, i], &lw.down_proj),
        ]);
        if let Some([bq, bk, bv]) = &lw.qkv_bias {
            tensors.push((p("self_attn.q_proj.bias"), vec![q], bq));
            tensors.push((p("self_attn.k_proj.bias"), vec![kv], bk));
            tensors.push((p("self_attn.v_proj.bias"), vec![kv], bv));
        }
        if let Some([nq, nk]) = &lw.qk_norm {
            tensors.push((p("self_attn.q_norm.weight"), vec![c.head_dim], nq));
            tensors.push((p("self_attn.k_norm.weight"), vec![c.head_dim], nk));
        }
    }
    let encoded: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, shape, data)| {
            let bytes = match dtype {
                Dtype::BF16 => data
                    .iter()
                    .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
                    .collect(),
                _ => data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            };
            (name, shape, bytes)
        })
        .collect();
    let mut weight_map = serde_json::Map::new();
    for (shard, part) in encoded.chunks(encoded.len().div_ceil(2)).enumerate() {
        let file = format!("model-{:05}-of-00002.safetensors", shard + 1);
        let views: Vec<(String, TensorView<'_>)> = part
            .iter()
            .map(|(name, shape, bytes)| {
                (
                    name.clone(),
                    TensorView::new(dtype, shape.clone(), bytes).unwrap(),
                )
            })
            .collect();
        safetensors::serialize_to_file(views, None, &dir.join(&file)).unwrap();
        for (name, _, _) in part {
            weight_map.insert(name.clone(), file.clone().into());
        }
    }
    let index = serde_json::json!({ "metadata": {}, "weight_map": weight_map });
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("tokenizer.json"), TOKENIZER_JSON).unwrap();
}

/// A minimal word-level tokenizer.json so the directory is complete.
const TOKENIZER_JSON: &str = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
"normalizer":null,"pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,
"model":{"type":"WordLevel","vocab":{"<unk>":0,"<s>":1,"</s>":2,"hello":3,"world":4},"unk_token":"<unk>"}}"#;

fn last_logits(model: &mut LlamaModel, tokens: &[u32]) -> Vec<f32> {
    let mut kv = KvCache::new(model.config(), 8, 16, KvDtype::F32).unwrap();
    let mut batch = BatchInput::new(16);
    let blocks: Vec<BlockId> = (0..8).map(BlockId).collect();
    batch.push_seq(tokens, 0, &blocks, true);
    model.forward(&batch, &mut kv).unwrap().data
}

#[test]
fn hf_checkpoint_written_here_reproduces_the_in_memory_forward() {
    let tokens = [1, 5, 9, 33, 2, 60, 17];
    for variant in [0, 1, 2, 3] {
        let weights = Weights::random(&config(variant), 40 + u64::from(variant));
        let dir = tempfile::tempdir().unwrap();
        write_hf(dir.path(), &weights, Dtype::F32);
        let mut loaded = load_model(dir.path().to_str().unwrap(), &LoadOptions::default()).unwrap();
        let mut in_memory = LlamaModel::new(weights.clone()).unwrap();
        let (a, b) = (
            last_logits(&mut loaded.model, &tokens),
            last_logits(&mut in_memory, &tokens),
        );
        if variant == 1 {
            // The HF format cannot express interleaved RoPE: only check the load itself.
            assert_eq!(loaded.model.config().rope_style, RopeStyle::Neox);
            continue;
        }
        assert_eq!(a, b, "variant {variant}");
        assert_eq!(
            loaded.tokenizer.encode("hello world", true).unwrap(),
            vec![1, 3, 4]
        );
    }
}

#[test]
fn bf16_checkpoint_loads_as_rounded_f32() {
    let mut weights = Weights::random(&config(0), 9);
    let dir = tempfile::tempdir().unwrap();
    write_hf(dir.path(), &weights, Dtype::BF16);
    let round = |v: &mut Vec<f32>| {
        v.iter_mut()
            .for_each(|x| *x = half::bf16::from_f32(*x).to_f32())
    };
    round(&mut weights.embed);
    round(&mut weights.final_norm);
    weights.lm_head.as_mut().map(round);
    for l in &mut weights.layers {
        for v in [
            &mut l.attn_norm,
            &mut l.q_proj,
            &mut l.k_proj,
            &mut l.v_proj,
            &mut l.o_proj,
            &mut l.mlp_norm,
            &mut l.gate_proj,
            &mut l.up_proj,
            &mut l.down_proj,
        ] {
            round(v);
        }
    }
    let mut loaded = load_model(dir.path().to_str().unwrap(), &LoadOptions::default()).unwrap();
    let tokens = [1, 4, 8];
    let want = last_logits(&mut LlamaModel::new(weights).unwrap(), &tokens);
    assert_close(&last_logits(&mut loaded.model, &tokens), &want, "bf16");
}

fn load_err(path: &Path) -> EngineError {
    load_model(path.to_str().unwrap(), &LoadOptions::default()).unwrap_err()
}

#[test]
fn bad_inputs_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = load_err(&dir.path().join("nope"));
    assert!(
        missing.to_string().contains("no such file or directory"),
        "{missing}"
    );

    let err = load_err(dir.path());
    assert!(err.to_string().contains("config.json"), "{err}");

    let weights = Weights::random(&config(0), 3);
    write_hf(dir.path(), &weights, Dtype::F32);
    let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        text.replace("LlamaForCausalLM", "FalconForCausalLM"),
    )
    .unwrap();
    let err = load_err(dir.path());
    assert!(
        matches!(err, EngineError::UnsupportedArchitecture { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("FalconForCausalLM"), "{err}");
    std::fs::write(dir.path().join("config.json"), &text).unwrap();

    std::fs::write(
        dir.path().join("model-00002-of-00002.safetensors"),
        b"not a safetensors file",
    )
    .unwrap();
    let err = load_err(dir.path());
    assert!(err.to_string().contains("corrupt safetensors"), "{err}");

    std::fs::write(
        dir.path().join("config.json"),
        text.replace("\"num_hidden_layers\":2", "\"num_hidden_layers\":3"),
    )
    .unwrap();
    std::fs::remove_file(dir.path().join("model-00002-of-00002.safetensors")).unwrap();
    let err = load_err(dir.path());
    assert!(
        err.to_string().contains("model-00002-of-00002.safetensors"),
        "{err}"
    );

    let bin = dir.path().join("model.bin");
    std::fs::write(&bin, [0u8; 40]).unwrap();
    let err = load_err(&bin);
    assert!(
        err.to_string().contains("corrupt llama2.c checkpoint"),
        "{err}"
    );

    let mut model = LlamaModel::new(weights).unwrap();
    let err =
        generate_greedy_tokens(&mut model, &[1; 250], 10, GenerateOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::ContextTooLong {
                max_model_len: 256,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn builtin_tiny_and_dummy_load_and_generate() {
    let mut tiny = load_model("tiny", &LoadOptions::default()).unwrap();
    let out =
        dyno_engine::generate_greedy(&mut tiny.model, tiny.tokenizer.as_ref(), "Hello", 8).unwrap();
    let again =
        dyno_engine::generate_greedy(&mut tiny.model, tiny.tokenizer.as_ref(), "Hello", 8).unwrap();
    assert_eq!(out, again);
    assert!(!out.tokens.is_empty());

    let dir = tempfile::tempdir().unwrap();
    write_hf(dir.path(), &Weights::random(&config(2), 1), Dtype::F32);
    let options = LoadOptions {
        load_format: dyno_engine::LoadFormat::Dummy,
        seed: 5,
        ..LoadOptions::default()
    };
    let mut dummy = load_model(dir.path().to_str().unwrap(), &options).unwrap();
    assert!(dummy.model.config().qkv_bias);
    let tokens =
        generate_greedy_tokens(&mut dummy.model, &[1, 3, 4], 4, GenerateOptions::default())
            .unwrap();
    assert!(!tokens.is_empty());
}
