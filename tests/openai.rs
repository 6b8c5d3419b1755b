//! `/v1/chat/completions` and `/v1/models` with a real client's expectations: the OpenAI
//! response shape, exact SSE framing, usage, headers, fallback before the first token, an
//! error event after it, and cancellation when the client goes away.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{create_key, Server};
use serde_json::{json, Value};

fn body(content: &str, stream: bool) -> Value {
    json!({
        "model": "hearth/extract",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": content}],
        "max_tokens": 64, "temperature": 0, "stream": stream,
    })
}

/// Splits an SSE body into its `data:` payloads, checking the framing on the way.
fn sse_payloads(text: &str) -> Vec<String> {
    assert!(
        text.ends_with("\n\n"),
        "every event ends with a blank line: {text:?}"
    );
    text.trim_end_matches("\n\n")
        .split("\n\n")
        .map(|event| {
            let payload = event
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {event:?}"));
            assert!(!payload.contains('\n'), "one line per event");
            payload.to_owned()
        })
        .collect()
}

async fn stream_text(
    s: &Server,
    key: &str,
    req: &Value,
) -> (reqwest::header::HeaderMap, Vec<String>) {
    let resp = s
        .http
        .post(s.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(req)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let headers = resp.headers().clone();
    (headers, sse_payloads(&resp.text().await.unwrap()))
}

fn content_of(payloads: &[String]) -> String {
    payloads
        .iter()
        .filter(|p| *p != "[DONE]")
        .filter_map(|p| serde_json::from_str::<Value>(p).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn a_whole_completion_has_the_openai_shape_usage_and_hearth_headers_and_repeats_from_cache() {
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let (status, headers, v) = s
        .post(
            "/v1/chat/completions",
            Some(&key),
            &body("refund twice", false),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "mock-fast/fast-extract-v1");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert!(!v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .is_empty());
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let u = &v["usage"];
    assert_eq!(
        u["total_tokens"].as_u64(),
        Some(u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap())
    );
    assert_eq!(headers["x-hearth-provider"], "mock-fast");
    assert_eq!(headers["x-hearth-cache"], "miss");
    assert!(
        headers["x-hearth-cost-usd"]
            .to_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            > 0.0
    );
    assert_eq!(
        v["id"],
        format!(
            "chatcmpl-{}",
            headers["x-hearth-trace-id"].to_str().unwrap()
        )
    );

    let (_, again, v2) = s
        .post(
            "/v1/chat/completions",
            Some(&key),
            &body("refund twice", false),
        )
        .await;
    assert_eq!(again["x-hearth-cache"], "hit");
    assert_eq!(
        v2["choices"][0]["message"]["content"],
        v["choices"][0]["message"]["content"]
    );
}

#[tokio::test]
async fn sampling_requests_are_not_cached_unless_the_caller_opts_in() {
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let mut warm = body("sampled", false);
    warm["temperature"] = json!(0.7);
    s.post("/v1/chat/completions", Some(&key), &warm).await;
    let (_, h, _) = s.post("/v1/chat/completions", Some(&key), &warm).await;
    assert_eq!(h["x-hearth-cache"], "miss");
    let opt_in = |b: &Value| {
        s.http
            .post(s.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .header("x-hearth-cache", "use")
            .json(b)
            .send()
    };
    opt_in(&warm).await.unwrap();
    let r = opt_in(&warm).await.unwrap();
    assert_eq!(r.headers()["x-hearth-cache"], "hit");
}

#[tokio::test]
async fn a_stream_is_framed_exactly_and_matches_the_whole_answer_with_usage_in_the_last_chunk() {
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let (_, _, whole) = s
        .post(
            "/v1/chat/completions",
            Some(&key),
            &body("stream me", false),
        )
        .await;
    let mut req = body("stream me", true);
    req["stream_options"] = json!({"include_usage": true});
    // Bypass the cache so the provider really streams.
    let resp = s
        .http
        .post(s.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .header("x-hearth-cache", "bypass")
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-hearth-provider"], "mock-fast");
    let payloads = sse_payloads(&resp.text().await.unwrap());
    assert_eq!(payloads.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = payloads[..payloads.len() - 1]
        .iter()
        .map(|p| serde_json::from_str(p).unwrap())
        .collect();
    assert!(chunks.len() > 3, "streamed in pieces: {payloads:?}");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], chunks[0]["id"]);
    }
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"], whole["usage"]);
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert!(chunks[..chunks.len() - 1]
        .iter()
        .all(|c| c["usage"].is_null()));
    assert_eq!(
        content_of(&payloads),
        whole["choices"][0]["message"]["content"].as_str().unwrap()
    );
}

#[tokio::test]
async fn a_stream_whose_provider_fails_before_the_first_token_falls_back_cleanly() {
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    s.post(
        "/debug/provider/mock-fast/fail",
        None,
        &json!({"fail": true}),
    )
    .await;
    let (headers, payloads) = stream_text(&s, &key, &body("fallback stream", true)).await;
    assert_eq!(headers["x-hearth-provider"], "mock-balanced");
    assert_eq!(payloads.last().unwrap(), "[DONE]");
    assert!(
        !payloads.iter().any(|p| p.contains("\"error\"")),
        "{payloads:?}"
    );
    assert!(!content_of(&payloads).is_empty());
    let last: Value = serde_json::from_str(&payloads[payloads.len() - 2]).unwrap();
    assert_eq!(last["hearth"]["fallback_used"], true);
    assert!(last["hearth"]["retry_count"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn a_stream_that_breaks_after_content_ends_with_an_error_event_never_a_clean_end() {
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    s.post(
        "/debug/provider/mock-fast/fail",
        None,
        &json!({"mode": "break_mid_stream"}),
    )
    .await;
    let (_, payloads) = stream_text(&s, &key, &body("break me", true)).await;
    assert_eq!(payloads.last().unwrap(), "[DONE]");
    let err: Value = serde_json::from_str(&payloads[payloads.len() - 2]).unwrap();
    assert_eq!(
        err["error"]["code"], "providers_unavailable",
        "{payloads:?}"
    );
    assert!(
        !content_of(&payloads).is_empty(),
        "content was sent before the break"
    );
    assert!(!payloads
        .iter()
        .any(|p| p.contains("\"finish_reason\":\"stop\"")));
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let (_, audit) = s.get_json("/audit?limit=1", Some(&admin)).await;
    assert_eq!(audit["events"][0]["status"], "error");
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_the_call_and_leaves_a_cancelled_event() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("slow.toml");
    let policy =
        include_str!("../src/config/demo.toml").replace("latency_ms = 40", "latency_ms = 3000");
    std::fs::write(&cfg, policy).unwrap();
    let data = dir.path().join("data");
    let s = Server::start_in(&data, &["--demo", "--config", cfg.to_str().unwrap()]);
    let key = create_key(&s.dir, "tenant_pro", "user");
    let resp = s
        .http
        .post(s.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&body("slow one", true))
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    let first = futures::StreamExt::next(&mut stream)
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("chat.completion.chunk"));
    drop(stream);
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    assert_eq!(
        newest_audit_status_settles_to(&s, &admin, "cancelled").await,
        "cancelled"
    );
}

#[tokio::test]
async fn models_lists_what_the_workspace_may_call_and_keys_are_required() {
    let s = Server::demo();
    let free = create_key(&s.dir, "tenant_free", "user");
    let (status, v) = s.get_json("/v1/models", Some(&free)).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"mock-fast/fast-extract-v1") && ids.contains(&"hearth/extract"),
        "{ids:?}"
    );
    assert!(!ids.contains(&"mock-strong/strong-reason-v1"), "{ids:?}");
    let (status, v) = s.get_json("/v1/models", None).await;
    assert_eq!(status, 401);
    assert_eq!(v["error"]["code"], "unauthorized");
    let (status, _, v) = s
        .post("/v1/chat/completions", Some("hk_wrong"), &body("x", false))
        .await;
    assert_eq!(status, 401);
    assert_eq!(v["error"]["type"], "authentication_error");
}

#[tokio::test]
async fn a_concrete_model_the_tier_allows_is_served_and_one_it_does_not_is_forbidden() {
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_free", "user");
    let mut req = body("direct", false);
    req["model"] = json!("mock-fast/fast-extract-v1");
    let (status, _, v) = s.post("/v1/chat/completions", Some(&key), &req).await;
    assert_eq!(status, 200, "{v}");
    req["model"] = json!("mock-strong/strong-reason-v1");
    let (status, _, v) = s.post("/v1/chat/completions", Some(&key), &req).await;
    assert_eq!(status, 403);
    assert_eq!(v["error"]["code"], "model_not_allowed");
}

#[tokio::test]
async fn a_repeated_stream_is_served_from_the_cache_with_the_same_content() {
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let (first_headers, first) = stream_text(&s, &key, &body("stream twice", true)).await;
    let (again_headers, again) = stream_text(&s, &key, &body("stream twice", true)).await;
    assert_eq!(first_headers["x-hearth-cache"], "miss");
    assert_eq!(again_headers["x-hearth-cache"], "hit");
    assert_eq!(content_of(&again), content_of(&first));
    assert_eq!(again.last().unwrap(), "[DONE]");
}

#[tokio::test]
async fn prompt_and_task_can_travel_in_headers_and_bad_sampling_values_are_refused() {
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let mut req = body("charged twice", false);
    req["model"] = json!("mock-fast/fast-extract-v1");
    let resp = s
        .http
        .post(s.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .header("x-hearth-prompt-id", "support_triage")
        .header("x-hearth-prompt-version", "v1")
        .header("x-hearth-task", "extract")
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["hearth"]["prompt_id"], "support_triage");
    assert_eq!(v["hearth"]["prompt_version"], "v1");
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let (_, audit) = s.get_json("/audit?limit=1", Some(&admin)).await;
    assert_eq!(audit["events"][0]["task"], "extract");
    assert_eq!(audit["events"][0]["schema_version"], "ticket_triage.v1");

    for (field, value) in [
        ("temperature", json!(2.5)),
        ("top_p", json!(0.0)),
        ("top_p", json!(1.5)),
        ("top_k", json!(0)),
        ("min_p", json!(1.01)),
    ] {
        let mut bad = body("x", false);
        bad[field] = value;
        let (status, _, v) = s.post("/v1/chat/completions", Some(&key), &bad).await;
        assert_eq!(status, 400, "{field}: {v}");
        assert_eq!(v["error"]["code"], "invalid_request");
    }
}

#[tokio::test]
async fn top_k_and_min_p_are_accepted_as_vllm_and_llama_cpp_take_them_and_checked_with_trace_ids() {
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let mut ok = body("sample narrowly", false);
    ok["temperature"] = json!(0.7);
    ok["top_k"] = json!(40);
    ok["min_p"] = json!(0.05);
    let (status, h, v) = s.post("/v1/chat/completions", Some(&key), &ok).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(h["x-hearth-trace-id"].len(), 32);
    assert!(v["choices"][0]["message"]["content"].is_string(), "{v}");
    for edge in [json!({"top_k": 1, "min_p": 0.0}), json!({"min_p": 1.0})] {
        let mut b = body("edges", false);
        for (k, val) in edge.as_object().unwrap() {
            b[k] = val.clone();
        }
        let (status, _, v) = s.post("/v1/chat/completions", Some(&key), &b).await;
        assert_eq!(status, 200, "{edge}: {v}");
    }

    for (field, value) in [
        ("top_k", json!(0)),
        ("min_p", json!(-0.5)),
        ("top_k", json!("ten")),
    ] {
        let mut bad = body("x", false);
        bad[field] = value;
        let (status, h, v) = s.post("/v1/chat/completions", Some(&key), &bad).await;
        assert_eq!(status, 400, "{field}: {v}");
        assert_eq!(v["error"]["code"], "invalid_request");
        assert_eq!(
            v["error"]["trace_id"],
            h["x-hearth-trace-id"].to_str().unwrap()
        );
    }
}

#[tokio::test]
async fn a_slow_drill_lets_a_stream_be_stopped_midway_and_the_call_is_cancelled() {
    let s = Server::demo();
    let (status, _, v) = s
        .post(
            "/debug/provider/mock-fast/fail",
            None,
            &json!({"mode": "slow", "delay_ms": 400}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let key = create_key(&s.dir, "tenant_pro", "user");
    let mut req = body("stop me midway", true);
    req["model"] = json!("mock-fast/fast-extract-v1");
    let resp = s
        .http
        .post(s.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .header("x-hearth-cache", "bypass")
        .json(&req)
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    let mut seen = String::new();
    // The opening chunk carries an empty content; wait for the first real piece of text.
    while seen.matches("\"content\":").count() < 2 {
        let chunk = futures::StreamExt::next(&mut stream)
            .await
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!seen.contains("[DONE]"), "stopped before the end: {seen}");
    drop(stream);
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    assert_eq!(
        newest_audit_status_settles_to(&s, &admin, "cancelled").await,
        "cancelled"
    );
    // What was generated before the stop is recorded and charged.
    let (_, audit) = s.get_json("/audit?limit=1", Some(&admin)).await;
    let e = &audit["events"][0];
    assert_eq!(e["model"], "mock-fast/fast-extract-v1", "{e}");
    assert_eq!(e["provider"], "mock-fast", "{e}");
    assert_eq!(e["error_code"], "client_cancelled", "{e}");
    let out = e["output_tokens"].as_u64().unwrap();
    assert!(
        (1..24).contains(&out),
        "the words generated, not the whole answer: {e}"
    );
    assert!(e["input_tokens"].as_u64().unwrap() > 0, "{e}");
    let cost = e["estimated_cost_usd"].as_f64().unwrap();
    assert!(cost > 0.0, "{e}");
    let (_, usage) = s.get_json("/admin/usage", Some(&admin)).await;
    let charged: f64 = usage["usage"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["workspace_id"] == "tenant_pro")
        .map(|r| r["cost_usd"].as_f64().unwrap())
        .sum();
    assert!(
        (charged - cost).abs() < 1e-12,
        "charged {charged}, audited {cost}: {usage}"
    );
}

/// The status of the newest audit event once it reads `wanted`, or its last value after 5 s
/// (the event of a cancelled call is written when the server notices the client left).
async fn newest_audit_status_settles_to(s: &Server, admin: &str, wanted: &str) -> Value {
    let mut status = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let (_, audit) = s.get_json("/audit?limit=1", Some(admin)).await;
        status = audit["events"][0]["status"].clone();
        if status == wanted {
            break;
        }
    }
    status
}
