//! The eight real chat templates in `../shared/data/chat-templates/` render a
//! system + user + assistant + user conversation the way each model expects (Gemma 2, which
//! has no system role, refuses it with its own message and renders the rest).

mod common;

use common::shared_data;
use dyno_protocol::chat::ChatMessage;
use dyno_server::{ChatTemplate, TemplateError};

fn conversation() -> Vec<ChatMessage> {
    vec![
        ChatMessage::new("system", "You are terse."),
        ChatMessage::new("user", "What is 2+2?"),
        ChatMessage::new("assistant", "4"),
        ChatMessage::new("user", "And 3+3?"),
    ]
}

fn load(file: &str, bos: &str, eos: &str) -> ChatTemplate {
    let path = shared_data().join("chat-templates").join(file);
    let source = std::fs::read_to_string(&path).unwrap();
    ChatTemplate::new(&source, file, bos, eos).unwrap()
}

/// Renders `messages` and checks that every message's text appears, in order.
fn renders_in_order(file: &str, bos: &str, messages: &[ChatMessage]) -> String {
    let text = load(file, bos, "</s>")
        .render(messages, true, None)
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut at = 0;
    for m in messages.iter().map(|m| m.content.as_ref().unwrap().text()) {
        let found = text[at..]
            .find(m.as_str())
            .unwrap_or_else(|| panic!("{file}: {m:?} missing after byte {at} in {text:?}"));
        at += found + m.len();
    }
    text
}

#[test]
fn llama_3_1_and_3_2() {
    for file in [
        "meta-llama-Llama-3.1-8B-Instruct.jinja",
        "meta-llama-Llama-3.2-3B-Instruct.jinja",
    ] {
        let text = renders_in_order(file, "<|begin_of_text|>", &conversation());
        assert!(
            text.starts_with("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"),
            "{file}: {text:?}"
        );
        assert!(
            text.contains("Cutting Knowledge Date: December 2023"),
            "{file}"
        );
        assert!(
            text.contains("You are terse.<|eot_id|>"),
            "{file}: {text:?}"
        );
        assert!(
            text.ends_with("<|start_header_id|>assistant<|end_header_id|>\n\n"),
            "{file}: {text:?}"
        );
        assert_eq!(text.matches("<|eot_id|>").count(), 4, "{file}: {text:?}");
    }
    // 3.2 dates the system prompt with strftime_now.
    let text = renders_in_order(
        "meta-llama-Llama-3.2-3B-Instruct.jinja",
        "",
        &conversation(),
    );
    assert!(text.contains("Today Date: "), "{text:?}");
    let date = text
        .split("Today Date: ")
        .nth(1)
        .unwrap()
        .split('\n')
        .next()
        .unwrap();
    assert_eq!(date.split(' ').count(), 3, "{date:?}");
}

#[test]
fn qwen_hermes_and_deepseek() {
    let text = renders_in_order("Qwen-Qwen2.5-7B-Instruct.jinja", "", &conversation());
    assert!(
        text.starts_with("<|im_start|>system\nYou are terse.<|im_end|>\n"),
        "{text:?}"
    );
    assert!(text.ends_with("<|im_start|>assistant\n"), "{text:?}");
    let text = renders_in_order(
        "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja",
        "<|begin_of_text|>",
        &conversation(),
    );
    assert!(
        text.contains("<|im_start|>user\nWhat is 2+2?<|im_end|>"),
        "{text:?}"
    );
    assert!(text.ends_with("<|im_start|>assistant\n"), "{text:?}");
    let text = renders_in_order(
        "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
        "<｜begin▁of▁sentence｜>",
        &conversation(),
    );
    assert!(
        text.starts_with("<｜begin▁of▁sentence｜>You are terse."),
        "{text:?}"
    );
    assert!(text.contains("<｜User｜>What is 2+2?"), "{text:?}");
    assert!(
        text.contains("<｜Assistant｜>4<｜end▁of▁sentence｜>"),
        "{text:?}"
    );
    assert!(text.ends_with("<｜Assistant｜><think>\n"), "{text:?}");
}

#[test]
fn phi_and_mistral_nemo() {
    let text = renders_in_order(
        "microsoft-Phi-3.5-mini-instruct.jinja",
        "<s>",
        &conversation(),
    );
    assert!(
        text.starts_with("<|system|>\nYou are terse.<|end|>\n<|user|>\nWhat is 2+2?<|end|>\n"),
        "{text:?}"
    );
    assert!(text.ends_with("<|assistant|>\n"), "{text:?}");
    // Mistral moves the system prompt into the last user turn.
    let text = load("mistralai-Mistral-Nemo-Instruct-2407.jinja", "<s>", "</s>")
        .render(&conversation(), true, None)
        .unwrap();
    assert_eq!(
        text,
        "<s>[INST]What is 2+2?[/INST]4</s>[INST]You are terse.\n\nAnd 3+3?[/INST]"
    );
}

#[test]
fn gemma_2_refuses_a_system_turn_and_renders_the_rest() {
    let file = "google-gemma-2-2b-it.jinja";
    let err = load(file, "<bos>", "<eos>")
        .render(&conversation(), true, None)
        .unwrap_err();
    assert_eq!(
        err,
        TemplateError::Render("System role not supported".into())
    );
    let text = renders_in_order(file, "<bos>", &conversation()[1..]);
    assert_eq!(
        text,
        "<bos><start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n4<end_of_turn>\n<start_of_turn>user\nAnd 3+3?<end_of_turn>\n<start_of_turn>model\n"
    );
}
