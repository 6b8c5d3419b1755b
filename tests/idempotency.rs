//! `Idempotency-Key` on `/v1/chat/completions` and `/chat`: a retry gets the answer already
//! sent without a provider call or a charge, a reused key with another body is refused, and
//! requests with one key at once make one provider call.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{create_key, Server};
use serde_json::{json, Value};

fn chat(content: &str) -> Value {
    // Temperature 1: the exact cache does not answer, so only the key can prevent a call.
    json!({"model": "hearth/extract", "temperature": 1,
           "messages": [{"role": "user", "content": content}]})
}

async fn post_keyed(
    s: &Server,
    path: &str,
    api_key: &str,
    idempotency_key: &str,
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, String) {
    let key = [("Idempotency-Key", idempotency_key)];
    s.post_with(path, Some(api_key), &key, body).await
}

/// Requests the orchestrator answered in `workspace`, from the audit log.
async fn answered(s: &Server, admin: &str, workspace: &str) -> usize {
    let path = format!("/audit?tenant_id={workspace}&limit=500");
    let (status, page) = s.get_json(&path, Some(admin)).await;
    assert_eq!(status, 200, "{page}");
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "llm_request_completed")
        .count()
}

async fn spent(s: &Server, admin: &str, workspace: &str) -> f64 {
    let (_, view) = s
        .get_json(&format!("/admin/workspaces/{workspace}"), Some(admin))
        .await;
    view["today"]["spent_usd"].as_f64().unwrap()
}

type Answer = (u16, reqwest::header::HeaderMap, String);

/// Twenty requests at once with `body` under the key `burst`.
async fn burst(s: &Server, api_key: &str, body: &Value) -> Vec<Answer> {
    let asks = (0..20).map(|_| post_keyed(s, "/v1/chat/completions", api_key, "burst", body));
    futures::future::join_all(asks).await
}

/// How many answers say they were replayed.
fn replays(answers: &[Answer]) -> usize {
    answers
        .iter()
        .filter(|(_, h, _)| h.get("x-hearth-idempotent-replay").is_some())
        .count()
}

#[tokio::test]
async fn a_retry_with_the_same_key_and_body_gets_the_answer_sent_without_a_call_or_a_charge() {
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let body = chat("Extract the total: 12 EUR");

    let (status, first_headers, first) =
        post_keyed(&s, "/v1/chat/completions", &key, "order-1", &body).await;
    assert_eq!(status, 200, "{first}");
    assert!(first_headers.get("x-hearth-idempotent-replay").is_none());
    let cost = spent(&s, &admin, "tenant_pro").await;
    assert!(cost > 0.0);

    let (status, headers, again) =
        post_keyed(&s, "/v1/chat/completions", &key, "order-1", &body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, first, "the very answer sent");
    assert_eq!(headers["x-hearth-idempotent-replay"], "true");
    assert_eq!(
        headers["x-hearth-provider"],
        first_headers["x-hearth-provider"]
    );
    assert_ne!(
        headers["x-hearth-trace-id"], first_headers["x-hearth-trace-id"],
        "the retry is traced as itself"
    );
    assert_eq!(
        answered(&s, &admin, "tenant_pro").await,
        1,
        "one provider call"
    );
    assert_eq!(spent(&s, &admin, "tenant_pro").await, cost, "charged once");

    let (status, _, other) = post_keyed(&s, "/v1/chat/completions", &key, "order-2", &body).await;
    assert_eq!(status, 200, "{other}");
    assert_eq!(
        answered(&s, &admin, "tenant_pro").await,
        2,
        "another key, another call"
    );
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused_and_keys_do_not_cross_workspaces() {
    let s = Server::demo();
    let pro = create_key(&s.dir, "tenant_pro", "user");
    let free = create_key(&s.dir, "tenant_free", "user");
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let (status, _, _) = post_keyed(&s, "/v1/chat/completions", &pro, "k", &chat("12 EUR")).await;
    assert_eq!(status, 200);

    let (status, _, refused) =
        post_keyed(&s, "/v1/chat/completions", &pro, "k", &chat("13 EUR")).await;
    assert_eq!(status, 422, "{refused}");
    let refused: Value = serde_json::from_str(&refused).unwrap();
    assert_eq!(refused["error"]["code"], "idempotency_key_reused");
    assert!(!refused["error"]["message"]
        .as_str()
        .unwrap()
        .contains("EUR"));
    assert_eq!(
        answered(&s, &admin, "tenant_pro").await,
        1,
        "nothing called"
    );

    let (status, headers, _) =
        post_keyed(&s, "/v1/chat/completions", &free, "k", &chat("12 EUR")).await;
    assert_eq!(status, 200);
    assert!(
        headers.get("x-hearth-idempotent-replay").is_none(),
        "another workspace's key is its own"
    );
}

#[tokio::test]
async fn twenty_requests_at_once_with_one_key_make_one_call_and_get_one_answer() {
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let body = chat("Extract the total: 12 EUR");
    let answers = burst(&s, &key, &body).await;
    for (status, _, text) in &answers {
        assert_eq!(*status, 200, "{text}");
        assert_eq!(text, &answers[0].2, "one answer for all");
    }
    assert_eq!(replays(&answers), 19);
    assert_eq!(
        answered(&s, &admin, "tenant_pro").await,
        1,
        "one provider call"
    );
    let leader = answers
        .iter()
        .find(|(_, h, _)| h.get("x-hearth-idempotent-replay").is_none())
        .unwrap();
    let cost: f64 = leader.1["x-hearth-cost-usd"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let charged = spent(&s, &admin, "tenant_pro").await;
    assert!(
        (charged - cost).abs() < 1e-9,
        "one charge: {charged} vs {cost}"
    );
}

#[tokio::test]
async fn a_failed_request_is_not_kept_so_its_retry_runs() {
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let body = chat("Extract the total: 12 EUR");
    for provider in ["mock-fast", "mock-balanced"] {
        let fail = format!("/debug/provider/{provider}/fail");
        s.post(&fail, None, &json!({"fail": true})).await;
    }
    let (status, _, failed) = post_keyed(&s, "/v1/chat/completions", &key, "k", &body).await;
    assert_eq!(status, 503, "{failed}");
    for provider in ["mock-fast", "mock-balanced"] {
        let heal = format!("/debug/provider/{provider}/fail");
        s.post(&heal, None, &json!({"fail": false})).await;
    }
    let (status, headers, answer) = post_keyed(&s, "/v1/chat/completions", &key, "k", &body).await;
    assert_eq!(status, 200, "{answer}");
    assert!(headers.get("x-hearth-idempotent-replay").is_none());
}

#[tokio::test]
async fn the_seed_chat_endpoint_replays_too() {
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let body = json!({"task": "extract", "message": "12 EUR", "temperature": 1});
    let (status, _, first) = post_keyed(&s, "/chat", &key, "seed-1", &body).await;
    assert_eq!(status, 200, "{first}");
    let (status, headers, again) = post_keyed(&s, "/chat", &key, "seed-1", &body).await;
    assert_eq!(status, 200);
    assert_eq!(again, first);
    assert_eq!(headers["x-hearth-idempotent-replay"], "true");
}

#[tokio::test]
async fn a_bad_key_is_a_clear_error_and_nothing_runs() {
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let long = "k".repeat(256);
    let (status, _, e) = post_keyed(&s, "/v1/chat/completions", &key, &long, &chat("12")).await;
    assert_eq!(status, 400, "{e}");
    assert!(e.contains("invalid_idempotency_key"), "{e}");
    assert_eq!(answered(&s, &admin, "tenant_pro").await, 0);
}

fn streamed(content: &str) -> Value {
    let mut body = chat(content);
    body["stream"] = json!(true);
    body
}

#[tokio::test]
async fn twenty_streams_at_once_with_one_key_make_one_call_one_charge_and_one_stream() {
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let body = streamed("Extract the total: 12 EUR");
    let answers = burst(&s, &key, &body).await;
    for (status, headers, text) in &answers {
        assert_eq!(*status, 200, "{text}");
        assert_eq!(headers["content-type"], "text/event-stream");
        assert_eq!(text, &answers[0].2, "one stream for all");
    }
    assert!(
        answers[0].2.trim_end().ends_with("data: [DONE]"),
        "{}",
        answers[0].2
    );
    assert_eq!(replays(&answers), 19);
    assert_eq!(
        answered(&s, &admin, "tenant_pro").await,
        1,
        "one provider call"
    );
    let charged = spent(&s, &admin, "tenant_pro").await;
    assert!(charged > 0.0);

    let (status, headers, again) =
        post_keyed(&s, "/v1/chat/completions", &key, "burst", &body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, answers[0].2, "a later retry gets the same events");
    assert_eq!(headers["x-hearth-idempotent-replay"], "true");
    assert_eq!(spent(&s, &admin, "tenant_pro").await, charged, "one charge");
    let whole = chat("Extract the total: 12 EUR");
    let (status, _, e) = post_keyed(&s, "/v1/chat/completions", &key, "burst", &whole).await;
    assert_eq!(status, 422, "a whole answer is another request: {e}");
}

/// Sets the fault drill `mode` on both mock providers of the demo's routes.
async fn drill(s: &Server, mode: &str) {
    for provider in ["mock-fast", "mock-balanced"] {
        let path = format!("/debug/provider/{provider}/fail");
        s.post(&path, None, &json!({"mode": mode})).await;
    }
}

#[tokio::test]
async fn a_stream_that_ends_in_an_error_event_is_not_kept_so_its_retry_runs() {
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let body = streamed("Extract the total: 12 EUR");
    drill(&s, "break_mid_stream").await;
    let (status, _, broken) = post_keyed(&s, "/v1/chat/completions", &key, "k", &body).await;
    assert_eq!(status, 200);
    assert!(broken.contains("data: {\"error\""), "{broken}");
    drill(&s, "off").await;
    let (status, headers, whole) = post_keyed(&s, "/v1/chat/completions", &key, "k", &body).await;
    assert_eq!(status, 200, "{whole}");
    assert!(
        headers.get("x-hearth-idempotent-replay").is_none(),
        "{whole}"
    );
    assert!(!whole.contains("data: {\"error\""), "{whole}");
    assert_eq!(answered(&s, &admin, "tenant_pro").await, 1, "the retry ran");
}

#[tokio::test]
async fn another_body_under_a_key_whose_request_is_still_running_is_refused() {
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let slow = json!({"mode": "slow", "delay_ms": 1500});
    s.post("/debug/provider/mock-fast/fail", None, &slow).await;
    let first = chat("Extract the total: 12 EUR");
    let running = post_keyed(&s, "/v1/chat/completions", &key, "k", &first);
    let other = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        post_keyed(&s, "/v1/chat/completions", &key, "k", &chat("13 EUR")).await
    };
    let ((status, _, answer), (refused_status, _, refused)) = tokio::join!(running, other);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(refused_status, 422, "{refused}");
    assert!(refused.contains("idempotency_key_reused"), "{refused}");
    assert_eq!(
        answered(&s, &admin, "tenant_pro").await,
        1,
        "the refused one ran nothing"
    );
}
