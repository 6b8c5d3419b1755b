//! What the web UI relies on: `/session`, the per-launch token of the open demo, admins acting
//! in another workspace, threads and comparisons kept per owner, the page fallback, and the
//! guard that refuses foreign hosts and origins.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{create_key, Server};
use serde_json::{json, Value};

async fn send(
    s: &Server,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = s.http.request(method, s.url(path)).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn demo_token(s: &Server) -> String {
    let (status, v) = s.get_json("/session", None).await;
    assert_eq!(status, 200, "{v}");
    v["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_open_demo_hands_the_ui_a_token_that_acts_as_admin_in_any_workspace() {
    let s = Server::demo();
    let (_, v) = s.get_json("/session", None).await;
    assert_eq!(v["demo"], true);
    assert_eq!(v["role"], "admin");
    assert!(v["workspaces"].as_array().unwrap().len() >= 4, "{v}");
    let token = v["token"].as_str().unwrap();

    let resp = s
        .http
        .get(s.url("/session"))
        .bearer_auth(token)
        .header("x-hearth-workspace", "tenant_free")
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        (v["workspace"].as_str(), v["tier"].as_str()),
        (Some("tenant_free"), Some("free"))
    );
    assert!(
        v.get("token").is_none(),
        "a keyed session is not handed a token"
    );
}

#[tokio::test]
async fn outside_the_demo_the_session_needs_a_key_and_a_user_key_stays_in_its_workspace() {
    let s = Server::demo();
    let user = create_key(&s.dir, "tenant_pro", "user");
    let (status, v) = s.get_json("/session", Some(&user)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["workspace"].as_str(), v["role"].as_str()),
        (Some("tenant_pro"), Some("user"))
    );
    assert!(v.get("workspaces").is_none(), "only admins see the list");

    let resp = s
        .http
        .get(s.url("/session"))
        .bearer_auth(&user)
        .header("x-hearth-workspace", "tenant_enterprise")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);

    let (status, _) = s.get_json("/session", Some("hk_not_a_key")).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn threads_keep_messages_are_searchable_and_belong_to_their_owner_only() {
    let s = Server::demo();
    let token = demo_token(&s).await;
    let other = create_key(&s.dir, "default", "user");
    let post = reqwest::Method::POST;

    let (status, t) = send(
        &s,
        post.clone(),
        "/threads",
        &token,
        Some(json!({"title": "Chuyến đi Đà Lạt"})),
    )
    .await;
    assert_eq!(status, 201, "{t}");
    let id = t["id"].as_str().unwrap().to_owned();
    let path = format!("/threads/{id}/messages");
    let (status, _) = send(
        &s,
        post.clone(),
        &path,
        &token,
        Some(json!({"role": "user", "content": "Thời tiết 100% nắng?"})),
    )
    .await;
    assert_eq!(status, 201);
    let meta = json!({"provider": "mock-fast", "cost_usd": 0.00002, "cache_hit": false});
    let (status, _) = send(
        &s,
        post.clone(),
        &path,
        &token,
        Some(json!({"role": "assistant", "content": "Nắng đẹp.", "meta": meta})),
    )
    .await;
    assert_eq!(status, 201);

    let (_, v) = send(&s, reqwest::Method::GET, &path, &token, None).await;
    let msgs = v["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[1]["meta"]["provider"], "mock-fast");

    let (_, v) = send(&s, reqwest::Method::GET, "/threads?q=100%25", &token, None).await;
    assert_eq!(
        v["threads"].as_array().unwrap().len(),
        1,
        "found by message text, % taken literally"
    );
    let (_, v) = send(&s, reqwest::Method::GET, "/threads?q=Paris", &token, None).await;
    assert!(v["threads"].as_array().unwrap().is_empty());

    // Another user of the same workspace sees none of it and cannot touch it.
    let (_, v) = send(&s, reqwest::Method::GET, "/threads", &other, None).await;
    assert!(v["threads"].as_array().unwrap().is_empty(), "{v}");
    let (status, _) = send(&s, reqwest::Method::GET, &path, &other, None).await;
    assert_eq!(status, 404);
    let (status, _) = send(
        &s,
        reqwest::Method::DELETE,
        &format!("/threads/{id}"),
        &other,
        None,
    )
    .await;
    assert_eq!(status, 404);

    let (status, v) = send(
        &s,
        reqwest::Method::PATCH,
        &format!("/threads/{id}"),
        &token,
        Some(json!({"title": "Đà Lạt"})),
    )
    .await;
    assert_eq!((status, v["title"].as_str()), (200, Some("Đà Lạt")));
    let (status, _) = send(
        &s,
        post.clone(),
        &path,
        &token,
        Some(json!({"role": "system", "content": "x"})),
    )
    .await;
    assert_eq!(status, 400, "only user and assistant messages are kept");
    let (status, _) = send(
        &s,
        reqwest::Method::DELETE,
        &format!("/threads/{id}"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = send(&s, reqwest::Method::GET, &path, &token, None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn comparisons_are_saved_listed_and_deleted() {
    let s = Server::demo();
    let token = demo_token(&s).await;
    let body = json!({"prompt": "Say hi", "models": ["mock-fast/fast-extract-v1", "mock-strong/strong-reason-v1"],
                      "results": [{"model": "mock-fast/fast-extract-v1", "ttft_ms": 3.0}]});
    let (status, v) = send(
        &s,
        reqwest::Method::POST,
        "/comparisons",
        &token,
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(v["title"], "Say hi");
    let (_, v) = send(&s, reqwest::Method::GET, "/comparisons", &token, None).await;
    assert_eq!(
        v["comparisons"][0]["models"][1],
        "mock-strong/strong-reason-v1"
    );
    let five = json!({"prompt": "x", "models": ["a", "b", "c", "d", "e"]});
    let (status, _) = send(
        &s,
        reqwest::Method::POST,
        "/comparisons",
        &token,
        Some(five),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = send(
        &s,
        reqwest::Method::DELETE,
        &format!("/comparisons/{id}"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn a_browser_gets_the_ui_page_and_an_api_client_a_json_404() {
    let s = Server::demo();
    let page = s
        .http
        .get(s.url("/chat/some-thread"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .to_lowercase()
        .contains("<!doctype html"));
    let (status, v) = s.get_json("/no/such/endpoint", None).await;
    assert_eq!(status, 404);
    assert_eq!(v["error"]["code"], "not_found");
}

#[tokio::test]
async fn a_foreign_origin_or_host_is_refused_so_web_pages_cannot_drive_the_local_api() {
    let s = Server::demo();
    let evil = s
        .http
        .get(s.url("/session"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), 403);
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    let v: Value = evil.json().await.unwrap();
    assert_eq!(v["error"]["code"], "forbidden_origin");

    let rebound = s
        .http
        .get(s.url("/health"))
        .header("host", "attacker.example:80")
        .send()
        .await
        .unwrap();
    assert_eq!(
        rebound.status(),
        403,
        "DNS rebinding: a foreign Host header"
    );

    let own = s.base.clone();
    let same = s
        .http
        .get(s.url("/session"))
        .header("origin", own.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 200, "the UI's own origin is fine");
}

/// The `data:` payloads of an SSE body, `[DONE]` left out.
fn sse_json(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[tokio::test]
async fn the_server_saves_a_streamed_answer_to_its_thread_so_a_crash_after_the_stream_loses_nothing(
) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &["--demo"]);
    let alice = create_key(&s.dir, "tenant_pro", "user");
    let (status, t) = send(
        &s,
        reqwest::Method::POST,
        "/threads",
        &alice,
        Some(json!({"title": "kept"})),
    )
    .await;
    assert_eq!(status, 201, "{t}");
    let thread = t["id"].as_str().unwrap().to_owned();
    let path = format!("/threads/{thread}/messages");
    let question = json!({"role": "user", "content": "Where is my refund?"});
    assert_eq!(
        send(&s, reqwest::Method::POST, &path, &alice, Some(question))
            .await
            .0,
        201
    );

    let ask = json!({"model": "hearth/chat", "stream": true, "max_tokens": 32,
                     "messages": [{"role": "user", "content": "Where is my refund?"}]});
    let resp = s
        .http
        .post(s.url("/v1/chat/completions"))
        .bearer_auth(&alice)
        .header("x-hearth-thread-id", &thread)
        .json(&ask)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let events = sse_json(&resp.text().await.unwrap());
    let streamed: String = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    let last = events
        .iter()
        .rev()
        .find(|e| e["hearth"].is_object())
        .unwrap();
    let saved_id = last["hearth"]["thread_message_id"].clone();
    assert!(
        saved_id.is_i64(),
        "the final chunk names the saved message: {last}"
    );

    // As if the server died right after the stream, before any page could save anything.
    s.kill();
    let s = Server::start_in(dir.path(), &["--demo"]);
    let (status, v) = send(&s, reqwest::Method::GET, &path, &alice, None).await;
    assert_eq!(status, 200, "{v}");
    let messages = v["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{v}");
    let answer = &messages[1];
    assert_eq!(answer["id"], saved_id);
    assert_eq!(answer["role"], "assistant");
    assert_eq!(answer["content"], streamed.as_str());
    assert_eq!(answer["meta"]["trace_id"], last["hearth"]["trace_id"]);
    assert_eq!(answer["meta"]["requested_model"], "hearth/chat");
    assert!(
        answer["meta"]["output_tokens"].as_u64().unwrap() > 0,
        "{answer}"
    );

    // Someone else's thread is refused before any model runs.
    let bob = common::cli_ok(
        &s.dir,
        &[
            "keys",
            "create",
            "--workspace",
            "tenant_pro",
            "--user",
            "bob",
        ],
    )
    .trim()
    .to_owned();
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let (_, before) = s.get_json("/audit?limit=500", Some(&admin)).await;
    let resp = s
        .http
        .post(s.url("/v1/chat/completions"))
        .bearer_auth(&bob)
        .header("x-hearth-thread-id", &thread)
        .json(&ask)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let (_, after) = s.get_json("/audit?limit=500", Some(&admin)).await;
    assert_eq!(
        before["events"].as_array().unwrap().len(),
        after["events"].as_array().unwrap().len(),
        "no model call for a thread that is not the caller's"
    );
}
