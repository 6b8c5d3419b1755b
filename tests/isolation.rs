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
