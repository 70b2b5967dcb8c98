//! A request's plan: every event's bytes and its offset from the request's arrival, built before
//! the stream starts. Pure: no clock, no IO.
//!
//! All events of a request live in one buffer; each event is a [`Bytes`] slice of it, so the
//! stream itself allocates and serializes nothing. Chunk `i` is due at
//! `ttft + i · chunk_interval (+ jitter_i)`; the usage chunk and `[DONE]` are due with the last
//! chunk; `: ping` comments (when enabled) go out at offset 0 and midway between chunks.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;

use crate::config::{Fault, MockConfig, UsageMode};

/// Which OpenAI API a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `/v1/completions` (`choices[].text`).
    Completions,
    /// `/v1/chat/completions` (`choices[].delta`, `role` on the first chunk).
    Chat,
}

/// What lateness an event's write counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The first token chunk (a client's TTFT).
    FirstChunk,
    /// A later token chunk (a client's ITL).
    Chunk,
    /// Usage, comments, errors, `[DONE]`: not timed.
    Other,
}

/// One write.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When it is due, from the request's arrival.
    pub offset: Duration,
    /// The bytes to write.
    pub bytes: Bytes,
    /// How its lateness is counted.
    pub kind: EventKind,
}

/// What happens after the last event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// The body ends normally.
    End,
    /// Nothing more is written; the connection stays open.
    Stall,
    /// The connection is closed at this offset, mid-body.
    Drop(Duration),
}

/// The whole plan of one streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The writes, in order of their offsets.
    pub events: Vec<Event>,
    /// What follows them.
    pub tail: Tail,
}

/// What a request contributes to its plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestFacts {
    /// API shape.
    pub shape: Shape,
    /// Tokens to generate (≥ 1).
    pub tokens: u32,
    /// The request asked for `stream_options.include_usage`.
    pub include_usage: bool,
    /// Tokens of the prompt (reported in usage).
    pub prompt_tokens: u64,
    /// A number unique to the request (its id, and the jitter's seed).
    pub serial: u64,
}

/// The token texts, cycled: each is one token for GPT-2-like tokenizers and one word for the
/// mock's own.
const WORDS: [&str; 8] = [" the", " of", " and", " to", " in", " a", " is", " that"];

/// The text of tokens `from..to`.
pub fn token_text(from: u32, to: u32, out: &mut String) {
    for i in from..to {
        out.push_str(WORDS[i as usize % WORDS.len()]);
    }
}

/// The whole text of `tokens` tokens (non-streaming answers).
pub fn full_text(tokens: u32) -> String {
    let mut s = String::with_capacity(tokens as usize * 4);
    token_text(0, tokens, &mut s);
    s
}

/// Number of chunks that carry `tokens` tokens.
pub fn chunk_count(tokens: u32, per_chunk: u32) -> u32 {
    tokens.div_ceil(per_chunk)
}

/// splitmix64: a seeded, stateless stream for the jitter.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Offset of chunk `i`.
pub fn chunk_offset(config: &MockConfig, serial: u64, i: u32) -> Duration {
    let base = config.ttft + config.chunk_interval() * i;
    if config.jitter.is_zero() {
        return base;
    }
    let j = config.jitter.as_nanos() as i128;
    let r = mix(serial
        .wrapping_mul(0x1_0000_0001)
        .wrapping_add(u64::from(i)));
    let shift = (r % (2 * j as u64 + 1)) as i128 - j;
    let ns = (base.as_nanos() as i128 + shift).max(0);
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

/// Offset at which a non-streaming answer is written: the last chunk's.
pub fn response_offset(config: &MockConfig, facts: &RequestFacts) -> Duration {
    let chunks = chunk_count(facts.tokens, config.tokens_per_chunk);
    chunk_offset(config, facts.serial, chunks - 1)
}

/// The response id of request `serial`.
pub fn response_id(shape: Shape, serial: u64) -> String {
    match shape {
        Shape::Completions => format!("cmpl-mock{serial:016x}"),
        Shape::Chat => format!("chatcmpl-mock{serial:016x}"),
    }
}

/// Builds the plan of a streamed answer. `model_json` is the model name as a JSON string
/// (quotes included), `created` the Unix seconds stamped on each chunk.
pub fn build(config: &MockConfig, facts: &RequestFacts, model_json: &str, created: u64) -> Plan {
    let per = config.tokens_per_chunk;
    let chunks = chunk_count(facts.tokens, per);
    let interval = config.chunk_interval();
    let id = response_id(facts.shape, facts.serial);
    let object = match facts.shape {
        Shape::Completions => "text_completion",
        Shape::Chat => "chat.completion.chunk",
    };
    let head =
        format!(r#"{{"id":"{id}","object":"{object}","created":{created},"model":{model_json},"#);
    let usage = format!(
        r#"{{"prompt_tokens":{},"completion_tokens":{},"total_tokens":{}}}"#,
        facts.prompt_tokens,
        facts.tokens,
        facts.prompt_tokens + u64::from(facts.tokens)
    );

    // How many chunks go out before a fault, and what follows them.
    let (sent, fault) = match config.fault {
        Some(Fault::ErrorAfter(n) | Fault::StallAfter(n) | Fault::DropAfter(n)) if n < chunks => {
            (n, config.fault)
        }
        _ => (chunks, None),
    };

    let mut buf = String::with_capacity((sent as usize + 4) * (head.len() + 96));
    let mut marks: Vec<(usize, Duration, EventKind)> = Vec::with_capacity(2 * sent as usize + 4);
    let mut push = |buf: &mut String, offset: Duration, kind: EventKind| {
        marks.push((buf.len(), offset, kind));
    };
    const PING: &str = ": ping\n\n";
    if config.sse_comments {
        push(&mut buf, Duration::ZERO, EventKind::Other);
        buf.push_str(PING);
    }
    let mut text = String::with_capacity(per as usize * 5);
    for i in 0..sent {
        let offset = chunk_offset(config, facts.serial, i);
        if config.sse_comments && i > 0 {
            // midway between the nominal deadlines: stays ordered whatever the jitter
            let nominal = config.ttft + interval * i;
            push(&mut buf, nominal - interval / 2, EventKind::Other);
            buf.push_str(PING);
        }
        let kind = if i == 0 {
            EventKind::FirstChunk
        } else {
            EventKind::Chunk
        };
        push(&mut buf, offset, kind);
        let last = i + 1 == chunks;
        text.clear();
        token_text(i * per, ((i + 1) * per).min(facts.tokens), &mut text);
        let finish = if last { r#""length""# } else { "null" };
        let chunk_usage = if last && config.usage == UsageMode::InLastChunk {
            usage.as_str()
        } else {
            "null"
        };
        buf.push_str("data: ");
        buf.push_str(&head);
        match facts.shape {
            Shape::Completions => {
                let _ = write!(
                    buf,
                    r#""choices":[{{"index":0,"text":"{text}","logprobs":null,"finish_reason":{finish}}}],"usage":{chunk_usage}}}"#
                );
            }
            Shape::Chat => {
                let role = if i == 0 { r#""role":"assistant","# } else { "" };
                let _ = write!(
                    buf,
                    r#""choices":[{{"index":0,"delta":{{{role}"content":"{text}"}},"logprobs":null,"finish_reason":{finish}}}],"usage":{chunk_usage}}}"#
                );
            }
        }
        buf.push_str("\n\n");
    }
    let end = chunk_offset(config, facts.serial, sent.min(chunks - 1));
    let mut tail = Tail::End;
    match fault {
        Some(Fault::ErrorAfter(n)) => {
            let at = chunk_offset(config, facts.serial, n);
            push(&mut buf, at, EventKind::Other);
            let _ = write!(
                buf,
                r#"data: {{"error":{{"message":"mock: error injected after {n} chunk(s) (--error-after)","type":"server_error","param":null,"code":500}}}}"#
            );
            buf.push_str("\n\n");
            if config.done {
                push(&mut buf, at, EventKind::Other);
                buf.push_str("data: [DONE]\n\n");
            }
        }
        Some(Fault::StallAfter(_)) => tail = Tail::Stall,
        Some(Fault::DropAfter(n)) => tail = Tail::Drop(chunk_offset(config, facts.serial, n)),
        None => {
            if facts.include_usage && config.usage == UsageMode::WhenRequested {
                push(&mut buf, end, EventKind::Other);
                buf.push_str("data: ");
                buf.push_str(&head);
                let _ = write!(buf, r#""choices":[],"usage":{usage}}}"#);
                buf.push_str("\n\n");
            }
            if config.done {
                push(&mut buf, end, EventKind::Other);
                buf.push_str("data: [DONE]\n\n");
            }
        }
    }

    let all = Bytes::from(buf.into_bytes());
    let mut events = Vec::with_capacity(marks.len());
    for (k, &(start, offset, kind)) in marks.iter().enumerate() {
        let stop = marks.get(k + 1).map_or(all.len(), |m| m.0);
        events.push(Event {
            offset,
            bytes: all.slice(start..stop),
            kind,
        });
    }
    Plan { events, tail }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(shape: Shape, tokens: u32, include_usage: bool) -> RequestFacts {
        RequestFacts {
            shape,
            tokens,
            include_usage,
            prompt_tokens: 7,
            serial: 3,
        }
    }

    fn json(e: &Event) -> serde_json::Value {
        let s = std::str::from_utf8(&e.bytes).unwrap();
        let payload = s
            .strip_prefix("data: ")
            .unwrap()
            .strip_suffix("\n\n")
            .unwrap();
        serde_json::from_str(payload).unwrap()
    }

    #[test]
    fn completions_plan_has_exact_offsets_usage_and_done() {
        let config = MockConfig::new();
        let plan = build(&config, &facts(Shape::Completions, 5, true), r#""mock""#, 1);
        assert_eq!(plan.tail, Tail::End);
        assert_eq!(plan.events.len(), 7);
        for (i, e) in plan.events[..5].iter().enumerate() {
            assert_eq!(e.offset, Duration::from_millis(50 + 10 * i as u64));
            let v = json(e);
            assert_eq!(v["choices"][0]["text"], WORDS[i]);
            assert_eq!(v["id"], "cmpl-mock0000000000000003");
        }
        assert_eq!(plan.events[0].kind, EventKind::FirstChunk);
        assert_eq!(plan.events[1].kind, EventKind::Chunk);
        assert_eq!(
            json(&plan.events[4])["choices"][0]["finish_reason"],
            "length"
        );
        assert!(json(&plan.events[3])["choices"][0]["finish_reason"].is_null());
        let usage = json(&plan.events[5]);
        assert_eq!(usage["choices"], serde_json::json!([]));
        assert_eq!(usage["usage"]["completion_tokens"], 5);
        assert_eq!(usage["usage"]["total_tokens"], 12);
        assert_eq!(plan.events[5].offset, Duration::from_millis(90));
        assert_eq!(&plan.events[6].bytes[..], b"data: [DONE]\n\n");
    }

    #[test]
    fn chat_role_on_first_chunk_and_several_tokens_per_chunk() {
        let config = MockConfig {
            tokens_per_chunk: 2,
            usage: UsageMode::InLastChunk,
            ..MockConfig::new()
        };
        let plan = build(&config, &facts(Shape::Chat, 5, false), r#""m""#, 1);
        // 3 chunks (2 + 2 + 1 tokens) then [DONE]; usage sits in the last chunk
        assert_eq!(plan.events.len(), 4);
        let first = json(&plan.events[0]);
        assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(first["choices"][0]["delta"]["content"], " the of");
        assert!(json(&plan.events[1])["choices"][0]["delta"]["role"].is_null());
        assert_eq!(plan.events[1].offset, Duration::from_millis(70));
        let last = json(&plan.events[2]);
        assert_eq!(last["choices"][0]["delta"]["content"], " in");
        assert_eq!(last["usage"]["completion_tokens"], 5);
        assert_eq!(last["object"], "chat.completion.chunk");
    }

    #[test]
    fn faults_cut_the_stream() {
        let mut config = MockConfig {
            fault: Some(Fault::ErrorAfter(2)),
            ..MockConfig::new()
        };
        let plan = build(&config, &facts(Shape::Completions, 5, true), r#""m""#, 1);
        assert_eq!(plan.events.len(), 4);
        assert!(json(&plan.events[2])["error"]["message"].is_string());
        assert_eq!(plan.events[2].offset, Duration::from_millis(70));
        config.fault = Some(Fault::DropAfter(1));
        let plan = build(&config, &facts(Shape::Completions, 5, true), r#""m""#, 1);
        assert_eq!(plan.events.len(), 1);
        assert_eq!(plan.tail, Tail::Drop(Duration::from_millis(60)));
        config.fault = Some(Fault::StallAfter(9));
        let plan = build(&config, &facts(Shape::Completions, 5, false), r#""m""#, 1);
        assert_eq!((plan.events.len(), plan.tail), (6, Tail::End));
    }

    #[test]
    fn comments_and_jitter_stay_ordered() {
        let config = MockConfig {
            sse_comments: true,
            done: false,
            jitter: Duration::from_millis(4),
            ..MockConfig::new()
        };
        let plan = build(&config, &facts(Shape::Completions, 50, false), r#""m""#, 1);
        assert_eq!(&plan.events[0].bytes[..], b": ping\n\n");
        assert_eq!(plan.events.len(), 1 + 50 + 49);
        assert!(plan.events.windows(2).all(|w| w[0].offset <= w[1].offset));
        let chunks: Vec<_> = plan
            .events
            .iter()
            .filter(|e| e.kind != EventKind::Other)
            .collect();
        let mut moved = 0;
        for (i, e) in chunks.iter().enumerate() {
            let nominal = Duration::from_millis(50 + 10 * i as u64);
            let d = e.offset.abs_diff(nominal);
            assert!(d <= Duration::from_millis(4));
            moved += usize::from(!d.is_zero());
        }
        assert!(moved > 40, "jitter moved only {moved} chunks");
    }
}
