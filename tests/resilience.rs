//! Retries, timeouts, fallback, circuit breakers, deadlines, data policy and budget
//! actions, driven by fault drills against a real `hearth serve --demo`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{create_key, lab_extract, metric, Server};
use serde_json::{json, Value};

/// A demo server whose policy is the built-in one with `edits` applied (`from` -> `to`).
fn demo_with(edits: &[(&str, &str)]) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let mut policy = include_str!("../src/config/demo.toml").to_owned();
    for (from, to) in edits {
        assert!(policy.contains(from), "the demo policy has no `{from}`");
        policy = policy.replace(from, to);
    }
    let cfg = dir.path().join("policy.toml");
    std::fs::write(&cfg, policy).unwrap();
    let s = Server::start_in(
        &dir.path().join("data"),
        &["--demo", "--config", cfg.to_str().unwrap()],
    );
    (dir, s)
}

async fn fault(s: &Server, provider: &str, body: Value) {
    let (status, _, v) = s
        .post(&format!("/debug/provider/{provider}/fail"), None, &body)
        .await;
    assert_eq!(status, 200, "{v}");
}

async fn extract(s: &Server, message: &str) -> (u16, Value) {
    let (status, _, v) = s
        .post("/chat", None, &lab_extract("tenant_pro", message))
        .await;
    (status, v)
}

#[tokio::test]
async fn a_transient_failure_is_retried_on_the_same_provider_without_fallback() {
    let s = Server::demo();
    fault(&s, "mock-fast", json!({"mode": "fail_n_times", "n": 1})).await;
    let (status, v) = extract(&s, "retry me").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["provider"], "mock-fast");
    assert_eq!(v["retry_count"], 1);
    assert_eq!(v["fallback_used"], false);
}

#[tokio::test]
async fn a_rate_limited_provider_is_retried_no_sooner_than_its_retry_after_then_replaced() {
    let s = Server::demo();
    fault(
        &s,
        "mock-fast",
        json!({"mode": "rate_limit", "retry_after_ms": 400}),
    )
    .await;
    let (status, v) = extract(&s, "slow down").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["retry_count"], 1);
    assert_eq!(v["provider"], "mock-balanced");
    assert!(
        v["latency_ms"].as_f64().unwrap() >= 400.0,
        "the retry waited for retry-after: {v}"
    );
}

#[tokio::test]
async fn a_provider_that_hangs_is_cut_by_the_attempt_timeout_and_replaced() {
    let (_d, s) = demo_with(&[
        ("attempt_timeout_ms = 3000", "attempt_timeout_ms = 300"),
        ("max_retries = 1", "max_retries = 0"),
    ]);
    fault(&s, "mock-fast", json!({"mode": "timeout"})).await;
    let (status, v) = extract(&s, "are you there").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["provider"], "mock-balanced");
    assert!(
        v["policy_decision"]
            .as_str()
            .unwrap()
            .contains("mock-fast/fast-extract-v1 failed (timeout)"),
        "{v}"
    );
}

/// `error.candidates` of a failed request: each candidate model in the order tried, with
/// what became of it.
fn candidates(v: &Value) -> Vec<(String, String, String)> {
    v["error"]["candidates"]
        .as_array()
        .unwrap_or_else(|| panic!("no candidates in {v}"))
        .iter()
        .map(|c| {
            let field = |k: &str| c[k].as_str().unwrap().to_owned();
            (field("model"), field("outcome"), field("reason"))
        })
        .collect()
}

#[tokio::test]
async fn when_no_candidate_answers_the_error_says_what_became_of_each_one() {
    let (_d, s) = demo_with(&[
        ("attempt_timeout_ms = 3000", "attempt_timeout_ms = 300"),
        ("max_retries = 1", "max_retries = 0"),
        (
            "breaker_failure_threshold = 5",
            "breaker_failure_threshold = 1",
        ),
    ]);
    fault(&s, "mock-fast", json!({"mode": "timeout"})).await;
    fault(&s, "mock-balanced", json!({"fail": true})).await;
    let owned = |m: &str, o: &str, r: &str| (m.to_owned(), o.to_owned(), r.to_owned());

    let (status, v) = extract(&s, "anyone").await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error"]["code"], "providers_unavailable");
    assert_eq!(
        candidates(&v),
        [
            owned("mock-fast/fast-extract-v1", "failed", "timeout"),
            owned(
                "mock-balanced/fallback-balanced-v1",
                "failed",
                "unavailable"
            ),
        ],
        "only the last failure is in the message, every one in the list"
    );

    let (status, v) = extract(&s, "anyone now").await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(
        candidates(&v),
        [
            owned("mock-fast/fast-extract-v1", "skipped", "breaker_open"),
            owned(
                "mock-balanced/fallback-balanced-v1",
                "skipped",
                "breaker_open"
            ),
        ]
    );
}

#[tokio::test]
async fn the_breaker_opens_after_consecutive_failures_and_shows_in_ready_metrics_and_admin() {
    let (_d, s) = demo_with(&[(
        "breaker_failure_threshold = 5",
        "breaker_failure_threshold = 2",
    )]);
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    fault(&s, "mock-fast", json!({"fail": true})).await;
    let (_, first) = extract(&s, "one").await;
    assert!(
        first["policy_decision"]
            .as_str()
            .unwrap()
            .contains("breaker opened for mock-fast"),
        "{first}"
    );
    let (status, second) = extract(&s, "two").await;
    assert_eq!(status, 200);
    assert_eq!(
        second["retry_count"], 0,
        "an open breaker is skipped, not retried: {second}"
    );
    assert_eq!(second["fallback_used"], true);
    assert!(second["policy_decision"]
        .as_str()
        .unwrap()
        .contains("skip mock-fast/fast-extract-v1 (breaker open)"));

    let (_, providers) = s.get_json("/admin/providers", Some(&admin)).await;
    let fast = providers["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "mock-fast")
        .unwrap()
        .clone();
    assert_eq!(fast["breaker"]["state"], "open");
    let (_, text) = s.get("/metrics", None).await;
    assert_eq!(
        metric(
            &text,
            "hearth_circuit_breaker_state",
            &["provider=\"mock-fast\""]
        ),
        2.0
    );
    let (status, _) = s.get("/ready", None).await;
    assert_eq!(status, 200, "extract still has mock-balanced");

    fault(&s, "mock-balanced", json!({"fail": true})).await;
    extract(&s, "three").await;
    let (status, ready) = s.get_json("/ready", None).await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["status"], "not_ready");
    assert!(
        ready["reasons"]
            .to_string()
            .contains("route `extract` has no usable provider"),
        "{ready}"
    );
    let (status, v) = extract(&s, "four").await;
    assert_eq!(status, 503);
    assert_eq!(v["error"]["code"], "providers_unavailable");
}

#[tokio::test]
async fn a_half_open_probe_that_succeeds_closes_the_breaker() {
    let (_d, s) = demo_with(&[
        (
            "breaker_failure_threshold = 5",
            "breaker_failure_threshold = 2",
        ),
        ("breaker_cooldown_ms = 30000", "breaker_cooldown_ms = 300"),
    ]);
    fault(&s, "mock-fast", json!({"mode": "fail_n_times", "n": 2})).await;
    let (_, v) = extract(&s, "opens it").await;
    assert_eq!(v["provider"], "mock-balanced");
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let (_, v) = extract(&s, "probe").await;
    assert_eq!(v["provider"], "mock-fast", "{v}");
    assert_eq!(v["fallback_used"], false);
}

#[tokio::test]
async fn the_request_deadline_bounds_the_whole_request() {
    let (_d, s) = demo_with(&[
        ("request_deadline_ms = 8000", "request_deadline_ms = 600"),
        ("attempt_timeout_ms = 3000", "attempt_timeout_ms = 400"),
    ]);
    fault(&s, "mock-fast", json!({"mode": "timeout"})).await;
    fault(&s, "mock-balanced", json!({"mode": "timeout"})).await;
    let started = std::time::Instant::now();
    let (status, v) = extract(&s, "never answered").await;
    assert_eq!(status, 504, "{v}");
    assert_eq!(v["error"]["code"], "deadline_exceeded");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "bounded by the deadline, not the mocks"
    );
}

#[tokio::test]
async fn a_local_only_workspace_is_never_sent_to_a_hosted_provider() {
    let s = Server::demo();
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let (status, v) = s
        .patch_workspace(&admin, "tenant_pro", &json!({"data_policy": "local_only"}))
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = extract(&s, "secret ticket").await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["code"], "policy_blocked");
    let (_, audit) = s
        .get_json("/audit?tenant_id=tenant_pro&limit=1", None)
        .await;
    assert_eq!(audit["events"][0]["status"], "rejected");
    assert_eq!(audit["events"][0]["error_code"], "policy_blocked");
    assert!(
        audit["events"][0]["provider"].is_null(),
        "no provider was called"
    );
}

#[tokio::test]
async fn a_spent_budget_downgrades_pro_to_the_small_model_and_gives_enterprise_the_template() {
    let s = Server::demo();
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let budget = |usd: f64| json!({"daily_budget_usd": usd});
    // Fits the small model's worst case (about 0.00003 USD) but not the balanced one's.
    let (status, _) = s
        .patch_workspace(&admin, "tenant_pro", &budget(0.0001))
        .await;
    assert_eq!(status, 200);
    let chat = json!({"tenant_id": "tenant_pro", "task": "chat", "message": "hello there", "max_output_tokens": 100});
    let (status, _, v) = s.post("/chat", None, &chat).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["model"], "mock-fast/fast-extract-v1");
    assert!(
        v["policy_decision"]
            .as_str()
            .unwrap()
            .starts_with("degrade"),
        "{v}"
    );
    assert!(
        v["policy_decision"]
            .as_str()
            .unwrap()
            .contains("budget spent: downgrade"),
        "{v}"
    );

    let (status, _) = s
        .patch_workspace(&admin, "tenant_enterprise", &budget(0.0))
        .await;
    assert_eq!(status, 200);
    let mut ent = chat.clone();
    ent["tenant_id"] = json!("tenant_enterprise");
    let (status, _, v) = s.post("/chat", None, &ent).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["provider"], "hearth");
    assert_eq!(v["estimated_cost_usd"], 0.0);
    assert!(v["answer"].as_str().unwrap().contains("daily budget"));
}
