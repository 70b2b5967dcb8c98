//! Weight storage types: [`ModelDtype`] is what `--dtype` asks for (vLLM's spellings),
//! [`WeightDtype`] what a [`Linear`](crate::model::Linear) actually stores.
//!
//! Only the weights that are streamed every step change type: the linear layers and the LM head.
//! Norm weights, biases and the embedding table stay f32 (a step reads one embedding row per
//! token), and activations and accumulation are f32 whatever the weight type, except that a bf16
//! layer rounds its input to bf16 (see [`crate::model::gemm`]).

use std::fmt;
use std::str::FromStr;

/// How a linear layer's weight is stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WeightDtype {
    /// 4 bytes per weight; exact for every checkpoint type this engine reads.
    #[default]
    F32,
    /// bfloat16, 2 bytes per weight: half the bytes a decode step streams. Weights are rounded to
    /// nearest-even once at load, each layer's input at every matmul (as vLLM and llama.cpp do
    /// for bf16 models, and what AVX512-BF16's dot product takes); products and sums are f32.
    Bf16,
}

impl WeightDtype {
    /// Bytes per weight.
    pub fn size(self) -> usize {
        match self {
            WeightDtype::F32 => 4,
            WeightDtype::Bf16 => 2,
        }
    }

    /// The name used in bench IDs and logs: `f32` or `bf16`.
    pub fn as_str(self) -> &'static str {
        match self {
            WeightDtype::F32 => "f32",
            WeightDtype::Bf16 => "bf16",
        }
    }
}

impl fmt::Display for WeightDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `--dtype` option: which [`WeightDtype`] the model's linear layers use.
///
/// Parses vLLM's spellings: `auto`; `float32`, `float`, `f32`; `bfloat16`, `bf16`. `float16` and
/// `half` are refused with a hint: there is no f16 weight path on CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ModelDtype {
    /// f32 (see [`ModelDtype::resolve`] for why not the checkpoint's `torch_dtype`).
    #[default]
    Auto,
    /// Store weights as f32.
    F32,
    /// Store linear weights as bfloat16.
    Bf16,
}

impl ModelDtype {
    /// The storage type this option selects.
    ///
    /// `Auto` is f32, unlike vLLM (which follows the checkpoint's `torch_dtype`, usually
    /// bfloat16): f32 holds f32, bf16 and f16 checkpoints without rounding, so the default output
    /// does not depend on the checkpoint's type field, the golden outputs stay exact, and on CPUs
    /// without AVX-512 the portable bf16 path is no faster than f32. bfloat16 is an explicit
    /// trade: weights rounded to 8 significant bits for half the bytes streamed per decode step.
    pub fn resolve(self) -> WeightDtype {
        match self {
            ModelDtype::Auto | ModelDtype::F32 => WeightDtype::F32,
            ModelDtype::Bf16 => WeightDtype::Bf16,
        }
    }
}

impl From<WeightDtype> for ModelDtype {
    fn from(d: WeightDtype) -> Self {
        match d {
            WeightDtype::F32 => ModelDtype::F32,
            WeightDtype::Bf16 => ModelDtype::Bf16,
        }
    }
}

impl fmt::Display for ModelDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelDtype::Auto => "auto",
            ModelDtype::F32 => "float32",
            ModelDtype::Bf16 => "bfloat16",
        })
    }
}

/// A `--dtype` value that is not supported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("--dtype {value:?} is not supported; {fix}")]
pub struct ParseDtypeError {
    /// The value given.
    pub value: String,
    /// How to fix it.
    pub fix: &'static str,
}

impl FromStr for ModelDtype {
    type Err = ParseDtypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(ModelDtype::Auto),
            "float32" | "float" | "f32" => Ok(ModelDtype::F32),
            "bfloat16" | "bf16" => Ok(ModelDtype::Bf16),
            "float16" | "half" | "f16" | "fp16" => Err(ParseDtypeError {
                value: s.to_owned(),
                fix: "float16 weights have no CPU path; use bfloat16 (half the bytes, same \
                      range as f32) or float32",
            }),
            _ => Err(ParseDtypeError {
                value: s.to_owned(),
                fix: "use auto, float32 (float, f32) or bfloat16 (bf16)",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vllm_spellings() {
        for (s, want) in [
            ("auto", ModelDtype::Auto),
            ("float32", ModelDtype::F32),
            ("float", ModelDtype::F32),
            ("F32", ModelDtype::F32),
            ("bfloat16", ModelDtype::Bf16),
            ("bf16", ModelDtype::Bf16),
        ] {
            assert_eq!(s.parse::<ModelDtype>(), Ok(want), "{s}");
        }
        for d in [ModelDtype::Auto, ModelDtype::F32, ModelDtype::Bf16] {
            assert_eq!(d.to_string().parse::<ModelDtype>(), Ok(d));
        }
    }

    #[test]
    fn half_is_refused_with_a_hint() {
        for s in ["float16", "half"] {
            let e = s.parse::<ModelDtype>().unwrap_err();
            assert!(e.to_string().contains("use bfloat16"), "{e}");
        }
        let e = "int8".parse::<ModelDtype>().unwrap_err();
        assert!(e.to_string().contains("bfloat16 (bf16)"), "{e}");
    }

    #[test]
    fn auto_is_f32() {
        assert_eq!(ModelDtype::default().resolve(), WeightDtype::F32);
        assert_eq!(ModelDtype::Bf16.resolve(), WeightDtype::Bf16);
    }
}
