//! A real `hearth serve` on loopback with a throwaway data dir, and small HTTP helpers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod hosted;
pub mod installed;
pub mod reference;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

/// The installed default model, or None (with a message) when it is absent outside CI; in
/// CI a missing model fails the test, since `.ci/run` fetches it.
pub fn default_model() -> Option<PathBuf> {
    let entry = hearth::models::entry(hearth::models::DEFAULT_MODEL).unwrap();
    installed::or_skip(
        entry.installed_path(),
        "default model",
        "scripts/fetch-default-model",
    )
}

/// The `hearth` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_hearth")
}

/// The `hearth` binary, without the hosted API keys a developer's shell may hold: with
/// one of them the built-in policy would gain a hosted fallback, and no test may reach the
/// internet.
pub fn hearth() -> Command {
    let mut c = Command::new(bin());
    for var in ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"] {
        c.env_remove(var);
    }
    c
}

/// Runs a CLI command against a data dir.
pub fn cli(data_dir: &Path, args: &[&str]) -> Output {
    hearth()
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("run hearth")
}

/// Runs a CLI command that must succeed and returns its standard output.
pub fn cli_ok(data_dir: &Path, args: &[&str]) -> String {
    let out = cli(data_dir, args);
    assert!(
        out.status.success(),
        "hearth {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Creates a key with the CLI and returns it.
pub fn create_key(data_dir: &Path, workspace: &str, role: &str) -> String {
    cli_ok(
        data_dir,
        &["keys", "create", "--workspace", workspace, "--role", role],
    )
    .trim()
    .to_owned()
}

/// The longest a test waits for one response, its body included: far beyond any answer here
/// (a debug build's local model included), so a server that stops answering fails the test
/// that met it, naming the request, instead of hanging the whole suite.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// A running server; killed on drop.
pub struct Server {
    pub base: String,
    pub dir: PathBuf,
    child: Child,
    _tmp: Option<tempfile::TempDir>,
    pub http: reqwest::Client,
}

impl Server {
    /// `hearth serve --demo` on a fresh data dir.
    pub fn demo() -> Server {
        Server::start(&["--demo"])
    }

    /// `hearth serve` with extra args on a fresh data dir.
    pub fn start(args: &[&str]) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut s = Server::start_in(&dir, args);
        s._tmp = Some(tmp);
        s
    }

    /// `hearth serve` with extra args on a given data dir (kept by the caller).
    pub fn start_in(dir: &Path, args: &[&str]) -> Server {
        Server::start_in_with_env(dir, args, &[])
    }

    /// `hearth serve` with extra args and environment variables on a given data dir.
    pub fn start_in_with_env(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Server {
        let mut child = hearth()
            .arg("serve")
            .args(["--addr", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(args)
            .envs(envs.iter().copied())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn hearth serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("hearth listening on ") {
                    let _ = tx.send(addr.to_owned());
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                panic!("hearth serve did not print its address within 60 s");
            }
        };
        Server {
            base,
            dir: dir.to_path_buf(),
            child,
            _tmp: None,
            http: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .unwrap(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POST JSON, return status, headers and JSON body.
    pub async fn post(
        &self,
        path: &str,
        key: Option<&str>,
        body: &Value,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let (status, headers, text) = self.post_with(path, key, &[], body).await;
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, json)
    }

    /// POST JSON with extra headers, return status, headers and the body's text.
    pub async fn post_with(
        &self,
        path: &str,
        key: Option<&str>,
        extra: &[(&str, &str)],
        body: &Value,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let mut req = self.http.post(self.url(path)).json(body);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        for (name, value) in extra {
            req = req.header(*name, *value);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.text().await.unwrap())
    }

    /// PUT JSON with a key, return status, headers and JSON body.
    pub async fn put(
        &self,
        path: &str,
        key: &str,
        body: &Value,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let resp = self
            .http
            .put(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// GET, return status and body text.
    pub async fn get(&self, path: &str, key: Option<&str>) -> (u16, String) {
        let mut req = self.http.get(self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// GET JSON.
    pub async fn get_json(&self, path: &str, key: Option<&str>) -> (u16, Value) {
        let (s, t) = self.get(path, key).await;
        (s, serde_json::from_str(&t).unwrap_or(Value::String(t)))
    }

    /// PATCHes workspace `ws`'s settings with `body` as `admin`: the status and the JSON answer.
    pub async fn patch_workspace(&self, admin: &str, ws: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .patch(self.url(&format!("/admin/workspaces/{ws}")))
            .bearer_auth(admin)
            .json(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// DELETE with a key: the status and the JSON answer.
    pub async fn delete(&self, path: &str, key: &str) -> (u16, Value) {
        let r = self
            .http
            .delete(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// Kills the server like a crash (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The seed's lab request of exercise 2.
pub fn lab_extract(tenant: &str, message: &str) -> Value {
    json!({
        "tenant_id": tenant, "user_id": "user_123", "task": "extract", "message": message,
        "prompt_id": "support_triage", "prompt_version": "v1", "max_output_tokens": 256
    })
}

/// The value of a Prometheus sample line `name{labels} value` whose line contains every needle.
pub fn metric(text: &str, name: &str, needles: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && needles.iter().all(|n| l.contains(n)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A policy's route and tier with a mock primary, so a server starts without any model: put
/// after the tests' own `[providers.local]` (which then serves every installed model, allowed
/// by the tier's `*`).
pub const MOCK_ROUTE_AND_OPEN_TIER: &str = r#"
[providers.mock]
kind = "mock"

[models.echo]
provider = "mock"
model_id = "echo"
max_output_tokens = 64
input_usd_per_1k = 0.0
output_usd_per_1k = 0.0

[routes.chat]
primary = "echo"

[tiers.pro]
allowed_models = ["*"]
default_model = "echo"
daily_budget_usd = 10.0
max_output_tokens = 256
on_budget_exhausted = "reject"
on_route_not_allowed = "reject"
"#;

/// A server on a policy of the test's own (TOML text), with its data in a temporary folder.
pub struct OwnPolicy {
    _dir: tempfile::TempDir,
    /// The server.
    pub server: Server,
    /// The policy file's path.
    pub cfg: String,
    /// The data folder.
    pub data: PathBuf,
}

impl OwnPolicy {
    /// Writes the policy and starts a server on it.
    pub fn start(policy: &str) -> OwnPolicy {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("policy.toml");
        std::fs::write(&cfg, policy).unwrap();
        let data = dir.path().join("data");
        let cfg = cfg.to_str().unwrap().to_owned();
        let server = Server::start_in(&data, &["--config", &cfg]);
        OwnPolicy {
            _dir: dir,
            server,
            cfg,
            data,
        }
    }

    /// `hearth ARGS` on the same policy and data, its trimmed output.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut all = vec!["--config", self.cfg.as_str()];
        all.extend_from_slice(args);
        cli_ok(&self.data, &all).trim().to_owned()
    }

    /// Creates workspace `id` on `tier`, and a key for it.
    pub fn workspace_key(&self, id: &str, tier: &str) -> String {
        self.cli(&["workspaces", "create", id, "--tier", tier]);
        self.cli(&["keys", "create", "--workspace", id])
    }
}
