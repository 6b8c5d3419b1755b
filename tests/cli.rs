//! The `hearth` command line, run as a real process on a throwaway data dir: the forms
//! scripts rely on (what goes to stdout, exit codes) and that admin commands change
//! what the orchestrator does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const TRIAGE_TICKET: &str = "Khách bị tính phí hai lần";

/// Runs `hearth ARGS --data-dir DIR` on the demo's policy (fast, deterministic mock
/// providers); `tests/local_model.rs` covers the built-in policy's local model.
fn hearth(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("HEARTH_DATA_DIR")
        .env(
            "HEARTH_CONFIG",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config/demo.toml"),
        )
        .output()
        .expect("run hearth")
}

/// Runs a command that must succeed; returns its stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = hearth(dir, args);
    assert!(
        out.status.success(),
        "hearth {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let text = ok(dir, args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {text}"))
}

fn triage(dir: &Path) -> Value {
    json(
        dir,
        &[
            "chat",
            TRIAGE_TICKET,
            "--workspace",
            "tenant_pro",
            "--task",
            "extract",
            "--prompt",
            "support_triage@v1",
            "--demo",
            "--json",
        ],
    )
}

#[test]
fn keys_create_prints_only_the_new_key_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = ok(dir.path(), &["keys", "create", "--workspace", "default"]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout: {stdout:?}");
    assert!(lines[0].starts_with("hk_"), "stdout: {stdout:?}");
    let listed = ok(dir.path(), &["keys", "list", "--workspace", "default"]);
    assert!(
        !listed.contains(lines[0]),
        "keys list must never show a key"
    );
    assert_eq!(
        listed.lines().count(),
        2,
        "a header and the one key: {listed}"
    );
}

#[test]
fn chat_prints_the_answer_of_the_configured_providers() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = ok(dir.path(), &["chat", "hello"]);
    assert!(!stdout.trim().is_empty());
    assert!(
        !stdout.trim_start().starts_with('{'),
        "plain chat prints the answer, not JSON"
    );
}

#[test]
fn chat_json_has_every_field_of_the_chat_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let v = triage(dir.path());
    for field in [
        "trace_id",
        "answer",
        "provider",
        "model",
        "cache_hit",
        "fallback_used",
        "retry_count",
        "latency_ms",
        "estimated_cost_usd",
        "prompt_id",
        "prompt_version",
    ] {
        assert!(v.get(field).is_some(), "no `{field}` in {v}");
    }
    assert_eq!(v["prompt_id"], "support_triage");
    assert_eq!(v["prompt_version"], "v1");
    assert_eq!(v["cache_hit"], false);
    assert!(!v["answer"].as_str().unwrap().is_empty());
}

#[test]
fn a_second_identical_chat_in_a_new_process_is_a_cache_hit() {
    let dir = tempfile::tempdir().unwrap();
    let first = triage(dir.path());
    let second = triage(dir.path());
    assert_eq!(first["cache_hit"], false);
    assert_eq!(second["cache_hit"], true);
    assert_eq!(first["answer"], second["answer"]);
    assert_ne!(first["trace_id"], second["trace_id"]);
    assert_eq!(second["estimated_cost_usd"], 0.0);
}

#[test]
fn an_unknown_workspace_is_one_error_line_and_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["keys", "create", "--workspace", "nope"][..],
        &["chat", "hello", "--workspace", "nope"][..],
        &["workspaces", "show", "nope"][..],
    ] {
        let out = hearth(dir.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
        assert!(stderr.starts_with("error:"), "{args:?}: {stderr:?}");
        assert!(stderr.contains("nope"), "{args:?}: {stderr:?}");
    }
}

#[test]
fn workspaces_set_changes_what_workspaces_show_prints() {
    let dir = tempfile::tempdir().unwrap();
    ok(
        dir.path(),
        &["workspaces", "create", "bench", "--tier", "pro"],
    );
    let before = json(dir.path(), &["workspaces", "show", "bench"]);
    assert_eq!(before["rpm"], Value::Null);
    assert_eq!(before["cache_enabled"], true);
    ok(
        dir.path(),
        &[
            "workspaces",
            "set",
            "bench",
            "--rpm",
            "100000000",
            "--daily-budget-usd",
            "1000",
            "--cache",
            "off",
            "--tier",
            "enterprise",
        ],
    );
    let after = json(dir.path(), &["workspaces", "show", "bench"]);
    assert_eq!(after["rpm"], 100_000_000);
    assert_eq!(after["daily_budget_usd"], 1000.0);
    assert_eq!(after["cache_enabled"], false);
    assert_eq!(after["tier"], "enterprise");
}

#[test]
fn workspaces_create_defaults_to_the_best_tier_and_refuses_a_tier_the_policy_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let ws = json(dir.path(), &["workspaces", "create", "team"]);
    assert_eq!(ws["tier"], "enterprise");
    assert_eq!(ws["data_policy"], "any");
    let out = hearth(
        dir.path(),
        &["workspaces", "create", "other", "--tier", "gold"],
    );
    assert_eq!(out.status.code(), Some(1));
    let listed = ok(dir.path(), &["workspaces", "list"]);
    assert!(!listed.contains("other"), "{listed}");
}

#[test]
fn a_disabled_cache_set_by_the_cli_stops_cache_hits() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["chat", "hello", "--json"];
    json(dir.path(), &args);
    assert_eq!(json(dir.path(), &args)["cache_hit"], true);
    ok(
        dir.path(),
        &["workspaces", "set", "default", "--cache", "off"],
    );
    assert_eq!(json(dir.path(), &args)["cache_hit"], false);
}

#[test]
fn a_prompt_created_from_a_file_and_promoted_serves_until_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("v2.json");
    let v2 =
        r#"{"prompt_id":"greeter","version":"v2","template":"Greet warmly.","owner":"cli-test"}"#;
    let v1 = v2.replace("v2", "v1").replace("warmly", "politely");
    std::fs::write(&file, v1).unwrap();
    ok(
        dir.path(),
        &["prompts", "create", "--file", file.to_str().unwrap()],
    );
    ok(
        dir.path(),
        &["prompts", "promote", "greeter", "v1", "--status", "stable"],
    );
    std::fs::write(&file, v2).unwrap();
    let created = json(
        dir.path(),
        &["prompts", "create", "--file", file.to_str().unwrap()],
    );
    assert_eq!(created["status"], "draft");
    ok(
        dir.path(),
        &["prompts", "promote", "greeter", "v2", "--status", "stable"],
    );
    let served = |dir: &Path| json(dir, &["chat", "hi", "--prompt", "greeter", "--json"]);
    assert_eq!(served(dir.path())["prompt_version"], "v2");
    ok(dir.path(), &["prompts", "rollback", "greeter"]);
    assert_eq!(served(dir.path())["prompt_version"], "v1");
    let versions = json(dir.path(), &["prompts", "show", "greeter"]);
    assert_eq!(versions.as_array().unwrap().len(), 2);
}

#[test]
fn usage_and_audit_tail_show_requests_made_by_chat() {
    let dir = tempfile::tempdir().unwrap();
    triage(dir.path());
    triage(dir.path());
    let rows = json(
        dir.path(),
        &["usage", "--json", "--workspace", "tenant_pro"],
    );
    let row = &rows.as_array().unwrap()[0];
    assert_eq!(row["requests"], 2);
    assert_eq!(row["cache_hits"], 1);
    let tail = ok(dir.path(), &["audit", "tail", "--workspace", "tenant_pro"]);
    let events: Vec<Value> = tail
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{tail}");
    assert!(
        events[0]["id"].as_i64() < events[1]["id"].as_i64(),
        "oldest first"
    );
    assert_eq!(events[0]["endpoint"], "cli");
    assert_eq!(events[1]["cache_hit"], true);
}

#[test]
fn the_data_dir_can_come_from_hearth_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["workspaces", "create", "from_env"])
        .env("HEARTH_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        json(dir.path(), &["workspaces", "show", "from_env"])["id"],
        "from_env"
    );
}

#[test]
fn workspaces_set_unset_removes_a_limit_and_refuses_to_set_and_unset_the_same_one() {
    let dir = tempfile::tempdir().unwrap();
    ok(
        dir.path(),
        &["workspaces", "create", "team", "--tier", "pro"],
    );
    ok(
        dir.path(),
        &[
            "workspaces",
            "set",
            "team",
            "--rpm",
            "5",
            "--daily-budget-usd",
            "2",
        ],
    );
    ok(
        dir.path(),
        &[
            "workspaces",
            "set",
            "team",
            "--unset",
            "rpm",
            "--unset",
            "daily_budget_usd",
        ],
    );
    let ws = json(dir.path(), &["workspaces", "show", "team"]);
    assert_eq!(
        (&ws["rpm"], &ws["daily_budget_usd"]),
        (&Value::Null, &Value::Null),
        "{ws}"
    );

    let out = hearth(
        dir.path(),
        &["workspaces", "set", "team", "--rpm", "5", "--unset", "rpm"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--unset rpm"));
    assert_eq!(
        json(dir.path(), &["workspaces", "show", "team"])["rpm"],
        Value::Null
    );
}
