//! The OpenAI-compatible adapter against a real server nobody here wrote: llama-cpp-python's
//! `llama_cpp.server` serving the same SmolLM2 GGUF on loopback, configured as a hosted
//! provider. Hearth routes to it by name, streams through it, and falls back to it when the
//! local provider fails. In CI the venv (`scripts/llamacpp-venv`) and the model must be
//! present; a local run without them skips, saying so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{cli, Server};
use serde_json::{json, Value};

/// llama-cpp-python's server on a free loopback port; killed on drop.
struct LlamaServer {
    child: Child,
    port: u16,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LlamaServer {
    /// Starts it, or None (with a note) when the venv or the model is missing outside CI.
    async fn start() -> Option<LlamaServer> {
        let python = common::installed::llamacpp_python()?;
        let model = common::default_model()?;
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(python)
            .args(["-m", "llama_cpp.server", "--model"])
            .arg(model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--n_ctx",
                "2048",
                "--n_threads",
                "2",
                "--model_alias",
                "smollm2",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = LlamaServer { child, port };
        let http = reqwest::Client::new();
        for _ in 0..240 {
            let url = format!("http://127.0.0.1:{port}/v1/models");
            if let Ok(r) = http.get(url).send().await {
                if r.status().is_success() {
                    return Some(server);
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("llama_cpp.server did not answer within 60 s");
    }
}

/// Hearth on the built-in policy plus the llama.cpp server as a hosted provider that the
/// chat route falls back to.
fn hearth_in_front_of(llama: &LlamaServer) -> (tempfile::TempDir, Server, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut policy = include_str!("../src/config/default.toml").replace(
        "[routes.chat]\nprimary = \"smollm2\"\n",
        "[routes.chat]\nprimary = \"smollm2\"\nfallbacks = [\"remote_smollm2\"]\n",
    );
    assert!(
        policy.contains("remote_smollm2"),
        "the chat route was edited"
    );
    policy.push_str(&format!(
        r#"
[providers.llamacpp]
kind = "openai_compatible"
base_url = "http://127.0.0.1:{}/v1"
models = ["smollm2"]

[models.remote_smollm2]
provider = "llamacpp"
model_id = "smollm2"
max_output_tokens = 512
input_usd_per_1m = 0.5
output_usd_per_1m = 1.5
"#,
        llama.port
    ));
    let cfg = dir.path().join("policy.toml");
    std::fs::write(&cfg, policy).unwrap();
    let data = dir.path().join("data");
    let cfg = cfg.to_str().unwrap();
    let key = create_key_with(&data, cfg);
    let s = Server::start_in(&data, &["--config", cfg, "--debug-endpoints"]);
    (dir, s, key)
}

fn create_key_with(data: &std::path::Path, cfg: &str) -> String {
    let out = cli(
        data,
        &[
            "--config",
            cfg,
            "keys",
            "create",
            "--workspace",
            "default",
            "--role",
            "admin",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn ask(model: &str, stream: bool) -> Value {
    json!({
        "model": model, "temperature": 0, "max_tokens": 12, "stream": stream,
        "messages": [{"role": "user", "content": "Name one colour of the sky."}]
    })
}

#[tokio::test]
async fn a_request_named_for_the_compatible_provider_is_answered_by_llama_cpp_server() {
    let Some(llama) = LlamaServer::start().await else {
        return;
    };
    let (_dir, s, key) = hearth_in_front_of(&llama);
    let (status, _, v) = s
        .post(
            "/v1/chat/completions",
            Some(&key),
            &ask("llamacpp/smollm2", false),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["hearth"]["provider"], "llamacpp");
    assert_eq!(v["model"], "llamacpp/smollm2");
    assert!(!v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .is_empty());
    // llama.cpp reports usage for a whole answer; the cost comes from it.
    let usage = &v["usage"];
    assert!(usage["prompt_tokens"].as_u64().unwrap() > 5, "{usage}");
    assert!(
        usage["completion_tokens"].as_u64().unwrap() <= 12,
        "{usage}"
    );
}

#[tokio::test]
async fn a_stream_through_llama_cpp_server_arrives_in_pieces_and_ends_with_done() {
    let Some(llama) = LlamaServer::start().await else {
        return;
    };
    let (_dir, s, key) = hearth_in_front_of(&llama);
    let resp = s
        .http
        .post(s.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&ask("remote_smollm2", true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-hearth-provider"], "llamacpp");
    let text = resp.text().await.unwrap();
    let payloads: Vec<&str> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .collect();
    assert_eq!(payloads.last(), Some(&"[DONE]"), "{text}");
    let pieces: Vec<String> = payloads
        .iter()
        .filter_map(|p| serde_json::from_str::<Value>(p).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .filter(|t| !t.is_empty())
        .collect();
    assert!(pieces.len() >= 2, "streamed in pieces: {pieces:?}");
}

#[tokio::test]
async fn when_the_local_model_fails_the_chat_route_falls_back_to_llama_cpp_server() {
    let Some(llama) = LlamaServer::start().await else {
        return;
    };
    let (_dir, s, key) = hearth_in_front_of(&llama);
    let (status, _, v) = s
        .post(
            "/debug/provider/local/fail",
            Some(&key),
            &json!({"mode": "fail"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, _, v) = s
        .post(
            "/v1/chat/completions",
            Some(&key),
            &ask("hearth/chat", false),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["hearth"]["provider"], "llamacpp", "{v}");
    assert_eq!(v["hearth"]["fallback_used"], true, "{v}");
    assert!(
        v["hearth"]["estimated_cost_usd"].as_f64().unwrap() > 0.0,
        "{v}"
    );

    // Streamed too: the fallback happens before the first token reaches the client.
    let resp = s
        .http
        .post(s.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&ask("hearth/chat", true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-hearth-provider"], "llamacpp");
    assert!(resp.text().await.unwrap().ends_with("data: [DONE]\n\n"));
}
