//! Helpers for the server's integration tests: an in-process server on 127.0.0.1:0 over the
//! built-in `tiny` model (or a real checkpoint), an HTTP client, SSE and Prometheus parsing.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use dyno_engine::{EngineConfig, EngineCore, LoadOptions, load_model};
use dyno_server::{BoundServer, ChatTemplate, LoadError, ServeOutcome, ServerConfig, ServerError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// `$DYNO_SHARED_DATA`, else `../shared/data` beside the workspace root (required: a missing
/// directory fails the test).
pub fn shared_data() -> PathBuf {
    let dir = std::env::var_os("DYNO_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"))
        });
    assert!(
        dir.is_dir(),
        "shared test data not found at {}: check out ../shared beside the workspace or set DYNO_SHARED_DATA",
        dir.display()
    );
    dir
}

/// An engine over `model` (`tiny` or a path) with `config`.
pub fn engine(model: &str, config: &EngineConfig) -> Result<EngineCore, LoadError> {
    let loaded = load_model(model, &LoadOptions::default())?;
    Ok(EngineCore::new(
        Box::new(loaded.model),
        loaded.tokenizer.into(),
        config,
    )?)
}

/// A server running in this process.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its address.
    pub addr: SocketAddr,
    /// A client without a pool timeout.
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<ServeOutcome, ServerError>>>,
}

impl TestServer {
    /// Starts a server with `config` (port forced to 0) over what `loader` builds; does not
    /// wait for the model.
    pub async fn spawn<L>(mut config: ServerConfig, loader: L) -> Self
    where
        L: FnOnce() -> Result<EngineCore, LoadError> + Send + 'static,
    {
        config.port = 0;
        config.host = "127.0.0.1".into();
        let server = BoundServer::bind(config).await.expect("bind 127.0.0.1:0");
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(loader, async move {
            let _ = stopped.await;
        }));
        Self {
            base: format!("http://{addr}"),
            addr,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A `tiny` server with `config`'s settings and `engine_config`, ready to serve.
    pub async fn tiny_with(config: ServerConfig, engine_config: EngineConfig) -> Self {
        let s = Self::spawn(config, move || engine("tiny", &engine_config)).await;
        s.wait_ready().await;
        s
    }

    /// A `tiny` server with default settings, ready to serve.
    pub async fn tiny() -> Self {
        Self::tiny_with(tiny_config(), EngineConfig::default()).await
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Polls `/health` until 200 (at most 60 s).
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.client.get(self.url("/health")).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "server not ready after 60 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// POSTs `body` as JSON to `path`.
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// POSTs and reads the JSON answer with its status.
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let r = self.post(path, body).await;
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        let value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"));
        (status, value)
    }

    /// GET `/metrics`, parsed.
    pub async fn metrics(&self) -> Metrics {
        let text = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        parse_prometheus(&text)
    }

    /// Waits (at most 60 s) for the server to end by itself.
    pub async fn join(mut self) -> Result<ServeOutcome, ServerError> {
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("server ended within 60 s")
            .expect("server task")
    }

    /// Stops the server (graceful drain) and returns how it ended.
    pub async fn stop(mut self) -> Result<ServeOutcome, ServerError> {
        drop(self.stop.take());
        self.task.take().unwrap().await.expect("server task")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The `tiny` model's server settings: served as `tiny`, built-in template.
pub fn tiny_config() -> ServerConfig {
    ServerConfig::new("tiny", ChatTemplate::resolve(None, &[]).unwrap())
}

/// The payloads of an SSE body, checking the framing: every event is exactly one `data: ` line
/// followed by a blank line, with no comments or other fields.
pub fn sse_payloads(body: &str) -> Vec<String> {
    assert!(
        body.ends_with("\n\n"),
        "stream must end with a blank line: {body:?}"
    );
    body.trim_end_matches("\n\n")
        .split("\n\n")
        .map(|event| {
            assert!(!event.contains('\n'), "one line per event: {event:?}");
            event
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("every line is `data: …`: {event:?}"))
                .to_owned()
        })
        .collect()
}

/// Samples of a Prometheus text page: `name{labels}` → value.
pub type Metrics = HashMap<String, f64>;

/// Parses Prometheus text (0.0.4), checking that every sample follows its family's `# TYPE`.
pub fn parse_prometheus(text: &str) -> Metrics {
    let mut out = HashMap::new();
    let mut family: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "unknown type in {line:?}"
            );
            family = Some((name.to_owned(), kind.to_owned()));
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment {line:?}");
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name {name:?}"
        );
        let (fam, kind) = family.as_ref().expect("sample before any # TYPE");
        let ok = match kind.as_str() {
            "histogram" => [
                format!("{fam}_bucket"),
                format!("{fam}_sum"),
                format!("{fam}_count"),
            ]
            .contains(&name.to_owned()),
            _ => name == fam,
        };
        assert!(ok, "sample {name} outside its family {fam}");
        if series.contains('{') {
            assert!(series.ends_with('}'), "unclosed labels in {line:?}");
        }
        assert!(
            out.insert(series.to_owned(), value).is_none(),
            "duplicate {series}"
        );
    }
    out
}

/// The value of the first series of `name` (any labels) whose labels contain `label`.
pub fn metric(m: &Metrics, name: &str, label: &str) -> f64 {
    m.iter()
        .find(|(k, _)| k.split('{').next() == Some(name) && k.contains(label))
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no metric {name} with {label:?}"))
}
