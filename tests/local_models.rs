//! Installed models are usable at once, and several share one memory budget: a real
//! `hearth serve` on loopback with its own models dir, holding copies of the default model.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{create_key, default_model, Server};
use serde_json::{json, Value};

/// Small contexts keep each copy's estimate (and the budget below) small.
const CONTEXT: usize = 512;

/// A policy with the on-device provider `local` naming no model: every model it serves is
/// one the models dir holds. The route's primary is a mock, so nothing needs a model to start.
fn policy(budget_mb: u64, idle_unload_s: u64) -> String {
    let local = format!(
        r#"
[resilience]
request_deadline_ms = 120000
attempt_timeout_ms = 110000
max_retries = 0

[local]
memory_budget_mb = {budget_mb}
idle_unload_s = {idle_unload_s}

[providers.local]
kind = "local"
threads = 2
context_length = {CONTEXT}
"#
    );
    local + common::MOCK_ROUTE_AND_OPEN_TIER
}

/// A models dir holding the default model imported under each of `names`, and its estimate
/// at `CONTEXT` tokens in bytes.
fn models_dir(root: &Path, model: &Path, names: &[&str]) -> (std::path::PathBuf, u64) {
    let dir = root.join("models");
    std::fs::create_dir_all(dir.join("imported")).unwrap();
    for name in names {
        std::fs::copy(model, dir.join("imported").join(format!("{name}.gguf"))).unwrap();
    }
    let estimate = hearth::providers::local::estimate_memory(
        model,
        Some(CONTEXT),
        hearth::providers::local::KvCacheType::F16,
    )
    .unwrap();
    (dir, estimate.total_bytes)
}

fn start(root: &Path, models: &Path, budget_mb: u64) -> Server {
    start_with_idle(root, models, budget_mb, 0)
}

fn start_with_idle(root: &Path, models: &Path, budget_mb: u64, idle_unload_s: u64) -> Server {
    let config = root.join("policy.toml");
    std::fs::write(&config, policy(budget_mb, idle_unload_s)).unwrap();
    let data = root.join("data");
    Server::start_in_with_env(
        &data,
        &["--config", config.to_str().unwrap()],
        &[("HEARTH_MODELS_DIR", models.to_str().unwrap())],
    )
}

/// A request the exact cache cannot answer, so the model itself must.
async fn ask(s: &Server, key: &str, model: &str) -> (u16, Value) {
    let fresh = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let body = json!({"model": model, "max_tokens": 3, "temperature": 0,
                      "messages": [{"role": "user", "content": format!("Say hi ({fresh}).")}]});
    let (status, _, v) = s.post("/v1/chat/completions", Some(key), &body).await;
    (status, v)
}

async fn loaded(s: &Server, admin: &str) -> Vec<String> {
    let (status, v) = s.get_json("/admin/models", Some(admin)).await;
    assert_eq!(status, 200, "{v}");
    let mut names: Vec<String> = v["loaded"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["state"] == "loaded")
        .map(|m| m["model"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn listed(s: &Server, key: &str) -> Vec<String> {
    let (status, v) = s.get_json("/v1/models", Some(key)).await;
    assert_eq!(status, 200, "{v}");
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_imported_model_answers_as_local_id_and_is_listed_without_a_config_change() {
    let Some(model) = default_model() else { return };
    let root = tempfile::tempdir().unwrap();
    let (models, _) = models_dir(root.path(), &model, &[]);
    let inbox = models.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::copy(&model, inbox.join("tiny.gguf")).unwrap();
    let s = start(root.path(), &models, 4096);
    let admin = create_key(&s.dir, "default", "admin");

    assert!(!listed(&s, &admin).await.contains(&"local/tiny".to_owned()));
    let (status, _, v) = s
        .post(
            "/admin/models/import",
            Some(&admin),
            &json!({"path": inbox.join("tiny.gguf"), "id": "tiny"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["model"], "local/tiny");
    assert_eq!(v["usable"], true, "{v}");
    assert!(
        v["use"].is_null(),
        "no snippet when the policy serves it: {v}"
    );

    assert!(listed(&s, &admin).await.contains(&"local/tiny".to_owned()));
    let (status, v) = ask(&s, &admin, "local/tiny").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["model"], "local/tiny", "{v}");
    assert!(
        v["usage"]["completion_tokens"].as_u64().unwrap() >= 1,
        "{v}"
    );

    let (status, _) = ask(&s, &admin, "local/not-installed").await;
    assert!(
        (400..500).contains(&status),
        "an unknown model is the caller's error: {status}"
    );
}

#[tokio::test]
async fn with_room_for_two_of_three_models_the_least_recently_used_is_unloaded_and_all_answer() {
    let Some(model) = default_model() else { return };
    let root = tempfile::tempdir().unwrap();
    let (models, estimate) = models_dir(root.path(), &model, &["a", "b", "c"]);
    // Room for two estimates and a half: never for three.
    let budget_mb = (estimate * 5 / 2) >> 20;
    let s = start(root.path(), &models, budget_mb);
    let admin = create_key(&s.dir, "default", "admin");
    let ids =
        |names: &[&str]| -> Vec<String> { names.iter().map(|n| format!("local/{n}")).collect() };

    for (model, expect) in [
        ("local/a", ids(&["a"])),
        ("local/b", ids(&["a", "b"])),
        ("local/c", ids(&["b", "c"])),
        ("local/a", ids(&["a", "c"])),
    ] {
        let (status, v) = ask(&s, &admin, model).await;
        assert_eq!(status, 200, "{model}: {v}");
        assert_eq!(
            loaded(&s, &admin).await,
            expect,
            "after a request to {model}"
        );
    }

    let (_, metrics) = s.get("/metrics", Some(&admin)).await;
    assert_eq!(
        common::metric(&metrics, "hearth_local_models_loaded", &[]),
        2.0
    );
    assert_eq!(
        common::metric(&metrics, "hearth_local_model_load_seconds_count", &[]),
        4.0
    );
    let (status, v) = s.get_json("/audit?limit=100", Some(&admin)).await;
    assert_eq!(status, 200, "{v}");
    let events: Vec<(String, String)> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["event_type"]
                .as_str()
                .unwrap()
                .starts_with("local_model_")
        })
        .map(|e| {
            (
                e["event_type"].as_str().unwrap().to_owned(),
                e["model"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let unloads: Vec<&str> = events
        .iter()
        .filter(|(t, _)| t == "local_model_unloaded")
        .map(|(_, m)| m.as_str())
        .collect();
    assert_eq!(unloads.len(), 2, "{events:?}");
    assert!(
        unloads.contains(&"local/a") && unloads.contains(&"local/b"),
        "{events:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|(t, _)| t == "local_model_loaded")
            .count(),
        4
    );
}

#[tokio::test]
async fn a_model_larger_than_the_budget_is_refused_and_nothing_loads() {
    let Some(model) = default_model() else { return };
    let root = tempfile::tempdir().unwrap();
    let (models, estimate) = models_dir(root.path(), &model, &["big"]);
    let budget_mb = (estimate / 2) >> 20;
    let s = start(root.path(), &models, budget_mb.max(1));
    let admin = create_key(&s.dir, "default", "admin");
    // More refusals than the breaker's threshold (5): a model that does not fit says so each
    // time, and is no fault of the provider's, whose other models stay reachable.
    for _ in 0..6 {
        let (status, v) = ask(&s, &admin, "local/big").await;
        assert_eq!(status, 503, "{v}");
        assert_eq!(v["error"]["code"], "providers_unavailable", "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        let names_the_numbers = message.contains("local/big needs about")
            && message.contains(&format!("budget is {} MiB", budget_mb.max(1)));
        assert!(names_the_numbers, "{message}");
    }
    assert!(loaded(&s, &admin).await.is_empty(), "nothing is loaded");
    let (_, v) = s.get_json("/admin/models", Some(&admin)).await;
    assert_eq!(v["loaded"], json!([]), "no model is left loading: {v}");
}

#[tokio::test]
async fn an_idle_model_is_unloaded_after_its_time_and_loads_again_when_asked() {
    let Some(model) = default_model() else { return };
    let root = tempfile::tempdir().unwrap();
    let (models, _) = models_dir(root.path(), &model, &["a"]);
    let s = start_with_idle(root.path(), &models, 4096, 1);
    let admin = create_key(&s.dir, "default", "admin");
    let (status, v) = ask(&s, &admin, "local/a").await;
    assert_eq!(status, 200, "{v}");
    let mut waited = 0;
    while !loaded(&s, &admin).await.is_empty() {
        assert!(waited < 100, "still loaded 10 s after a 1 s idle time");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    let (_, v) = s.get_json("/audit?limit=100", Some(&admin)).await;
    let idle = v["events"].as_array().unwrap().iter().any(|e| {
        e["event_type"] == "local_model_unloaded" && e["policy_decision"] == "unloaded: idle"
    });
    assert!(idle, "{v}");
    let (status, v) = ask(&s, &admin, "local/a").await;
    assert_eq!(status, 200, "{v}");
}

/// A streamed greedy chat request of `prompt` to `model`, its answer begun (status 200).
async fn stream(
    s: &Server,
    key: &str,
    model: &str,
    max_tokens: u32,
    prompt: &str,
) -> reqwest::Response {
    let body = json!({"model": model, "stream": true, "max_tokens": max_tokens, "temperature": 0,
                      "messages": [{"role": "user", "content": prompt}]});
    let resp = s
        .http
        .post(s.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp
}

/// The requests `GET /admin/models` counts on `model` (0 when it is not in memory).
async fn in_use(s: &Server, admin: &str, model: &str) -> u64 {
    let (status, v) = s.get_json("/admin/models", Some(admin)).await;
    assert_eq!(status, 200, "{v}");
    v["loaded"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["model"] == model)
        .map(|m| m["in_use"].as_u64().unwrap())
        .sum()
}

#[tokio::test]
async fn a_streamed_answer_keeps_its_model_in_use_until_it_ends() {
    let Some(model) = default_model() else { return };
    let root = tempfile::tempdir().unwrap();
    let (models, _) = models_dir(root.path(), &model, &["a"]);
    let s = start(root.path(), &models, 4096);
    let admin = create_key(&s.dir, "default", "admin");
    let resp = stream(
        &s,
        &admin,
        "local/a",
        64,
        "Count from 1 to 100, separated by commas.",
    )
    .await;
    let mut stream = resp.bytes_stream();
    let first = futures::StreamExt::next(&mut stream)
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("chat.completion.chunk"));
    // The rest of 64 tokens takes seconds, this look milliseconds: the answer is still being
    // written, and a model in use is never unloaded (idle or for room).
    assert_eq!(in_use(&s, &admin, "local/a").await, 1, "in use mid-answer");
    let mut rest = Vec::new();
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    assert!(String::from_utf8_lossy(&rest).contains("data: [DONE]"));
    assert_eq!(in_use(&s, &admin, "local/a").await, 0, "let go at the end");
}

#[test]
fn models_use_makes_an_installed_model_a_routes_primary_in_the_saved_policy() {
    let Some(model) = default_model() else { return };
    let root = tempfile::tempdir().unwrap();
    let (models, _) = models_dir(root.path(), &model, &["a"]);
    let data = root.path().join("data");
    let run = |args: &[&str]| {
        common::hearth()
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .env("HEARTH_MODELS_DIR", &models)
            .output()
            .unwrap()
    };

    let out = run(&["models", "use", "local/a", "--task", "code"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let saved = std::fs::read_to_string(data.join("policy.toml")).unwrap();
    let config = hearth::config::Config::parse(&saved, "saved").unwrap();
    assert_eq!(config.policy.routes["code"].primary, "a");
    assert_eq!(config.policy.models["a"].address, "local/a");
    assert_eq!(
        config.policy.routes["chat"].primary, "smollm2",
        "other routes stay"
    );

    let out = run(&["models", "use", "nope"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`nope` is not installed"));
}

/// The catalog's memory figure of each installed model is within a quarter of the loader's
/// own estimate at the default context; the figures of the models not installed here are
/// computed the same way by hand (file + f16 KV cache at 8,192 tokens + 10%).
#[test]
fn the_catalogs_memory_figures_agree_with_the_loaders_estimate() {
    let mut checked = 0;
    for entry in hearth::models::catalog().unwrap() {
        // An embedding model is no GGUF file; its figure is its weights plus scratch.
        if !entry.is_installed() || entry.kind == hearth::models::ModelKind::Embedding {
            continue;
        }
        let estimate = hearth::providers::local::estimate_memory(
            &entry.installed_path(),
            None,
            hearth::providers::local::KvCacheType::F16,
        )
        .unwrap()
        .total_bytes
            >> 20;
        let listed = entry.memory_mb.unwrap();
        assert!(
            listed.abs_diff(estimate) * 4 <= estimate,
            "{}: the catalog says {listed} MiB, the loader {estimate} MiB",
            entry.id
        );
        checked += 1;
    }
    if default_model().is_some() {
        assert!(checked >= 1);
    }
}

#[tokio::test]
async fn two_loaded_models_each_have_their_own_queue_so_one_answers_while_the_other_generates() {
    let Some(model) = default_model() else { return };
    let root = tempfile::tempdir().unwrap();
    let (models, _) = models_dir(root.path(), &model, &["long", "short"]);
    let s = start(root.path(), &models, 4096);
    let admin = create_key(&s.dir, "default", "admin");
    for warm in ["local/long", "local/short"] {
        assert_eq!(ask(&s, &admin, warm).await.0, 200);
    }
    // A greedy story runs to the token cap: far longer than a one-token answer.
    let story = "Write a long story about a lighthouse.";
    let mut long = stream(&s, &admin, "local/long", 200, story).await;
    // Generating: a few pieces of text have come (the first event carries only the role).
    let mut seen = String::new();
    while seen.matches("\"content\"").count() < 3 {
        let chunk = long
            .chunk()
            .await
            .unwrap()
            .expect("the long answer goes on");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    let body = json!({"model": "local/short", "max_tokens": 1, "temperature": 0,
                      "messages": [{"role": "user", "content": "Hi"}]});
    let (status, _, v) = s.post("/v1/chat/completions", Some(&admin), &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        in_use(&s, &admin, "local/long").await,
        1,
        "the short answer came while the long one was still being generated"
    );
    // Dropping the stream ends the long answer at its next token.
    drop(long);
}
