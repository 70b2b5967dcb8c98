//! Hugging Face model directories: `config.json`, `generation_config.json` (EOS ids) and the
//! weights in one `model.safetensors` or shards listed by `model.safetensors.index.json`
//! (f32, bf16 or f16; converted to f32).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use crate::error::{EngineError, Result};
use crate::model::config::ModelConfig;
use crate::model::weights::{LayerWeights, Weights};
use crate::tokenizer::hf::read_json;

/// `config.json` of `dir`, with the EOS ids of `generation_config.json` added.
///
/// # Errors
/// [`EngineError::ModelFile`] when `config.json` is missing or invalid; config errors.
pub fn read_config(dir: &Path) -> Result<ModelConfig> {
    let path = dir.join("config.json");
    if !path.is_file() {
        return Err(EngineError::model_file(
            &path,
            "no such file; a Hugging Face model directory needs config.json",
        ));
    }
    let mut config = ModelConfig::from_hf_file(&path)?;
    if let Some(gen_config) = read_json(&dir.join("generation_config.json"))? {
        let ids: Vec<u32> = match gen_config.get("eos_token_id") {
            Some(serde_json::Value::Number(n)) => {
                n.as_u64().into_iter().map(|v| v as u32).collect()
            }
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_u64())
                .map(|v| v as u32)
                .collect(),
            _ => Vec::new(),
        };
        for id in ids {
            if !config.eos_token_ids.contains(&id) {
                config.eos_token_ids.push(id);
            }
        }
    }
    Ok(config)
}

/// The safetensors files of `dir`: the shards of the index, else `model.safetensors`, else every
/// `*.safetensors`.
fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join("model.safetensors.index.json");
    if let Some(json) = read_json(&index)? {
        let map = json
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| EngineError::model_file(&index, "has no \"weight_map\" object"))?;
        let files: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
        return Ok(files.into_iter().map(|f| dir.join(f)).collect());
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| EngineError::model_file(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(EngineError::model_file(
            dir,
            "holds no *.safetensors weights; use --load-format dummy for random weights",
        ));
    }
    Ok(files)
}

/// Every tensor of the directory, converted to f32, by name.
struct TensorSet {
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    dir: PathBuf,
}

impl TensorSet {
    fn read(dir: &Path) -> Result<Self> {
        let mut tensors = HashMap::new();
        for file in weight_files(dir)? {
            let bytes = std::fs::read(&file).map_err(|e| EngineError::model_file(&file, e))?;
            let st = SafeTensors::deserialize(&bytes).map_err(|e| {
                EngineError::model_file(&file, format!("corrupt safetensors file: {e}"))
            })?;
            for (name, view) in st.tensors() {
                let data = to_f32(view.dtype(), view.data()).map_err(|reason| {
                    EngineError::model_file(&file, format!("tensor {name}: {reason}"))
                })?;
                tensors.insert(name, (view.shape().to_vec(), data));
            }
        }
        Ok(Self {
            tensors,
            dir: dir.to_path_buf(),
        })
    }

    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let (got, data) = self.tensors.remove(name).ok_or_else(|| {
            EngineError::model_file(&self.dir, format!("weights lack tensor {name}"))
        })?;
        if got != shape {
            return Err(EngineError::model_file(
                &self.dir,
                format!("tensor {name} has shape {got:?}; the config implies {shape:?}"),
            ));
        }
        Ok(data)
    }

    fn take_opt(&mut self, name: &str, shape: &[usize]) -> Result<Option<Vec<f32>>> {
        if self.tensors.contains_key(name) {
            self.take(name, shape).map(Some)
        } else {
            Ok(None)
        }
    }
}

fn to_f32(dtype: Dtype, bytes: &[u8]) -> std::result::Result<Vec<f32>, String> {
    let pairs = || {
        bytes
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    Ok(match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::BF16 => pairs().map(|b| half::bf16::from_bits(b).to_f32()).collect(),
        Dtype::F16 => pairs().map(|b| half::f16::from_bits(b).to_f32()).collect(),
        other => {
            return Err(format!(
                "dtype {other:?} is not supported; expected F32, BF16 or F16"
            ));
        }
    })
}

/// Reads the weights of `dir` for `config`.
///
/// # Errors
/// [`EngineError::ModelFile`] for missing files or tensors, corrupt files and wrong shapes.
pub fn load_weights(dir: &Path, config: ModelConfig) -> Result<Weights> {
    let mut set = TensorSet::read(dir)?;
    let c = &config;
    let (h, i, q, kv, hd, v) = (
        c.hidden_size,
        c.intermediate_size,
        c.q_dim(),
        c.kv_dim(),
        c.head_dim,
        c.vocab_size,
    );
    let embed = set.take("model.embed_tokens.weight", &[v, h])?;
    let mut layers = Vec::with_capacity(c.num_layers);
    for l in 0..c.num_layers {
        let p = |s: &str| format!("model.layers.{l}.{s}");
        let qkv_bias = if c.qkv_bias {
            Some([
                set.take(&p("self_attn.q_proj.bias"), &[q])?,
                set.take(&p("self_attn.k_proj.bias"), &[kv])?,
                set.take(&p("self_attn.v_proj.bias"), &[kv])?,
            ])
        } else {
            None
        };
        let qk_norm = if c.qk_norm {
            Some([
                set.take(&p("self_attn.q_norm.weight"), &[hd])?,
                set.take(&p("self_attn.k_norm.weight"), &[hd])?,
            ])
        } else {
            None
        };
        layers.push(LayerWeights {
            attn_norm: set.take(&p("input_layernorm.weight"), &[h])?,
            q_proj: set.take(&p("self_attn.q_proj.weight"), &[q, h])?,
            k_proj: set.take(&p("self_attn.k_proj.weight"), &[kv, h])?,
            v_proj: set.take(&p("self_attn.v_proj.weight"), &[kv, h])?,
            o_proj: set.take(&p("self_attn.o_proj.weight"), &[h, q])?,
            qkv_bias,
            qk_norm,
            mlp_norm: set.take(&p("post_attention_layernorm.weight"), &[h])?,
            gate_proj: set.take(&p("mlp.gate_proj.weight"), &[i, h])?,
            up_proj: set.take(&p("mlp.up_proj.weight"), &[i, h])?,
            down_proj: set.take(&p("mlp.down_proj.weight"), &[h, i])?,
        });
    }
    let final_norm = set.take("model.norm.weight", &[h])?;
    let lm_head = if c.tie_word_embeddings {
        None
    } else {
        Some(set.take_opt("lm_head.weight", &[v, h])?.ok_or_else(|| {
            EngineError::model_file(
                dir,
                "weights lack tensor lm_head.weight and tie_word_embeddings is false",
            )
        })?)
    };
    Ok(Weights {
        config,
        embed,
        layers,
        final_norm,
        lm_head,
    })
}
