//! [`Backend`]: the wire formats `bench serve` speaks, each with its default route, its request
//! body and its event reader (one module per backend, each implementing
//! [`WireEvent`](super::stream::WireEvent) for its event shape).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde_json::{Map, Value};
use thiserror::Error;

use super::stream::{StreamState, read_event};
use super::{llama_cpp, openai_chat, openai_completions, sglang, tgi};
use crate::dataset::{Prompt, SampleRequest};

/// A server's wire format (`--backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// OpenAI completions (`openai`).
    OpenAi,
    /// OpenAI completions as vLLM serves them (`vllm`; the same wire format).
    Vllm,
    /// OpenAI chat completions (`openai-chat`).
    OpenAiChat,
    /// Hugging Face text-generation-inference (`tgi`).
    Tgi,
    /// llama.cpp's `llama-server` native API (`llama.cpp`).
    LlamaCpp,
    /// sglang's native API (`sglang`).
    Sglang,
}

/// Every backend, in `--help` order.
pub const ALL_BACKENDS: [Backend; 6] = [
    Backend::OpenAi,
    Backend::Vllm,
    Backend::OpenAiChat,
    Backend::Tgi,
    Backend::LlamaCpp,
    Backend::Sglang,
];

impl Backend {
    /// The `--backend` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Vllm => "vllm",
            Self::OpenAiChat => "openai-chat",
            Self::Tgi => "tgi",
            Self::LlamaCpp => "llama.cpp",
            Self::Sglang => "sglang",
        }
    }

    /// The route streamed requests go to unless `--endpoint` says otherwise.
    pub fn default_route(self) -> &'static str {
        self.route_for(ResponseMode::Stream)
    }

    /// The route requests go to in `mode` unless `--endpoint` says otherwise (TGI answers whole
    /// responses on `/generate`, streams on `/generate_stream`; the others use one route).
    pub fn route_for(self, mode: ResponseMode) -> &'static str {
        match (self, mode) {
            (Self::OpenAi | Self::Vllm, _) => "/v1/completions",
            (Self::OpenAiChat, _) => "/v1/chat/completions",
            (Self::Tgi, ResponseMode::Stream) => "/generate_stream",
            (Self::Tgi, ResponseMode::Whole) => "/generate",
            (Self::LlamaCpp, _) => "/completion",
            (Self::Sglang, _) => "/generate",
        }
    }

    /// Whether the server speaks OpenAI's API (vLLM's `OPENAI_COMPATIBLE_BACKENDS`).
    pub fn is_openai_compatible(self) -> bool {
        matches!(self, Self::OpenAi | Self::Vllm | Self::OpenAiChat)
    }

    /// The JSON body of `request`.
    ///
    /// # Errors
    /// [`PrepareError`] when this backend cannot carry the request's prompt.
    pub fn payload(
        self,
        request: &SampleRequest,
        options: &PayloadOptions,
    ) -> Result<Value, PrepareError> {
        self.payload_for_model(request, options, &options.model)
    }

    /// The JSON body of `request` with `model` in its `model` field instead of the run's
    /// (`--lora-modules`: each request names its adapter). Backends without a `model` field
    /// ignore it; `--extra-body` still wins.
    ///
    /// # Errors
    /// As [`payload`](Self::payload).
    pub fn payload_for_model(
        self,
        request: &SampleRequest,
        options: &PayloadOptions,
        model: &str,
    ) -> Result<Value, PrepareError> {
        let mut body = match self {
            Self::OpenAi | Self::Vllm => openai_completions::payload(request, options, model),
            Self::OpenAiChat => openai_chat::payload(request, options, model, self)?,
            Self::Tgi => tgi::payload(request, options, self)?,
            Self::LlamaCpp => llama_cpp::payload(request, options),
            Self::Sglang => sglang::payload(request, options),
        };
        if let Value::Object(map) = &mut body {
            for (k, v) in &options.extra_body {
                map.insert(k.clone(), v.clone());
            }
        }
        Ok(body)
    }

    /// Reads one event's `data` payload that arrived `at` after the send.
    pub fn on_event(self, data: &[u8], at: Duration, state: &mut StreamState) {
        let data = data.trim_ascii();
        if data == b"[DONE]" {
            state.done = true;
            return;
        }
        if data.is_empty() {
            return;
        }
        match self {
            Self::OpenAi | Self::Vllm => read_event::<openai_completions::Event>(data, at, state),
            Self::OpenAiChat => read_event::<openai_chat::Event>(data, at, state),
            Self::Tgi => read_event::<tgi::Event>(data, at, state),
            Self::LlamaCpp => read_event::<llama_cpp::Event>(data, at, state),
            Self::Sglang => read_event::<sglang::Event>(data, at, state),
        }
    }
}

/// The text of `request`'s prompt, or why `backend` cannot send its token ids (`hint`: what to
/// do instead).
pub(crate) fn text_prompt<'r>(
    request: &'r SampleRequest,
    backend: Backend,
    hint: &'static str,
) -> Result<&'r str, PrepareError> {
    match &request.prompt {
        Prompt::Text(text) => Ok(text),
        Prompt::Tokens(_) => Err(PrepareError::UnsupportedPrompt {
            backend: backend.as_str(),
            what: "token-id prompts",
            request_id: request.request_id.clone(),
            hint,
        }),
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Backend {
    type Err = PrepareError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_BACKENDS
            .into_iter()
            .find(|b| b.as_str() == s || (s == "llamacpp" && *b == Self::LlamaCpp))
            .ok_or_else(|| PrepareError::UnknownBackend(s.to_owned()))
    }
}

/// Sampling flags (`--temperature`, …): `None` leaves the server's default.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SamplingFlags {
    /// `--temperature`.
    pub temperature: Option<f64>,
    /// `--top-p`.
    pub top_p: Option<f64>,
    /// `--top-k`.
    pub top_k: Option<i64>,
    /// `--min-p`.
    pub min_p: Option<f64>,
    /// `--frequency-penalty`.
    pub frequency_penalty: Option<f64>,
    /// `--presence-penalty`.
    pub presence_penalty: Option<f64>,
    /// `--repetition-penalty`.
    pub repetition_penalty: Option<f64>,
}

impl SamplingFlags {
    /// The flags that are set, under OpenAI/vLLM names.
    pub fn to_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.to_owned(), v);
            }
        };
        put("temperature", self.temperature.map(Value::from));
        put("top_p", self.top_p.map(Value::from));
        put("top_k", self.top_k.map(Value::from));
        put("min_p", self.min_p.map(Value::from));
        put("frequency_penalty", self.frequency_penalty.map(Value::from));
        put("presence_penalty", self.presence_penalty.map(Value::from));
        put(
            "repetition_penalty",
            self.repetition_penalty.map(Value::from),
        );
        m
    }
}

/// Whether a response comes as a stream of events or as one body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResponseMode {
    /// Streamed (`stream: true`; vLLM's only mode for generation).
    #[default]
    Stream,
    /// One whole response (`--disable-stream`): TTFT = E2EL = the time to the whole answer,
    /// as vLLM measures its non-streaming backends.
    Whole,
}

impl ResponseMode {
    /// Whether the body asks for a stream.
    pub fn is_stream(self) -> bool {
        self == Self::Stream
    }
}

/// What every request body of a run shares.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PayloadOptions {
    /// The `model` field (`--served-model-name`, else `--model`).
    pub model: String,
    /// Streamed or whole responses.
    pub response: ResponseMode,
    /// `--chat-template-kwargs`: sent as `chat_template_kwargs` of chat requests (the server
    /// renders the template; dyno's tokenizers render none on the client).
    pub chat_template_kwargs: Option<Map<String, Value>>,
    /// Ask the server to ignore EOS (`--ignore-eos`; forced for random data on OpenAI backends).
    pub ignore_eos: bool,
    /// `--logprobs N`.
    pub logprobs: Option<u32>,
    /// The sampling flags.
    pub sampling: SamplingFlags,
    /// `--extra-body`: merged over everything else.
    pub extra_body: Map<String, Value>,
}

/// Why a request body could not be built.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PrepareError {
    /// `--backend` named no known backend.
    #[error(
        "unknown backend `{0}`; expected one of openai, vllm, openai-chat, tgi, llama.cpp, sglang"
    )]
    UnknownBackend(String),
    /// The backend cannot send this kind of prompt.
    #[error("the {backend} backend cannot send {what} (request `{request_id}`); {hint}")]
    UnsupportedPrompt {
        /// The backend.
        backend: &'static str,
        /// E.g. `"token-id prompts"`.
        what: &'static str,
        /// The request.
        request_id: String,
        /// What to do instead.
        hint: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Prompt;

    fn request(prompt: Prompt) -> SampleRequest {
        SampleRequest {
            request_id: "r-0".into(),
            prompt,
            prompt_len: 3,
            expected_output_len: 7,
            timestamp: None,
        }
    }

    #[test]
    fn names_round_trip_and_routes() {
        for b in ALL_BACKENDS {
            assert_eq!(b.as_str().parse::<Backend>().unwrap(), b);
        }
        assert!("tensorrt".parse::<Backend>().is_err());
        assert_eq!(Backend::Tgi.default_route(), "/generate_stream");
        assert_eq!(Backend::Sglang.default_route(), "/generate");
    }

    #[test]
    fn extra_body_wins_over_flags() {
        let mut options = PayloadOptions {
            model: "m".into(),
            ignore_eos: true,
            sampling: SamplingFlags {
                temperature: Some(0.5),
                top_k: Some(4),
                ..SamplingFlags::default()
            },
            ..PayloadOptions::default()
        };
        options
            .extra_body
            .insert("temperature".into(), Value::from(0.0));
        let r = request(Prompt::Text("hi".into()));
        let body = Backend::OpenAi.payload(&r, &options).unwrap();
        assert_eq!(body["temperature"], 0.0);
        assert_eq!(body["top_k"], 4);
        assert_eq!(body["max_tokens"], 7);
        assert_eq!(body["ignore_eos"], true);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["repetition_penalty"], 1.0);
        let chat = Backend::OpenAiChat.payload(&r, &options).unwrap();
        assert_eq!(chat["max_completion_tokens"], 7);
        assert_eq!(chat["messages"][0]["content"], "hi");
        let tgi = Backend::Tgi.payload(&r, &options).unwrap();
        assert_eq!(tgi["parameters"]["max_new_tokens"], 7);
        let llama = Backend::LlamaCpp.payload(&r, &options).unwrap();
        assert_eq!(
            (llama["n_predict"].clone(), llama["stream"].clone()),
            (7.into(), true.into())
        );
        let sg = Backend::Sglang.payload(&r, &options).unwrap();
        assert_eq!(sg["sampling_params"]["max_new_tokens"], 7);
        assert_eq!(sg["sampling_params"]["top_k"], 4);
    }

    #[test]
    fn whole_responses_and_model_overrides() {
        let options = PayloadOptions {
            model: "base".into(),
            response: ResponseMode::Whole,
            ..PayloadOptions::default()
        };
        let r = request(Prompt::Text("hi".into()));
        let body = Backend::OpenAi
            .payload_for_model(&r, &options, "lora-a")
            .unwrap();
        assert_eq!(
            (body["model"].clone(), body["stream"].clone()),
            ("lora-a".into(), false.into())
        );
        assert!(
            body.get("stream_options").is_none(),
            "stream_options only with stream"
        );
        let chat = Backend::OpenAiChat.payload(&r, &options).unwrap();
        assert_eq!(
            (chat["model"].clone(), chat["stream"].clone()),
            ("base".into(), false.into())
        );
        for b in [Backend::Tgi, Backend::LlamaCpp, Backend::Sglang] {
            let body = b.payload_for_model(&r, &options, "lora-a").unwrap();
            assert_eq!(body["stream"], false, "{b}");
            assert!(body.get("model").is_none(), "{b} has no model field");
        }
        assert_eq!(Backend::Tgi.route_for(ResponseMode::Whole), "/generate");
        assert_eq!(
            Backend::OpenAi.route_for(ResponseMode::Whole),
            "/v1/completions"
        );
    }

    #[test]
    fn chat_template_kwargs_go_to_chat_requests_only() {
        let mut kwargs = Map::new();
        kwargs.insert("enable_thinking".into(), Value::from(false));
        let options = PayloadOptions {
            chat_template_kwargs: Some(kwargs),
            ..PayloadOptions::default()
        };
        let r = request(Prompt::Text("hi".into()));
        let chat = Backend::OpenAiChat.payload(&r, &options).unwrap();
        assert_eq!(chat["chat_template_kwargs"]["enable_thinking"], false);
        let completions = Backend::OpenAi.payload(&r, &options).unwrap();
        assert!(completions.get("chat_template_kwargs").is_none());
    }

    #[test]
    fn token_prompts_where_they_can_go() {
        let r = request(Prompt::Tokens(vec![1, 2, 3]));
        let o = PayloadOptions::default();
        assert_eq!(
            Backend::Vllm.payload(&r, &o).unwrap()["prompt"],
            serde_json::json!([1, 2, 3])
        );
        assert_eq!(
            Backend::Sglang.payload(&r, &o).unwrap()["input_ids"],
            serde_json::json!([1, 2, 3])
        );
        assert!(Backend::OpenAiChat.payload(&r, &o).is_err());
        assert!(Backend::Tgi.payload(&r, &o).is_err());
    }
}
