//! The seed's lab, exercises 1 to 7, over real HTTP against `hearth serve --demo`, exactly
//! as a newcomer runs them: no key, `tenant_id` in the body.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{lab_extract, metric, Server};
use serde_json::json;

const SEED_FIELDS: [&str; 11] = [
    "trace_id",
    "answer",
    "provider",
    "model",
    "cache_hit",
    "fallback_used",
    "retry_count",
    "latency_ms",
    "estimated_cost_usd",
    "prompt_id",
    "prompt_version",
];

const AUDIT_FIELDS: [&str; 12] = [
    "trace_id",
    "tenant_id",
    "user_id_hash",
    "task",
    "prompt_id",
    "model",
    "latency_ms",
    "cache_hit",
    "retry_count",
    "fallback_used",
    "estimated_cost_usd",
    "status",
];

#[tokio::test]
async fn exercise_1_health_says_ok() {
    let s = Server::demo();
    let (status, body) = s.get("/health", None).await;
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"status":"ok"}"#);
}

#[tokio::test]
async fn exercise_2_extract_answers_with_every_seed_field_and_max_output_tokens_is_capped() {
    let s = Server::demo();
    let (status, _, body) = s
        .post(
            "/chat",
            None,
            &lab_extract(
                "tenant_pro",
                "Khách bị tính phí hai lần sau khi nâng cấp gói.",
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for f in SEED_FIELDS {
        assert!(body.get(f).is_some(), "missing {f} in {body}");
    }
    assert_eq!(body["provider"], "mock-fast");
    assert_eq!(body["model"], "mock-fast/fast-extract-v1");
    assert_eq!(body["prompt_id"], "support_triage");
    assert_eq!(body["prompt_version"], "v1");
    assert_eq!(body["cache_hit"], false);
    assert_eq!(body["trace_id"].as_str().unwrap().len(), 32);
    let answer: serde_json::Value = serde_json::from_str(body["answer"].as_str().unwrap()).unwrap();
    assert!(answer.is_object(), "support_triage answers JSON");

    let mut over = lab_extract("tenant_pro", "again");
    over["max_output_tokens"] = json!(100_000);
    let (status, headers, body) = s.post("/chat", None, &over).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "max_output_tokens_exceeded");
    assert_eq!(
        body["error"]["trace_id"],
        headers["x-hearth-trace-id"].to_str().unwrap()
    );
}

#[tokio::test]
async fn exercise_3_the_same_request_is_a_cache_hit_but_never_across_tenants() {
    let s = Server::demo();
    let req = lab_extract(
        "tenant_pro",
        "Khách bị tính phí hai lần sau khi nâng cấp gói.",
    );
    let (_, _, first) = s.post("/chat", None, &req).await;
    let (_, _, second) = s.post("/chat", None, &req).await;
    assert_eq!(first["cache_hit"], false);
    assert_eq!(second["cache_hit"], true);
    assert_eq!(second["answer"], first["answer"]);
    assert!(
        second["latency_ms"].as_f64().unwrap() < first["latency_ms"].as_f64().unwrap() / 2.0,
        "{first} {second}"
    );
    assert_eq!(second["estimated_cost_usd"], 0.0);

    let other = lab_extract(
        "tenant_enterprise",
        "Khách bị tính phí hai lần sau khi nâng cấp gói.",
    );
    let (_, _, third) = s.post("/chat", None, &other).await;
    assert_eq!(
        third["cache_hit"], false,
        "tenant_enterprise must not see tenant_pro's cache"
    );
}

#[tokio::test]
async fn exercise_4_enterprise_reasoning_gets_the_strong_model_and_free_degrades_by_policy() {
    let s = Server::demo();
    let req = json!({
        "tenant_id": "tenant_enterprise", "user_id": "user_456", "task": "reasoning",
        "message": "Hãy phân tích trade-off giữa single provider và multi-provider cho app support enterprise.",
        "prompt_id": "assistant", "prompt_version": "v1", "max_output_tokens": 512
    });
    let (status, _, body) = s.post("/chat", None, &req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "mock-strong/strong-reason-v1");
    assert_eq!(body["provider"], "mock-strong");

    let mut free = req.clone();
    free["tenant_id"] = json!("tenant_free");
    free["max_output_tokens"] = json!(128);
    let (status, _, body) = s.post("/chat", None, &free).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "mock-fast/fast-extract-v1");
    let decision = body["policy_decision"].as_str().unwrap();
    assert!(
        decision.starts_with("degrade") && decision.contains("tier free"),
        "{decision}"
    );
}

#[tokio::test]
async fn exercise_5_a_failing_provider_falls_back_with_retries_and_heals() {
    let s = Server::demo();
    let (status, _, _) = s
        .post(
            "/debug/provider/mock-fast/fail",
            None,
            &json!({"fail": true}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _, body) = s
        .post(
            "/chat",
            None,
            &lab_extract(
                "tenant_pro",
                "Khách muốn hủy gói vì không dùng tính năng analytics.",
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["fallback_used"], true);
    assert!(body["retry_count"].as_u64().unwrap() > 0, "{body}");
    assert_ne!(body["provider"], "mock-fast");

    let (status, _, _) = s
        .post(
            "/debug/provider/mock-fast/fail",
            None,
            &json!({"fail": false}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, _, healed) = s
        .post(
            "/chat",
            None,
            &lab_extract("tenant_pro", "A third, fresh message."),
        )
        .await;
    assert_eq!(healed["provider"], "mock-fast");
    assert_eq!(healed["fallback_used"], false);
}

#[tokio::test]
async fn exercise_6_metrics_show_requests_cache_fallbacks_cost_and_quota_and_429_arrives() {
    let s = Server::demo();
    let req = lab_extract("tenant_pro", "metrics please");
    s.post("/chat", None, &req).await;
    s.post("/chat", None, &req).await;
    let (status, text) = s.get("/metrics", None).await;
    assert_eq!(status, 200);
    assert!(
        metric(
            &text,
            "llm_requests_total",
            &["tenant_tier=\"pro\"", "status=\"ok\""]
        ) >= 2.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "llm_cache_hits_total", &["task=\"extract\""]),
        1.0
    );
    assert!(
        metric(
            &text,
            "llm_estimated_cost_usd_total",
            &["tenant_id=\"tenant_pro\""]
        ) > 0.0
    );
    assert!(
        metric(
            &text,
            "hearth_budget_spent_usd",
            &["tenant_id=\"tenant_pro\""]
        ) > 0.0
    );
    for name in [
        "llm_latency_ms_bucket",
        "llm_input_tokens_total",
        "llm_output_tokens_total",
        "hearth_overhead_seconds_bucket",
    ] {
        assert!(text.contains(name), "{name} missing");
    }

    let mut statuses = Vec::new();
    for i in 0..31 {
        let (status, headers, body) = s
            .post(
                "/chat",
                None,
                &lab_extract("tenant_free", &format!("ticket {i}")),
            )
            .await;
        statuses.push(status);
        if status == 429 {
            assert_eq!(body["error"]["code"], "rate_limited_workspace");
            assert!(
                headers["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
                    >= 1
            );
        }
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        30,
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&429));
    let (_, text) = s.get("/metrics", None).await;
    assert_eq!(
        metric(
            &text,
            "llm_quota_rejections_total",
            &[
                "tenant_id=\"tenant_free\"",
                "reason=\"rate_limited_workspace\""
            ]
        ),
        1.0
    );
}

#[tokio::test]
async fn exercise_7_the_audit_log_has_every_seed_field_and_no_raw_user_id_or_message() {
    let s = Server::demo();
    let message = "Khách bị tính phí hai lần sau khi nâng cấp gói.";
    s.post("/chat", None, &lab_extract("tenant_pro", message))
        .await;
    s.post("/chat", None, &lab_extract("tenant_pro", message))
        .await;
    let (status, body) = s.get("/audit", None).await;
    assert_eq!(status, 200);
    assert!(
        !body.contains("user_123") && !body.contains("tính phí"),
        "raw ids or text leaked: {body}"
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    for e in events {
        for f in AUDIT_FIELDS {
            assert!(e.get(f).is_some(), "missing {f} in {e}");
        }
        assert_eq!(e["event_type"], "llm_request_completed");
        assert_eq!(e["status"], "ok");
        assert!(e["user_id_hash"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:"));
    }
    assert_eq!(events[0]["cache_hit"], true, "newest first");
    assert_eq!(events[1]["cache_hit"], false);
}
