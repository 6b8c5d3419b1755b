//! `hearth providers ...` through the real binary: add, list, remove, test and set-key, each
//! with its errors, and a provider added from the shell served by a real `hearth serve` in
//! front of an OpenAI-compatible upstream on loopback (wiremock), priced as it was added.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use common::hosted::{closed_port, openai_upstream};
use common::{cli, cli_ok, Server};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The variable the added provider reads its key from; set only on the children that need it.
const KEY_VAR: &str = "HEARTH_TEST_PROVIDERS_CLI_KEY";
const KEY: &str = "test-key-providers-cli-7781";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `providers add NAME` of an OpenAI-compatible server at `base_url` with models m1 and m2.
fn add(data: &Path, name: &str, base_url: &str) -> Output {
    cli(
        data,
        &[
            "providers",
            "add",
            name,
            "--kind",
            "openai-compatible",
            "--base-url",
            base_url,
            "--model",
            "m1",
            "--model",
            "m2",
            "--price",
            "m1=0.5,1.5,0.25",
            "--api-key-env",
            KEY_VAR,
        ],
    )
}

/// `providers list`, with the key variable set on the child or not.
fn list(data: &Path, key_set: bool) -> String {
    let mut cmd = common::hearth();
    cmd.args(["providers", "list", "--data-dir"]).arg(data);
    if key_set {
        cmd.env(KEY_VAR, KEY);
    } else {
        cmd.env_remove(KEY_VAR);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "list: {}", text(&out.stderr));
    text(&out.stdout)
}

/// The row of `providers list` whose first cell is `name`, split into its cells.
fn row(table: &str, name: &str) -> Option<Vec<String>> {
    table
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|cells| cells.first().map(String::as_str) == Some(name))
}

/// Asserts a command failed with a one-line error on stderr containing `needle`.
fn assert_fails(out: &Output, needle: &str) {
    let err = text(&out.stderr);
    assert!(
        !out.status.success(),
        "expected a failure, got success: {}",
        text(&out.stdout)
    );
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(needle), "expected `{needle}` in: {err}");
}

#[test]
fn add_then_list_shows_the_added_provider_beside_the_config_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();

    let out = add(data, "acme", "http://127.0.0.1:9/v1");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains("acme/m1") && said.contains("acme/m2"),
        "{said}"
    );

    let table = list(data, false);
    let acme = row(&table, "acme").unwrap_or_else(|| panic!("no acme row: {table}"));
    assert_eq!(
        acme[..5],
        ["acme", "openai_compatible", "added", "hosted", "none"],
        "{table}"
    );
    assert!(table.contains("acme/m1, acme/m2"), "{table}");
    let local = row(&table, "local").unwrap_or_else(|| panic!("no local row: {table}"));
    assert_eq!(
        local[..4],
        ["local", "local", "config", "on_device"],
        "{table}"
    );

    let table = list(data, true);
    let acme = row(&table, "acme").unwrap();
    assert_eq!(acme[4], "env", "the key is found in {KEY_VAR}: {table}");
    assert!(!table.contains(KEY), "{table}");
}

#[test]
fn bad_adds_fail_with_a_clear_error_and_store_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    assert!(add(data, "acme", "http://127.0.0.1:9/v1").status.success());

    // The same name again: the store's own refusal, not a claim about the config file.
    let out = add(data, "acme", "http://127.0.0.1:9/v1");
    assert_fails(&out, "`acme` was already added");

    assert_fails(
        &add(data, "a/b", "http://127.0.0.1:9/v1"),
        "provider name `a/b`",
    );
    assert_fails(&add(data, "ftpish", "ftp://x"), "must be http or https");

    let out = cli(
        data,
        &[
            "providers",
            "add",
            "priced",
            "--kind",
            "openai-compatible",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--model",
            "m1",
            "--price",
            "m3=1,2",
        ],
    );
    assert_fails(&out, "--price names `m3`");

    let out = cli(
        data,
        &[
            "providers",
            "add",
            "nourl",
            "--kind",
            "openai-compatible",
            "--model",
            "m1",
        ],
    );
    assert_fails(&out, "needs a base_url");

    let table = list(data, false);
    let names: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    assert_eq!(names, ["acme", "local"], "{table}");
}

#[test]
fn remove_takes_an_added_provider_away_once_and_refuses_the_config_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    assert!(add(data, "acme", "http://127.0.0.1:9/v1").status.success());

    let said = cli_ok(data, &["providers", "remove", "acme"]);
    assert!(said.contains("removed provider `acme`"));
    assert!(row(&list(data, false), "acme").is_none());

    assert_fails(
        &cli(data, &["providers", "remove", "acme"]),
        "no added provider `acme`",
    );
    assert_fails(&cli(data, &["providers", "remove", "local"]), "config file");
    assert!(row(&list(data, false), "local").is_some());
}

#[tokio::test]
async fn test_reports_the_latency_and_the_models_or_a_clear_error() {
    let mock = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list",
            "data": [{"id": "m1", "object": "model"}, {"id": "m-extra", "object": "model"}]
        })))
        .mount(&mock)
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    assert!(add(data, "acme", &format!("{}/v1", mock.uri()))
        .status
        .success());

    let said = cli_ok(data, &["providers", "test", "acme"]);
    let first = said.lines().next().unwrap_or_default();
    let ms = first
        .split_once("answered in ")
        .and_then(|(_, rest)| rest.split_once(" ms"))
        .map(|(n, _)| n.parse::<f64>());
    assert!(matches!(ms, Some(Ok(_))), "no latency in: {said}");
    let ids: Vec<&str> = said.lines().skip(1).map(str::trim).collect();
    assert_eq!(ids, ["m1", "m-extra"], "{said}");
    assert_eq!(mock.received_requests().await.unwrap().len(), 1);

    // A port nothing listens on: bind one, then free it.
    let closed = closed_port().port();
    assert!(add(data, "gone", &format!("http://127.0.0.1:{closed}/v1"))
        .status
        .success());
    let out = cli(data, &["providers", "test", "gone"]);
    assert_fails(&out, "`gone` failed");
    assert!(
        text(&out.stderr).contains("could not reach the provider"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn set_key_without_a_keychain_service_says_so_and_points_to_the_env_var() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    assert!(add(data, "acme", "http://127.0.0.1:9/v1").status.success());

    let secret = "test-key-DO-NOT-PRINT-4242";
    let mut child = common::hearth()
        .args(["providers", "set-key", "acme", "--data-dir"])
        .arg(data)
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .env_remove("DISPLAY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{secret}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_fails(&out, "no OS keychain service is running here");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(stderr.contains("--api-key-env"), "{stderr}");
    assert!(
        !stdout.contains(secret) && !stderr.contains(secret),
        "{stdout}{stderr}"
    );
    assert!(
        !stdout.contains("DO-NOT-PRINT") && !stderr.contains("DO-NOT-PRINT"),
        "not even part of the key: {stdout}{stderr}"
    );

    assert_fails(
        &cli(data, &["providers", "set-key", "nobody"]),
        "no hosted provider `nobody`",
    );
}

/// A policy with no local model (so `serve` loads nothing) whose `enterprise` tier, the
/// default workspace's, may call any provider's models.
const POLICY: &str = r#"
[providers.device]
kind = "mock"
locality = "on_device"

[models.dev]
provider = "device"
model_id = "dev"
max_output_tokens = 256

[routes.chat]
primary = "dev"

[tiers.enterprise]
allowed_models = ["dev", "*"]
default_model = "dev"
daily_budget_usd = 500.0
max_output_tokens = 1024
on_budget_exhausted = "reject"
on_route_not_allowed = "reject"
"#;

#[tokio::test]
async fn an_added_provider_is_served_as_name_slash_model_with_its_key_and_prices() {
    let mock = openai_upstream(
        "Hello from acme.",
        json!({"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200,
               "prompt_tokens_details": {"cached_tokens": 400}}),
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cfg = tmp.path().join("policy.toml");
    std::fs::write(&cfg, POLICY).unwrap();

    // Added on the built-in policy, as a user would, before any server runs.
    let out = add(&data, "acme", &format!("{}/v1", mock.uri()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cfg_s = cfg.to_str().unwrap();
    let out = cli(
        &data,
        &[
            "--config",
            cfg_s,
            "keys",
            "create",
            "--workspace",
            "default",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key = text(&out.stdout).trim().to_owned();

    let server = Server::start_in_with_env(&data, &["--config", cfg_s], &[(KEY_VAR, KEY)]);
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.base))
        .bearer_auth(&key)
        .json(&json!({
            "model": "acme/m1",
            "messages": [{"role": "user", "content": "Say hello."}],
            "temperature": 0
        }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let provider_header = resp
        .headers()
        .get("x-hearth-provider")
        .map(|v| v.to_str().unwrap().to_owned());
    let v: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["choices"][0]["message"]["content"], "Hello from acme.",
        "{v}"
    );
    assert_eq!(v["hearth"]["provider"], "acme", "{v}");
    assert_eq!(provider_header.as_deref(), Some("acme"));

    let reqs = mock.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 1);
    let auth = reqs[0]
        .headers
        .get("authorization")
        .map(|h| h.to_str().unwrap().to_owned());
    assert_eq!(auth.as_deref(), Some(format!("Bearer {KEY}").as_str()));
    let sent: Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(sent["model"], "m1", "{sent}");

    // 600 fresh input at 0.5, 400 cached at 0.25, 200 output at 1.5 USD per 1M tokens.
    let expected = (600.0 * 0.5 + 400.0 * 0.25 + 200.0 * 1.5) / 1e6;
    let cost = v["hearth"]["estimated_cost_usd"].as_f64().unwrap();
    assert!((cost - expected).abs() < 1e-12, "{cost} != {expected}: {v}");
}
