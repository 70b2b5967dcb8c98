//! [`ApiJson`]: the JSON body extractor whose refusals are OpenAI-shaped: 413 over the body
//! limit, 400 for malformed JSON, and 400 naming the field for a known field of the wrong type.
//!
//! serde cannot always say which field failed (fields inside `#[serde(flatten)]` lose their
//! path), so on a type error the extractor finds the culprit itself: the top-level field whose
//! removal makes the error go away (or turns it into "missing field" for that same field).

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A request body parsed as `T`. See the [module docs](self).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map_or(usize::MAX, |l| l.0);
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::MalformedJson(rejection.body_text())
            }
        })?;
        parse(&bytes).map(ApiJson)
    }
}

/// The body limit in force, put into request extensions by the router so that the 413 message
/// can state it.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

/// Parses `bytes` as `T`, with OpenAI-shaped errors.
///
/// # Errors
/// [`ApiError::MalformedJson`], or [`ApiError::InvalidRequest`] naming the field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = match serde_json::from_slice::<T>(bytes) {
        Ok(v) => return Ok(v),
        Err(e) if e.is_syntax() || e.is_eof() => {
            return Err(ApiError::MalformedJson(e.to_string()));
        }
        Err(e) => e,
    };
    // The slow path, only for refusals: find the field to blame.
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    let serde_json::Value::Object(map) = value else {
        return Err(ApiError::MalformedJson(
            "the body is JSON but not an object".into(),
        ));
    };
    let message = match T::deserialize(&serde_json::Value::Object(map.clone())) {
        Ok(v) => return Ok(v),
        Err(e) => e.to_string(),
    };
    tracing::debug!(error = %first, "request body refused");
    Err(blame::<T>(&map, &message))
}

fn blame<T: DeserializeOwned>(
    map: &serde_json::Map<String, serde_json::Value>,
    message: &str,
) -> ApiError {
    // The field whose removal makes the body valid; else a required field whose removal
    // leaves it merely missing.
    let without = |key: &str| {
        let mut rest = map.clone();
        rest.remove(key);
        T::deserialize(&serde_json::Value::Object(rest))
    };
    let culprit = map.keys().find(|k| without(k).is_ok()).or_else(|| {
        map.keys()
            .find(|k| without(k).is_err_and(|e| e.to_string() == format!("missing field `{k}`")))
    });
    if let Some(key) = culprit {
        let got = map.get(key).map_or_else(String::new, short);
        return ApiError::invalid(
            key.as_str(),
            format!(
                "`{key}` has the wrong type or shape ({message}; got {got}); send it as the OpenAI API defines it"
            ),
        );
    }
    // A missing required top-level field names itself.
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        return ApiError::invalid(
            field,
            format!("`{field}` is required; add it to the request"),
        );
    }
    ApiError::InvalidRequest {
        message: format!("the request does not match the API ({message})"),
        param: None,
    }
}

fn short(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.len() <= 60 {
        s
    } else {
        let cut = (0..=60).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
        format!("{}…", &s[..cut])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dyno_protocol::chat::ChatCompletionRequest;
    use dyno_protocol::completions::CompletionRequest;

    fn param(body: &str) -> Option<String> {
        parse::<CompletionRequest>(body.as_bytes())
            .unwrap_err()
            .param()
            .map(str::to_owned)
    }

    #[test]
    fn wrong_types_name_the_field() {
        assert_eq!(
            param(r#"{"prompt":"x","temperature":"hot"}"#).as_deref(),
            Some("temperature")
        );
        assert_eq!(
            param(r#"{"prompt":"x","max_tokens":"many"}"#).as_deref(),
            Some("max_tokens")
        );
        assert_eq!(
            param(r#"{"prompt":"x","stream_options":{"include_usage":"yes"}}"#).as_deref(),
            Some("stream_options")
        );
        assert_eq!(param(r#"{"prompt":{"a":1}}"#).as_deref(), Some("prompt"));
        assert_eq!(param(r#"{"model":"m"}"#).as_deref(), Some("prompt"));
        let chat =
            parse::<ChatCompletionRequest>(br#"{"messages":[{"content":"x"}]}"#).unwrap_err();
        assert_eq!(chat.param(), Some("messages"));
    }

    #[test]
    fn malformed_json_and_non_objects() {
        let e = parse::<CompletionRequest>(b"{\"prompt\": ").unwrap_err();
        assert!(matches!(e, ApiError::MalformedJson(_)), "{e:?}");
        let e = parse::<CompletionRequest>(b"[1]").unwrap_err();
        assert!(matches!(e, ApiError::MalformedJson(_)), "{e:?}");
        // Unknown fields of any type are fine.
        assert!(parse::<CompletionRequest>(br#"{"prompt":"x","best_of":"??"}"#).is_ok());
    }
}
