//! Property tests of the request parsers: every body of every endpoint, the OpenAI request's
//! conversion, and the query strings. Whatever arrives, they answer a typed 4xx error or a
//! value, never panic, and never put a caller's string value into an error message.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Uri};
use proptest::prelude::*;
use serde_json::Value;

use super::body;
use super::debug::FaultBody;
use super::openai::to_request;
use super::wire::admin::{
    NewKeyBody, NewWorkspace, Promote, Rollback, UsageQuery, WorkspaceFilter,
};
use super::wire::chat::ChatBody;
use super::wire::completions::ChatCompletionRequest;
use super::wire::console::{CostsQuery, ImportBody, KeyBody, PolicyText, RenderBody};
use super::wire::models::PullBody;
use super::wire::ops::AuditParams;
use super::wire::threads::{NewComparison, NewMessage, SearchParams, TitleBody};
use crate::error::Error;
use crate::fuzzing;
use crate::prompts::NewPrompt;
use crate::workspace::{Principal, Role, UserId, WorkspaceId, WorkspacePatch};

/// Put into every string value; an error message that contains it echoed the caller.
const MARKER: &str = "QZXMARK";

const LIMIT: usize = 64 * 1024;

/// The field names the bodies read, so generated bodies get past their first field.
const BODY_KEYS: &[&str] = &[
    "tenant_id",
    "user_id",
    "task",
    "message",
    "prompt_id",
    "prompt_version",
    "max_output_tokens",
    "variables",
    "model",
    "temperature",
    "top_k",
    "min_p",
    "cache",
    "messages",
    "role",
    "content",
    "type",
    "text",
    "max_tokens",
    "max_completion_tokens",
    "top_p",
    "stop",
    "seed",
    "user",
    "stream",
    "stream_options",
    "include_usage",
    "response_format",
    "n",
    "metadata",
    "id",
    "tier",
    "data_policy",
    "workspace",
    "status",
    "version",
    "canary_share",
    "force",
    "title",
    "prompt",
    "models",
    "results",
    "meta",
    "path",
    "daily_budget_usd",
    "daily_token_limit",
    "rpm",
    "user_rpm",
    "max_concurrency",
    "pii_patterns",
    "allowed_tools",
    "cache_enabled",
    "budget_alert_share",
    "toml",
    "key",
    "template",
    "owner",
    "compatible_models",
    "schema_version",
    "eval",
    "changelog",
    "fail",
    "mode",
    "delay_ms",
    "retry_after_ms",
];

/// Parses `bytes` as every endpoint's body; checks each failure is a 4xx of the body kind.
fn parse_as_every_body(headers: &HeaderMap, bytes: &[u8]) -> Vec<Error> {
    let mut errors = Vec::new();
    macro_rules! each {
        ($($t:ty),* $(,)?) => {$(
            if let Err(e) = body::json::<$t>(headers, Ok(Bytes::copy_from_slice(bytes)), LIMIT) {
                errors.push(e);
            }
        )*};
    }
    each!(
        ChatBody,
        ChatCompletionRequest,
        NewWorkspace,
        WorkspacePatch,
        NewKeyBody,
        Promote,
        Rollback,
        PullBody,
        NewPrompt,
        ImportBody,
        PolicyText,
        KeyBody,
        RenderBody,
        FaultBody,
        TitleBody,
        NewMessage,
        NewComparison,
    );
    for e in &errors {
        assert!(
            matches!(
                e.code(),
                "invalid_json" | "invalid_request" | "unsupported_media_type"
            ),
            "{}: {e}",
            e.code()
        );
    }
    errors
}

fn json_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h
}

/// `v` with the marker in every string, keys left alone.
fn marked(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(format!("{s}{MARKER}")),
        Value::Array(a) => Value::Array(a.into_iter().map(marked).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, marked(v))).collect()),
        other => other,
    }
}

fn principal() -> Principal {
    Principal {
        workspace: WorkspaceId::parse("w").unwrap(),
        user: UserId::parse("u").unwrap(),
        role: Role::User,
    }
}

/// An OpenAI request with messages of any role and content shape, and other fields of any type.
fn completion() -> impl Strategy<Value = Value> {
    let role = proptest::sample::select(vec![
        "system",
        "developer",
        "user",
        "assistant",
        "tool",
        "x",
    ]);
    let content = prop_oneof![
        fuzzing::text().prop_map(Value::String),
        fuzzing::json(BODY_KEYS),
        proptest::collection::vec(
            (
                proptest::sample::select(vec!["text", "image_url"]),
                fuzzing::text()
            ),
            0..3
        )
        .prop_map(|parts| parts
            .into_iter()
            .map(|(t, x)| serde_json::json!({"type": t, "text": x}))
            .collect()),
    ];
    let message = (role, content).prop_map(|(r, c)| serde_json::json!({"role": r, "content": c}));
    (
        proptest::collection::vec(message, 0..6),
        fuzzing::text(),
        fuzzing::json_object(BODY_KEYS),
    )
        .prop_map(|(messages, model, mut extra)| {
            extra["messages"] = Value::Array(messages);
            extra["model"] = Value::String(model);
            extra
        })
}

/// A query string of pairs, percent-encoded as a client would send them.
fn query() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        proptest::sample::select(vec![
            "tenant_id",
            "since",
            "until",
            "task",
            "model",
            "status",
            "limit",
            "cursor",
            "q",
            "workspace",
            "from",
            "to",
        ])
        .prop_map(str::to_owned),
        "[a-z%]{1,6}",
    ];
    proptest::collection::vec((key, fuzzing::text()), 0..6).prop_map(|pairs| {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", percent(v)))
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

proptest! {
    // Parsing takes microseconds: CI affords many cases (256 missed an echoed enum value).
    #![proptest_config(fuzzing::config_with(4096))]

    #[test]
    fn fuzz_any_bytes_as_any_body_are_a_typed_error_or_a_value(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        parse_as_every_body(&json_headers(), &bytes);
        let mut other = HeaderMap::new();
        other.insert("content-type", HeaderValue::from_static("text/plain"));
        for e in parse_as_every_body(&other, &bytes) {
            prop_assert_eq!(e.code(), "unsupported_media_type");
        }
    }

    #[test]
    fn fuzz_shaped_bodies_never_echo_a_callers_value(v in fuzzing::json_object(BODY_KEYS)) {
        let bytes = serde_json::to_vec(&marked(v)).unwrap();
        for e in parse_as_every_body(&json_headers(), &bytes) {
            prop_assert!(!e.to_string().contains(MARKER), "echoed: {}", e);
        }
    }

    #[test]
    fn fuzz_openai_requests_convert_or_fail_with_a_4xx(v in completion(), task in fuzzing::text()) {
        let mut headers = json_headers();
        if let Ok(t) = HeaderValue::from_str(&task) {
            headers.insert("x-hearth-task", t.clone());
            headers.insert("x-hearth-prompt-id", t);
        }
        let bytes = serde_json::to_vec(&v).unwrap();
        let Ok(b) = body::json::<ChatCompletionRequest>(&headers, Ok(Bytes::from(bytes)), LIMIT) else {
            return Ok(());
        };
        if let Err(e) = to_request(b, &headers, principal(), std::time::Instant::now()) {
            let codes = ["invalid_request", "invalid_tools", "invalid_tool_call", "invalid_response_format"];
            prop_assert!(codes.contains(&e.code()), "{}: {}", e.code(), e);
        }
    }

    #[test]
    fn fuzz_query_strings_parse_or_are_refused(q in query()) {
        let Ok(uri) = Uri::try_from(format!("/x?{q}")) else { return Ok(()); };
        let _ = axum::extract::Query::<AuditParams>::try_from_uri(&uri);
        let _ = axum::extract::Query::<UsageQuery>::try_from_uri(&uri);
        let _ = axum::extract::Query::<WorkspaceFilter>::try_from_uri(&uri);
        let _ = axum::extract::Query::<CostsQuery>::try_from_uri(&uri);
        let _ = axum::extract::Query::<SearchParams>::try_from_uri(&uri);
    }
}
