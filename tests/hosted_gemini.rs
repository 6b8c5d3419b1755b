#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The Gemini adapter's contract against a local mock of the Gemini API: the request it
//! sends (path, key header, roles, system instruction, generation config), the answers,
//! streams, usage and finish reasons it reads back, and the typed error for each failure.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hearth::providers::hosted::{
    build, build_client, HostedConfig, HostedKind, ProviderDataPolicy,
};
use hearth::providers::{
    Delta, FinishReason, Message, Provider, ProviderError, ProviderRequest, ResponseFormat, Role,
    Usage,
};
use hearth::secrets::Keychain;
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const MODEL: &str = "gemini-2.5-flash";
const GENERATE: &str = "/models/gemini-2.5-flash:generateContent";
const STREAM: &str = "/models/gemini-2.5-flash:streamGenerateContent";

fn fixture(name: &str) -> Vec<u8> {
    let p = format!(
        "{}/tests/fixtures/gemini/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// A JSON answer with `status`, the body read from a fixture.
fn json_reply(status: u16, name: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(fixture(name), "application/json")
}

fn sse_reply(body: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")
}

/// The Gemini adapter pointed at `mock`, its key read from `env_var`, built through the
/// public API as the server builds it.
fn provider(mock: &MockServer, env_var: &str, key: &str) -> Arc<dyn Provider> {
    std::env::set_var(env_var, key);
    let cfg = HostedConfig {
        base_url: Some(mock.uri()),
        api_key_env: Some(env_var.to_owned()),
        models: vec![],
        headers: BTreeMap::new(),
        data_policy: ProviderDataPolicy::default(),
    };
    let built = build(
        "gemini",
        HostedKind::Gemini,
        &cfg,
        &Keychain::new(),
        build_client().unwrap(),
    )
    .unwrap();
    built.provider
}

fn request() -> ProviderRequest {
    ProviderRequest {
        model_id: MODEL.to_owned(),
        messages: vec![Message {
            role: Role::User,
            content: "What is the capital of France?".into(),
        }],
        max_output_tokens: 256,
        temperature: 0.0,
        top_p: None,
        stop: vec![],
        seed: None,
        response_format: ResponseFormat::Text,
    }
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

/// The error a non-streamed call ends with, checked to not carry the key.
async fn generate_error(p: &dyn Provider, key: &str) -> ProviderError {
    let e = p
        .generate(&request())
        .await
        .expect_err("the call should fail");
    assert!(!format!("{e:?}").contains(key), "the key leaked: {e:?}");
    assert!(!e.to_string().contains(key), "the key leaked: {e}");
    e
}

/// Every item of a streamed answer, in order.
async fn stream_items(p: &dyn Provider) -> Vec<Result<Delta, ProviderError>> {
    p.stream(&request())
        .await
        .expect("the stream should open")
        .collect()
        .await
}

fn joined_text(items: &[Result<Delta, ProviderError>]) -> String {
    items
        .iter()
        .filter_map(|i| match i {
            Ok(Delta::Text(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_request_carries_roles_system_instruction_and_generation_config_with_the_key_in_a_header(
) {
    let mock = MockServer::start().await;
    let key = "AIzaSy-request-mapping-key";
    answer(
        &mock,
        GENERATE,
        key,
        json_reply(200, "generate_success.json"),
    )
    .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_REQUEST", key);
    let req = ProviderRequest {
        messages: vec![
            Message {
                role: Role::System,
                content: "Be brief.".into(),
            },
            Message {
                role: Role::User,
                content: "Hi".into(),
            },
            Message {
                role: Role::Assistant,
                content: "Hello!".into(),
            },
            Message {
                role: Role::User,
                content: "Capital of France?".into(),
            },
            Message {
                role: Role::User,
                content: "Answer in JSON.".into(),
            },
            Message {
                role: Role::System,
                content: "Never guess.".into(),
            },
        ],
        max_output_tokens: 128,
        temperature: 0.5,
        top_p: Some(0.25),
        stop: vec!["END".into()],
        seed: Some(7),
        response_format: ResponseFormat::JsonObject,
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
    let mock = MockServer::start().await;
    let key = "AIzaSy-plain-request-key";
    answer(
        &mock,
        GENERATE,
        key,
        json_reply(200, "generate_success.json"),
    )
    .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_PLAIN", key);
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
    let mock = MockServer::start().await;
    let key = "AIzaSy-success-key";
    answer(
        &mock,
        GENERATE,
        key,
        json_reply(200, "generate_success.json"),
    )
    .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_SUCCESS", key);

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
        .respond_with(json_reply(200, "generate_max_tokens.json"))
        .up_to_n_times(1)
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .and(path(GENERATE))
        .respond_with(json_reply(200, "generate_safety_stop.json"))
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
        .respond_with(sse_reply(fixture("stream_chunks_with_usage.sse")))
        .expect(1)
        .mount(&mock)
        .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_STREAM", key);

    let items = stream_items(p.as_ref()).await;
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
    let mock = MockServer::start().await;
    let key = "AIzaSy-crlf-stream-key";
    let body = String::from_utf8(fixture("stream_chunks_with_usage.sse"))
        .unwrap()
        .replace('\n', "\r\n");
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(sse_reply(body.into_bytes()))
        .mount(&mock)
        .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_CRLF", key);

    let items = stream_items(p.as_ref()).await;
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
    let mock = MockServer::start().await;
    let key = "AIzaSy-cut-stream-key";
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(sse_reply(fixture("stream_cut_midway.sse")))
        .mount(&mock)
        .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_CUT", key);

    let items = stream_items(p.as_ref()).await;
    assert_eq!(joined_text(&items), "The first half of an answer");
    assert!(
        matches!(items.last(), Some(Err(ProviderError::Unavailable(_)))),
        "{items:?}"
    );
    assert!(!items.iter().any(|i| matches!(i, Ok(Delta::Finish { .. }))));
}

#[tokio::test]
async fn an_error_event_inside_a_stream_maps_by_its_status() {
    let mock = MockServer::start().await;
    let key = "AIzaSy-stream-error-key";
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(sse_reply(fixture("stream_error_event.sse")))
        .mount(&mock)
        .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_STREAM_ERR", key);

    let items = stream_items(p.as_ref()).await;
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
    let mock = MockServer::start().await;
    let key = "AIzaSy-429-key";
    answer(
        &mock,
        GENERATE,
        key,
        json_reply(429, "error_429_resource_exhausted.json"),
    )
    .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_429", key);

    let e = generate_error(p.as_ref(), key).await;
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
    let mock = MockServer::start().await;
    let key = "AIzaSy-429-header-key";
    answer(
        &mock,
        GENERATE,
        key,
        json_reply(429, "error_429_resource_exhausted.json").insert_header("retry-after", "5"),
    )
    .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_429_HEADER", key);

    let e = generate_error(p.as_ref(), key).await;
    assert_eq!(
        e,
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(5))
        }
    );
}

#[tokio::test]
async fn a_429_on_the_stream_call_is_rate_limited_before_any_delta() {
    let mock = MockServer::start().await;
    let key = "AIzaSy-429-stream-key";
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(json_reply(429, "error_429_resource_exhausted.json"))
        .mount(&mock)
        .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_429_STREAM", key);

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
    let mock = MockServer::start().await;
    let key = "AIzaSy-503-key";
    answer(
        &mock,
        GENERATE,
        key,
        json_reply(503, "error_503_unavailable.json"),
    )
    .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_503", key);

    let e = generate_error(p.as_ref(), key).await;
    let ProviderError::Unavailable(m) = &e else {
        panic!("expected Unavailable, got {e:?}");
    };
    assert!(m.contains("overloaded"), "{m}");
    assert!(e.is_transient());
}

#[tokio::test]
async fn a_400_for_too_many_input_tokens_is_context_too_long() {
    let mock = MockServer::start().await;
    let key = "AIzaSy-too-long-key";
    answer(
        &mock,
        GENERATE,
        key,
        json_reply(400, "error_400_input_too_long.json"),
    )
    .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_TOO_LONG", key);

    let e = generate_error(p.as_ref(), key).await;
    let ProviderError::ContextTooLong(m) = &e else {
        panic!("expected ContextTooLong, got {e:?}");
    };
    assert!(m.contains("1048576"), "{m}");
    assert!(!e.is_transient());
}

#[tokio::test]
async fn a_400_api_key_invalid_is_auth() {
    let mock = MockServer::start().await;
    let key = "AIzaSy-invalid-key";
    answer(
        &mock,
        GENERATE,
        key,
        json_reply(400, "error_400_api_key_invalid.json"),
    )
    .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_INVALID", key);

    let e = generate_error(p.as_ref(), key).await;
    assert_eq!(e, ProviderError::Auth);
    assert!(e.counts_against_provider());
}

#[tokio::test]
async fn a_400_api_key_invalid_wrapped_in_an_array_on_the_stream_call_is_auth() {
    let mock = MockServer::start().await;
    let key = "AIzaSy-invalid-stream-key";
    let inner: Value = serde_json::from_slice(&fixture("error_400_api_key_invalid.json")).unwrap();
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!([inner])))
        .mount(&mock)
        .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_INVALID_STREAM", key);

    let Err(e) = p.stream(&request()).await else {
        panic!("the stream should not open");
    };
    assert_eq!(e, ProviderError::Auth);
}

#[tokio::test]
async fn another_400_is_an_invalid_request_that_is_not_retried() {
    let mock = MockServer::start().await;
    let key = "AIzaSy-bad-argument-key";
    answer(
        &mock,
        GENERATE,
        key,
        json_reply(400, "error_400_invalid_argument.json"),
    )
    .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_BAD_ARG", key);

    let e = generate_error(p.as_ref(), key).await;
    let ProviderError::InvalidRequest(m) = &e else {
        panic!("expected InvalidRequest, got {e:?}");
    };
    assert!(m.contains("generation_config.temperature"), "{m}");
    assert!(!e.is_transient());
}

#[tokio::test]
async fn a_401_is_auth() {
    let mock = MockServer::start().await;
    let key = "AIzaSy-401-key";
    answer(
        &mock,
        GENERATE,
        key,
        json_reply(401, "error_401_unauthenticated.json"),
    )
    .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_401", key);

    assert_eq!(generate_error(p.as_ref(), key).await, ProviderError::Auth);
}

#[tokio::test]
async fn a_blocked_prompt_is_an_invalid_request_naming_the_reason() {
    let mock = MockServer::start().await;
    let key = "AIzaSy-blocked-key";
    answer(&mock, GENERATE, key, json_reply(200, "blocked_prompt.json")).await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_BLOCKED", key);

    let e = generate_error(p.as_ref(), key).await;
    assert_eq!(
        e,
        ProviderError::InvalidRequest("blocked: PROHIBITED_CONTENT".into())
    );
    assert!(!e.is_transient());
}

#[tokio::test]
async fn a_blocked_prompt_on_the_stream_is_an_invalid_request() {
    let mock = MockServer::start().await;
    let key = "AIzaSy-blocked-stream-key";
    let chunk: Value = serde_json::from_slice(&fixture("blocked_prompt.json")).unwrap();
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(sse_reply(format!("data: {chunk}\n\n").into_bytes()))
        .mount(&mock)
        .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_BLOCKED_STREAM", key);

    let items = stream_items(p.as_ref()).await;
    assert_eq!(
        items,
        vec![Err(ProviderError::InvalidRequest(
            "blocked: PROHIBITED_CONTENT".into()
        ))]
    );
}

#[tokio::test]
async fn a_malformed_body_is_an_error_not_a_panic() {
    let mock = MockServer::start().await;
    let key = "AIzaSy-malformed-key";
    answer(&mock, GENERATE, key, json_reply(200, "malformed.json")).await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(sse_reply(
            [b"data: ".as_slice(), &fixture("malformed.json"), b"\n\n"].concat(),
        ))
        .mount(&mock)
        .await;
    let p = provider(&mock, "HEARTH_TEST_GEMINI_KEY_MALFORMED", key);

    let e = generate_error(p.as_ref(), key).await;
    assert!(matches!(e, ProviderError::Unavailable(_)), "{e:?}");

    let items = stream_items(p.as_ref()).await;
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
        .respond_with(json_reply(200, "list_models.json"))
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
        .respond_with(json_reply(200, "list_models_last_page.json"))
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
        .respond_with(json_reply(400, "error_400_api_key_invalid.json"))
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
    keyring::set_default_credential_builder(keyring::mock::default_credential_builder());
    let cfg = HostedConfig {
        base_url: Some(mock.uri()),
        api_key_env: Some("HEARTH_TEST_GEMINI_KEY_NEVER_SET".into()),
        models: vec![],
        headers: BTreeMap::new(),
        data_policy: ProviderDataPolicy::default(),
    };
    let built = build(
        "gemini-without-key",
        HostedKind::Gemini,
        &cfg,
        &Keychain::new(),
        build_client().unwrap(),
    )
    .unwrap();
    assert!(built.key_source.is_none());
    assert!(!built.provider.is_usable());
}
