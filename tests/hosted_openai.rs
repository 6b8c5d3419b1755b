#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Contract tests for the OpenAI Chat Completions adapter, both as OpenAI itself (`openai`)
//! and as any server copying its API (`openai_compatible`), against a loopback HTTP mock
//! serving recorded-shape fixtures (`tests/fixtures/openai/`), through the public `build` API.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::hosted::{
    assert_no_key, build_named, build_with, closed_port, collect, first_error, joined_text,
    mock_keychain, msg, sent_body, text, Adapter,
};
use hearth::config::HostedKind;
use hearth::providers::{
    Delta, FinishReason, OutputFormat, Provider, ProviderError, ProviderRequest, Role, Usage,
};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer};

/// A key distinctive enough that finding it anywhere is a leak.
const KEY: &str = "test-openai-key-hearth-4b8d2f6a1c";
const CHAT: &str = "/v1/chat/completions";
const BEARER: &str = "Bearer test-openai-key-hearth-4b8d2f6a1c";
const API: Adapter = Adapter {
    fixtures: "openai",
    base_path: "/v1",
    chat_path: CHAT,
};

/// The adapter of `kind` pointed at `mock`, its key in `key_env` (one variable per test).
fn provider(mock: &MockServer, kind: HostedKind, key_env: &str) -> Arc<dyn Provider> {
    API.provider(mock, kind, key_env, KEY)
}

fn request() -> ProviderRequest {
    let terse = msg(Role::System, "You are terse.");
    let hello = msg(Role::User, "Say hello in Vietnamese.");
    common::hosted::request("gpt-4.1-mini", vec![terse, hello])
}

/// The error a non-streamed call ends with, checked to not carry the key.
async fn generate_error(p: &dyn Provider) -> ProviderError {
    common::hosted::generate_error(p, &request(), KEY).await
}

#[tokio::test]
async fn an_openai_request_maps_to_chat_completions_with_the_key_extra_headers_and_max_completion_tokens(
) {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CHAT))
        .and(header("authorization", BEARER))
        .and(header("content-type", "application/json"))
        .and(header("http-referer", "https://hearth.example"))
        .and(header("x-title", "Hearth"))
        .respond_with(API.reply(200, "completion_success_cached_tokens.json"))
        .expect(1)
        .mount(&mock)
        .await;
    std::env::set_var("HEARTH_TEST_OPENAI_KEY_MAPPING", KEY);
    let mut cfg = API.config(&mock, "HEARTH_TEST_OPENAI_KEY_MAPPING");
    cfg.headers
        .insert("HTTP-Referer".into(), "https://hearth.example".into());
    cfg.headers.insert("X-Title".into(), "Hearth".into());
    let p = build_with(HostedKind::Openai, &cfg);
    let req = ProviderRequest {
        messages: vec![
            msg(Role::System, "You are terse. Reply in json."),
            msg(Role::User, "First question."),
            msg(Role::Assistant, "An answer."),
            msg(Role::User, "A follow-up."),
        ],
        max_output_tokens: 128,
        temperature: 0.5,
        top_p: Some(0.25),
        // OpenAI refuses unknown parameters: these two must not be sent.
        top_k: Some(40),
        min_p: Some(0.05),
        stop: vec!["END".into(), "\n\nUser:".into()],
        seed: Some(42),
        response_format: OutputFormat::JsonObject,
        ..request()
    };
    p.generate(&req).await.unwrap();

    let reqs = mock.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].url.path(), CHAT);
    assert_eq!(reqs[0].url.query(), None);
    assert_eq!(reqs[0].headers.get_all("authorization").iter().count(), 1);
    let body: Value = reqs[0].body_json().unwrap();
    assert_eq!(
        body,
        json!({
            "model": "gpt-4.1-mini",
            "messages": [
                {"role": "system", "content": "You are terse. Reply in json."},
                {"role": "user", "content": "First question."},
                {"role": "assistant", "content": "An answer."},
                {"role": "user", "content": "A follow-up."},
            ],
            "temperature": 0.5,
            "top_p": 0.25,
            "max_completion_tokens": 128,
            "stop": ["END", "\n\nUser:"],
            "seed": 42,
            "response_format": {"type": "json_object"},
            "stream": false,
        })
    );
}

#[tokio::test]
async fn a_compatible_request_uses_max_tokens_and_leaves_unset_options_out() {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CHAT))
        .and(header("authorization", BEARER))
        .respond_with(API.reply(200, "completion_without_usage.json"))
        .expect(1)
        .mount(&mock)
        .await;
    std::env::set_var("HEARTH_TEST_OPENAI_KEY_COMPAT_MAPPING", KEY);
    let mut cfg = API.config(&mock, "HEARTH_TEST_OPENAI_KEY_COMPAT_MAPPING");
    // A trailing slash on the base URL does not double the one before the path.
    cfg.base_url = Some(format!("{}/v1/", mock.uri()));
    let p = build_with(HostedKind::OpenaiCompatible, &cfg);
    let req = ProviderRequest {
        model_id: "qwen2.5-7b-instruct".into(),
        ..request()
    };
    p.generate(&req).await.unwrap();

    assert_eq!(
        sent_body(&mock).await,
        json!({
            "model": "qwen2.5-7b-instruct",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Say hello in Vietnamese."},
            ],
            "temperature": 0.0,
            "max_tokens": 256,
            "stream": false,
        })
    );
}

#[tokio::test]
async fn a_compatible_request_forwards_top_k_and_min_p_as_llama_cpp_and_vllm_read_them() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "completion_without_usage.json")
        .await;
    let p = provider(
        &mock,
        HostedKind::OpenaiCompatible,
        "HEARTH_TEST_OPENAI_KEY_COMPAT_SAMPLING",
    );
    let req = ProviderRequest {
        temperature: 0.8,
        top_k: Some(40),
        min_p: Some(0.05),
        ..request()
    };
    p.generate(&req).await.unwrap();

    let body = sent_body(&mock).await;
    assert_eq!(body["top_k"], 40, "{body}");
    assert!(
        (body["min_p"].as_f64().unwrap() - 0.05).abs() < 1e-6,
        "{body}"
    );
    assert!(body.get("top_p").is_none(), "{body}");
}

#[tokio::test]
async fn a_success_gives_the_text_stop_and_usage_with_cached_tokens() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "completion_success_cached_tokens.json")
        .await;
    let p = provider(&mock, HostedKind::Openai, "HEARTH_TEST_OPENAI_KEY_SUCCESS");
    let r = p.generate(&request()).await.unwrap();
    assert_eq!(r.text, "Xin chào! Tôi có thể giúp gì cho bạn? 👋");
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: 2070,
            output_tokens: 14,
            cached_input_tokens: 1920,
        }
    );
}

#[tokio::test]
async fn length_is_length_and_content_filter_is_content_filter() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "completion_length.json")
        .await;
    let p = provider(&mock, HostedKind::Openai, "HEARTH_TEST_OPENAI_KEY_LENGTH");
    let r = p.generate(&request()).await.unwrap();
    assert_eq!(r.text, "Once upon a time, in a land far");
    assert_eq!(r.finish_reason, FinishReason::Length);
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: 20,
            output_tokens: 8,
            cached_input_tokens: 0,
        }
    );

    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "completion_content_filter.json")
        .await;
    let p = provider(&mock, HostedKind::Openai, "HEARTH_TEST_OPENAI_KEY_FILTER");
    let r = p.generate(&request()).await.unwrap();
    assert_eq!(r.text, "");
    assert_eq!(r.finish_reason, FinishReason::ContentFilter);
    assert_eq!(r.usage.input_tokens, 31);
    assert_eq!(r.usage.output_tokens, 0);
}

#[tokio::test]
async fn a_compatible_server_that_reports_no_usage_gets_an_estimate() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "completion_without_usage.json")
        .await;
    let p = provider(
        &mock,
        HostedKind::OpenaiCompatible,
        "HEARTH_TEST_OPENAI_KEY_NO_USAGE",
    );
    let r = p.generate(&request()).await.unwrap();
    assert_eq!(r.text, "The capital of France is Paris.");
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert!(r.usage.input_tokens > 0, "{:?}", r.usage);
    assert!(r.usage.output_tokens > 0, "{:?}", r.usage);
    assert_eq!(r.usage.cached_input_tokens, 0);
}

#[tokio::test]
async fn a_stream_yields_each_text_delta_then_one_finish_with_the_usage_chunk() {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CHAT))
        .and(header("authorization", BEARER))
        .respond_with(API.reply(200, "stream_every_chunk_type.sse"))
        .expect(1)
        .mount(&mock)
        .await;
    let p = provider(&mock, HostedKind::Openai, "HEARTH_TEST_OPENAI_KEY_STREAM");
    let items = collect(p.as_ref(), &request()).await;
    assert_eq!(
        items,
        vec![
            text("Xin ch"),
            text("ào thế giớ"),
            text("i 👋"),
            text("🏽! Rất vui"),
            text(" được gặp bạn."),
            Ok(Delta::Finish {
                usage: Usage {
                    input_tokens: 1289,
                    output_tokens: 17,
                    cached_input_tokens: 1152,
                },
                finish_reason: FinishReason::Stop,
            }),
        ]
    );
    assert_eq!(
        joined_text(&items),
        "Xin chào thế giới 👋🏽! Rất vui được gặp bạn."
    );

    let body = sent_body(&mock).await;
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["max_completion_tokens"], 256);
    assert!(body.get("max_tokens").is_none(), "{body}");
}

#[tokio::test]
async fn a_compatible_stream_that_ends_after_its_finish_reason_without_done_is_complete() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "stream_compatible_without_done_or_usage.sse")
        .await;
    let p = provider(
        &mock,
        HostedKind::OpenaiCompatible,
        "HEARTH_TEST_OPENAI_KEY_NO_DONE",
    );
    let items = collect(p.as_ref(), &request()).await;
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(
        items[..2],
        [text("Paris"), text(" is the capital of France.")]
    );
    let Ok(Delta::Finish {
        usage,
        finish_reason,
    }) = &items[2]
    else {
        panic!("expected a finish, got {:?}", items[2]);
    };
    assert_eq!(*finish_reason, FinishReason::Stop);
    assert!(usage.input_tokens > 0, "{usage:?}");
    assert!(usage.output_tokens > 0, "{usage:?}");

    let body = sent_body(&mock).await;
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["max_tokens"], 256);
    assert!(body.get("max_completion_tokens").is_none(), "{body}");
}

#[tokio::test]
async fn a_stream_cut_before_any_finish_reason_ends_in_unavailable_after_its_text() {
    for (i, kind) in [HostedKind::Openai, HostedKind::OpenaiCompatible]
        .into_iter()
        .enumerate()
    {
        let mock = MockServer::start().await;
        API.serve_fixture(&mock, 200, "stream_cut_midway.sse").await;
        let p = provider(&mock, kind, &format!("HEARTH_TEST_OPENAI_KEY_CUT_{i}"));
        let items = collect(p.as_ref(), &request()).await;
        assert_eq!(items.len(), 3, "{kind:?}: {items:?}");
        assert_eq!(items[..2], [text("The first half"), text(" of an answer")]);
        let Err(e) = &items[2] else {
            panic!("{kind:?}: expected an error last, got {items:?}");
        };
        assert!(
            matches!(e, ProviderError::Unavailable(_)),
            "{kind:?}: {e:?}"
        );
        assert!(e.is_transient());
        assert_no_key(e, KEY);
    }
}

#[tokio::test]
async fn an_error_event_inside_a_stream_ends_it_with_the_mapped_error() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "stream_error_event_server_error.sse")
        .await;
    let p = provider(
        &mock,
        HostedKind::Openai,
        "HEARTH_TEST_OPENAI_KEY_ERROR_EVENT",
    );
    let items = collect(p.as_ref(), &request()).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0], text("Before the fault"));
    let Err(e @ ProviderError::Unavailable(m)) = &items[1] else {
        panic!("expected Unavailable, got {:?}", items[1]);
    };
    assert!(m.contains("server_error"), "{m}");
    assert!(e.is_transient());
    assert_no_key(e, KEY);
}

#[tokio::test]
async fn an_error_whose_code_is_an_http_status_maps_by_that_status() {
    // OpenRouter reports a failure after the answer began with a 200 and the status as a
    // numeric `error.code`, in a stream event or in the body.
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "stream_error_event_with_http_status_code.sse")
        .await;
    std::env::set_var("HEARTH_TEST_OPENAI_KEY_STATUS_CODE", KEY);
    let mut cfg = API.config(&mock, "HEARTH_TEST_OPENAI_KEY_STATUS_CODE");
    cfg.headers
        .insert("HTTP-Referer".into(), "https://hearth.example".into());
    let p = build_with(HostedKind::OpenaiCompatible, &cfg);
    let items = collect(p.as_ref(), &request()).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0], text("Partial"));
    let Err(e @ ProviderError::Unavailable(m)) = &items[1] else {
        panic!("expected Unavailable, got {:?}", items[1]);
    };
    assert!(m.contains("Provider returned error"), "{m}");
    assert!(e.is_transient());

    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "completion_error_with_http_status_code.json")
        .await;
    let p = provider(
        &mock,
        HostedKind::OpenaiCompatible,
        "HEARTH_TEST_OPENAI_KEY_STATUS_CODE_BODY",
    );
    let e = generate_error(p.as_ref()).await;
    assert_eq!(e, ProviderError::RateLimited { retry_after: None });
}

#[tokio::test]
async fn a_null_error_field_in_every_chunk_is_not_an_error() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "stream_error_null_in_every_chunk.sse")
        .await;
    let p = provider(
        &mock,
        HostedKind::OpenaiCompatible,
        "HEARTH_TEST_OPENAI_KEY_NULL_ERROR",
    );
    let items = collect(p.as_ref(), &request()).await;
    assert_eq!(
        items,
        vec![
            text("Hello"),
            text(" there"),
            Ok(Delta::Finish {
                usage: Usage {
                    input_tokens: 9,
                    output_tokens: 2,
                    cached_input_tokens: 0,
                },
                finish_reason: FinishReason::Stop,
            }),
        ]
    );
}

#[tokio::test]
async fn a_malformed_stream_event_ends_the_stream_in_an_error_after_the_good_text() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "stream_malformed_event.sse")
        .await;
    let p = provider(
        &mock,
        HostedKind::Openai,
        "HEARTH_TEST_OPENAI_KEY_MALFORMED_EVENT",
    );
    let items = collect(p.as_ref(), &request()).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0], text("Fine so far"));
    assert!(
        matches!(&items[1], Err(ProviderError::Unavailable(_))),
        "{items:?}"
    );
}

#[tokio::test]
async fn a_429_is_rate_limited_with_the_retry_after_header_in_seconds() {
    let mock = MockServer::start().await;
    API.serve(
        &mock,
        API.reply(429, "error_429_rate_limit_exceeded.json")
            .insert_header("retry-after", "3"),
        2,
    )
    .await;
    let p = provider(&mock, HostedKind::Openai, "HEARTH_TEST_OPENAI_KEY_429");
    let want = ProviderError::RateLimited {
        retry_after: Some(Duration::from_secs(3)),
    };
    assert_eq!(generate_error(p.as_ref()).await, want);
    // The same mapping when the stream is refused before it starts.
    let Err(e) = p.stream(&request()).await else {
        panic!("the stream should not open");
    };
    assert_eq!(e, want);
    assert!(want.is_transient());
}

#[tokio::test]
async fn a_429_with_retry_after_ms_uses_the_milliseconds() {
    let mock = MockServer::start().await;
    API.serve(
        &mock,
        API.reply(429, "error_429_rate_limit_exceeded.json")
            .insert_header("retry-after-ms", "424")
            .insert_header("retry-after", "1"),
        1,
    )
    .await;
    let p = provider(
        &mock,
        HostedKind::OpenaiCompatible,
        "HEARTH_TEST_OPENAI_KEY_429_MS",
    );
    assert_eq!(
        generate_error(p.as_ref()).await,
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_millis(424))
        }
    );
}

#[tokio::test]
async fn a_500_502_and_503_are_unavailable_and_transient() {
    for (status, name) in [
        (500, "error_500_server_error.json"),
        (502, "error_502_bad_gateway.html"),
        (503, "error_503_engine_overloaded.json"),
    ] {
        let mock = MockServer::start().await;
        API.serve_fixture(&mock, status, name).await;
        let p = provider(
            &mock,
            HostedKind::Openai,
            &format!("HEARTH_TEST_OPENAI_KEY_{status}"),
        );
        let e = generate_error(p.as_ref()).await;
        let ProviderError::Unavailable(m) = &e else {
            panic!("{status}: expected Unavailable, got {e:?}");
        };
        assert!(m.contains(&status.to_string()), "{status}: {m}");
        assert!(e.is_transient(), "{status}");
    }
}

#[tokio::test]
async fn a_400_context_length_exceeded_is_context_too_long_and_not_transient() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 400, "error_400_context_length_exceeded.json")
        .await;
    let p = provider(&mock, HostedKind::Openai, "HEARTH_TEST_OPENAI_KEY_CONTEXT");
    let e = generate_error(p.as_ref()).await;
    let ProviderError::ContextTooLong(m) = &e else {
        panic!("expected ContextTooLong, got {e:?}");
    };
    assert!(m.contains("130412 tokens"), "{m}");
    assert!(!e.is_transient());
}

#[tokio::test]
async fn another_400_is_an_invalid_request_that_is_not_transient() {
    let mock = MockServer::start().await;
    API.serve_fixture(
        &mock,
        400,
        "error_400_json_mode_without_json_in_messages.json",
    )
    .await;
    let p = provider(&mock, HostedKind::Openai, "HEARTH_TEST_OPENAI_KEY_400");
    let e = generate_error(p.as_ref()).await;
    let ProviderError::InvalidRequest(m) = &e else {
        panic!("expected InvalidRequest, got {e:?}");
    };
    assert!(m.contains("HTTP 400"), "{m}");
    assert!(m.contains("response_format"), "{m}");
    assert!(!e.is_transient());
}

#[tokio::test]
async fn a_401_is_auth_for_a_call_and_for_a_stream() {
    let mock = MockServer::start().await;
    API.serve(&mock, API.reply(401, "error_401_invalid_api_key.json"), 2)
        .await;
    let p = provider(&mock, HostedKind::Openai, "HEARTH_TEST_OPENAI_KEY_401");
    let e = generate_error(p.as_ref()).await;
    assert_eq!(e, ProviderError::Auth);
    assert!(!e.is_transient());
    let Err(e) = p.stream(&request()).await else {
        panic!("the stream should not open");
    };
    assert_eq!(e, ProviderError::Auth);
}

#[tokio::test]
async fn a_404_for_an_unknown_model_is_an_invalid_request() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 404, "error_404_model_not_found.json")
        .await;
    let p = provider(&mock, HostedKind::Openai, "HEARTH_TEST_OPENAI_KEY_404");
    let e = generate_error(p.as_ref()).await;
    let ProviderError::InvalidRequest(m) = &e else {
        panic!("expected InvalidRequest, got {e:?}");
    };
    assert!(m.contains("gpt-9-turbo"), "{m}");
    assert!(!e.is_transient());
}

#[tokio::test]
async fn a_closed_port_is_unavailable() {
    let addr = closed_port();
    let mock = MockServer::start().await;
    for (i, kind) in [HostedKind::Openai, HostedKind::OpenaiCompatible]
        .into_iter()
        .enumerate()
    {
        let env = format!("HEARTH_TEST_OPENAI_KEY_CLOSED_{i}");
        std::env::set_var(&env, KEY);
        let mut cfg = API.config(&mock, &env);
        cfg.base_url = Some(format!("http://{addr}/v1"));
        let p = build_with(kind, &cfg);
        let e = generate_error(p.as_ref()).await;
        assert!(
            matches!(e, ProviderError::Unavailable(_)),
            "{kind:?}: {e:?}"
        );
        assert!(e.is_transient());
        let Err(e) = p.stream(&request()).await else {
            panic!("{kind:?}: the stream should not open");
        };
        assert!(
            matches!(e, ProviderError::Unavailable(_)),
            "{kind:?}: {e:?}"
        );
    }
    assert!(mock.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_200_body_that_is_not_json_is_an_error_not_a_panic() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "malformed.json").await;
    let p = provider(
        &mock,
        HostedKind::Openai,
        "HEARTH_TEST_OPENAI_KEY_MALFORMED",
    );
    let e = generate_error(p.as_ref()).await;
    assert!(matches!(e, ProviderError::Unavailable(_)), "{e:?}");
}

#[tokio::test]
async fn list_models_returns_the_ids_and_sends_the_key_and_extra_headers() {
    let mock = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("authorization", BEARER))
        .and(header("http-referer", "https://hearth.example"))
        .respond_with(API.reply(200, "models_list.json"))
        .expect(1)
        .mount(&mock)
        .await;
    std::env::set_var("HEARTH_TEST_OPENAI_KEY_MODELS", KEY);
    let mut cfg = API.config(&mock, "HEARTH_TEST_OPENAI_KEY_MODELS");
    cfg.headers
        .insert("HTTP-Referer".into(), "https://hearth.example".into());
    let p = build_with(HostedKind::Openai, &cfg);
    assert!(p.is_usable());
    assert_eq!(
        p.list_models().await.unwrap(),
        ["gpt-4.1", "gpt-4.1-mini", "text-embedding-3-small"]
    );
}

#[tokio::test]
async fn openai_without_a_key_is_not_usable() {
    mock_keychain();
    let mock = MockServer::start().await;
    std::env::remove_var("HEARTH_TEST_OPENAI_KEY_UNSET");
    let built = build_named(
        "openai-without-key",
        HostedKind::Openai,
        &API.config(&mock, "HEARTH_TEST_OPENAI_KEY_UNSET"),
    );
    assert!(built.key_source.is_none());
    assert!(!built.provider.is_usable());
}

#[tokio::test]
async fn a_compatible_server_without_a_key_is_usable_and_gets_no_authorization_header() {
    mock_keychain();
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "completion_without_usage.json")
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(API.reply(200, "models_list.json"))
        .expect(1)
        .mount(&mock)
        .await;
    std::env::remove_var("HEARTH_TEST_OPENAI_KEY_COMPAT_UNSET");
    let built = build_named(
        "local-without-key",
        HostedKind::OpenaiCompatible,
        &API.config(&mock, "HEARTH_TEST_OPENAI_KEY_COMPAT_UNSET"),
    );
    assert!(built.key_source.is_none());
    let p = built.provider;
    assert!(p.is_usable());
    assert_eq!(
        p.generate(&request()).await.unwrap().text,
        "The capital of France is Paris."
    );
    assert_eq!(p.list_models().await.unwrap().len(), 3);
    let reqs = mock.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert!(r.headers.get("authorization").is_none(), "{}", r.url);
    }
}

#[tokio::test]
async fn the_key_never_appears_in_a_provider_error() {
    let cases: [(u16, &str, bool); 13] = [
        (429, "error_429_rate_limit_exceeded.json", false),
        (500, "error_500_server_error.json", false),
        (502, "error_502_bad_gateway.html", false),
        (503, "error_503_engine_overloaded.json", false),
        (400, "error_400_context_length_exceeded.json", false),
        (
            400,
            "error_400_json_mode_without_json_in_messages.json",
            false,
        ),
        (401, "error_401_invalid_api_key.json", false),
        (404, "error_404_model_not_found.json", false),
        (200, "malformed.json", false),
        (200, "completion_error_with_http_status_code.json", false),
        (200, "stream_error_event_server_error.sse", true),
        (200, "stream_error_event_with_http_status_code.sse", true),
        (200, "stream_malformed_event.sse", true),
    ];
    let mut errors = Vec::new();
    for (i, (status, name, stream)) in cases.into_iter().enumerate() {
        for kind in [HostedKind::Openai, HostedKind::OpenaiCompatible] {
            let mock = MockServer::start().await;
            API.serve_fixture(&mock, status, name).await;
            let p = provider(
                &mock,
                kind,
                &format!("HEARTH_TEST_OPENAI_KEY_LEAK_{}_{i}", kind.as_str()),
            );
            errors.push(first_error(p.as_ref(), &request(), stream).await);
        }
    }
    // A connection that fails outright.
    let p = API.unreachable(
        HostedKind::Openai,
        "HEARTH_TEST_OPENAI_KEY_LEAK_CONNECT",
        KEY,
    );
    errors.push(p.generate(&request()).await.unwrap_err());

    assert_eq!(errors.len(), 2 * 13 + 1);
    for e in &errors {
        assert_no_key(e, KEY);
    }
}
