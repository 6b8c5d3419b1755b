//! The official `openai` Python SDK against a real `hearth serve --demo`: what the SDK parses
//! from our `/v1/chat/completions` (whole, streamed, cut by `max_tokens`) and which of its
//! exception classes our errors become; and, against a server with the on-device embedding
//! model, the SDK's `embeddings.create` and langchain-openai's `OpenAIEmbeddings`. The SDK runs
//! `tests/sdk/openai_client.py` in the venv that `scripts/openai-sdk-venv` builds; in CI the
//! venv (and the embedding model) must be there, a local run without them skips these tests,
//! saying so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{create_key, Server};
use serde_json::{json, Value};

/// The venv's interpreter, where `scripts/openai-sdk-venv` puts it.
fn venv_python() -> PathBuf {
    let cache = std::env::var_os("HEARTH_CI_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(dirs::home_dir)
                .unwrap();
            home.join(".cache").join("hearth-ci")
        });
    cache.join("openai-sdk-venv").join("bin").join("python")
}

/// The interpreter with the SDK, or None (with a message) when the venv is absent outside CI.
fn python() -> Option<PathBuf> {
    common::installed::or_skip(venv_python(), "openai SDK venv", "scripts/openai-sdk-venv")
}

/// Runs one scenario of `tests/sdk/openai_client.py` against the server; its JSON report.
fn sdk(python: &Path, s: &Server, key: &str, scenario: &str) -> Value {
    sdk_with(python, s, key, scenario, &[])
}

/// `sdk` with extra environment for the scenario (`HEARTH_MODEL`).
fn sdk_with(python: &Path, s: &Server, key: &str, scenario: &str, env: &[(&str, &str)]) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/openai_client.py");
    let out = Command::new(python)
        .arg(script)
        .arg(scenario)
        .env("HEARTH_BASE_URL", format!("{}/v1", s.base))
        .env("HEARTH_API_KEY", key)
        .envs(env.iter().copied())
        .output()
        .expect("run the venv's python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{scenario} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{scenario}: {e}: {stdout:?}"))
}

fn assert_usage_adds_up(usage: &Value) {
    let prompt = usage["prompt_tokens"].as_u64().unwrap();
    let completion = usage["completion_tokens"].as_u64().unwrap();
    assert!(prompt > 0 && completion > 0, "{usage}");
    assert_eq!(usage["total_tokens"].as_u64(), Some(prompt + completion));
}

#[test]
fn the_openai_sdk_gets_a_plain_completion_with_its_usage() {
    let Some(py) = python() else { return };
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let v = sdk(&py, &s, &key, "plain");
    assert_eq!(v["type"], "ChatCompletion", "{v}");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"), "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "mock-fast/fast-extract-v1");
    assert!(v["created"].as_i64().unwrap() > 0);
    assert_eq!(v["choices"], 1);
    assert_eq!(v["role"], "assistant");
    assert!(!v["content"].as_str().unwrap().is_empty(), "{v}");
    assert_eq!(v["finish_reason"], "stop");
    assert_usage_adds_up(&v["usage"]);
}

#[test]
fn the_openai_sdk_streams_the_same_text_as_the_whole_answer_with_usage_in_the_last_chunk() {
    let Some(py) = python() else { return };
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let v = sdk(&py, &s, &key, "stream");
    assert_eq!(v["cache"], "miss", "the provider really streamed: {v}");
    assert_eq!(v["provider"], "mock-fast");
    let whole = &v["whole"];
    let chunks = v["chunks"].as_array().unwrap();
    assert!(chunks.len() > 3, "streamed in pieces: {v}");
    for c in chunks {
        assert_eq!(c["type"], "ChatCompletionChunk", "{c}");
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], chunks[0]["id"]);
        assert_eq!(c["model"], whole["model"]);
    }
    assert_eq!(chunks[0]["role"], "assistant");
    assert!(!v["text"].as_str().unwrap().is_empty());
    assert_eq!(v["text"], whole["content"]);

    let (last, rest) = chunks.split_last().unwrap();
    assert_eq!(last["choices"], 0, "the usage chunk has no choices: {last}");
    assert_eq!(last["usage"], whole["usage"]);
    assert_usage_adds_up(&last["usage"]);
    assert!(rest.iter().all(|c| c["usage"].is_null()), "{v}");
    assert_eq!(rest.last().unwrap()["finish_reason"], "stop");
    assert!(rest[..rest.len() - 1]
        .iter()
        .all(|c| c["finish_reason"].is_null()));
}

#[test]
fn the_openai_sdk_sees_max_tokens_cut_the_answer_with_finish_reason_length() {
    let Some(py) = python() else { return };
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    // The script asks for max_tokens = 5; the mock's natural answer is 24 tokens.
    let v = sdk(&py, &s, &key, "max_tokens");
    assert_eq!(v["finish_reason"], "length", "{v}");
    assert_eq!(v["usage"]["completion_tokens"], 5);
    assert_usage_adds_up(&v["usage"]);
    assert_eq!(v["content"].as_str().unwrap().split(' ').count(), 5, "{v}");
}

#[test]
fn the_openai_sdk_raises_authentication_error_with_hearths_code_for_a_bad_key() {
    let Some(py) = python() else { return };
    let s = Server::demo();
    // The script sends its own wrong key; this one is never used.
    let v = sdk(&py, &s, "unused", "bad_key");
    assert_eq!(v["error"], "AuthenticationError", "{v}");
    assert_eq!(v["status"], 401);
    assert_eq!(v["code"], "unauthorized");
    assert_eq!(v["type"], "authentication_error");
    assert_eq!(v["trace_id"].as_str().unwrap().len(), 32, "{v}");
}

#[test]
fn the_openai_sdk_raises_rate_limit_error_with_a_retry_after_it_can_read() {
    let Some(py) = python() else { return };
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_free", "user");
    // tenant_free has 30 rpm; the script calls until the first 429, at most 40 times.
    let v = sdk(&py, &s, &key, "rate_limit");
    assert_eq!(v["error"], "RateLimitError", "{v}");
    assert!(v["succeeded"].as_u64().unwrap() >= 30, "{v}");
    assert_eq!(v["status"], 429);
    assert_eq!(v["code"], "rate_limited_workspace");
    assert_eq!(v["type"], "rate_limit_error");
    let retry_after: u64 = v["retry_after"].as_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1, "{v}");
}

#[test]
fn the_openai_sdk_raises_bad_request_error_for_an_unknown_model() {
    let Some(py) = python() else { return };
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let v = sdk(&py, &s, &key, "unknown_model");
    assert_eq!(v["error"], "BadRequestError", "{v}");
    assert_eq!(v["status"], 400);
    assert_eq!(v["code"], "unknown_model");
    assert_eq!(v["type"], "invalid_request_error");
}

#[tokio::test]
async fn the_openai_sdk_raises_api_error_when_a_stream_breaks_after_content() {
    let Some(py) = python() else { return };
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let (status, _, _) = s
        .post(
            "/debug/provider/mock-fast/fail",
            None,
            &json!({"mode": "break_mid_stream"}),
        )
        .await;
    assert_eq!(status, 200);
    let v = sdk(&py, &s, &key, "stream_break");
    assert_eq!(v["error"], "APIError", "{v}");
    assert_eq!(v["code"], "providers_unavailable");
    assert!(
        !v["text"].as_str().unwrap().is_empty(),
        "content came before the break: {v}"
    );
}

#[test]
fn the_openai_sdks_parse_builds_its_pydantic_object_from_a_mocks_schema_shaped_answer() {
    let Some(py) = python() else { return };
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let v = sdk(&py, &s, &key, "parse");
    assert_eq!(v["parsed_type"], "City", "{v}");
    assert_eq!(v["parsed"], json!({"city": "", "country": ""}), "{v}");
    assert_eq!(v["finish_reason"], "stop");
}

#[test]
fn the_openai_sdks_parse_gets_a_valid_object_from_the_local_model_under_its_grammar() {
    let Some(v) = on_the_local_model("parse") else {
        return;
    };
    assert_eq!(v["model"], "local/smollm2-135m-instruct", "{v}");
    assert_eq!(v["parsed_type"], "City", "{v}");
    assert!(
        v["parsed"]["city"].is_string() && v["parsed"]["country"].is_string(),
        "{v}"
    );
    assert_eq!(v["finish_reason"], "stop");
}

/// `scenario` against a server with the built-in policy, with `HEARTH_MODEL` the default
/// local model; None (with a message) when the SDK venv or the model is absent outside CI.
fn on_the_local_model(scenario: &str) -> Option<Value> {
    let py = python()?;
    common::default_model()?;
    let s = Server::start(&[]);
    let key = create_key(&s.dir, "default", "user");
    let local = [("HEARTH_MODEL", "local/smollm2-135m-instruct")];
    Some(sdk_with(&py, &s, &key, scenario, &local))
}

/// A server with the built-in policy, whose `local` provider serves the installed embedding
/// model, and a key of its default workspace; None (with a message) when the SDK venv or the
/// model is absent outside CI.
fn embedding_server() -> Option<(PathBuf, Server, String)> {
    let py = python()?;
    let entry = hearth::models::entry("all-minilm-l6-v2").unwrap();
    common::installed::or_skip(
        entry.installed_path(),
        "embedding model all-minilm-l6-v2",
        "scripts/fetch-default-model all-minilm-l6-v2",
    )?;
    let s = Server::start(&[]);
    let key = create_key(&s.dir, "default", "user");
    Some((py, s, key))
}

fn as_f32(v: &Value) -> Vec<Vec<f32>> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list of vectors: {v}"))
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn the_openai_sdk_gets_the_same_vectors_as_floats_as_base64_and_by_its_own_default() {
    let Some((py, s, key)) = embedding_server() else {
        return;
    };
    let v = sdk(&py, &s, &key, "embeddings");
    assert_eq!(v["type"], "CreateEmbeddingResponse", "{v}");
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "local/all-minilm-l6-v2");
    assert_eq!(v["indexes"], json!([0, 1, 2]));
    let prompt = v["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(prompt > 3 * 2, "[CLS] and [SEP] and words: {v}");
    assert_eq!(v["usage"]["total_tokens"].as_u64(), Some(prompt));
    let floats = as_f32(&v["float"]);
    assert_eq!(floats.len(), 3);
    assert!(floats.iter().all(|f| f.len() == 384));
    assert_eq!(as_f32(&v["one"])[0], floats[0], "a string is a list of one");
    assert_eq!(v["base64_raw_is_str"], true, "{v}");
    assert_eq!(as_f32(&v["base64"]), floats, "base64 holds the same f32s");
    assert_eq!(
        as_f32(&v["default"]),
        floats,
        "the SDK's own base64 decoding"
    );
    let short = &as_f32(&v["short"])[0];
    assert_eq!(short.len(), 64);
    assert!((dot(short, short) - 1.0).abs() < 1e-4);
    assert!(dot(&floats[0], &floats[1]) > dot(&floats[0], &floats[2]) + 0.3);
}

#[test]
fn langchains_openai_embeddings_embeds_documents_and_a_query_alike() {
    let Some((py, s, key)) = embedding_server() else {
        return;
    };
    let v = sdk(&py, &s, &key, "langchain_embeddings");
    let docs = as_f32(&v["documents"]);
    assert_eq!(docs.len(), 3, "{v}");
    assert!(docs.iter().all(|d| d.len() == 384));
    let query: Vec<f32> = as_f32(&json!([v["query"]])).remove(0);
    assert_eq!(
        query, docs[0],
        "a query is embedded as the same text in a document"
    );
    assert!(dot(&docs[0], &docs[1]) > dot(&docs[0], &docs[2]) + 0.3);
}

#[test]
fn langchains_with_structured_output_gets_its_pydantic_object_from_the_local_model() {
    let Some(v) = on_the_local_model("langchain_structured") else {
        return;
    };
    assert_eq!(v["type"], "City", "{v}");
    assert!(
        v["value"]["city"].is_string() && v["value"]["country"].is_string(),
        "{v}"
    );
}

#[test]
fn the_openai_sdk_gets_a_tool_call_whole_and_streamed_and_then_the_answer_after_its_result() {
    let Some(py) = python() else { return };
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let v = sdk(&py, &s, &key, "tools");
    let call = &v["whole"][0];
    assert_eq!(call["type"], "function", "{v}");
    assert_eq!(call["name"], "get_weather");
    assert!(call["id"].as_str().unwrap().starts_with("call_"), "{v}");
    let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(
        args,
        json!({"city": "", "unit": "c"}),
        "the schema's plain example: {v}"
    );
    assert_eq!(v["whole_finish"], "tool_calls");
    assert_eq!(v["whole_content"], Value::Null);
    // The SDK's accumulator rebuilt the same call from its streamed pieces.
    assert_eq!(v["streamed"], v["whole"], "{v}");
    assert_eq!(v["streamed_finish"], "tool_calls");
    assert!(v["argument_pieces"].as_u64().unwrap() >= 2, "{v}");
    assert_eq!(v["after_finish"], "stop", "{v}");
    assert!(!v["after_content"].as_str().unwrap().is_empty(), "{v}");
    assert_eq!(v["after_calls"], Value::Null);
}

#[test]
fn langchains_bind_tools_gets_the_call_with_parsed_arguments() {
    let Some(py) = python() else { return };
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let v = sdk(&py, &s, &key, "langchain_tools");
    assert_eq!(
        v["tool_calls"],
        json!([{"name": "get_weather", "args": {"city": "", "unit": "c"}}]),
        "{v}"
    );
}

/// The arguments of a call, parsed, after checking they hold a `city` string and a `unit`
/// among the schema's enum, as `WEATHER_TOOL` requires.
fn weather_arguments(call: &Value) -> Value {
    let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert!(args["city"].is_string(), "{call}");
    assert!(
        ["c", "f"].contains(&args["unit"].as_str().unwrap()),
        "{call}"
    );
    assert_eq!(
        args.as_object().unwrap().len(),
        2,
        "no other property: {call}"
    );
    args
}

#[test]
fn the_openai_sdk_gets_a_local_models_tool_call_whole_and_streamed_and_an_answer_after_its_result()
{
    let Some(v) = on_the_local_model("tools") else {
        return;
    };
    let whole = v["whole"].as_array().unwrap();
    assert!(!whole.is_empty(), "{v}");
    for call in whole {
        assert_eq!(call["name"], "get_weather", "{v}");
        weather_arguments(call);
    }
    assert_eq!(v["whole_finish"], "tool_calls", "{v}");
    assert_eq!(v["whole_content"], Value::Null);
    // Greedy decoding makes the same calls when streamed; only the ids are new.
    let streamed = v["streamed"].as_array().unwrap();
    assert_eq!(streamed.len(), whole.len(), "{v}");
    for (a, b) in whole.iter().zip(streamed) {
        assert_eq!(weather_arguments(a), weather_arguments(b));
        assert_ne!(a["id"], b["id"]);
    }
    assert_eq!(v["streamed_finish"], "tool_calls");
    assert!(
        v["after_content"].as_str().is_some_and(|t| !t.is_empty()),
        "{v}"
    );
}

#[test]
fn langchains_bind_tools_gets_a_call_from_the_local_model_with_arguments_of_its_schema() {
    let Some(v) = on_the_local_model("langchain_tools") else {
        return;
    };
    let calls = v["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "a named tool is called once: {v}");
    assert_eq!(calls[0]["name"], "get_weather");
    assert!(calls[0]["args"]["city"].is_string(), "{v}");
}

#[test]
fn langchains_stream_adds_up_to_the_answer_invoke_gets_with_its_usage() {
    let Some(py) = python() else { return };
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let v = sdk(&py, &s, &key, "langchain_stream");
    assert!(!v["whole"].as_str().unwrap().is_empty(), "{v}");
    assert_eq!(v["streamed"], v["whole"], "{v}");
    assert!(v["chunks"].as_u64().unwrap() >= 3, "{v}");
    let usage = &v["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["input_tokens"].as_u64().unwrap() + usage["output_tokens"].as_u64().unwrap(),
        "{v}"
    );
    assert!(usage["output_tokens"].as_u64().unwrap() > 0, "{v}");
}
