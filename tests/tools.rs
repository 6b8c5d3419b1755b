//! Tool calling through the OpenAI-compatible API on a real `hearth serve`: the tools and the
//! conversation's calls reach an OpenAI-compatible upstream (wiremock on loopback, recording
//! what it was sent) in OpenAI's form; its calls come back whole and streamed as OpenAI frames
//! them; bad tools and calls are 400s before any provider is called; the audit event names the
//! tools offered. The on-device model calls tools too, its arguments held to the tool's
//! schema, and reads a tool's result back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{hosted, OwnPolicy};
use serde_json::{json, Value};
use wiremock::{MockServer, ResponseTemplate};

struct Install {
    own: OwnPolicy,
    key: String,
}

/// A server whose `chat` route is the upstream.
fn start(upstream: &MockServer) -> Install {
    let policy = format!(
        r#"
[providers.upstream]
kind = "openai_compatible"
base_url = "{}/v1"

[models.hosted]
provider = "upstream"
model_id = "m1"
max_output_tokens = 256

[routes.chat]
primary = "hosted"

[tiers.pro]
allowed_models = ["hosted"]
default_model = "hosted"
daily_budget_usd = 10.0
max_output_tokens = 256
on_budget_exhausted = "reject"
on_route_not_allowed = "reject"
"#,
        upstream.uri()
    );
    let own = OwnPolicy::start(&policy);
    let key = own.workspace_key("acme", "pro");
    Install { own, key }
}

/// The JSON chunks of a server-sent event stream, `[DONE]` left out.
fn sse_chunks(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// The first `delta.tool_calls` piece of each chunk that has one.
fn call_pieces(chunks: &[Value]) -> Vec<&Value> {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect()
}

fn weather() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "Weather.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
            "required": ["city"]}}})
}

/// An upstream answering every call with a call of `get_weather`.
async fn calling_upstream() -> MockServer {
    let mock = MockServer::start().await;
    let body = json!({"id": "x", "object": "chat.completion", "created": 0, "model": "m1",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant",
            "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Hue\"}"}}]}}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28}});
    hosted::chat_completions()
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&mock)
        .await;
    mock
}

fn conversation() -> Value {
    json!([
        {"role": "user", "content": "Weather in Hue?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_0", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Hue\"}"}}]},
        {"role": "tool", "tool_call_id": "call_0", "content": "{\"celsius\": 30}"},
        {"role": "user", "content": "And tomorrow?"}
    ])
}

#[tokio::test]
async fn tools_and_the_conversations_calls_reach_the_upstream_in_openais_form() {
    let upstream = calling_upstream().await;
    let i = start(&upstream);
    let body = json!({"model": "hearth/chat", "messages": conversation(), "tools": [weather()],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": false});
    let (status, _, v) = i
        .own
        .server
        .post("/v1/chat/completions", Some(&i.key), &body)
        .await;
    assert_eq!(status, 200, "{v}");
    let sent = hosted::sent_body(&upstream).await;
    assert_eq!(sent["tools"], json!([weather()]));
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "function", "function": {"name": "get_weather"}})
    );
    assert_eq!(sent["parallel_tool_calls"], false);
    assert_eq!(sent["messages"][1]["content"], Value::Null);
    assert_eq!(
        sent["messages"][1]["tool_calls"],
        conversation()[1]["tool_calls"]
    );
    assert_eq!(sent["messages"][2]["role"], "tool");
    assert_eq!(sent["messages"][2]["tool_call_id"], "call_0");

    let message = &v["choices"][0]["message"];
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(message["content"], Value::Null);
    assert_eq!(
        message["tool_calls"],
        json!([{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Hue\"}"}}])
    );
}

#[tokio::test]
async fn a_streamed_call_comes_in_pieces_as_openai_frames_them() {
    let upstream = MockServer::start().await;
    let chunk = |delta: Value, finish: Value| {
        let c = json!({"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m1",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {c}\n\n")
    };
    let sse = [
        chunk(json!({"role": "assistant", "content": null}), Value::Null),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_9", "type": "function",
                "function": {"name": "get_weather", "arguments": ""}}]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Hue\"}"}}]}),
            Value::Null,
        ),
        chunk(json!({}), json!("tool_calls")),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    hosted::chat_completions()
        .respond_with(ResponseTemplate::new(200).set_body_raw(sse, "text/event-stream"))
        .mount(&upstream)
        .await;
    let i = start(&upstream);
    let body = json!({"model": "hearth/chat", "stream": true, "tools": [weather()],
        "messages": [{"role": "user", "content": "Weather in Hue?"}]});
    let (status, _, text) = i
        .own
        .server
        .post_with("/v1/chat/completions", Some(&i.key), &[], &body)
        .await;
    assert_eq!(status, 200, "{text}");
    let chunks = sse_chunks(&text);
    let pieces = call_pieces(&chunks);
    assert_eq!(pieces.len(), 3, "{text}");
    assert_eq!(pieces[0]["id"], "call_9");
    assert_eq!(pieces[0]["type"], "function");
    assert_eq!(pieces[0]["function"]["name"], "get_weather");
    assert!(pieces[1].get("id").is_none(), "{text}");
    let arguments: String = pieces
        .iter()
        .map(|p| p["function"]["arguments"].as_str().unwrap())
        .collect();
    assert_eq!(arguments, "{\"city\":\"Hue\"}");
    let last = chunks
        .iter()
        .rev()
        .find(|c| c["hearth"].is_object())
        .unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn bad_tools_and_calls_are_400s_before_any_provider_is_called() {
    let upstream = calling_upstream().await;
    let i = start(&upstream);
    let user = json!([{"role": "user", "content": "hi"}]);
    let with = |extra: Value| {
        let mut b = json!({"model": "hearth/chat", "messages": user});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    let named = |name: &str| json!({"type": "function", "function": {"name": name}});
    let many: Vec<Value> = (0..10_000).map(|n| named(&format!("f{n}"))).collect();
    let cases = [
        (
            with(json!({"tools": [named("has space")]})),
            "invalid_tools",
        ),
        (
            with(json!({"tools": [named(&"n".repeat(65))]})),
            "invalid_tools",
        ),
        (with(json!({"tools": many})), "invalid_tools"),
        (
            with(json!({"tools": [named("f"), named("f")]})),
            "invalid_tools",
        ),
        (
            with(json!({"tools": [{"type": "function",
                "function": {"name": "f", "parameters": {"type": "no-such-type"}}}]})),
            "invalid_tools",
        ),
        (
            with(json!({"tools": [{"type": "retrieval", "function": {"name": "f"}}]})),
            "invalid_tools",
        ),
        (
            with(json!({"tools": [named("f")], "tool_choice": "sometimes"})),
            "invalid_tools",
        ),
        (
            with(json!({"tools": [named("f")], "tool_choice": named("g")})),
            "invalid_tools",
        ),
        (with(json!({"tool_choice": "required"})), "invalid_tools"),
        (
            json!({"model": "hearth/chat", "messages": [{"role": "user", "content": "hi"},
                {"role": "tool", "tool_call_id": "call_never", "content": "{}"}]}),
            "invalid_tool_call",
        ),
        (
            json!({"model": "hearth/chat", "messages": [{"role": "user", "content": "hi"},
                {"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
                    "function": {"name": "f", "arguments": "not json"}}]}]}),
            "invalid_tool_call",
        ),
        (
            json!({"model": "hearth/chat", "messages": [{"role": "user", "content": "hi",
                "tool_calls": [{"id": "c", "type": "function",
                    "function": {"name": "f", "arguments": "{}"}}]}]}),
            "invalid_tool_call",
        ),
    ];
    for (body, code) in cases {
        let (status, _, v) = i
            .own
            .server
            .post("/v1/chat/completions", Some(&i.key), &body)
            .await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(v["error"]["trace_id"].is_string(), "{v}");
    }
    assert!(upstream.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_audit_event_names_the_tools_offered_and_counts_the_calls() {
    let upstream = calling_upstream().await;
    let i = start(&upstream);
    let body = json!({"model": "hearth/chat", "tools": [weather()],
        "messages": [{"role": "user", "content": "Weather in Hue?"}]});
    let (status, headers, v) = i
        .own
        .server
        .post("/v1/chat/completions", Some(&i.key), &body)
        .await;
    assert_eq!(status, 200, "{v}");
    let trace = headers["x-hearth-trace-id"].to_str().unwrap().to_owned();
    let (status, audit) = i.own.server.get_json("/audit?limit=5", Some(&i.key)).await;
    assert_eq!(status, 200, "{audit}");
    let event = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["trace_id"] == trace.as_str())
        .unwrap();
    assert_eq!(event["tool_names"], json!(["get_weather"]), "{event}");
    assert!(
        event["policy_decision"]
            .as_str()
            .unwrap()
            .contains("1 tool call(s) returned"),
        "{event}"
    );
    assert!(!event.to_string().contains("Hue"), "{event}");
}

#[tokio::test]
async fn a_tool_outside_the_workspaces_allowlist_is_403_before_any_provider_call() {
    let upstream = calling_upstream().await;
    let i = start(&upstream);
    let dir = i.own.server.dir.clone();
    let admin = common::create_key(&dir, "acme", "admin");
    let allow = json!({"allowed_tools": ["get_*", "search"]});
    let (status, v) = i.own.server.patch_workspace(&admin, "acme", &allow).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["workspace"]["allowed_tools"],
        json!(["get_*", "search"]),
        "{v}"
    );
    let named = |name: &str| json!({"type": "function", "function": {"name": name}});
    let ask = |tools: Value| {
        json!({"model": "hearth/chat", "tools": tools,
            "messages": [{"role": "user", "content": "Weather in Hue?"}]})
    };
    let post = |body: Value| {
        let s = &i.own.server;
        let key = i.key.clone();
        async move { s.post("/v1/chat/completions", Some(&key), &body).await }
    };
    let (status, _, v) = post(ask(json!([weather(), named("search")]))).await;
    assert_eq!(status, 200, "{v}");
    let (status, _, v) = post(ask(json!([weather(), named("delete_everything")]))).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["code"], "tool_not_allowed");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("delete_everything"),
        "{v}"
    );
    assert_eq!(upstream.received_requests().await.unwrap().len(), 1);
    let bad = json!({"allowed_tools": ["has space"]});
    let (status, v) = i.own.server.patch_workspace(&admin, "acme", &bad).await;
    assert_eq!(status, 422, "{v}");
}

/// A tool whose arguments the grammar must get right: an enum, a bounded integer, no other
/// property.
fn forecast() -> Value {
    json!({"type": "function", "function": {"name": "get_forecast",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "maxLength": 40},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "days", "unit"], "additionalProperties": false}}})
}

/// A server on the built-in policy (the local model) and a key of its default workspace;
/// None (with a message) when the model is absent outside CI.
fn local_server() -> Option<(common::Server, String)> {
    common::default_model()?;
    let s = common::Server::start(&[]);
    let key = common::create_key(&s.dir, "default", "user");
    Some((s, key))
}

fn assert_forecast_arguments(arguments: &str) {
    let args: Value = serde_json::from_str(arguments).unwrap();
    let schema = &forecast()["function"]["parameters"];
    assert!(jsonschema::is_valid(schema, &args), "{args}");
}

#[tokio::test]
async fn the_local_model_calls_the_named_tool_with_valid_arguments_whole_and_streamed() {
    let Some((s, key)) = local_server() else {
        return;
    };
    let body = json!({"model": "local/smollm2-135m-instruct", "tools": [weather(), forecast()],
        "tool_choice": {"type": "function", "function": {"name": "get_forecast"}},
        "max_tokens": 80, "temperature": 0,
        "messages": [{"role": "user", "content": "Three days of weather in Hue, in celsius?"}]});
    let (status, _, v) = s.post("/v1/chat/completions", Some(&key), &body).await;
    assert_eq!(status, 200, "{v}");
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{v}");
    assert_eq!(choice["message"]["content"], Value::Null, "{v}");
    let calls = choice["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "a named tool is called once: {v}");
    assert_eq!(calls[0]["function"]["name"], "get_forecast");
    assert_forecast_arguments(calls[0]["function"]["arguments"].as_str().unwrap());

    let streamed = json!({"stream": true, "stream_options": {"include_usage": true}});
    let mut body = body;
    body.as_object_mut()
        .unwrap()
        .extend(streamed.as_object().unwrap().clone());
    let bypass = [("x-hearth-cache", "bypass")];
    let (status, _, text) = s
        .post_with("/v1/chat/completions", Some(&key), &bypass, &body)
        .await;
    assert_eq!(status, 200, "{text}");
    let chunks = sse_chunks(&text);
    let pieces = call_pieces(&chunks);
    assert_eq!(pieces.len(), 1, "{text}");
    assert_eq!(pieces[0]["index"], 0);
    assert!(pieces[0]["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(pieces[0]["function"]["name"], "get_forecast");
    assert_eq!(
        pieces[0]["function"]["arguments"], calls[0]["function"]["arguments"],
        "greedy decoding makes the same call: {text}"
    );
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str());
    assert_eq!(finish, Some("tool_calls"), "{text}");
    let text_deltas = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .filter(|t| !t.is_empty())
        .count();
    assert_eq!(text_deltas, 0, "the call is not streamed as text: {text}");
}

#[tokio::test]
async fn the_local_model_reads_a_tool_result_and_answers_in_text() {
    let Some((s, key)) = local_server() else {
        return;
    };
    let call = json!({"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Hue\"}"}});
    let body = json!({"model": "local/smollm2-135m-instruct", "tools": [weather()],
        "tool_choice": "none", "max_tokens": 40, "temperature": 0,
        "messages": [
            {"role": "user", "content": "Weather in Hue?"},
            {"role": "assistant", "content": null, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "31 degrees, sunny"}]});
    let (status, _, v) = s.post("/v1/chat/completions", Some(&key), &body).await;
    assert_eq!(status, 200, "{v}");
    let message = &v["choices"][0]["message"];
    assert!(
        message["tool_calls"].is_null(),
        "tool_choice none calls nothing: {v}"
    );
    assert!(!message["content"].as_str().unwrap().is_empty(), "{v}");
}
