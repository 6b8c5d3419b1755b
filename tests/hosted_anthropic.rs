#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Contract tests for the Anthropic Messages adapter against a loopback HTTP mock serving
//! recorded-shape fixtures (`tests/fixtures/anthropic/`), through the public `build` API.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::hosted::{
    assert_no_key, build_with, collect, first_error, mock_keychain, msg, sent_body, text,
    tool_pieces, Adapter,
};
use hearth::config::HostedKind;
use hearth::providers::{
    Delta, FinishReason, JsonSchemaFormat, Message, OutputFormat, Provider, ProviderError,
    ProviderRequest, Role, Tool, ToolCall, ToolChoice, Tools, Usage,
};
use serde_json::Value;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A key distinctive enough that finding it anywhere is a leak.
const KEY: &str = "test-anthropic-key-hearth-7f3c9a1e5b";
const API: Adapter = Adapter {
    fixtures: "anthropic",
    base_path: "",
    chat_path: "/messages",
};

/// The adapter pointed at `mock`, its key in `key_env` (one variable per test).
fn provider(mock: &MockServer, key_env: &str) -> Arc<dyn Provider> {
    API.provider(mock, HostedKind::Anthropic, key_env, KEY)
}

fn request() -> ProviderRequest {
    let terse = msg(Role::System, "You are terse.");
    let hello = msg(Role::User, "Say hello in Vietnamese.");
    ProviderRequest {
        temperature: 0.2,
        ..common::hosted::request("claude-sonnet-4-20250514", vec![terse, hello])
    }
}

#[tokio::test]
async fn a_request_maps_to_the_messages_wire_format() {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/messages"))
        .and(header("x-api-key", KEY))
        .and(header("anthropic-version", "2023-06-01"))
        .and(header("content-type", "application/json"))
        .respond_with(API.reply(200, "message_success.json"))
        .expect(1)
        .mount(&mock)
        .await;
    let p = provider(&mock, "HEARTH_TEST_ANTHROPIC_KEY_MAPPING");
    let req = ProviderRequest {
        messages: vec![
            msg(Role::System, "You are terse."),
            msg(Role::User, "First question."),
            msg(Role::System, "Answer in English."),
            msg(Role::User, "Second question."),
            msg(Role::Assistant, "An answer."),
            msg(Role::User, "A follow-up."),
        ],
        temperature: 1.7,
        top_p: Some(0.9),
        top_k: Some(40),
        min_p: Some(0.05),
        stop: vec!["END".into(), "\n\nHuman:".into()],
        seed: Some(42),
        ..request()
    };
    p.generate(&req).await.unwrap();

    let reqs = mock.received_requests().await.unwrap();
    assert_eq!(reqs[0].url.path(), "/messages");
    assert!(reqs[0].headers.get("authorization").is_none());
    let body: Value = reqs[0].body_json().unwrap();
    assert_eq!(body["model"], "claude-sonnet-4-20250514");
    assert_eq!(body["max_tokens"], 256);
    assert_eq!(body["system"], "You are terse.\n\nAnswer in English.");
    assert_eq!(
        body["messages"],
        serde_json::json!([
            {"role": "user", "content": "First question.\n\nSecond question."},
            {"role": "assistant", "content": "An answer."},
            {"role": "user", "content": "A follow-up."},
        ])
    );
    assert_eq!(body["temperature"], 1.0);
    assert!((body["top_p"].as_f64().unwrap() - 0.9).abs() < 1e-6);
    assert_eq!(body["top_k"], 40);
    assert!(body.get("min_p").is_none(), "the API has no min_p: {body}");
    assert_eq!(
        body["stop_sequences"],
        serde_json::json!(["END", "\n\nHuman:"])
    );
    assert_eq!(body["stream"], false);
    assert!(body.get("seed").is_none(), "{body}");
    assert!(body.get("stop").is_none(), "{body}");
}

#[tokio::test]
async fn optional_fields_are_left_out_and_json_mode_becomes_a_system_instruction() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "message_success.json").await;
    let p = provider(&mock, "HEARTH_TEST_ANTHROPIC_KEY_JSON_MODE");
    let req = ProviderRequest {
        messages: vec![msg(Role::User, "Give me {\"a\": 1}.")],
        response_format: OutputFormat::JsonObject,
        ..request()
    };
    p.generate(&req).await.unwrap();

    let body = sent_body(&mock).await;
    assert_eq!(
        body["system"],
        "Respond with a single JSON object and nothing else."
    );
    assert_eq!(
        body["messages"],
        serde_json::json!([{"role": "user", "content": "Give me {\"a\": 1}."}])
    );
    assert!((body["temperature"].as_f64().unwrap() - 0.2).abs() < 1e-6);
    for absent in [
        "top_p",
        "top_k",
        "min_p",
        "stop_sequences",
        "response_format",
        "seed",
    ] {
        assert!(body.get(absent).is_none(), "{absent} in {body}");
    }
}

#[tokio::test]
async fn without_system_messages_no_system_field_is_sent() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "message_success.json").await;
    let p = provider(&mock, "HEARTH_TEST_ANTHROPIC_KEY_NO_SYSTEM");
    let req = ProviderRequest {
        messages: vec![msg(Role::User, "Hi.")],
        ..request()
    };
    p.generate(&req).await.unwrap();
    assert!(sent_body(&mock).await.get("system").is_none());
}

#[tokio::test]
async fn a_success_joins_the_text_blocks_and_counts_cached_tokens_as_input() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "message_success.json").await;
    let p = provider(&mock, "HEARTH_TEST_ANTHROPIC_KEY_SUCCESS");
    let r = p.generate(&request()).await.unwrap();
    assert_eq!(r.text, "Xin chào! How can I help you today?");
    assert_eq!(
        r.usage,
        Usage {
            input_tokens: 12 + 2048 + 30,
            output_tokens: 9,
            cached_input_tokens: 2048,
        }
    );
    assert_eq!(r.finish_reason, FinishReason::Stop);
}

#[tokio::test]
async fn max_tokens_is_length_and_refusal_is_content_filter() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "message_max_tokens.json")
        .await;
    let p = provider(&mock, "HEARTH_TEST_ANTHROPIC_KEY_LENGTH");
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
    API.serve_fixture(&mock, 200, "message_refusal.json").await;
    let p = provider(&mock, "HEARTH_TEST_ANTHROPIC_KEY_REFUSAL");
    let r = p.generate(&request()).await.unwrap();
    assert_eq!(r.text, "");
    assert_eq!(r.finish_reason, FinishReason::ContentFilter);
}

#[tokio::test]
async fn a_stream_yields_each_text_delta_then_one_finish_with_the_whole_usage() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "stream_every_event_type.sse")
        .await;
    let p = provider(&mock, "HEARTH_TEST_ANTHROPIC_KEY_STREAM");
    let items = collect(p.as_ref(), &request()).await;
    assert_eq!(
        items,
        vec![
            text("Xin ch"),
            text("ào thế giớ"),
            text("i 👋🏽"),
            text("! Rất vui được gặp bạn."),
            Ok(Delta::Finish {
                usage: Usage {
                    input_tokens: 25 + 1024 + 100,
                    output_tokens: 15,
                    cached_input_tokens: 1024,
                },
                finish_reason: FinishReason::Stop,
            }),
        ]
    );
    let body = sent_body(&mock).await;
    assert_eq!(body["stream"], true);
    assert_eq!(body["system"], "You are terse.");
}

#[tokio::test]
async fn a_stream_stopped_by_max_tokens_finishes_with_length() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "stream_max_tokens.sse").await;
    let p = provider(&mock, "HEARTH_TEST_ANTHROPIC_KEY_STREAM_LENGTH");
    let items = collect(p.as_ref(), &request()).await;
    assert_eq!(
        items,
        vec![
            text("Once upon a time"),
            Ok(Delta::Finish {
                usage: Usage {
                    input_tokens: 40,
                    output_tokens: 4,
                    cached_input_tokens: 0,
                },
                finish_reason: FinishReason::Length,
            }),
        ]
    );
}

#[tokio::test]
async fn a_429_is_rate_limited_with_the_retry_after_header() {
    let mock = MockServer::start().await;
    API.serve(
        &mock,
        API.reply(429, "error_429_rate_limited.json")
            .insert_header("retry-after", "12"),
        2,
    )
    .await;
    let p = provider(&mock, "HEARTH_TEST_ANTHROPIC_KEY_429");
    let want = ProviderError::RateLimited {
        retry_after: Some(Duration::from_secs(12)),
    };
    assert_eq!(p.generate(&request()).await.unwrap_err(), want);
    // The same mapping when the stream is refused before it starts.
    assert_eq!(p.stream(&request()).await.err().unwrap(), want);
    assert!(want.is_transient());
}

#[tokio::test]
async fn a_529_overloaded_and_a_503_are_unavailable_and_transient() {
    for (status, name) in [(529, "error_529_overloaded.json"), (503, "error_503.json")] {
        let mock = MockServer::start().await;
        API.serve_fixture(&mock, status, name).await;
        let p = provider(&mock, &format!("HEARTH_TEST_ANTHROPIC_KEY_{status}"));
        let e = p.generate(&request()).await.unwrap_err();
        assert!(
            matches!(e, ProviderError::Unavailable(_)),
            "{status}: {e:?}"
        );
        assert!(e.is_transient(), "{status}");
    }
}

#[tokio::test]
async fn a_400_prompt_too_long_is_context_too_long_and_not_transient() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 400, "error_400_prompt_too_long.json")
        .await;
    let p = provider(&mock, "HEARTH_TEST_ANTHROPIC_KEY_400");
    let e = p.generate(&request()).await.unwrap_err();
    let ProviderError::ContextTooLong(m) = &e else {
        panic!("expected ContextTooLong, got {e:?}");
    };
    assert!(m.contains("208310 tokens > 200000 maximum"), "{m}");
    assert!(!e.is_transient());
}

#[tokio::test]
async fn a_401_is_auth() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 401, "error_401_invalid_key.json")
        .await;
    let p = provider(&mock, "HEARTH_TEST_ANTHROPIC_KEY_401");
    let e = p.generate(&request()).await.unwrap_err();
    assert_eq!(e, ProviderError::Auth);
    assert!(!e.is_transient());
}

#[tokio::test]
async fn a_stream_cut_before_message_stop_ends_in_unavailable_after_the_text() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "stream_cut_midway.sse").await;
    let p = provider(&mock, "HEARTH_TEST_ANTHROPIC_KEY_CUT");
    let items = collect(p.as_ref(), &request()).await;
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[..2], [text("The first half"), text(" of an answer")]);
    assert!(
        matches!(&items[2], Err(ProviderError::Unavailable(_))),
        "{items:?}"
    );
}

#[tokio::test]
async fn an_error_event_mid_stream_ends_the_stream_with_its_mapped_error() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "stream_error_event_overloaded.sse")
        .await;
    let p = provider(&mock, "HEARTH_TEST_ANTHROPIC_KEY_ERROR_EVENT");
    let items = collect(p.as_ref(), &request()).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0], text("Before the fault"));
    let Err(ProviderError::Unavailable(m)) = &items[1] else {
        panic!("expected Unavailable, got {:?}", items[1]);
    };
    assert!(m.contains("overloaded_error"), "{m}");
}

#[tokio::test]
async fn a_malformed_body_is_an_error_not_a_panic() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "malformed.json").await;
    let p = provider(&mock, "HEARTH_TEST_ANTHROPIC_KEY_MALFORMED");
    let e = p.generate(&request()).await.unwrap_err();
    assert!(matches!(e, ProviderError::Unavailable(_)), "{e:?}");
}

#[tokio::test]
async fn a_malformed_stream_event_ends_the_stream_in_an_error_after_the_good_text() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "stream_malformed_event.sse")
        .await;
    let p = provider(&mock, "HEARTH_TEST_ANTHROPIC_KEY_MALFORMED_EVENT");
    let items = collect(p.as_ref(), &request()).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0], text("Fine so far"));
    assert!(
        matches!(&items[1], Err(ProviderError::Unavailable(_))),
        "{items:?}"
    );
}

#[tokio::test]
async fn list_models_returns_the_model_ids_and_sends_the_same_headers() {
    let mock = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/models"))
        .and(header("x-api-key", KEY))
        .and(header("anthropic-version", "2023-06-01"))
        .respond_with(API.reply(200, "models_list.json"))
        .expect(1)
        .mount(&mock)
        .await;
    let p = provider(&mock, "HEARTH_TEST_ANTHROPIC_KEY_MODELS");
    assert!(p.is_usable());
    assert_eq!(
        p.list_models().await.unwrap(),
        vec![
            "claude-opus-4-1-20250805",
            "claude-sonnet-4-20250514",
            "claude-3-5-haiku-20241022",
        ]
    );
}

#[tokio::test]
async fn a_configured_anthropic_version_header_replaces_the_default() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "message_success.json").await;
    std::env::set_var("HEARTH_TEST_ANTHROPIC_KEY_VERSION", KEY);
    let mut cfg = API.config(&mock, "HEARTH_TEST_ANTHROPIC_KEY_VERSION");
    cfg.headers
        .insert("anthropic-version".into(), "2099-01-01".into());
    cfg.headers
        .insert("anthropic-beta".into(), "some-feature-2099-01-01".into());
    let p = build_with(HostedKind::Anthropic, &cfg);
    p.generate(&request()).await.unwrap();
    let reqs = mock.received_requests().await.unwrap();
    let versions: Vec<_> = reqs[0]
        .headers
        .get_all("anthropic-version")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(versions, ["2099-01-01"]);
    assert_eq!(
        reqs[0].headers.get("anthropic-beta").unwrap(),
        "some-feature-2099-01-01"
    );
}

#[tokio::test]
async fn without_a_key_the_provider_is_not_usable_and_sends_no_key_header() {
    mock_keychain();
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 401, "error_401_invalid_key.json")
        .await;
    std::env::remove_var("HEARTH_TEST_ANTHROPIC_KEY_UNSET");
    let p = build_with(
        HostedKind::Anthropic,
        &API.config(&mock, "HEARTH_TEST_ANTHROPIC_KEY_UNSET"),
    );
    assert!(!p.is_usable());
    assert_eq!(
        p.generate(&request()).await.unwrap_err(),
        ProviderError::Auth
    );
    let reqs = mock.received_requests().await.unwrap();
    assert!(reqs[0].headers.get("x-api-key").is_none());
    assert_eq!(
        reqs[0].headers.get("anthropic-version").unwrap(),
        "2023-06-01"
    );
}

#[tokio::test]
async fn the_key_never_appears_in_a_provider_error() {
    let cases: [(u16, &str, bool); 7] = [
        (429, "error_429_rate_limited.json", false),
        (529, "error_529_overloaded.json", false),
        (503, "error_503.json", false),
        (400, "error_400_prompt_too_long.json", false),
        (401, "error_401_invalid_key.json", false),
        (200, "malformed.json", false),
        (200, "stream_error_event_overloaded.sse", true),
    ];
    let mut errors = Vec::new();
    for (i, (status, name, stream)) in cases.into_iter().enumerate() {
        let mock = MockServer::start().await;
        API.serve_fixture(&mock, status, name).await;
        let p = provider(&mock, &format!("HEARTH_TEST_ANTHROPIC_KEY_LEAK_{i}"));
        errors.push(first_error(p.as_ref(), &request(), stream).await);
    }
    // A connection that fails outright: a port nothing listens on any more.
    let p = API.unreachable(
        HostedKind::Anthropic,
        "HEARTH_TEST_ANTHROPIC_KEY_LEAK_CONNECT",
        KEY,
    );
    let e = p.generate(&request()).await.unwrap_err();
    assert!(matches!(e, ProviderError::Unavailable(_)), "{e:?}");
    errors.push(e);

    assert_eq!(errors.len(), 8);
    for e in &errors {
        assert_no_key(e, KEY);
    }
}

#[tokio::test]
async fn a_json_schema_goes_into_the_system_prompt_since_the_api_has_no_json_mode() {
    let mock = MockServer::start().await;
    API.serve_fixture(&mock, 200, "message_success.json").await;
    let p = provider(&mock, "HEARTH_TEST_ANTHROPIC_KEY_SCHEMA");
    let schema = serde_json::json!({"type": "object", "properties": {"city": {"type": "string"}}});
    let format = JsonSchemaFormat::new("city", schema.clone(), true).unwrap();
    let req = ProviderRequest {
        messages: vec![msg(Role::System, "Be brief."), msg(Role::User, "A city?")],
        response_format: OutputFormat::JsonSchema(std::sync::Arc::new(format)),
        ..request()
    };
    p.generate(&req).await.unwrap();
    let body = sent_body(&mock).await;
    let system = body["system"].as_str().unwrap();
    assert!(system.starts_with("Be brief.\n\n"), "{system}");
    assert!(
        system.contains("validates against this JSON Schema"),
        "{system}"
    );
    assert!(system.ends_with(&schema.to_string()), "{system}");
    assert!(body.get("response_format").is_none(), "{body}");
}

#[tokio::test]
async fn tools_and_the_conversations_calls_go_as_tool_use_and_tool_result_blocks() {
    let mock = MockServer::start().await;
    let answer = serde_json::json!({"type": "message", "role": "assistant",
        "content": [{"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Hue"}}],
        "stop_reason": "tool_use", "usage": {"input_tokens": 30, "output_tokens": 12}});
    API.serve(&mock, ResponseTemplate::new(200).set_body_json(answer), 1)
        .await;
    let p = provider(&mock, "HEARTH_TEST_ANTHROPIC_KEY_TOOL_MAP");
    let schema = serde_json::json!({"type": "object", "properties": {"city": {"type": "string"}}});
    let tool = Tool::new(
        "get_weather".into(),
        Some("Weather.".into()),
        Some(schema.clone()),
        None,
    )
    .unwrap();
    let call = ToolCall {
        id: "toolu_1".into(),
        name: "get_weather".into(),
        arguments: "{\"city\":\"Hanoi\"}".into(),
    };
    let req = ProviderRequest {
        messages: vec![
            msg(Role::User, "Weather in Hanoi, then Hue?"),
            Message {
                tool_calls: vec![call],
                ..msg(Role::Assistant, "")
            },
            Message {
                tool_call_id: Some("toolu_1".into()),
                ..msg(Role::Tool, "{\"celsius\": 31}")
            },
        ],
        tools: Tools::new(
            vec![tool],
            ToolChoice::Function("get_weather".into()),
            Some(false),
        )
        .unwrap(),
        ..request()
    };
    let out = p.generate(&req).await.unwrap();
    assert_eq!(out.finish_reason, FinishReason::ToolCalls);
    assert_eq!(out.text, "Checking.");
    assert_eq!(
        out.tool_calls,
        [ToolCall {
            id: "toolu_2".into(),
            name: "get_weather".into(),
            arguments: "{\"city\":\"Hue\"}".into()
        }]
    );
    let body = sent_body(&mock).await;
    assert_eq!(
        body["tools"],
        serde_json::json!([{"name": "get_weather", "description": "Weather.", "input_schema": schema}])
    );
    assert_eq!(
        body["tool_choice"],
        serde_json::json!({"type": "tool", "name": "get_weather", "disable_parallel_tool_use": true})
    );
    assert_eq!(
        body["messages"],
        serde_json::json!([
            {"role": "user", "content": "Weather in Hanoi, then Hue?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1",
                "name": "get_weather", "input": {"city": "Hanoi"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                "content": "{\"celsius\": 31}"}]}
        ])
    );
}

#[tokio::test]
async fn a_streamed_tool_use_becomes_call_pieces_from_its_input_json_deltas() {
    let mock = MockServer::start().await;
    let event = |name: &str, data: serde_json::Value| format!("event: {name}\ndata: {data}\n\n");
    let sse = [
        event("message_start", serde_json::json!({"type": "message_start",
            "message": {"usage": {"input_tokens": 30, "output_tokens": 1}}})),
        event("content_block_start", serde_json::json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {}}})),
        event("content_block_delta", serde_json::json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": "{\"city\":"}})),
        event("content_block_delta", serde_json::json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": "\"Hue\"}"}})),
        event("content_block_stop", serde_json::json!({"type": "content_block_stop", "index": 0})),
        event("message_delta", serde_json::json!({"type": "message_delta",
            "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}})),
        event("message_stop", serde_json::json!({"type": "message_stop"})),
    ]
    .concat();
    API.serve(
        &mock,
        ResponseTemplate::new(200).set_body_raw(sse, "text/event-stream"),
        1,
    )
    .await;
    let p = provider(&mock, "HEARTH_TEST_ANTHROPIC_KEY_TOOL_STREAM");
    let tool = Tool::new("get_weather".into(), None, None, None).unwrap();
    let req = ProviderRequest {
        tools: Tools::new(vec![tool], ToolChoice::Auto, None).unwrap(),
        ..request()
    };
    let items = collect(p.as_ref(), &req).await;
    let pieces = tool_pieces(&items);
    assert_eq!(pieces.len(), 3, "{items:?}");
    assert_eq!(pieces[0].id.as_deref(), Some("toolu_9"));
    assert_eq!(pieces[0].name.as_deref(), Some("get_weather"));
    let args: String = pieces.iter().map(|p| p.arguments.as_str()).collect();
    assert_eq!(args, "{\"city\":\"Hue\"}");
    assert!(pieces.iter().all(|p| p.index == 0));
    assert!(matches!(
        items.last(),
        Some(Ok(Delta::Finish {
            finish_reason: FinishReason::ToolCalls,
            ..
        }))
    ));
}
