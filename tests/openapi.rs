//! The OpenAPI document: served at `/openapi.json` without a key, the same as the checked-in
//! `docs/openapi.json` (from which the UI's TypeScript types are generated), and true of what
//! the server answers: every body below is validated against its documented schema, with
//! undocumented fields refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{create_key, Server};
use serde_json::{json, Value};

const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");

/// Every object schema closed to fields it does not name, so an answer that grows a field its
/// type does not declare fails here rather than reaching clients undocumented. A flattened
/// struct is an `allOf` of its parts: the whole is closed (`unevaluatedProperties` sees the
/// fields every part names), and the parts stay open.
fn closed(mut components: Value) -> Value {
    fn close(v: &mut Value, part_of_all_of: bool) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Array(parts)) = map.get_mut("allOf") {
                    parts.iter_mut().for_each(|p| close(p, true));
                    map.insert("unevaluatedProperties".into(), Value::Bool(false));
                } else if map.contains_key("properties")
                    && !part_of_all_of
                    && !map.contains_key("additionalProperties")
                {
                    map.insert("additionalProperties".into(), Value::Bool(false));
                }
                for (key, value) in map.iter_mut() {
                    if key != "allOf" {
                        close(value, false);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| close(i, false)),
            _ => {}
        }
    }
    let parts: Vec<String> = components["schemas"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|s| s["allOf"].as_array())
        .flatten()
        .filter_map(|p| p["$ref"].as_str())
        .map(|r| r.trim_start_matches("#/components/schemas/").to_owned())
        .collect();
    for (name, schema) in components["schemas"].as_object_mut().unwrap() {
        close(schema, parts.contains(name));
    }
    components
}

/// Panics with every violation when the answer `instance` is not a valid `name` of `doc`,
/// fields it does not name included.
fn assert_fits(doc: &Value, name: &str, instance: &Value) {
    let components = closed(doc["components"].clone());
    assert_valid(components, name, instance);
}

/// Panics when the request `instance` is not a valid `name` of `doc`. Requests stay open:
/// OpenAI's fields Hearth ignores (penalties, logprobs...) are accepted.
fn assert_accepts(doc: &Value, name: &str, instance: &Value) {
    assert_valid(doc["components"].clone(), name, instance);
}

fn assert_valid(components: Value, name: &str, instance: &Value) {
    let schema = json!({"$ref": format!("#/components/schemas/{name}"), "components": components});
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "not a {name}: {errors:?}\n{instance}");
}

async fn served_document(s: &Server) -> Value {
    let (status, text) = s.get("/openapi.json", None).await;
    assert_eq!(status, 200, "served without a key: {text}");
    serde_json::from_str(&text).unwrap()
}

fn sse_payloads(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|p| *p != "[DONE]")
        .map(|p| serde_json::from_str(p).unwrap())
        .collect()
}

async fn stream(s: &Server, path: &str, key: &str, body: &Value) -> Vec<Value> {
    let (status, _, text) = s.post_with(path, Some(key), &[], body).await;
    assert_eq!(status, 200, "{text}");
    sse_payloads(&text)
}

/// A demo server, its document, an admin key of `tenant_pro`, and one request answered.
async fn demo_after_one_answer() -> (Server, Value, String) {
    let s = Server::demo();
    let doc = served_document(&s).await;
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let chat =
        json!({"model": "hearth/extract", "messages": [{"role": "user", "content": "12 EUR"}]});
    let (status, _, answer) = s.post("/v1/chat/completions", Some(&admin), &chat).await;
    assert_eq!(status, 200, "{answer}");
    (s, doc, admin)
}

#[tokio::test]
async fn the_served_document_is_the_checked_in_one_the_ui_types_come_from() {
    let s = Server::demo();
    let served = served_document(&s).await;
    let checked_in: Value =
        serde_json::from_str(&std::fs::read_to_string(CHECKED_IN).unwrap()).unwrap();
    assert!(
        served == checked_in,
        "docs/openapi.json is stale: run `cargo run -- openapi > docs/openapi.json` and \
         `npm --prefix ui run api-types`, and commit both"
    );
    for path in [
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/models",
        "/v1/embeddings",
        "/chat",
    ] {
        assert!(served["paths"][path].is_object(), "{path} is documented");
    }
}

#[tokio::test]
async fn whole_answers_models_and_errors_are_what_the_document_says() {
    let s = Server::demo();
    let doc = served_document(&s).await;
    let key = create_key(&s.dir, "tenant_pro", "service");
    let messages = json!([{"role": "user", "content": "Extract the total: 12 EUR"}]);

    let chat = json!({"model": "hearth/extract", "messages": messages, "max_tokens": 32});
    assert_accepts(&doc, "ChatCompletionRequest", &chat);
    let (status, _, answer) = s.post("/v1/chat/completions", Some(&key), &chat).await;
    assert_eq!(status, 200, "{answer}");
    assert_fits(&doc, "ChatCompletion", &answer);

    let text = json!({"model": "hearth/extract", "prompt": "The total is", "max_tokens": 8});
    assert_accepts(&doc, "TextCompletionRequest", &text);
    let (status, _, answer) = s.post("/v1/completions", Some(&key), &text).await;
    assert_eq!(
        status, 200,
        "the demo's mock providers take raw text: {answer}"
    );
    assert_fits(&doc, "TextCompletion", &answer);

    let seed =
        json!({"tenant_id": "tenant_pro", "user_id": "u1", "task": "extract", "message": "12 EUR"});
    assert_accepts(&doc, "ChatBody", &seed);
    let (status, _, answer) = s.post("/chat", Some(&key), &seed).await;
    assert_eq!(status, 200, "{answer}");
    assert_fits(&doc, "ChatOutcome", &answer);

    let (status, models) = s.get("/v1/models", Some(&key)).await;
    assert_eq!(status, 200);
    assert_fits(&doc, "ModelList", &serde_json::from_str(&models).unwrap());

    let (status, _, refused) = s.post("/v1/chat/completions", None, &chat).await;
    assert_eq!(status, 401);
    assert_fits(&doc, "ErrorBody", &refused);
}

#[tokio::test]
async fn embeddings_as_floats_and_as_base64_are_what_the_document_says() {
    let s = Server::demo();
    let doc = served_document(&s).await;
    let key = create_key(&s.dir, "tenant_pro", "user");
    for format in ["float", "base64"] {
        let body = json!({"model": "fast_extractor", "input": ["a", "b"], "encoding_format": format, "dimensions": 8});
        assert_accepts(&doc, "EmbeddingsRequest", &body);
        let (status, _, answer) = s.post("/v1/embeddings", Some(&key), &body).await;
        assert_eq!(status, 200, "{answer}");
        assert_fits(&doc, "EmbeddingList", &answer);
    }
    let tokens = json!({"model": "fast_extractor", "input": [[1, 2]]});
    assert_accepts(&doc, "EmbeddingsRequest", &tokens);
    let (status, _, refused) = s.post("/v1/embeddings", Some(&key), &tokens).await;
    assert_eq!(status, 400);
    assert_fits(&doc, "ErrorBody", &refused);
}

#[tokio::test]
async fn streamed_chunks_and_an_all_candidates_failed_error_are_what_the_document_says() {
    let s = Server::demo();
    let doc = served_document(&s).await;
    let key = create_key(&s.dir, "tenant_pro", "user");
    let body = json!({
        "model": "hearth/extract", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "Extract the total: 12 EUR"}],
    });
    let chunks = stream(&s, "/v1/chat/completions", &key, &body).await;
    assert!(chunks.len() >= 3, "{chunks:?}");
    assert!(chunks.iter().any(|c| c["hearth"].is_object()));
    assert!(chunks.last().unwrap()["usage"].is_object());
    for c in &chunks {
        assert_fits(&doc, "ChatCompletionChunk", c);
    }
    let text = json!({"model": "hearth/extract", "prompt": "The total is", "max_tokens": 8,
                      "stream": true, "stream_options": {"include_usage": true}});
    let events = stream(&s, "/v1/completions", &key, &text).await;
    assert!(events.last().unwrap()["usage"].is_object(), "{events:?}");
    for e in &events {
        assert_fits(&doc, "TextCompletion", e);
    }

    for provider in ["mock-fast", "mock-balanced"] {
        let fail = format!("/debug/provider/{provider}/fail");
        s.post(&fail, None, &json!({"fail": true})).await;
    }
    let chat = json!({"model": "hearth/extract", "messages": body["messages"]});
    let (status, _, failed) = s.post("/v1/chat/completions", Some(&key), &chat).await;
    assert_eq!(status, 503, "{failed}");
    assert!(failed["error"]["candidates"].as_array().unwrap().len() >= 2);
    assert_fits(&doc, "ErrorBody", &failed);
}

#[tokio::test]
async fn the_session_threads_and_comparisons_are_what_the_document_says() {
    let s = Server::demo();
    let doc = served_document(&s).await;
    let key = create_key(&s.dir, "tenant_pro", "admin");

    let (status, session) = s.get("/session", Some(&key)).await;
    assert_eq!(status, 200);
    let session: Value = serde_json::from_str(&session).unwrap();
    assert!(
        session["workspaces"].is_array(),
        "an admin sees every workspace"
    );
    assert_fits(&doc, "Session", &session);

    let new = json!({"title": "Totals"});
    assert_accepts(&doc, "TitleBody", &new);
    let (status, _, thread) = s.post("/threads", Some(&key), &new).await;
    assert_eq!(status, 201, "{thread}");
    assert_fits(&doc, "Thread", &thread);
    let id = thread["id"].as_str().unwrap();
    let message = json!({"role": "user", "content": "12 EUR", "meta": {"model": "m"}});
    assert_accepts(&doc, "NewMessage", &message);
    let path = format!("/threads/{id}/messages");
    let (status, _, saved) = s.post(&path, Some(&key), &message).await;
    assert_eq!(status, 201, "{saved}");
    assert_fits(&doc, "ThreadMessage", &saved);
    let (_, messages) = s.get(&path, Some(&key)).await;
    assert_fits(
        &doc,
        "MessageList",
        &serde_json::from_str(&messages).unwrap(),
    );
    let (_, threads) = s.get("/threads?q=Totals", Some(&key)).await;
    let threads: Value = serde_json::from_str(&threads).unwrap();
    assert_eq!(threads["threads"].as_array().unwrap().len(), 1);
    assert_fits(&doc, "ThreadList", &threads);

    let comparison = json!({"prompt": "12 EUR?", "models": ["mock-fast/fast-extract-v1"],
                            "results": [{"requested_model": "mock-fast/fast-extract-v1", "content": "12"}]});
    assert_accepts(&doc, "NewComparison", &comparison);
    let (status, _, saved) = s.post("/comparisons", Some(&key), &comparison).await;
    assert_eq!(status, 201, "{saved}");
    assert_fits(&doc, "Comparison", &saved);
    let (_, list) = s.get("/comparisons", Some(&key)).await;
    assert_fits(
        &doc,
        "ComparisonList",
        &serde_json::from_str(&list).unwrap(),
    );

    let (status, missing) = s.get("/threads/nope", Some(&key)).await;
    assert_eq!(status, 404);
    assert_fits(&doc, "ErrorBody", &serde_json::from_str(&missing).unwrap());
}

#[test]
fn an_undeclared_field_fails_the_check_flattened_structs_included() {
    let doc = serde_json::to_value(hearth::server::openapi::document()).unwrap();
    let components = closed(doc["components"].clone());
    let fits = |name: &str, instance: Value| {
        let schema =
            json!({"$ref": format!("#/components/schemas/{name}"), "components": components});
        jsonschema::validator_for(&schema)
            .unwrap()
            .is_valid(&instance)
    };
    let comparison = json!({"id": "c", "title": "t", "created_at_ms": 1, "prompt": "p",
                            "models": ["m"], "results": []});
    assert!(fits("Comparison", comparison.clone()));
    let mut grown = comparison;
    grown["undeclared"] = json!(1);
    assert!(!fits("Comparison", grown));
    let usage = json!({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3});
    assert!(fits("Usage", usage.clone()));
    let mut grown = usage;
    grown["undeclared"] = json!(1);
    assert!(!fits("Usage", grown));
}

#[tokio::test]
async fn admin_workspaces_keys_prompts_usage_alerts_and_providers_are_what_the_document_says() {
    let s = Server::demo();
    let doc = served_document(&s).await;
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let get = |path: &'static str| {
        let (s, admin) = (&s, admin.clone());
        async move {
            let (status, body) = s.get_json(path, Some(&admin)).await;
            assert_eq!(status, 200, "{path}: {body}");
            body
        }
    };

    let workspace = json!({"id": "tenant_new", "tier": "free", "rpm": 10});
    assert_accepts(&doc, "NewWorkspace", &workspace);
    let (status, _, created) = s.post("/admin/workspaces", Some(&admin), &workspace).await;
    assert_eq!(status, 201, "{created}");
    assert_fits(&doc, "WorkspaceView", &created);
    let patch = json!({"daily_budget_usd": null, "cache_enabled": false});
    assert_accepts(&doc, "WorkspacePatch", &patch);
    let (_, patched) = s.patch_workspace(&admin, "tenant_new", &patch).await;
    assert_fits(&doc, "WorkspaceView", &patched);
    assert_fits(&doc, "WorkspaceList", &get("/admin/workspaces").await);
    let (_, _, purged) = s
        .post(
            "/admin/workspaces/tenant_new/cache/purge",
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_fits(&doc, "Purged", &purged);

    let key = json!({"workspace": "tenant_new", "role": "service"});
    assert_accepts(&doc, "NewKeyBody", &key);
    let (status, _, created) = s.post("/admin/keys", Some(&admin), &key).await;
    assert_eq!(status, 201, "{created}");
    assert_fits(&doc, "CreatedKey", &created);
    assert_fits(&doc, "KeyList", &get("/admin/keys").await);
    let (_, revoked) = s
        .delete(
            &format!("/admin/keys/{}", created["id"].as_str().unwrap()),
            &admin,
        )
        .await;
    assert_fits(&doc, "Revoked", &revoked);

    let prompt = json!({"prompt_id": "totals", "version": "v1", "template": "Find {{ what }}.",
                        "variables": ["what"], "owner": "finance", "eval": {"exact": 0.9}});
    assert_accepts(&doc, "NewPrompt", &prompt);
    let (status, _, created) = s.post("/admin/prompts", Some(&admin), &prompt).await;
    assert_eq!(status, 201, "{created}");
    assert_fits(&doc, "PromptVersion", &created);
    let promote = json!({"version": "v1", "status": "stable"});
    assert_accepts(&doc, "Promote", &promote);
    let (status, _, promoted) = s
        .post("/admin/prompts/totals/promote", Some(&admin), &promote)
        .await;
    assert_eq!(status, 200, "{promoted}");
    assert_fits(&doc, "PromptVersion", &promoted);
    assert_fits(&doc, "PromptList", &get("/admin/prompts").await);
    assert_fits(&doc, "PromptVersions", &get("/admin/prompts/totals").await);

    assert_fits(&doc, "UsageReport", &get("/admin/usage").await);
    assert_fits(&doc, "AlertList", &get("/admin/alerts").await);
    let providers = get("/admin/providers").await;
    assert!(!providers["providers"].as_array().unwrap().is_empty());
    assert_fits(&doc, "ProviderList", &providers);
}

#[tokio::test]
async fn the_consoles_costs_policy_provider_test_and_playground_are_what_the_document_says() {
    let (s, doc, admin) = demo_after_one_answer().await;

    let (status, costs) = s.get_json("/admin/costs", Some(&admin)).await;
    assert_eq!(status, 200, "{costs}");
    assert!(costs["costs"]["total"]["requests"].as_u64().unwrap() >= 1);
    assert_fits(&doc, "CostsView", &costs);

    let (status, policy) = s.get_json("/admin/policy", Some(&admin)).await;
    assert_eq!(status, 200, "{policy}");
    assert_fits(&doc, "PolicyView", &policy);
    let toml = json!({"toml": policy["source"]});
    assert_accepts(&doc, "PolicyText", &toml);
    let (status, _, summary) = s.post("/admin/policy/validate", Some(&admin), &toml).await;
    assert_eq!(status, 200, "{summary}");
    assert_fits(&doc, "PolicySummary", &summary);
    let (status, _, applied) = s.put("/admin/policy", &admin, &toml).await;
    assert_eq!(status, 200, "{applied}");
    assert_fits(&doc, "AppliedPolicy", &applied);

    let (status, _, tested) = s
        .post("/admin/providers/mock-fast/test", Some(&admin), &json!({}))
        .await;
    assert_eq!(status, 200, "{tested}");
    assert_fits(&doc, "ProviderTest", &tested);

    let prompt = json!({"prompt_id": "totals", "version": "v1", "template": "Find {{ what }}.",
                        "variables": ["what"], "owner": "finance"});
    s.post("/admin/prompts", Some(&admin), &prompt).await;
    let render =
        json!({"version": "v1", "workspace": "tenant_pro", "variables": {"what": "totals"}});
    assert_accepts(&doc, "RenderBody", &render);
    let (status, _, rendered) = s
        .post("/admin/prompts/totals/render", Some(&admin), &render)
        .await;
    assert_eq!(status, 200, "{rendered}");
    assert_eq!(rendered["system"], "Find totals.");
    assert_fits(&doc, "Rendered", &rendered);
}

#[tokio::test]
async fn health_readiness_and_the_audit_log_are_what_the_document_says() {
    let (s, doc, admin) = demo_after_one_answer().await;

    let (status, health) = s.get_json("/health", None).await;
    assert_eq!(status, 200);
    assert_fits(&doc, "Health", &health);
    let (status, ready) = s.get_json("/ready", Some(&admin)).await;
    assert_eq!(status, 200, "{ready}");
    assert_fits(&doc, "Readiness", &ready);
    let (status, audit) = s.get_json("/audit?limit=1", Some(&admin)).await;
    assert_eq!(status, 200, "{audit}");
    assert_eq!(audit["events"].as_array().unwrap().len(), 1);
    assert_fits(&doc, "AuditPage", &audit);
}

#[tokio::test]
async fn the_local_models_and_a_pulls_events_are_what_the_document_says() {
    let s = Server::start(&[]);
    let doc = served_document(&s).await;
    let admin = create_key(&s.dir, "default", "admin");
    let (status, models) = s.get_json("/admin/models", Some(&admin)).await;
    assert_eq!(status, 200, "{models}");
    assert_eq!(models["models"][0]["installed"], true, "{models}");
    assert_fits(&doc, "LocalModels", &models);

    let pull = json!({"id": "smollm2-135m-instruct"});
    assert_accepts(&doc, "PullBody", &pull);
    let resp = s
        .http
        .post(s.url("/admin/models"))
        .bearer_auth(&admin)
        .json(&pull)
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    let mut names = Vec::new();
    for event in text.split("\n\n").filter(|e| !e.trim().is_empty()) {
        let name = event
            .lines()
            .find_map(|l| l.strip_prefix("event: "))
            .unwrap();
        let data = event
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap();
        let schema = match name {
            "progress" => "PullProgress",
            "done" => "Pulled",
            other => panic!("unexpected event `{other}`: {text}"),
        };
        assert_fits(&doc, schema, &serde_json::from_str(data).unwrap());
        names.push(name);
    }
    assert_eq!(names.last(), Some(&"done"), "{text}");
}

#[test]
fn hearth_openapi_prints_the_checked_in_document() {
    let dir = tempfile::tempdir().unwrap();
    let printed: Value = serde_json::from_str(&common::cli_ok(dir.path(), &["openapi"])).unwrap();
    let checked_in: Value =
        serde_json::from_str(&std::fs::read_to_string(CHECKED_IN).unwrap()).unwrap();
    assert!(
        printed == checked_in,
        "`hearth openapi` prints docs/openapi.json"
    );
}
