//! Workspace isolation over real HTTP: every key sees its own workspace's cache, audit
//! events, prompts, usage and models, and nothing else; keys are required outside the
//! open demo.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{create_key, Server};
use reqwest::Method;
use serde_json::{json, Value};

/// Sends a JSON request with a method of choice and returns status and JSON body.
async fn send(
    s: &Server,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = s.http.request(method, s.url(path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// `POST /admin/keys` for a named user and role; returns the key.
async fn key_for(s: &Server, admin: &str, workspace: &str, user: &str, role: &str) -> String {
    let body = json!({"workspace": workspace, "role": role, "user": user});
    let (status, v) = send(s, Method::POST, "/admin/keys", Some(admin), Some(&body)).await;
    assert_eq!(status, 201, "{v}");
    v["key"].as_str().unwrap().to_owned()
}

fn extract(message: &str) -> Value {
    json!({"task": "extract", "message": message, "prompt_id": "support_triage", "prompt_version": "v1", "max_output_tokens": 64})
}

/// Checks the error shape and returns the code.
fn error_code(status: u16, headers: &reqwest::header::HeaderMap, body: &Value) -> String {
    assert!(status >= 400, "{status} {body}");
    assert_eq!(
        body["error"]["trace_id"],
        headers["x-hearth-trace-id"].to_str().unwrap(),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body["error"]["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_cache_is_shared_by_keys_of_one_workspace_and_role_but_never_across_workspaces() {
    let s = Server::demo();
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let (status, v) = send(
        &s,
        Method::POST,
        "/admin/workspaces",
        Some(&admin),
        Some(&json!({"id": "pro_two", "tier": "pro"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let alice = key_for(&s, &admin, "tenant_pro", "alice", "user").await;
    let bob = key_for(&s, &admin, "tenant_pro", "bob", "user").await;
    let other = key_for(&s, &admin, "pro_two", "alice", "user").await;
    let req = extract("Khách bị tính phí hai lần sau khi nâng cấp gói.");

    let (status, _, first) = s.post("/chat", Some(&alice), &req).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["cache_hit"], false);
    let (_, _, same_ws) = s.post("/chat", Some(&bob), &req).await;
    assert_eq!(
        same_ws["cache_hit"], true,
        "another user of the same workspace and role shares the cache: {same_ws}"
    );
    assert_eq!(same_ws["answer"], first["answer"]);

    let (status, _, other_ws) = s.post("/chat", Some(&other), &req).await;
    assert_eq!(status, 200, "{other_ws}");
    assert_eq!(
        other_ws["cache_hit"], false,
        "a workspace of the same tier must not read another's cache"
    );
    let (_, _, other_again) = s.post("/chat", Some(&other), &req).await;
    assert_eq!(
        other_again["cache_hit"], true,
        "and has its own entry afterwards"
    );

    let (_, _, as_admin) = s.post("/chat", Some(&admin), &req).await;
    assert_eq!(
        as_admin["cache_hit"], false,
        "a different role is a different permission context"
    );
}

#[tokio::test]
async fn a_user_key_reads_only_its_own_workspaces_audit_events() {
    let s = Server::demo();
    let pro = create_key(&s.dir, "tenant_pro", "user");
    let ent = create_key(&s.dir, "tenant_enterprise", "user");
    for i in 0..3 {
        let (status, _, b) = s
            .post("/chat", Some(&pro), &extract(&format!("pro ticket {i}")))
            .await;
        assert_eq!(status, 200, "{b}");
    }
    for i in 0..2 {
        let (status, _, b) = s
            .post(
                "/chat",
                Some(&ent),
                &extract(&format!("enterprise ticket {i}")),
            )
            .await;
        assert_eq!(status, 200, "{b}");
    }

    let (status, v) = s.get_json("/audit", Some(&pro)).await;
    assert_eq!(status, 200, "{v}");
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{v}");
    assert!(events.iter().all(|e| e["tenant_id"] == "tenant_pro"), "{v}");

    let (status, v) = s.get_json("/audit", Some(&ent)).await;
    assert_eq!(status, 200);
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{v}");
    assert!(
        events.iter().all(|e| e["tenant_id"] == "tenant_enterprise"),
        "{v}"
    );

    let (status, v) = s.get_json("/audit?tenant_id=tenant_pro", Some(&pro)).await;
    assert_eq!(status, 200, "naming its own workspace is fine: {v}");
    assert_eq!(v["events"].as_array().unwrap().len(), 3);

    let resp = s
        .http
        .get(s.url("/audit?tenant_id=tenant_enterprise"))
        .bearer_auth(&pro)
        .send()
        .await
        .unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 403, "{body}");
    assert_eq!(error_code(status, &headers, &body), "forbidden");
    assert!(!body.to_string().contains("enterprise ticket"));
}

#[tokio::test]
async fn a_workspace_prompt_serves_its_workspace_and_is_unknown_to_others() {
    let s = Server::demo();
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let prompt = json!({
        "prompt_id": "pro_private", "version": "v1", "template": "You answer for {{ team }} only.",
        "variables": ["team"], "owner": "pro-team", "status": "stable", "workspace": "tenant_pro"
    });
    let (status, v) = send(
        &s,
        Method::POST,
        "/admin/prompts",
        Some(&admin),
        Some(&prompt),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["scope"], "tenant_pro");

    let req = json!({"task": "chat", "message": "hello", "prompt_id": "pro_private", "variables": {"team": "billing"}});
    let pro = create_key(&s.dir, "tenant_pro", "user");
    let (status, _, v) = s.post("/chat", Some(&pro), &req).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["prompt_id"], "pro_private");
    assert_eq!(v["prompt_version"], "v1");

    for ws in ["tenant_enterprise", "tenant_free"] {
        let key = create_key(&s.dir, ws, "user");
        let (status, headers, v) = s.post("/chat", Some(&key), &req).await;
        assert_eq!(status, 400, "{ws}: {v}");
        assert_eq!(error_code(status, &headers, &v), "unknown_prompt", "{ws}");
        let mut versioned = req.clone();
        versioned["prompt_version"] = json!("v1");
        let (status, _, v) = s.post("/chat", Some(&key), &versioned).await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (400, Some("unknown_prompt")),
            "{ws}: {v}"
        );
    }

    // The admin listing scoped to another workspace does not show it either.
    let (status, v) = s
        .get_json("/admin/prompts?workspace=tenant_enterprise", Some(&admin))
        .await;
    assert_eq!(status, 200);
    assert!(
        v["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["prompt_id"] != "pro_private"),
        "{v}"
    );
}

#[tokio::test]
async fn the_usage_report_of_a_workspace_has_only_its_rows() {
    let s = Server::demo();
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let pro = create_key(&s.dir, "tenant_pro", "user");
    let ent = create_key(&s.dir, "tenant_enterprise", "user");
    for i in 0..3 {
        s.post("/chat", Some(&pro), &extract(&format!("usage pro {i}")))
            .await;
    }
    s.post("/chat", Some(&ent), &extract("usage enterprise"))
        .await;
    s.post(
        "/chat",
        Some(&ent),
        &json!({"task": "reasoning", "message": "think"}),
    )
    .await;

    let (status, v) = s
        .get_json("/admin/usage?workspace=tenant_pro", Some(&admin))
        .await;
    assert_eq!(status, 200, "{v}");
    let rows = v["usage"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert!(
        rows.iter().all(|r| r["workspace_id"] == "tenant_pro"),
        "{v}"
    );
    assert_eq!(
        rows.iter()
            .map(|r| r["requests"].as_u64().unwrap())
            .sum::<u64>(),
        3,
        "{v}"
    );

    let (_, v) = s
        .get_json("/admin/usage?workspace=tenant_enterprise", Some(&admin))
        .await;
    let rows = v["usage"].as_array().unwrap();
    assert!(
        rows.iter()
            .all(|r| r["workspace_id"] == "tenant_enterprise"),
        "{v}"
    );
    assert_eq!(
        rows.iter()
            .map(|r| r["requests"].as_u64().unwrap())
            .sum::<u64>(),
        2,
        "{v}"
    );

    let (_, v) = s.get_json("/admin/usage", Some(&admin)).await;
    let all = v["usage"].as_array().unwrap();
    assert_eq!(
        all.iter()
            .map(|r| r["requests"].as_u64().unwrap())
            .sum::<u64>(),
        5,
        "{v}"
    );

    let (status, _) = s
        .get_json("/admin/usage?workspace=tenant_pro", Some(&pro))
        .await;
    assert_eq!(status, 403, "a user key cannot read usage");
}

#[tokio::test]
async fn models_lists_only_what_the_tier_allows() {
    let s = Server::demo();
    let concrete = |v: &Value| -> Vec<String> {
        let mut ids: Vec<String> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .filter(|id| !id.starts_with("hearth/"))
            .collect();
        ids.sort();
        ids
    };
    let cases = [
        ("tenant_free", vec!["mock-fast/fast-extract-v1"]),
        (
            "tenant_pro",
            vec![
                "mock-balanced/fallback-balanced-v1",
                "mock-fast/fast-extract-v1",
            ],
        ),
        (
            "tenant_enterprise",
            vec![
                "mock-balanced/fallback-balanced-v1",
                "mock-fast/fast-extract-v1",
                "mock-strong/strong-reason-v1",
            ],
        ),
    ];
    for (ws, expected) in cases {
        let key = create_key(&s.dir, ws, "user");
        let (status, v) = s.get_json("/v1/models", Some(&key)).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["object"], "list");
        assert_eq!(concrete(&v), expected, "{ws}: {v}");
        let ids: Vec<&str> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&"hearth/extract"), "{ws}: {v}");
    }

    // What is not listed is not callable.
    let free = create_key(&s.dir, "tenant_free", "user");
    let body = json!({"model": "mock-strong/strong-reason-v1", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16});
    let (status, _, v) = s.post("/v1/chat/completions", Some(&free), &body).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["code"], "model_not_allowed");
}

#[tokio::test]
async fn a_tenant_id_that_disagrees_with_the_key_is_forbidden() {
    let s = Server::demo();
    let pro = create_key(&s.dir, "tenant_pro", "user");
    let mut req = extract("whose request is this");
    req["tenant_id"] = json!("tenant_enterprise");
    let (status, headers, v) = s.post("/chat", Some(&pro), &req).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(error_code(status, &headers, &v), "forbidden");

    req["tenant_id"] = json!("tenant_pro");
    let (status, _, v) = s.post("/chat", Some(&pro), &req).await;
    assert_eq!(status, 200, "the key's own workspace is fine: {v}");

    // An unknown key does not fall back to the open demo's tenant_id.
    req["tenant_id"] = json!("tenant_pro");
    let (status, headers, v) = s.post("/chat", Some("hk_not_a_real_key"), &req).await;
    assert_eq!(status, 401, "{v}");
    assert_eq!(error_code(status, &headers, &v), "unauthorized");

    // Nothing was charged to the enterprise workspace.
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let (_, v) = s
        .get_json("/admin/usage?workspace=tenant_enterprise", Some(&admin))
        .await;
    assert_eq!(v["usage"], json!([]), "{v}");
}

#[tokio::test]
async fn without_the_demo_every_endpoint_but_health_needs_a_known_key() {
    let s = Server::start(&[]);
    let (status, _) = s.get("/health", None).await;
    assert_eq!(status, 200);

    let chat = json!({"tenant_id": "default", "task": "chat", "message": "hello"});
    let completion =
        json!({"model": "hearth/chat", "messages": [{"role": "user", "content": "hello"}]});
    for key in [None, Some("hk_unknown"), Some("")] {
        let calls: Vec<(Method, &str, Option<&Value>)> = vec![
            (Method::POST, "/chat", Some(&chat)),
            (Method::POST, "/v1/chat/completions", Some(&completion)),
            (Method::GET, "/v1/models", None),
            (Method::GET, "/audit", None),
            (Method::GET, "/metrics", None),
            (Method::GET, "/admin/workspaces", None),
        ];
        for (method, path, body) in calls {
            let mut req = s.http.request(method.clone(), s.url(path));
            if let Some(k) = key {
                req = req.header("authorization", format!("Bearer {k}"));
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await.unwrap();
            let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
            let text = resp.text().await.unwrap();
            assert_eq!(status, 401, "{method} {path} with {key:?}: {text}");
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                error_code(status, &headers, &v),
                "unauthorized",
                "{method} {path}"
            );
        }
    }

    // The debug endpoints do not exist without the demo.
    let (status, _, _) = s
        .post(
            "/debug/provider/mock-fast/fail",
            None,
            &json!({"fail": true}),
        )
        .await;
    assert_eq!(status, 404);

    // A real key works; a user key is not an admin key; a revoked key is unknown.
    let user = create_key(&s.dir, "default", "user");
    let (status, _, v) = s
        .post(
            "/chat",
            Some(&user),
            &json!({"task": "chat", "message": "hello"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = s.get_json("/admin/workspaces", Some(&user)).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{v}"
    );
    let (status, _) = s.get("/metrics", Some(&user)).await;
    assert_eq!(status, 403, "metrics are admin-only outside the demo");

    let admin = create_key(&s.dir, "default", "admin");
    let (status, v) = s
        .get_json("/admin/keys?workspace=default", Some(&admin))
        .await;
    assert_eq!(status, 200, "{v}");
    let id = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "user")
        .and_then(|k| k["id"].as_str())
        .unwrap()
        .to_owned();
    let (status, v) = send(
        &s,
        Method::DELETE,
        &format!("/admin/keys/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (status, _, v) = s
        .post(
            "/chat",
            Some(&user),
            &json!({"task": "chat", "message": "hello again"}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (401, Some("unauthorized")),
        "a revoked key: {v}"
    );
}

#[tokio::test]
async fn a_key_revoked_or_a_limit_set_from_the_command_line_applies_to_a_running_server_at_once() {
    let s = Server::start(&[]);
    let user = create_key(&s.dir, "default", "user");
    let chat = |message: &'static str| {
        let (s, user) = (&s, user.clone());
        async move {
            let (status, _, v) = s
                .post(
                    "/chat",
                    Some(&user),
                    &json!({"task": "chat", "message": message}),
                )
                .await;
            (status, v["error"]["code"].as_str().map(str::to_owned))
        }
    };
    // Twice, so the server has the key and the workspace in memory before they change.
    assert_eq!(chat("one").await, (200, None));
    assert_eq!(chat("two").await, (200, None));

    common::cli_ok(&s.dir, &["workspaces", "set", "default", "--rpm", "1"]);
    assert_eq!(chat("three").await, (200, None));
    assert_eq!(
        chat("four").await,
        (429, Some("rate_limited_workspace".into())),
        "the rpm set by another process must apply to the very next requests"
    );
    common::cli_ok(&s.dir, &["workspaces", "set", "default", "--unset", "rpm"]);
    assert_eq!(chat("five").await, (200, None));

    let listed = common::cli_ok(&s.dir, &["keys", "list", "--workspace", "default"]);
    let id = listed
        .lines()
        .find(|l| l.split_whitespace().nth(3) == Some("user"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no user key in {listed}"))
        .to_owned();
    common::cli_ok(&s.dir, &["keys", "revoke", &id]);
    assert_eq!(
        chat("six").await,
        (401, Some("unauthorized".into())),
        "a key revoked by another process must be refused on the very next request"
    );
}

/// One caller of the random traffic: a workspace, a user, and the key that is both.
struct Actor {
    ws: &'static str,
    user: String,
    key: String,
}

/// What the traffic left, by workspace, to check against what the server shows.
#[derive(Default)]
struct Seen {
    /// Trace ids of requests each workspace sent.
    traces: std::collections::HashMap<String, &'static str>,
    /// (workspace, message) pairs asked: a cache hit for a pair never asked is a leak.
    asked: std::collections::HashSet<(&'static str, String)>,
    /// Thread and comparison ids with the (workspace, user) that made them.
    threads: Vec<(String, &'static str, String)>,
    comparisons: Vec<(String, &'static str, String)>,
    /// USD charged to each workspace, by the answers' own figures.
    charged: std::collections::HashMap<&'static str, f64>,
}

const WORKSPACES: [&str; 4] = ["tenant_pro", "tenant_enterprise", "iso_a", "iso_b"];

/// The text only `ws` ever sends: finding it in another workspace's view is a leak.
fn secret_of(ws: &str) -> String {
    format!("secret-of-{ws}")
}

/// Fails when `text`, seen by `ws`, holds another workspace's secret.
fn assert_no_other_secret(ws: &str, text: &str, what: &str) {
    for other in WORKSPACES.iter().filter(|o| **o != ws) {
        assert!(
            !text.contains(&secret_of(other)),
            "{ws} saw {other}'s text in {what}: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_traffic_over_workspaces_users_and_keys_never_crosses_a_workspace() {
    use rand::{Rng, SeedableRng};
    const OPS: usize = 400;
    let s = Server::demo();
    let admin = create_key(&s.dir, "default", "admin");
    for ws in ["iso_a", "iso_b"] {
        let body = json!({"id": ws, "tier": "pro", "rpm": 100_000});
        assert_eq!(
            send(
                &s,
                Method::POST,
                "/admin/workspaces",
                Some(&admin),
                Some(&body)
            )
            .await
            .0,
            201
        );
    }
    let mut actors = Vec::new();
    for ws in WORKSPACES {
        for user in ["u1", "u2"] {
            let key = key_for(&s, &admin, ws, user, "user").await;
            actors.push(Actor {
                ws,
                user: user.to_owned(),
                key,
            });
        }
        // Each workspace's own prompt, whose text is its secret.
        let prompt = json!({"prompt_id": "own", "version": "v1", "owner": ws, "status": "stable",
                            "workspace": ws, "template": format!("You serve {}.", secret_of(ws))});
        assert_eq!(
            send(
                &s,
                Method::POST,
                "/admin/prompts",
                Some(&admin),
                Some(&prompt)
            )
            .await
            .0,
            201
        );
    }

    let mut rng = rand::rngs::StdRng::seed_from_u64(0x150_1A7E);
    let mut seen = Seen::default();
    for op in 0..OPS {
        let a = &actors[rng.random_range(0..actors.len())];
        match rng.random_range(0..6) {
            // A chat, sometimes with a text every workspace also sends (a cache key that must
            // not be shared), sometimes with the workspace's prompt, sometimes streamed.
            0..=2 => {
                let message = if rng.random_bool(0.5) {
                    format!("shared question {}", rng.random_range(0..5))
                } else {
                    format!("{} question {}", secret_of(a.ws), rng.random_range(0..5))
                };
                let mut req = s
                    .http
                    .post(s.url("/v1/chat/completions"))
                    .bearer_auth(&a.key);
                let mut body = json!({"model": "hearth/extract", "max_tokens": 32, "temperature": 0,
                                      "messages": [{"role": "user", "content": message}]});
                if rng.random_bool(0.3) {
                    body["metadata"] = json!({"prompt_id": "own"});
                }
                let stream = rng.random_bool(0.3);
                body["stream"] = json!(stream);
                req = req.json(&body);
                let resp = req.send().await.unwrap();
                let status = resp.status().as_u16();
                let trace = resp.headers()["x-hearth-trace-id"]
                    .to_str()
                    .unwrap()
                    .to_owned();
                let cache = resp
                    .headers()
                    .get("x-hearth-cache")
                    .map(|v| v.to_str().unwrap().to_owned());
                let text = resp.text().await.unwrap();
                assert_no_other_secret(a.ws, &text, "a chat answer");
                seen.traces.insert(trace, a.ws);
                if status == 200 {
                    let prompt = body["metadata"]["prompt_id"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned();
                    let key = (a.ws, format!("{prompt}\0{message}"));
                    if cache.as_deref() == Some("hit") {
                        assert!(
                            seen.asked.contains(&key),
                            "op {op}: a cache hit for {key:?}, never asked in {}",
                            a.ws
                        );
                    }
                    seen.asked.insert(key);
                    if !stream {
                        let v: Value = serde_json::from_str(&text).unwrap();
                        *seen.charged.entry(a.ws).or_default() +=
                            v["hearth"]["estimated_cost_usd"].as_f64().unwrap();
                    }
                }
            }
            3 => {
                let title = format!("{} thread {op}", secret_of(a.ws));
                let (status, t) = send(
                    &s,
                    Method::POST,
                    "/threads",
                    Some(&a.key),
                    Some(&json!({"title": title})),
                )
                .await;
                assert_eq!(status, 201, "{t}");
                let id = t["id"].as_str().unwrap().to_owned();
                let m = json!({"role": "user", "content": secret_of(a.ws)});
                send(
                    &s,
                    Method::POST,
                    &format!("/threads/{id}/messages"),
                    Some(&a.key),
                    Some(&m),
                )
                .await;
                seen.threads.push((id, a.ws, a.user.clone()));
            }
            4 => {
                let c = json!({"title": secret_of(a.ws), "prompt": secret_of(a.ws), "models": ["mock-fast/fast-extract-v1"], "results": []});
                let (status, v) =
                    send(&s, Method::POST, "/comparisons", Some(&a.key), Some(&c)).await;
                assert_eq!(status, 201, "{v}");
                seen.comparisons
                    .push((v["id"].as_str().unwrap().to_owned(), a.ws, a.user.clone()));
            }
            // Reads: every list, and someone else's records by id.
            _ => {
                for path in [
                    "/threads",
                    "/comparisons",
                    "/audit?limit=500",
                    "/v1/models",
                    "/session",
                ] {
                    let (_, v) = send(&s, Method::GET, path, Some(&a.key), None).await;
                    assert_no_other_secret(a.ws, &v.to_string(), path);
                }
                let (_, audit) =
                    send(&s, Method::GET, "/audit?limit=500", Some(&a.key), None).await;
                for e in audit["events"].as_array().unwrap() {
                    assert_eq!(e["tenant_id"], a.ws, "op {op}: {e}");
                }
                for (id, ws, user) in seen.threads.iter().chain(&seen.comparisons) {
                    let kind = if seen.threads.iter().any(|t| &t.0 == id) {
                        "threads"
                    } else {
                        "comparisons"
                    };
                    let (status, v) = send(
                        &s,
                        Method::GET,
                        &format!("/{kind}/{id}"),
                        Some(&a.key),
                        None,
                    )
                    .await;
                    let own = *ws == a.ws && *user == a.user;
                    assert_eq!(
                        status,
                        if own { 200 } else { 404 },
                        "op {op}: {kind} {id} of {ws}/{user} read by {}/{}: {v}",
                        a.ws,
                        a.user
                    );
                }
            }
        }
    }

    // Every audit event is in the workspace that sent its request.
    let mut cursor: Option<i64> = None;
    loop {
        let path = cursor.map_or("/audit?limit=500".to_owned(), |c| {
            format!("/audit?limit=500&cursor={c}")
        });
        let (_, v) = send(&s, Method::GET, &path, Some(&admin), None).await;
        for e in v["events"].as_array().unwrap() {
            if let Some(ws) = seen.traces.get(e["trace_id"].as_str().unwrap()) {
                assert_eq!(e["tenant_id"], *ws, "{e}");
            }
        }
        match v["next_cursor"].as_i64() {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    // Usage rows of each workspace hold at least what its whole answers were charged, and
    // no workspace that sent nothing has any.
    let (_, usage) = send(&s, Method::GET, "/admin/usage", Some(&admin), None).await;
    for ws in WORKSPACES {
        let rows: f64 = usage["usage"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["workspace_id"] == ws)
            .map(|r| r["cost_usd"].as_f64().unwrap())
            .sum();
        let charged = seen.charged.get(ws).copied().unwrap_or(0.0);
        assert!(
            rows + 1e-12 >= charged,
            "{ws}: usage {rows} below its answers' {charged}"
        );
    }
    let default_rows = usage["usage"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["workspace_id"] == "default")
        .count();
    assert_eq!(
        default_rows, 0,
        "the admin's own workspace sent nothing: {usage}"
    );
}
