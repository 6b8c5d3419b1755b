//! The admin console's endpoints: the costs breakdown, the active policy and the validation
//! of an edited one, a provider's connection test and key, and the prompt playground.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{create_key, lab_extract, Server};
use serde_json::{json, Value};

#[tokio::test]
async fn costs_break_spend_down_by_day_workspace_model_and_task_with_cache_savings() {
    let s = Server::demo();
    let admin = create_key(&s.dir, "default", "admin");
    for (tenant, msg) in [
        ("tenant_pro", "a"),
        ("tenant_pro", "a"),
        ("tenant_enterprise", "b"),
    ] {
        let (status, _, v) = s.post("/chat", None, &lab_extract(tenant, msg)).await;
        assert_eq!(status, 200, "{v}");
    }
    let (status, v) = s.get_json("/admin/costs", Some(&admin)).await;
    assert_eq!(status, 200, "{v}");
    let c = &v["costs"];
    assert_eq!(c["total"]["requests"], 3, "{v}");
    assert_eq!(c["total"]["cache_hits"], 1, "the repeat was a hit: {v}");
    let total = c["total"]["cost_usd"].as_f64().unwrap();
    assert!(total > 0.0);
    let sum = |k: &str| -> f64 {
        c[k].as_array()
            .unwrap()
            .iter()
            .map(|g| g["cost_usd"].as_f64().unwrap())
            .sum()
    };
    for k in ["by_day", "by_workspace", "by_model", "by_task"] {
        assert!(
            (sum(k) - total).abs() < 1e-12,
            "{k} adds up to the total: {v}"
        );
    }
    assert_eq!(c["by_task"][0]["key"], "extract");
    assert!(c["cache_saved_usd"].as_f64().unwrap() > 0.0, "{v}");
    let (_, only) = s
        .get_json("/admin/costs?workspace=tenant_enterprise", Some(&admin))
        .await;
    assert_eq!(only["costs"]["total"]["requests"], 1);
    let (status, _) = s
        .get_json("/admin/costs?from=2026-13-01", Some(&admin))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn an_edited_policy_is_validated_with_the_line_of_its_first_problem() {
    let s = Server::demo();
    let admin = create_key(&s.dir, "default", "admin");
    let (status, v) = s.get_json("/admin/policy", Some(&admin)).await;
    assert_eq!(status, 200);
    assert_eq!(
        v["policy"]["routes"]["extract"]["primary"],
        "fast_extractor"
    );

    let good = include_str!("../src/config/demo.toml");
    let (status, _, v) = s
        .post(
            "/admin/policy/validate",
            Some(&admin),
            &json!({"toml": good}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["valid"], true);
    let bad = good.replace("primary = \"strong_reasoner\"", "primary = \"nope\"");
    let (status, _, v) = s
        .post(
            "/admin/policy/validate",
            Some(&admin),
            &json!({"toml": bad}),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["code"], "invalid_policy");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("line"),
        "{v}"
    );
}

#[tokio::test]
async fn a_provider_test_reports_latency_and_a_key_needs_a_hosted_provider() {
    let s = Server::demo();
    let admin = create_key(&s.dir, "default", "admin");
    let (status, _, v) = s
        .post("/admin/providers/mock-fast/test", Some(&admin), &json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["ok"], true);
    assert!(v["latency_ms"].as_f64().is_some());
    let (status, _, _) = s
        .post("/admin/providers/nope/test", Some(&admin), &json!({}))
        .await;
    assert_eq!(status, 404);
    let resp = s
        .http
        .put(s.url("/admin/providers/mock-fast/key"))
        .bearer_auth(&admin)
        .json(&json!({"key": "sk-x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "a mock provider takes no key");
}

#[tokio::test]
async fn the_playground_renders_a_prompt_version_with_its_variables() {
    let s = Server::demo();
    let admin = create_key(&s.dir, "default", "admin");
    let (status, v) = s
        .get_json("/admin/prompts/support_triage", Some(&admin))
        .await;
    assert_eq!(status, 200, "{v}");
    let vars: Vec<String> = v["versions"][0]["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect();
    let variables: serde_json::Map<String, Value> =
        vars.iter().map(|k| (k.clone(), json!("VALUE"))).collect();
    let body = json!({"version": "v1", "workspace": "tenant_pro", "variables": variables});
    let (status, _, r) = s
        .post("/admin/prompts/support_triage/render", Some(&admin), &body)
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["version"], "v1");
    assert!(!r["system"].as_str().unwrap().is_empty());
    if !vars.is_empty() {
        assert!(r["system"].as_str().unwrap().contains("VALUE"), "{r}");
        let (status, _, e) = s
            .post(
                "/admin/prompts/support_triage/render",
                Some(&admin),
                &json!({"version": "v1", "workspace": "tenant_pro"}),
            )
            .await;
        assert_eq!(status, 400, "{e}");
        assert_eq!(e["error"]["code"], "prompt_variable_missing");
    }
}

#[tokio::test]
async fn an_applied_policy_routes_new_requests_at_once_and_is_kept_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = Server::start_in(&data, &["--demo"]);
    let admin = create_key(&s.dir, "default", "admin");
    let (_, _, before) = s
        .post("/chat", None, &lab_extract("tenant_enterprise", "route me"))
        .await;
    assert_eq!(before["provider"], "mock-fast", "{before}");

    let demo = include_str!("../src/config/demo.toml");
    let edited = demo.replacen(
        "primary = \"fast_extractor\"",
        "primary = \"strong_reasoner\"",
        1,
    );
    assert_ne!(
        edited, demo,
        "the demo policy routes extract to fast_extractor"
    );
    let (status, _, v) = s
        .put("/admin/policy", &admin, &json!({"toml": edited}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["applied"], true);
    assert!(
        v["rebuilt"].as_array().unwrap().is_empty(),
        "no provider changed: {v}"
    );
    let (_, _, after) = s
        .post(
            "/chat",
            None,
            &lab_extract("tenant_enterprise", "route me again"),
        )
        .await;
    assert_eq!(
        after["provider"], "mock-strong",
        "new requests follow the new route: {after}"
    );

    // A bad policy changes nothing.
    let bad = edited.replace("[tiers.free]", "[tiers.fre]");
    let (status, _, v) = s.put("/admin/policy", &admin, &json!({"toml": bad})).await;
    assert_eq!(status, 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tier `free`"),
        "{v}"
    );
    let (_, p) = s.get_json("/admin/policy", Some(&admin)).await;
    assert_eq!(
        p["policy"]["routes"]["extract"]["primary"],
        "strong_reasoner"
    );

    // Saved: the next start without --config or --demo runs it.
    s.kill();
    assert!(data.join("policy.toml").is_file());
    let s = Server::start_in(&data, &[]);
    let (_, p) = s.get_json("/admin/policy", Some(&admin)).await;
    assert_eq!(
        p["policy"]["routes"]["extract"]["primary"], "strong_reasoner",
        "{p}"
    );
}

#[tokio::test]
async fn each_request_runs_on_one_policy_and_its_providers_while_policies_are_applied() {
    let s = Server::demo();
    let admin = create_key(&s.dir, "default", "admin");
    let demo = include_str!("../src/config/demo.toml");
    // The same policy with the extract route's primary on a provider of another name. A
    // request that routed by one policy and looked its provider up among the other's would
    // find no such provider and fall back to `mock-balanced`.
    let renamed = demo.replace("mock-fast", "mock-swift");
    let done = std::sync::atomic::AtomicBool::new(false);
    // Policies change for as long as requests run (bounded all the same).
    let flips = async {
        for i in 0..2000 {
            if done.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            let toml = if i % 2 == 0 { &renamed } else { demo };
            let (status, _, v) = s.put("/admin/policy", &admin, &json!({"toml": toml})).await;
            assert_eq!(status, 200, "{v}");
        }
    };
    let asker = |n: usize| {
        let s = &s;
        async move {
            let mut providers = Vec::new();
            for i in 0..30 {
                let body = lab_extract("tenant_enterprise", &format!("asker {n} request {i}"));
                let (status, _, v) = s.post("/chat", None, &body).await;
                assert_eq!(status, 200, "{v}");
                providers.push(v["provider"].as_str().unwrap_or_default().to_owned());
            }
            providers
        }
    };
    let asks = async {
        let answered = futures::future::join_all((0..16).map(asker)).await;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        answered
    };
    let (_, answered) = tokio::join!(flips, asks);
    let answered: Vec<String> = answered.into_iter().flatten().collect();
    assert_eq!(answered.len(), 480);
    let torn: Vec<&String> = answered
        .iter()
        .filter(|p| *p != "mock-fast" && *p != "mock-swift")
        .collect();
    assert!(
        torn.is_empty(),
        "{} of 480 requests were served by a fallback",
        torn.len()
    );
}

#[tokio::test]
async fn applying_a_policy_rebuilds_only_the_providers_it_changes() {
    let s = Server::demo();
    let admin = create_key(&s.dir, "default", "admin");
    // A fault drill lives on the provider instance: it survives only if the instance is kept.
    let (status, _, v) = s
        .post(
            "/debug/provider/mock-fast/fail",
            Some(&admin),
            &json!({"fail": true}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let demo = include_str!("../src/config/demo.toml");
    let edited = demo.replacen("latency_ms = 120", "latency_ms = 5", 1);
    assert_ne!(
        edited, demo,
        "mock-strong's latency is 120 in the demo policy"
    );
    let (status, _, v) = s
        .put("/admin/policy", &admin, &json!({"toml": edited}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["rebuilt"], json!(["mock-strong"]), "{v}");
    let (_, _, answer) = s
        .post("/chat", None, &lab_extract("tenant_pro", "still drilled?"))
        .await;
    assert_eq!(
        answer["fallback_used"], true,
        "mock-fast kept its drill: {answer}"
    );
}

#[tokio::test]
async fn storing_a_provider_key_where_no_keychain_runs_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let policy = format!(
        "{}\n[providers.acme]\nkind = \"openai_compatible\"\nbase_url = \"http://127.0.0.1:9/v1\"\n",
        include_str!("../src/config/demo.toml")
    );
    let cfg = dir.path().join("policy.toml");
    std::fs::write(&cfg, policy).unwrap();
    let data = dir.path().join("data");
    let s = common::Server::start_in_with_env(
        &data,
        &["--demo", "--config", cfg.to_str().unwrap()],
        &[("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")],
    );
    let admin = create_key(&s.dir, "default", "admin");
    let resp = s
        .http
        .put(s.url("/admin/providers/acme/key"))
        .bearer_auth(&admin)
        .json(&json!({"key": "test-key-never-echoed-5150"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let text = resp.text().await.unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["error"]["code"], "keychain_unavailable", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("api-key-env"),
        "{v}"
    );
    assert!(
        !text.contains("never-echoed"),
        "the key is not echoed: {text}"
    );
}

#[tokio::test]
async fn model_import_reads_only_the_models_folder_and_says_nothing_of_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    let inbox = models.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let gguf = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/vocab/spm.gguf");
    std::fs::copy(gguf, inbox.join("vocab.gguf")).unwrap();
    std::fs::write(inbox.join("short.gguf"), b"GG").unwrap();
    std::fs::write(
        inbox.join("text.gguf"),
        b"root:x:0:0:root:/root:/bin/bash\n",
    )
    .unwrap();
    let outside = dir.path().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::copy(gguf, outside.join("vocab.gguf")).unwrap();
    std::os::unix::fs::symlink(outside.join("vocab.gguf"), inbox.join("link.gguf")).unwrap();

    let data = dir.path().join("data");
    let models_env = models.to_str().unwrap();
    let s = Server::start_in_with_env(&data, &["--demo"], &[("HEARTH_MODELS_DIR", models_env)]);
    let admin = create_key(&s.dir, "default", "admin");
    let (s, admin) = (&s, admin.as_str());
    let import = |path: std::path::PathBuf| {
        let body = json!({"path": path, "id": "imported-vocab"});
        async move { s.post("/admin/models/import", Some(admin), &body).await }
    };

    let mut messages = std::collections::HashSet::new();
    for path in [
        std::path::PathBuf::from("/etc/passwd"),
        std::path::PathBuf::from("/etc/shadow"),
        outside.join("vocab.gguf"),
        inbox.join("link.gguf"),
        inbox.join("missing.gguf"),
        inbox.clone(),
        inbox.join("short.gguf"),
        inbox.join("text.gguf"),
        inbox.join("../../elsewhere/vocab.gguf"),
    ] {
        let (status, _, v) = import(path.clone()).await;
        assert_eq!(status, 400, "{path:?}: {v}");
        let message = v["error"]["message"].as_str().unwrap().to_owned();
        assert!(
            !message.contains("magic") && !message.contains("0x"),
            "{message}"
        );
        messages.insert(message);
    }
    assert_eq!(
        messages.len(),
        1,
        "one answer whatever the file is, or whether it is: {messages:?}"
    );
    let (status, _, v) = import(inbox.join("vocab.gguf")).await;
    assert_eq!(status, 200, "a GGUF in the models folder imports: {v}");
    assert!(models.join("imported/imported-vocab.gguf").is_file(), "{v}");
}

#[test]
fn a_policy_just_applied_stays_in_force_while_installed_models_are_refreshed_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let demo = hearth::config::DEMO_POLICY_TOML;
    let config = hearth::config::Config::parse(demo, "demo").unwrap();
    let hearth = hearth::Hearth::open(config, dir.path()).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let undone = std::thread::scope(|scope| {
        // Refreshes run all along (bounded); each reads what is in force and puts it back
        // with the installed models, so one that read before an apply must not land after it.
        scope.spawn(|| {
            for _ in 0..100_000 {
                if done.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                hearth.refresh_installed_models().unwrap();
            }
        });
        let mut undone = Vec::new();
        for i in 0..60 {
            let text = demo.replacen(
                "request_deadline_ms = 8000",
                &format!("request_deadline_ms = {}", 8000 + i),
                1,
            );
            hearth.apply_policy(&text).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(5));
            if hearth.config().source != text {
                undone.push(i);
            }
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        undone
    });
    assert!(
        undone.is_empty(),
        "applies {undone:?} were undone by a refresh that read the policy before them"
    );
}
