//! A provider key reaches the provider's Authorization header and nothing else: not a
//! response body or header, not an error, not the audit log, not /metrics, not the
//! server's most verbose logs, not the CLI's output, not the data dir. The upstream is an
//! OpenAI-compatible wiremock server that answers by a marker in the message, and that
//! echoes the key back in its error bodies, as some servers do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use common::hosted::{chat_completion, chat_completions};
use serde_json::{json, Value};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY_VAR: &str = "HEARTH_TEST_UPSTREAM_KEY";
const CANARY: &str = "test-key-LEAKCANARY-12345";
/// A part of the key distinctive enough that a clipped or masked echo is still caught.
const CANARY_CORE: &str = "LEAKCANARY";

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(CANARY_CORE),
        "the provider key leaked into {what}:\n{text}"
    );
}

/// An OpenAI-shaped error body that quotes the key it was sent.
fn echoing_error(kind: &str, message: &str) -> Value {
    json!({"error": {"message": format!("{message} (key: {CANARY})"), "type": kind}})
}

async fn upstream() -> MockServer {
    let mock = MockServer::start().await;
    let usage = json!({"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15});
    chat_completions()
        .and(body_string_contains("case-ok"))
        .respond_with(ResponseTemplate::new(200).set_body_json(chat_completion("All good.", usage)))
        .mount(&mock)
        .await;
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m1",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let sse = [
        chunk(json!({"role": "assistant", "content": "Stre"}), Value::Null).to_string(),
        chunk(json!({"content": "amed."}), json!("stop")).to_string(),
        json!({"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m1",
               "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 2}})
        .to_string(),
        "[DONE]".to_owned(),
    ]
    .iter()
    .map(|d| format!("data: {d}\n\n"))
    .collect::<String>();
    chat_completions()
        .and(body_string_contains("case-stream"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(sse.into_bytes(), "text/event-stream"),
        )
        .mount(&mock)
        .await;
    chat_completions()
        .and(body_string_contains("case-429"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after-ms", "10")
                .set_body_json(echoing_error("rate_limit_error", "Slow down")),
        )
        .mount(&mock)
        .await;
    chat_completions()
        .and(body_string_contains("case-500"))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(echoing_error("server_error", "Boom")),
        )
        .mount(&mock)
        .await;
    chat_completions()
        .and(body_string_contains("case-400"))
        .respond_with(ResponseTemplate::new(400).set_body_json(echoing_error(
            "invalid_request_error",
            "Unsupported parameter",
        )))
        .mount(&mock)
        .await;
    chat_completions()
        .and(body_string_contains("case-401"))
        .respond_with(ResponseTemplate::new(401).set_body_json(echoing_error(
            "invalid_request_error",
            "Incorrect API key provided",
        )))
        .mount(&mock)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list", "data": [{"id": "m1", "object": "model"}]
        })))
        .mount(&mock)
        .await;
    mock
}

/// A `hearth serve` at RUST_LOG=debug whose stdout and stderr are kept whole.
struct Serve {
    base: String,
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

impl Serve {
    fn start(data: &Path, config: &Path) -> Serve {
        let mut child = common::hearth()
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .arg("--config")
            .arg(config)
            .env(KEY_VAR, CANARY)
            .env("RUST_LOG", "debug")
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let stdout = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("hearth listening on ") {
                    let _ = tx.send(addr.to_owned());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let stderr = std::thread::spawn(move || {
            let mut all = Vec::new();
            let _ = err.read_to_end(&mut all);
            String::from_utf8_lossy(&all).into_owned()
        });
        let base = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                panic!("hearth serve did not print its address within 60 s");
            }
        };
        Serve {
            base,
            child,
            stdout: Some(stdout),
            stderr: Some(stderr),
        }
    }

    /// Stops the server and returns everything it wrote (stdout, then stderr).
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let out = self.stdout.take().unwrap().join().unwrap();
        let err = self.stderr.take().unwrap().join().unwrap();
        format!("{out}{err}")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything a client saw of one response: status line, every header, the whole body.
struct Seen {
    status: u16,
    body: String,
    all: String,
}

async fn seen(resp: reqwest::Response) -> Seen {
    let status = resp.status().as_u16();
    let mut all = format!("HTTP {status}\n");
    for (name, value) in resp.headers() {
        all.push_str(&format!(
            "{name}: {}\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    let body = resp.text().await.unwrap();
    all.push_str(&body);
    Seen { status, body, all }
}

fn policy(upstream: &str) -> String {
    format!(
        r#"
[resilience]
request_deadline_ms = 8000
attempt_timeout_ms = 3000
max_retries = 1
backoff_base_ms = 10
backoff_max_ms = 20
breaker_failure_threshold = 100

[providers.upstream]
kind = "openai_compatible"
base_url = "{upstream}/v1"
api_key_env = "{KEY_VAR}"
models = ["m1"]

[routes.chat]
primary = "upstream/m1"

[tiers.enterprise]
allowed_models = ["*"]
default_model = "upstream/m1"
daily_budget_usd = 100.0
max_output_tokens = 256
on_budget_exhausted = "reject"
on_route_not_allowed = "reject"
"#
    )
}

/// A CLI command on the install, with the key in its environment as the server has it.
fn cli(data: &Path, config: &Path, args: &[&str]) -> Output {
    common::hearth()
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(config)
        .env(KEY_VAR, CANARY)
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .output()
        .unwrap()
}

fn cli_ok(data: &Path, config: &Path, args: &[&str]) -> String {
    let out = cli(data, config, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{args:?}: {text}");
    assert_clean(&format!("the output of `hearth {}`", args.join(" ")), &text);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn the_provider_key_reaches_the_upstream_and_nothing_else() {
    let mock = upstream().await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cfg = tmp.path().join("policy.toml");
    std::fs::write(&cfg, policy(&mock.uri())).unwrap();

    let user = cli_ok(&data, &cfg, &["keys", "create", "--workspace", "default"]);
    let admin = cli_ok(
        &data,
        &cfg,
        &[
            "keys",
            "create",
            "--workspace",
            "default",
            "--role",
            "admin",
        ],
    );
    let server = Serve::start(&data, &cfg);
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", server.base);
    let chat = |marker: &str, stream: bool| {
        http.post(url("/v1/chat/completions"))
            .bearer_auth(&user)
            .json(&json!({
                "model": "upstream/m1",
                "messages": [{"role": "user", "content": format!("Please answer ({marker}).")}],
                "temperature": 0,
                "stream": stream
            }))
            .send()
    };

    let ok = seen(chat("case-ok", false).await.unwrap()).await;
    assert_eq!(ok.status, 200, "{}", ok.all);
    assert_clean("a successful answer", &ok.all);

    let streamed = seen(chat("case-stream", true).await.unwrap()).await;
    assert_eq!(streamed.status, 200, "{}", streamed.all);
    assert!(
        streamed.body.contains("Stre") && streamed.body.contains("[DONE]"),
        "{}",
        streamed.all
    );
    assert_clean("a streamed answer", &streamed.all);

    let on_chat = seen(
        http.post(url("/chat"))
            .bearer_auth(&user)
            .json(&json!({"task": "chat", "message": "Please answer (case-ok)."}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(on_chat.status, 200, "{}", on_chat.all);
    assert_clean("a /chat answer", &on_chat.all);

    for (marker, what) in [("case-429", "a 429"), ("case-500", "a 500")] {
        let failed = seen(chat(marker, false).await.unwrap()).await;
        assert!(failed.status >= 500, "{what}: {}", failed.all);
        assert!(failed.body.contains("\"error\""), "{}", failed.all);
        assert_clean(&format!("the client's error after {what}"), &failed.all);
    }
    // A refusal retrying cannot fix: the provider's own message is passed on, so a key it
    // quotes must not be.
    let refused = seen(chat("case-400", false).await.unwrap()).await;
    assert_eq!(refused.status, 502, "{}", refused.all);
    assert!(
        refused.body.contains("Unsupported parameter"),
        "the provider's reason reaches the client: {}",
        refused.all
    );
    assert_clean("the client's error after a 400", &refused.all);
    let refused = seen(chat("case-400", true).await.unwrap()).await;
    assert!(
        refused.all.contains("Unsupported parameter"),
        "{}",
        refused.all
    );
    assert_clean("a stream's error after a 400", &refused.all);
    let stream_failed = seen(chat("case-500", true).await.unwrap()).await;
    assert_clean("a stream's error after a 500", &stream_failed.all);

    // Last, since a refused key opens the breaker at once.
    let refused = seen(chat("case-401", false).await.unwrap()).await;
    assert!(refused.status >= 500, "{}", refused.all);
    let err: Value = serde_json::from_str(&refused.body).unwrap();
    let message = err["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("auth"),
        "the client learns the key was refused: {}",
        refused.all
    );
    assert_clean("the client's error after a 401", &refused.all);

    for (p, key) in [
        ("/metrics", &admin),
        ("/audit?limit=500", &admin),
        ("/audit?limit=500", &user),
        ("/admin/providers", &admin),
        ("/v1/models", &user),
        ("/ready", &user),
    ] {
        let got = seen(http.get(url(p)).bearer_auth(key).send().await.unwrap()).await;
        // `/ready` says 503 once the refused key has opened the breaker; it still answers.
        let expected: &[u16] = if p == "/ready" { &[200, 503] } else { &[200] };
        assert!(expected.contains(&got.status), "{p}: {}", got.all);
        assert_clean(p, &got.all);
    }
    let (_, audit) = {
        let got = seen(
            http.get(url("/audit?limit=500"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap(),
        )
        .await;
        (
            got.status,
            serde_json::from_str::<Value>(&got.body).unwrap(),
        )
    };
    assert!(
        audit["events"].as_array().map_or(0, Vec::len) >= 6,
        "every call was audited: {audit}"
    );

    let logs = server.stop();
    assert!(
        logs.contains("DEBUG") || logs.contains("\"level\":\"DEBUG\""),
        "the logs are at debug level"
    );
    assert_clean("the server's logs", &logs);

    let listed = cli_ok(&data, &cfg, &["providers", "list"]);
    assert!(listed.contains("upstream"), "{listed}");
    cli_ok(&data, &cfg, &["providers", "test", "upstream"]);
    cli_ok(&data, &cfg, &["audit", "tail", "--limit", "100"]);
    cli_ok(&data, &cfg, &["usage"]);

    for f in files(&data) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes
                .windows(CANARY_CORE.len())
                .any(|w| w == CANARY_CORE.as_bytes()),
            "the provider key was written to {}",
            f.display()
        );
    }

    // The key was used: every call the upstream got carried it, and only there.
    let reqs = mock.received_requests().await.unwrap();
    assert!(reqs.len() >= 8, "{} upstream calls", reqs.len());
    for r in &reqs {
        let auth = r
            .headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            auth.as_deref(),
            Some(format!("Bearer {CANARY}").as_str()),
            "{} {}",
            r.method,
            r.url
        );
        assert!(
            !String::from_utf8_lossy(&r.body).contains(CANARY_CORE),
            "the key is in a body sent upstream"
        );
    }
}
