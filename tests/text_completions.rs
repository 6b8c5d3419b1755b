//! `POST /v1/completions` (OpenAI's text-completion format) over real HTTP: a base model
//! with real weights continues raw text as llama.cpp does, the stream carries the same text
//! as the whole answer, options Hearth cannot honour are refused, and a hosted provider is
//! never handed raw text as if it were a chat turn.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::reference::fixture;
use common::{cli, Server};
use serde_json::{json, Value};

/// The built-in policy plus Gemma 3 270M (the pretrained base model) as the `complete`
/// route, without a repetition penalty (llama.cpp's fixtures were recorded without one), and
/// a hosted provider at a closed loopback port as the `hosted` route.
fn server() -> (tempfile::TempDir, Server, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut policy = include_str!("../src/config/default.toml").replace(
        "[tiers.free]\nallowed_models = [\"smollm2\"]",
        "[tiers.free]\nallowed_models = [\"smollm2\", \"gemma\", \"remote\"]",
    );
    assert!(
        policy.contains("\"gemma\", \"remote\""),
        "the free tier was edited"
    );
    policy.push_str(
        r#"
[providers.gemma]
kind = "local"
model = "gemma-3-270m"
repeat_penalty = 1.0

[models.gemma]
provider = "gemma"
model_id = "gemma-3-270m"
max_output_tokens = 256

[routes.complete]
primary = "gemma"
max_output_tokens = 64

[providers.closed]
kind = "openai_compatible"
base_url = "http://127.0.0.1:9/v1"
models = ["any"]

[models.remote]
provider = "closed"
model_id = "any"
max_output_tokens = 64

[routes.hosted]
primary = "remote"
max_output_tokens = 64
"#,
    );
    let cfg = dir.path().join("policy.toml");
    std::fs::write(&cfg, policy).unwrap();
    let data = dir.path().join("data");
    let cfg = cfg.to_str().unwrap();
    let args = [
        "--config",
        cfg,
        "keys",
        "create",
        "--workspace",
        "default",
        "--role",
        "admin",
    ];
    let out = cli(&data, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let s = Server::start_in(&data, &["--config", cfg]);
    (dir, s, key)
}

fn gemma_installed() -> bool {
    let entry = hearth::models::entry("gemma-3-270m").unwrap();
    common::installed::or_skip(
        entry.installed_path(),
        "Gemma 3 270M",
        "hearth models pull gemma-3-270m",
    )
    .is_some()
}

/// The text of a streamed text completion, and its last chunk with a finish reason.
async fn streamed(s: &Server, key: &str, body: &Value) -> (String, Value) {
    let resp = s
        .http
        .post(s.url("/v1/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let mut answer = String::new();
    let mut last = Value::Null;
    let mut done = false;
    for data in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let chunk: Value = serde_json::from_str(data).unwrap();
        assert_eq!(chunk["object"], "text_completion", "{chunk}");
        if let Some(choice) = chunk["choices"].get(0) {
            answer.push_str(choice["text"].as_str().unwrap());
            if !choice["finish_reason"].is_null() {
                last = chunk.clone();
            }
        }
    }
    assert!(done, "the stream ends with [DONE]: {text}");
    (answer, last)
}

/// Greedy from "The capital of France is", Gemma's first four tokens are llama.cpp's
/// (` the capital of the`). Four, because llama.cpp's own top choice leads its runner-up by
/// 0.51, 1.86, 2.60 and 0.45 at them, but by 0.11 at the fifth: a near tie that the
/// differences of up to 0.8 between the two engines' logits (both quantize activations, in
/// blocks of their own; `tests/local_gemma.rs` bounds them teacher-forced over 49 positions)
/// may break either way.
#[tokio::test]
async fn a_base_model_continues_raw_text_as_llama_cpp_does_whole_and_streamed() {
    if !gemma_installed() {
        return;
    }
    let f = fixture("gemma3_270m_teacher_forced.json");
    let llama_text = f["generated_text"].as_str().unwrap();
    let (_dir, s, key) = server();
    let ask = |stream: bool| {
        json!({"model": "hearth/complete", "prompt": f["user"], "max_tokens": 4,
               "temperature": 0, "stream": stream,
               "stream_options": {"include_usage": stream}})
    };
    let (status, _, v) = s.post("/v1/completions", Some(&key), &ask(false)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "text_completion");
    let text = v["choices"][0]["text"].as_str().unwrap();
    assert_eq!(text, " the capital of the");
    assert!(
        llama_text.starts_with(text),
        "{text:?} vs llama.cpp {llama_text:?}"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 4);
    // BOS and the five tokens of the prompt, with no chat template around them.
    assert_eq!(v["usage"]["prompt_tokens"], 6);
    assert_eq!(v["model"], "gemma/gemma-3-270m");
    let (streamed_text, last) = streamed(&s, &key, &ask(true)).await;
    assert_eq!(streamed_text, text);
    assert_eq!(last["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn options_a_text_completion_cannot_honour_are_refused_with_a_clear_error() {
    let (_dir, s, key) = server();
    for (extra, words) in [
        (json!({"echo": true}), "echo"),
        (json!({"suffix": "}"}), "suffix"),
        (json!({"logprobs": 3}), "logprobs"),
        (json!({"best_of": 2}), "best_of"),
        (json!({"prompt": ["a", "b"]}), "one prompt"),
        (json!({"metadata": {"prompt_id": "support"}}), "prompt_id"),
        (json!({"prompt": ""}), "no non-empty"),
    ] {
        let mut body = json!({"model": "hearth/chat", "prompt": "Hello", "max_tokens": 4});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, _, v) = s.post("/v1/completions", Some(&key), &body).await;
        assert_eq!(status, 400, "{extra}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{extra}: {v}");
        assert!(v["error"]["trace_id"].is_string(), "{v}");
    }
}

/// A chat API has no raw-text form: Hearth says so instead of wrapping the text in a user
/// turn, and sends nothing (the provider's port is closed, so an attempt would say
/// "unavailable" instead).
#[tokio::test]
async fn a_hosted_provider_is_never_handed_raw_text() {
    let (_dir, s, key) = server();
    let body = json!({"model": "hearth/hosted", "prompt": "Hello", "max_tokens": 4});
    let (status, _, v) = s.post("/v1/completions", Some(&key), &body).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "unsupported_by_model", "{v}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("runs only on a local model"), "{v}");
}

/// The default model is a chat model, but a caller that renders its own prompt may still
/// send it raw text: the answer continues exactly that text.
#[tokio::test]
async fn a_chat_model_continues_a_prompt_its_caller_rendered() {
    if common::default_model().is_none() {
        return;
    }
    let (_dir, s, key) = server();
    let prompt =
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";
    let body =
        json!({"model": "hearth/chat", "prompt": prompt, "max_tokens": 12, "temperature": 0});
    let (status, _, v) = s.post("/v1/completions", Some(&key), &body).await;
    assert_eq!(status, 200, "{v}");
    assert!(
        v["choices"][0]["text"].as_str().unwrap().contains("Paris"),
        "{v}"
    );
}
