//! What `hearth serve` does before it answers: refuse a bad policy with its line, keep
//! `/metrics` for admins outside the demo, and open an existing install as it was.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{create_key, Server};

#[test]
fn a_bad_policy_file_is_refused_at_start_with_the_line_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let policy = include_str!("../src/config/demo.toml").replace(
        "fallbacks = [\"fallback_balanced\"]",
        "fallbacks = [\"fallback_balancd\"]",
    );
    let line = policy
        .lines()
        .position(|l| l.contains("fallback_balancd"))
        .unwrap()
        + 1;
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, policy).unwrap();
    let out = common::hearth()
        .args(["serve", "--addr", "127.0.0.1:0", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("line {line}: unknown model `fallback_balancd`")),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing listened");
}

#[test]
fn a_config_with_a_misspelt_key_is_refused_not_silently_defaulted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("typo.toml");
    std::fs::write(
        &cfg,
        include_str!("../src/config/demo.toml").replace("attempt_timeout_ms", "attempt_timout_ms"),
    )
    .unwrap();
    let out = common::hearth()
        .args(["serve", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("attempt_timout_ms"));
}

#[tokio::test]
async fn outside_the_demo_metrics_need_an_admin_key() {
    let s = Server::start(&[]);
    let user = create_key(&s.dir, "default", "user");
    let admin = create_key(&s.dir, "default", "admin");
    assert_eq!(s.get("/metrics", Some(&user)).await.0, 403);
    let (status, text) = s.get("/metrics", Some(&admin)).await;
    assert_eq!(status, 200);
    assert!(
        text.contains("# TYPE hearth_overhead_seconds histogram"),
        "{text}"
    );
}

#[tokio::test]
async fn a_fresh_install_has_the_default_workspace_and_answers_through_a_key() {
    let s = Server::start(&[]);
    let key = create_key(&s.dir, "default", "user");
    let (status, _, v) = s
        .post(
            "/chat",
            Some(&key),
            &serde_json::json!({"message": "hello", "task": "chat"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert!(!v["answer"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn a_local_only_workspace_is_served_by_the_on_device_model() {
    let s = Server::start(&[]);
    let admin = create_key(&s.dir, "default", "admin");
    let (status, v) = s
        .patch_workspace(
            &admin,
            "default",
            &serde_json::json!({"data_policy": "local_only"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, _, v) = s
        .post(
            "/chat",
            Some(&admin),
            &serde_json::json!({"message": "Say hi.", "task": "chat", "max_output_tokens": 16}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["provider"], "local");
    let (_, models) = s.get_json("/v1/models", Some(&admin)).await;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"local/smollm2-135m-instruct"), "{ids:?}");
}

#[tokio::test]
async fn the_admin_api_lists_models_and_a_pull_streams_progress_events_to_its_end() {
    let s = Server::start(&[]);
    let admin = create_key(&s.dir, "default", "admin");
    let (status, v) = s.get_json("/admin/models", Some(&admin)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["models"][0]["id"], "local/smollm2-135m-instruct");
    assert_eq!(
        v["models"][0]["installed"], true,
        "serve pulled it before listening"
    );
    // SmolLM2's f16 KV cache at its whole 8,192-token context: 30 layers, 3 heads of 64.
    assert_eq!(
        v["models"][0]["memory"]["kv_cache_bytes"],
        30 * 3 * 64 * 2 * 8192 * 2,
        "{v}"
    );
    let resp = s
        .http
        .post(s.url("/admin/models"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"id": "smollm2-135m-instruct"}))
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let body = resp.text().await.unwrap();
    assert!(body.contains("event: done"), "{body}");
    assert!(body.contains("AlreadyInstalled"), "{body}");
}

#[tokio::test]
async fn the_admin_api_shows_the_cpu_threads_and_kernel_the_local_model_runs_with() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in_with_env(dir.path(), &[], &[("CANDLE_NUM_THREADS", "1")]);
    let admin = create_key(&s.dir, "default", "admin");
    let (status, v) = s.get_json("/admin/models", Some(&admin)).await;
    assert_eq!(status, 200, "{v}");
    let local = &v["local_providers"][0];
    assert_eq!(local["provider"], "local", "{v}");
    assert_eq!(local["threads"], 1, "{v}");
    // The server runs on this machine, so it must name the kernel this CPU gets.
    assert_eq!(
        local["quant_kernel"],
        hearth::providers::local::quant_kernel(),
        "{v}"
    );
    assert_eq!(
        local["context_length"],
        hearth::providers::local::DEFAULT_CONTEXT,
        "{v}"
    );
    // The provider's own estimate, at its settings: the default context and an f16 cache.
    assert_eq!(local["kv_cache_type"], "f16", "{v}");
    assert_eq!(local["memory"]["kv_cache_type"], "f16", "{v}");
    assert_eq!(
        local["memory"]["kv_cache_bytes"],
        30 * 3 * 64 * 2 * 8192 * 2,
        "{v}"
    );
}

#[tokio::test]
async fn an_api_key_in_the_environment_makes_its_provider_a_fallback_of_the_builtin_policy() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in_with_env(dir.path(), &[], &[("GEMINI_API_KEY", "test-gemini")]);
    let admin = create_key(&s.dir, "default", "admin");
    let (status, v) = s.get_json("/admin/policy", Some(&admin)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["policy"]["routes"]["chat"]["fallbacks"],
        serde_json::json!(["gemini_flash"]),
        "{v}"
    );
    assert!(v["source"].as_str().unwrap().contains("[providers.gemini]"));
    assert!(
        !v.to_string().contains("test-gemini"),
        "the key is never shown"
    );
}
