//! The PII guard end to end: a real `hearth serve` whose hosted provider is an
//! OpenAI-compatible upstream on loopback (wiremock, recording what it was sent) beside an
//! on-device provider. What the upstream received is the proof of what left the machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{cli, hosted, OwnPolicy};
use serde_json::{json, Value};
use wiremock::MockServer;

const PII_MESSAGE: &str =
    "Xin chào, email của tôi là an.nguyen@example.vn, số điện thoại 0912 345 678. Hãy tóm tắt.";

/// The upstream: answers every chat completion with a fixed OpenAI-shaped body.
async fn upstream() -> MockServer {
    let usage = json!({"prompt_tokens": 40, "completion_tokens": 5, "total_tokens": 45});
    hosted::openai_upstream("Đã tóm tắt.", usage).await
}

/// What the upstream was sent, as text (all bodies joined).
async fn seen_upstream(mock: &MockServer) -> (usize, String) {
    let reqs = mock.received_requests().await.unwrap_or_default();
    let text = reqs
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    (reqs.len(), text)
}

impl OwnPolicy {
    /// A server whose `chat` route tries the hosted upstream, then an on-device model, and
    /// whose `hosted_only` route has no on-device model at all.
    fn install(upstream: &MockServer) -> OwnPolicy {
        let policy = format!(
            r#"
[providers.upstream]
kind = "openai_compatible"
base_url = "{}/v1"

[providers.device]
kind = "mock"
locality = "on_device"

[models.hosted]
provider = "upstream"
model_id = "m1"
max_output_tokens = 256

[models.ondevice]
provider = "device"
model_id = "dev"
max_output_tokens = 256

[routes.chat]
primary = "hosted"
fallbacks = ["ondevice"]

[routes.hosted_only]
primary = "hosted"

[tiers.pro]
allowed_models = ["hosted", "ondevice"]
default_model = "ondevice"
daily_budget_usd = 10.0
max_output_tokens = 256
on_budget_exhausted = "reject"
on_route_not_allowed = "reject"
"#,
            upstream.uri()
        );
        OwnPolicy::start(&policy)
    }

    /// Creates a workspace with a data policy (and patterns) and returns a key for it.
    fn workspace(&self, id: &str, data_policy: &str, patterns: &[&str]) -> String {
        let run = |args: &[&str]| self.cli(args);
        run(&[
            "workspaces",
            "create",
            id,
            "--tier",
            "pro",
            "--data-policy",
            data_policy,
        ]);
        if !patterns.is_empty() {
            let mut args = vec!["workspaces", "set", id];
            for p in patterns {
                args.extend_from_slice(&["--pii-pattern", p]);
            }
            run(&args);
        }
        run(&["keys", "create", "--workspace", id])
    }

    async fn chat(&self, key: &str, task: &str, message: &str) -> (u16, Value) {
        let body = json!({"task": task, "message": message, "temperature": 0});
        let (status, _, v) = self.server.post("/chat", Some(key), &body).await;
        (status, v)
    }

    async fn last_audit_event(&self, key: &str) -> Value {
        let (status, v) = self.server.get_json("/audit?limit=1", Some(key)).await;
        assert_eq!(status, 200, "{v}");
        v["events"][0].clone()
    }
}

#[tokio::test]
async fn redact_sends_placeholders_to_the_hosted_provider_and_records_only_the_kinds() {
    let mock = upstream().await;
    let app = OwnPolicy::install(&mock);
    let key = app.workspace("w_redact", "redact", &[]);
    let (status, v) = app.chat(&key, "chat", PII_MESSAGE).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["provider"], "upstream", "{v}");

    let (n, sent) = seen_upstream(&mock).await;
    assert_eq!(n, 1);
    assert!(
        sent.contains("[EMAIL_1]") && sent.contains("[PHONE_1]"),
        "{sent}"
    );
    assert!(
        !sent.contains("an.nguyen@example.vn") && !sent.contains("345 678"),
        "{sent}"
    );
    assert!(
        sent.contains("Xin chào"),
        "the text around the PII is kept: {sent}"
    );

    let event = app.last_audit_event(&key).await;
    let decision = event["policy_decision"].as_str().unwrap();
    assert!(decision.contains("pii: email, phone"), "{decision}");
    assert!(decision.contains("redact for upstream/m1"), "{decision}");
    assert!(!event.to_string().contains("an.nguyen"), "{event}");
}

#[tokio::test]
async fn pii_to_local_only_serves_pii_on_device_and_clean_text_from_the_hosted_provider() {
    let mock = upstream().await;
    let app = OwnPolicy::install(&mock);
    let key = app.workspace("w_local_pii", "pii_to_local_only", &[]);

    let (status, v) = app.chat(&key, "chat", PII_MESSAGE).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["provider"], "device", "{v}");
    assert_eq!(seen_upstream(&mock).await.0, 0, "nothing left the machine");
    let decision = v["policy_decision"].as_str().unwrap();
    assert!(decision.contains("skip upstream/m1"), "{decision}");

    let (status, v) = app
        .chat(&key, "chat", "Summarise the weather in one line.")
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["provider"], "upstream", "clean text may go out: {v}");
}

#[tokio::test]
async fn pii_to_local_only_without_an_on_device_model_is_policy_blocked_not_leaked() {
    let mock = upstream().await;
    let app = OwnPolicy::install(&mock);
    let key = app.workspace("w_blocked", "pii_to_local_only", &[]);
    let (status, v) = app.chat(&key, "hosted_only", PII_MESSAGE).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["code"], "policy_blocked", "{v}");
    assert!(v["error"]["trace_id"].is_string(), "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("email") && !message.contains("an.nguyen"),
        "{message}"
    );
    assert_eq!(seen_upstream(&mock).await.0, 0);
}

#[tokio::test]
async fn under_any_a_hosted_provider_that_does_not_allow_pii_is_skipped_for_pii() {
    let mock = upstream().await;
    let app = OwnPolicy::install(&mock);
    let key = app.workspace("w_any", "any", &[]);
    let (status, v) = app.chat(&key, "chat", PII_MESSAGE).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["provider"], "device", "{v}");
    assert_eq!(seen_upstream(&mock).await.0, 0);
}

#[tokio::test]
async fn a_workspace_pattern_is_redacted_like_a_built_in_kind() {
    let mock = upstream().await;
    let app = OwnPolicy::install(&mock);
    let key = app.workspace("w_custom", "redact", &[r"EMP-\d{6}"]);
    let (status, v) = app
        .chat(&key, "chat", "Nhân viên EMP-004217 cần được hỗ trợ.")
        .await;
    assert_eq!(status, 200, "{v}");
    let (_, sent) = seen_upstream(&mock).await;
    assert!(
        sent.contains("[CUSTOM_1]") && !sent.contains("EMP-004217"),
        "{sent}"
    );
}

#[tokio::test]
async fn local_only_never_calls_the_hosted_provider_even_with_clean_text() {
    let mock = upstream().await;
    let app = OwnPolicy::install(&mock);
    let key = app.workspace("w_local", "local_only", &[]);
    let (status, v) = app.chat(&key, "chat", "Summarise the weather.").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["provider"], "device", "{v}");
    let (status, v) = app
        .chat(&key, "hosted_only", "Summarise the weather.")
        .await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["code"], "policy_blocked");
    assert_eq!(seen_upstream(&mock).await.0, 0);
}

#[tokio::test]
async fn a_bad_workspace_pattern_is_refused_with_its_reason() {
    let mock = upstream().await;
    let app = OwnPolicy::install(&mock);
    app.workspace("w_bad", "redact", &[]);
    let out = cli(
        &app.data,
        &[
            "--config",
            &app.cfg,
            "workspaces",
            "set",
            "w_bad",
            "--pii-pattern",
            "(unclosed",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pattern 1"), "{err}");
}

#[tokio::test]
async fn redact_also_replaces_pii_in_the_arguments_of_the_conversations_tool_calls() {
    let mock = upstream().await;
    let app = OwnPolicy::install(&mock);
    let key = app.workspace("w_redact_tools", "redact", &[]);
    let body = json!({"model": "hearth/chat", "messages": [
        {"role": "user", "content": "Email the report, please."},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "send_email", "arguments": "{\"to\":\"an.nguyen@example.vn\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sent to an.nguyen@example.vn"}]});
    let (status, _, v) = app
        .server
        .post("/v1/chat/completions", Some(&key), &body)
        .await;
    assert_eq!(status, 200, "{v}");
    let (n, sent) = seen_upstream(&mock).await;
    assert_eq!(n, 1);
    assert!(!sent.contains("an.nguyen"), "{sent}");
    assert!(sent.contains("[EMAIL_1]"), "{sent}");
    assert!(sent.contains("\"tool_call_id\":\"call_1\""), "{sent}");
}
