#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The Gemini adapter's contract against a local mock of the Gemini API: the request it
//! sends (path, key header, roles, system instruction, generation config), the answers,
//! streams, usage and finish reasons it reads back, and the typed error for each failure.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::hosted::{
    self, build_named, collect, joined_text, mock_keychain, msg, tool_pieces, Adapter,
};
use hearth::config::HostedKind;
use hearth::providers::{
    Delta, FinishReason, JsonSchemaFormat, Message, OutputFormat, Provider, ProviderError,
    ProviderRequest, Role, Tool, ToolCall, ToolCallPiece, ToolChoice, Tools, Usage,
};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const MODEL: &str = "gemini-2.5-flash";
const GENERATE: &str = "/models/gemini-2.5-flash:generateContent";
const STREAM: &str = "/models/gemini-2.5-flash:streamGenerateContent";
const API: Adapter = Adapter {
    fixtures: "gemini",
    base_path: "",
    chat_path: GENERATE,
};

fn sse_reply(body: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")
}

/// The Gemini adapter pointed at `mock`, its key read from `env_var`, built through the
/// public API as the server builds it.
fn provider(mock: &MockServer, env_var: &str, key: &str) -> Arc<dyn Provider> {
    API.provider(mock, HostedKind::Gemini, env_var, key)
}

fn request() -> ProviderRequest {
    hosted::request(
        MODEL,
        vec![msg(Role::User, "What is the capital of France?")],
    )
}

/// Mounts one answer for a POST to `route` sent with `key`.
async fn answer(mock: &MockServer, route: &str, key: &str, reply: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(route))
        .and(header("x-goog-api-key", key))
        .respond_with(reply)
        .expect(1)
        .mount(mock)
        .await;
}

/// Mounts `reply` for every POST to the stream route, whatever its key.
async fn answer_streams(mock: &MockServer, reply: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(reply)
        .mount(mock)
        .await;
}

/// A mock answering one non-streamed call sent with `key` with `reply`, and the adapter
/// pointed at it with `key` in `env_var`.
async fn on_generate(
    env_var: &str,
    key: &str,
    reply: ResponseTemplate,
) -> (MockServer, Arc<dyn Provider>) {
    let mock = MockServer::start().await;
    answer(&mock, GENERATE, key, reply).await;
    let p = provider(&mock, env_var, key);
    (mock, p)
}

/// A mock answering every streamed call with `reply`, and the adapter pointed at it with
/// `key` in `env_var`.
async fn on_stream(
    env_var: &str,
    key: &str,
    reply: ResponseTemplate,
) -> (MockServer, Arc<dyn Provider>) {
    let mock = MockServer::start().await;
    answer_streams(&mock, reply).await;
    let p = provider(&mock, env_var, key);
    (mock, p)
}

/// The error a non-streamed call answered with `reply` ends with, checked to not carry the key.
async fn answered_error(env_var: &str, key: &str, reply: ResponseTemplate) -> ProviderError {
    let (_mock, p) = on_generate(env_var, key, reply).await;
    hosted::generate_error(p.as_ref(), &request(), key).await
}

#[tokio::test]
async fn the_request_carries_roles_system_instruction_and_generation_config_with_the_key_in_a_header(
) {
    let key = "AIzaSy-request-mapping-key";
    let (mock, p) = on_generate(
        "HEARTH_TEST_GEMINI_KEY_REQUEST",
        key,
        API.reply(200, "generate_success.json"),
    )
    .await;
    let req = ProviderRequest {
        messages: vec![
            msg(Role::System, "Be brief."),
            msg(Role::User, "Hi"),
            msg(Role::Assistant, "Hello!"),
            msg(Role::User, "Capital of France?"),
            msg(Role::User, "Answer in JSON."),
            msg(Role::System, "Never guess."),
        ],
        max_output_tokens: 128,
        temperature: 0.5,
        top_p: Some(0.25),
        top_k: Some(40),
        // The API has no min_p: it is left out.
        min_p: Some(0.05),
        stop: vec!["END".into()],
        seed: Some(7),
        response_format: OutputFormat::JsonObject,
        ..request()
    };
    p.generate(&req).await.unwrap();

    let received = mock.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!(r.url.path(), GENERATE);
    assert_eq!(r.url.query(), None);
    assert!(!r.url.as_str().contains(key), "key in the URL: {}", r.url);
    assert_eq!(r.headers["x-goog-api-key"], key);
    assert!(r.headers.get("authorization").is_none());
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        body,
        json!({
            "contents": [
                {"role": "user", "parts": [{"text": "Hi"}]},
                {"role": "model", "parts": [{"text": "Hello!"}]},
                {"role": "user", "parts": [{"text": "Capital of France?"}, {"text": "Answer in JSON."}]},
            ],
            "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Never guess."}]},
            "generationConfig": {
                "temperature": 0.5,
                "topP": 0.25,
                "topK": 40,
                "maxOutputTokens": 128,
                "stopSequences": ["END"],
                "seed": 7,
                "responseMimeType": "application/json",
            },
        })
    );
}

#[tokio::test]
async fn a_plain_request_has_no_system_instruction_and_only_the_set_config_fields() {
    let (mock, p) = on_generate(
        "HEARTH_TEST_GEMINI_KEY_PLAIN",
        "AIzaSy-plain-request-key",
        API.reply(200, "generate_success.json"),
    )
    .await;
    p.generate(&request()).await.unwrap();

    let received = mock.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(
        body,
        json!({
            "contents": [{"role": "user", "parts": [{"text": "What is the capital of France?"}]}],
            "generationConfig": {"temperature": 0.0, "maxOutputTokens": 256},
        })
    );
}

#[tokio::test]
async fn a_success_gives_the_text_without_thoughts_the_usage_and_stop() {
    let (_mock, p) = on_generate(
        "HEARTH_TEST_GEMINI_KEY_SUCCESS",
        "AIzaSy-success-key",
        API.reply(200, "generate_success.json"),
    )
    .await;

    let r = p.generate(&request()).await.unwrap();
    assert_eq!(r.text, "The capital of France is Paris.");
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: 12,
            output_tokens: 7 + 22,
            cached_input_tokens: 0,
        }
    );
}

#[tokio::test]
async fn max_tokens_is_length_and_a_safety_stop_is_content_filter() {
    let mock = MockServer::start().await;
    let key = "AIzaSy-finish-reasons-key";
    Mock::given(method("POST"))
        .and(path(GENERATE))
        .respond_with(API.reply(200, "generate_max_tokens.json"))
        .up_to_n_times(1)
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .and(path(GENERATE))
        .respond_with(API.reply(200, "generate_safety_stop.json"))
        .mount(&mock)
        .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_FINISH", key);

    let r = p.generate(&request()).await.unwrap();
    assert_eq!(r.finish_reason, FinishReason::Length);
    assert_eq!(r.text, "Once upon a time, in a kingdom by the");

    let r = p.generate(&request()).await.unwrap();
    assert_eq!(r.finish_reason, FinishReason::ContentFilter);
    assert_eq!(r.text, "");
    assert_eq!(r.usage.input_tokens, 14);
    assert_eq!(r.usage.output_tokens, 0);
}

#[tokio::test]
async fn a_stream_yields_the_chunks_text_in_order_then_finish_with_cached_usage() {
    let mock = MockServer::start().await;
    let key = "AIzaSy-stream-key";
    Mock::given(method("POST"))
        .and(path(STREAM))
        .and(query_param("alt", "sse"))
        .and(header("x-goog-api-key", key))
        .respond_with(API.reply(200, "stream_chunks_with_usage.sse"))
        .expect(1)
        .mount(&mock)
        .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_STREAM", key);

    let items = collect(p.as_ref(), &request()).await;
    let texts: Vec<&str> = items
        .iter()
        .filter_map(|i| match i {
            Ok(Delta::Text(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        texts,
        ["Xin chào", " 👋 thế giới", "! Rất vui được gặp bạn 🇻🇳"]
    );
    assert_eq!(
        items.last().unwrap(),
        &Ok(Delta::Finish {
            usage: Usage {
                input_tokens: 2100,
                output_tokens: 15 + 9,
                cached_input_tokens: 2048,
            },
            finish_reason: FinishReason::Stop,
        })
    );
    assert_eq!(items.len(), 4, "three texts and one finish: {items:?}");

    let received = mock.received_requests().await.unwrap();
    assert_eq!(received[0].url.path(), STREAM);
    assert_eq!(received[0].url.query(), Some("alt=sse"));
    assert!(!received[0].url.as_str().contains(key));
}

#[tokio::test]
async fn a_stream_framed_with_crlf_as_google_sends_it_reads_the_same() {
    let body = String::from_utf8(API.fixture("stream_chunks_with_usage.sse"))
        .unwrap()
        .replace('\n', "\r\n");
    let (_mock, p) = on_stream(
        "HEARTH_TEST_GEMINI_KEY_CRLF",
        "AIzaSy-crlf-stream-key",
        sse_reply(body.into_bytes()),
    )
    .await;

    let items = collect(p.as_ref(), &request()).await;
    assert_eq!(
        joined_text(&items),
        "Xin chào 👋 thế giới! Rất vui được gặp bạn 🇻🇳"
    );
    assert!(matches!(
        items.last(),
        Some(Ok(Delta::Finish {
            finish_reason: FinishReason::Stop,
            ..
        }))
    ));
}

#[tokio::test]
async fn a_stream_cut_before_any_finish_reason_ends_in_unavailable_after_its_text() {
    let (_mock, p) = on_stream(
        "HEARTH_TEST_GEMINI_KEY_CUT",
        "AIzaSy-cut-stream-key",
        API.reply(200, "stream_cut_midway.sse"),
    )
    .await;

    let items = collect(p.as_ref(), &request()).await;
    assert_eq!(joined_text(&items), "The first half of an answer");
    assert!(
        matches!(items.last(), Some(Err(ProviderError::Unavailable(_)))),
        "{items:?}"
    );
    assert!(!items.iter().any(|i| matches!(i, Ok(Delta::Finish { .. }))));
}

#[tokio::test]
async fn an_error_event_inside_a_stream_maps_by_its_status() {
    let key = "AIzaSy-stream-error-key";
    let (_mock, p) = on_stream(
        "HEARTH_TEST_GEMINI_KEY_STREAM_ERR",
        key,
        API.reply(200, "stream_error_event.sse"),
    )
    .await;

    let items = collect(p.as_ref(), &request()).await;
    assert_eq!(joined_text(&items), "Partial");
    let Some(Err(e)) = items.last() else {
        panic!("expected an error last: {items:?}");
    };
    assert!(matches!(e, ProviderError::Unavailable(_)), "{e:?}");
    assert!(e.is_transient());
    assert!(!format!("{e:?}").contains(key));
}

#[tokio::test]
async fn a_429_is_rate_limited_with_the_retry_delay_from_the_body() {
    let e = answered_error(
        "HEARTH_TEST_GEMINI_KEY_429",
        "AIzaSy-429-key",
        API.reply(429, "error_429_resource_exhausted.json"),
    )
    .await;
    assert_eq!(
        e,
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(17))
        }
    );
    assert!(e.is_transient());
}

#[tokio::test]
async fn a_429_with_a_retry_after_header_uses_the_header() {
    let e = answered_error(
        "HEARTH_TEST_GEMINI_KEY_429_HEADER",
        "AIzaSy-429-header-key",
        API.reply(429, "error_429_resource_exhausted.json")
            .insert_header("retry-after", "5"),
    )
    .await;
    assert_eq!(
        e,
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(5))
        }
    );
}

#[tokio::test]
async fn a_429_on_the_stream_call_is_rate_limited_before_any_delta() {
    let (_mock, p) = on_stream(
        "HEARTH_TEST_GEMINI_KEY_429_STREAM",
        "AIzaSy-429-stream-key",
        API.reply(429, "error_429_resource_exhausted.json"),
    )
    .await;

    let Err(e) = p.stream(&request()).await else {
        panic!("the stream should not open");
    };
    assert_eq!(
        e,
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(17))
        }
    );
}

#[tokio::test]
async fn a_503_is_unavailable() {
    let e = answered_error(
        "HEARTH_TEST_GEMINI_KEY_503",
        "AIzaSy-503-key",
        API.reply(503, "error_503_unavailable.json"),
    )
    .await;
    let ProviderError::Unavailable(m) = &e else {
        panic!("expected Unavailable, got {e:?}");
    };
    assert!(m.contains("overloaded"), "{m}");
    assert!(e.is_transient());
}

#[tokio::test]
async fn a_400_for_too_many_input_tokens_is_context_too_long() {
    let e = answered_error(
        "HEARTH_TEST_GEMINI_KEY_TOO_LONG",
        "AIzaSy-too-long-key",
        API.reply(400, "error_400_input_too_long.json"),
    )
    .await;
    let ProviderError::ContextTooLong(m) = &e else {
        panic!("expected ContextTooLong, got {e:?}");
    };
    assert!(m.contains("1048576"), "{m}");
    assert!(!e.is_transient());
}

#[tokio::test]
async fn a_400_api_key_invalid_is_auth() {
    let e = answered_error(
        "HEARTH_TEST_GEMINI_KEY_INVALID",
        "AIzaSy-invalid-key",
        API.reply(400, "error_400_api_key_invalid.json"),
    )
    .await;
    assert_eq!(e, ProviderError::Auth);
    assert!(e.counts_against_provider());
}

#[tokio::test]
async fn a_400_api_key_invalid_wrapped_in_an_array_on_the_stream_call_is_auth() {
    let inner: Value =
        serde_json::from_slice(&API.fixture("error_400_api_key_invalid.json")).unwrap();
    let (_mock, p) = on_stream(
        "HEARTH_TEST_GEMINI_KEY_INVALID_STREAM",
        "AIzaSy-invalid-stream-key",
        ResponseTemplate::new(400).set_body_json(json!([inner])),
    )
    .await;

    let Err(e) = p.stream(&request()).await else {
        panic!("the stream should not open");
    };
    assert_eq!(e, ProviderError::Auth);
}

#[tokio::test]
async fn another_400_is_an_invalid_request_that_is_not_retried() {
    let e = answered_error(
        "HEARTH_TEST_GEMINI_KEY_BAD_ARG",
        "AIzaSy-bad-argument-key",
        API.reply(400, "error_400_invalid_argument.json"),
    )
    .await;
    let ProviderError::InvalidRequest(m) = &e else {
        panic!("expected InvalidRequest, got {e:?}");
    };
    assert!(m.contains("generation_config.temperature"), "{m}");
    assert!(!e.is_transient());
}

#[tokio::test]
async fn a_401_is_auth() {
    let e = answered_error(
        "HEARTH_TEST_GEMINI_KEY_401",
        "AIzaSy-401-key",
        API.reply(401, "error_401_unauthenticated.json"),
    )
    .await;
    assert_eq!(e, ProviderError::Auth);
}

#[tokio::test]
async fn a_blocked_prompt_is_an_invalid_request_naming_the_reason() {
    let e = answered_error(
        "HEARTH_TEST_GEMINI_KEY_BLOCKED",
        "AIzaSy-blocked-key",
        API.reply(200, "blocked_prompt.json"),
    )
    .await;
    assert_eq!(
        e,
        ProviderError::InvalidRequest("blocked: PROHIBITED_CONTENT".into())
    );
    assert!(!e.is_transient());
}

#[tokio::test]
async fn a_blocked_prompt_on_the_stream_is_an_invalid_request() {
    let chunk: Value = serde_json::from_slice(&API.fixture("blocked_prompt.json")).unwrap();
    let (_mock, p) = on_stream(
        "HEARTH_TEST_GEMINI_KEY_BLOCKED_STREAM",
        "AIzaSy-blocked-stream-key",
        sse_reply(format!("data: {chunk}\n\n").into_bytes()),
    )
    .await;

    let items = collect(p.as_ref(), &request()).await;
    assert_eq!(
        items,
        vec![Err(ProviderError::InvalidRequest(
            "blocked: PROHIBITED_CONTENT".into()
        ))]
    );
}

#[tokio::test]
async fn a_malformed_body_is_an_error_not_a_panic() {
    let key = "AIzaSy-malformed-key";
    let (mock, p) = on_generate(
        "HEARTH_TEST_GEMINI_KEY_MALFORMED",
        key,
        API.reply(200, "malformed.json"),
    )
    .await;
    let event = [
        b"data: ".as_slice(),
        &API.fixture("malformed.json"),
        b"\n\n",
    ]
    .concat();
    answer_streams(&mock, sse_reply(event)).await;

    let e = hosted::generate_error(p.as_ref(), &request(), key).await;
    assert!(matches!(e, ProviderError::Unavailable(_)), "{e:?}");

    let items = collect(p.as_ref(), &request()).await;
    assert!(
        matches!(items.as_slice(), [Err(ProviderError::Unavailable(_))]),
        "{items:?}"
    );
}

#[tokio::test]
async fn list_models_follows_pages_strips_the_prefix_and_skips_models_that_cannot_generate() {
    let mock = MockServer::start().await;
    let key = "AIzaSy-list-models-key";
    Mock::given(method("GET"))
        .and(path("/models"))
        .and(header("x-goog-api-key", key))
        .and(query_param_is_missing("pageToken"))
        .respond_with(API.reply(200, "list_models.json"))
        .expect(1)
        .mount(&mock)
        .await;
    Mock::given(method("GET"))
        .and(path("/models"))
        .and(header("x-goog-api-key", key))
        .and(query_param(
            "pageToken",
            "Chdtb2RlbHMvZ2VtaW5pLTIuNS1mbGFzaA==",
        ))
        .respond_with(API.reply(200, "list_models_last_page.json"))
        .expect(1)
        .mount(&mock)
        .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_LIST", key);

    assert_eq!(
        p.list_models().await.unwrap(),
        ["gemini-2.5-flash", "gemini-2.5-pro"]
    );
    for r in mock.received_requests().await.unwrap() {
        assert!(!r.url.as_str().contains(key), "key in the URL: {}", r.url);
    }
}

#[tokio::test]
async fn list_models_with_a_bad_key_is_auth() {
    let mock = MockServer::start().await;
    let key = "AIzaSy-list-invalid-key";
    Mock::given(method("GET"))
        .and(path("/models"))
        .respond_with(API.reply(400, "error_400_api_key_invalid.json"))
        .mount(&mock)
        .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_LIST_INVALID", key);

    let e = p.list_models().await.unwrap_err();
    assert_eq!(e, ProviderError::Auth);
}

#[tokio::test]
async fn it_is_usable_with_a_key_and_not_without_one() {
    let mock = MockServer::start().await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_USABLE", "AIzaSy-usable-key");
    assert!(p.is_usable());

    // No key in the environment, and the keychain is the keyring's in-memory mock.
    mock_keychain();
    let built = build_named(
        "gemini-without-key",
        HostedKind::Gemini,
        &API.config(&mock, "HEARTH_TEST_GEMINI_KEY_NEVER_SET"),
    );
    assert!(built.key_source.is_none());
    assert!(!built.provider.is_usable());
}

#[tokio::test]
async fn a_json_schema_goes_as_response_json_schema_with_the_json_mime_type() {
    let key = "AIzaSy-schema-key";
    let (mock, p) = on_generate(
        "HEARTH_TEST_GEMINI_KEY_SCHEMA",
        key,
        API.reply(200, "generate_success.json"),
    )
    .await;
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}});
    let format = JsonSchemaFormat::new("city", schema.clone(), true).unwrap();
    let req = ProviderRequest {
        response_format: OutputFormat::JsonSchema(Arc::new(format)),
        ..request()
    };
    p.generate(&req).await.unwrap();
    let received = mock.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(
        body["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert_eq!(body["generationConfig"]["responseJsonSchema"], schema);
}

#[tokio::test]
async fn tools_and_calls_go_as_function_declarations_calls_and_responses() {
    let key = "AIzaSy-tool-map-key";
    let answer = json!({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Hue"}}}]},
        "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 6}});
    let (mock, p) = on_generate(
        "HEARTH_TEST_GEMINI_KEY_TOOL_MAP",
        key,
        ResponseTemplate::new(200).set_body_json(answer),
    )
    .await;
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}});
    let tool = Tool::new(
        "get_weather".into(),
        Some("Weather.".into()),
        Some(schema.clone()),
        None,
    )
    .unwrap();
    let call = ToolCall {
        id: "call_a".into(),
        name: "get_weather".into(),
        arguments: r#"{"city":"Hanoi"}"#.into(),
    };
    let req = ProviderRequest {
        messages: vec![
            msg(Role::User, "Weather in Hanoi, then Hue?"),
            Message {
                tool_calls: vec![call],
                ..msg(Role::Assistant, "")
            },
            Message {
                tool_call_id: Some("call_a".into()),
                ..msg(Role::Tool, "31 degrees")
            },
        ],
        tools: Tools::new(vec![tool], ToolChoice::Function("get_weather".into()), None).unwrap(),
        ..request()
    };
    let out = p.generate(&req).await.unwrap();
    assert_eq!(out.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        out.tool_calls,
        [ToolCall {
            id: "call_0".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Hue"}"#.into()
        }]
    );
    let received = mock.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(
        body["tools"],
        json!([{"functionDeclarations": [{"name": "get_weather", "description": "Weather.",
            "parametersJsonSchema": schema}]}])
    );
    assert_eq!(
        body["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}})
    );
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Weather in Hanoi, then Hue?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Hanoi"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
                "response": {"result": "31 degrees"}}}]}
        ])
    );
}

#[tokio::test]
async fn a_streamed_function_call_is_one_piece_and_the_stream_ends_in_tool_calls() {
    let chunk = |v: Value| format!("data: {v}\r\n\r\n");
    let sse = [
        chunk(
            json!({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Hue"}}}]}}]}),
        ),
        chunk(
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]},
            "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 6}}),
        ),
    ]
    .concat();
    let (_mock, p) = on_stream(
        "HEARTH_TEST_GEMINI_KEY_TOOL_STREAM",
        "AIzaSy-tool-stream-key",
        sse_reply(sse.into_bytes()),
    )
    .await;
    let tool = Tool::new("get_weather".into(), None, None, None).unwrap();
    let req = ProviderRequest {
        tools: Tools::new(vec![tool], ToolChoice::Auto, None).unwrap(),
        ..request()
    };
    let items = collect(p.as_ref(), &req).await;
    let pieces = tool_pieces(&items);
    assert_eq!(
        pieces,
        [ToolCallPiece {
            index: 0,
            id: Some("call_0".into()),
            name: Some("get_weather".into()),
            arguments: r#"{"city":"Hue"}"#.into(),
        }]
    );
    assert!(matches!(
        items.last(),
        Some(Ok(Delta::Finish {
            finish_reason: FinishReason::ToolCalls,
            ..
        }))
    ));
}
