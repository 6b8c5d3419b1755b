//! Loopback upstreams for the hosted adapters: the recorded-shape fixtures and wiremock
//! plumbing the adapter contract tests (`tests/hosted_*.rs`) share, and the fixed
//! OpenAI-shaped chat completion the end-to-end tests put behind a real server.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;
use hearth::config::{HostedConfig, HostedKind, ProviderDataPolicy};
use hearth::providers::hosted::{build, build_client, Built};
use hearth::providers::{
    Delta, Message, Provider, ProviderError, ProviderRequest, Role, ToolCallPiece,
};
use hearth::secrets::Keychain;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

/// One item of a streamed answer.
pub type Item = Result<Delta, ProviderError>;

/// What one adapter's contract tests differ by.
pub struct Adapter {
    /// The folder under `tests/fixtures/` its recorded answers are in.
    pub fixtures: &'static str,
    /// What follows the mock's address in the configured base URL (`/v1`, or nothing).
    pub base_path: &'static str,
    /// The path on the mock of the chat call that [`Adapter::serve`] answers.
    pub chat_path: &'static str,
}

impl Adapter {
    /// The bytes of one fixture.
    pub fn fixture(&self, name: &str) -> Vec<u8> {
        let p = format!(
            "{}/tests/fixtures/{}/{name}",
            env!("CARGO_MANIFEST_DIR"),
            self.fixtures
        );
        std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    /// An answer with `status` whose body is a fixture, typed by its extension.
    pub fn reply(&self, status: u16, name: &str) -> ResponseTemplate {
        ResponseTemplate::new(status).set_body_raw(self.fixture(name), mime(name))
    }

    /// The settings for a provider at `mock`, its key named by `key_env`.
    pub fn config(&self, mock: &MockServer, key_env: &str) -> HostedConfig {
        config_at(format!("{}{}", mock.uri(), self.base_path), key_env)
    }

    /// The adapter of `kind` pointed at `mock`, `key` set in `key_env` (one variable per test).
    pub fn provider(
        &self,
        mock: &MockServer,
        kind: HostedKind,
        key_env: &str,
        key: &str,
    ) -> Arc<dyn Provider> {
        std::env::set_var(key_env, key);
        build_with(kind, &self.config(mock, key_env))
    }

    /// The adapter of `kind` at a port nothing listens on any more, `key` set in `key_env`.
    pub fn unreachable(&self, kind: HostedKind, key_env: &str, key: &str) -> Arc<dyn Provider> {
        std::env::set_var(key_env, key);
        let base_url = format!("http://{}{}", closed_port(), self.base_path);
        build_with(kind, &config_at(base_url, key_env))
    }

    /// Serves `reply` for every POST to the chat path, expecting `times` calls.
    pub async fn serve(&self, mock: &MockServer, reply: ResponseTemplate, times: u64) {
        Mock::given(method("POST"))
            .and(path(self.chat_path))
            .respond_with(reply)
            .expect(times)
            .mount(mock)
            .await;
    }

    /// Serves one fixture with `status` for one POST to the chat path.
    pub async fn serve_fixture(&self, mock: &MockServer, status: u16, name: &str) {
        self.serve(mock, self.reply(status, name), 1).await;
    }
}

/// The content type a fixture is served with, from its extension.
pub fn mime(name: &str) -> &'static str {
    if name.ends_with(".sse") {
        "text/event-stream"
    } else if name.ends_with(".html") {
        "text/html"
    } else {
        "application/json"
    }
}

/// The settings for a provider at `base_url`, its key named by `key_env`.
pub fn config_at(base_url: String, key_env: &str) -> HostedConfig {
    HostedConfig {
        base_url: Some(base_url),
        api_key_env: Some(key_env.to_owned()),
        models: vec![],
        headers: BTreeMap::new(),
        data_policy: ProviderDataPolicy::default(),
    }
}

/// Builds a provider through the public API as the server does, named `name`.
pub fn build_named(name: &str, kind: HostedKind, cfg: &HostedConfig) -> Built {
    build(name, kind, cfg, &Keychain::new(), build_client().unwrap()).unwrap()
}

/// Builds a provider of `kind` named after its kind.
pub fn build_with(kind: HostedKind, cfg: &HostedConfig) -> Arc<dyn Provider> {
    build_named(kind.as_str(), kind, cfg).provider
}

/// Makes the keychain the keyring's in-memory mock, so the user's real keychain is never read.
pub fn mock_keychain() {
    keyring::set_default_credential_builder(keyring::mock::default_credential_builder());
}

/// A port nothing listens on any more.
pub fn closed_port() -> SocketAddr {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    addr
}

/// One message of a request.
pub fn msg(role: Role, content: &str) -> Message {
    Message::new(role, content.to_owned())
}

/// A request for `model` with `messages`, 256 output tokens at temperature 0 and no options.
pub fn request(model: &str, messages: Vec<Message>) -> ProviderRequest {
    ProviderRequest::greedy(model, messages, 256)
}

/// The JSON body of the one request `mock` received.
pub async fn sent_body(mock: &MockServer) -> Value {
    let reqs = mock.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 1);
    reqs[0].body_json().unwrap()
}

/// Every item of a streamed answer, in order.
pub async fn collect(p: &dyn Provider, req: &ProviderRequest) -> Vec<Item> {
    p.stream(req)
        .await
        .expect("the stream should open")
        .collect()
        .await
}

/// A text delta, as a stream yields it.
pub fn text(s: &str) -> Item {
    Ok(Delta::Text(s.to_owned()))
}

/// The text deltas of a streamed answer, joined.
pub fn joined_text(items: &[Item]) -> String {
    items
        .iter()
        .filter_map(|i| match i {
            Ok(Delta::Text(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// The tool-call pieces of a streamed answer, in order.
pub fn tool_pieces(items: &[Item]) -> Vec<ToolCallPiece> {
    items
        .iter()
        .filter_map(|i| match i {
            Ok(Delta::ToolCall(p)) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

/// Fails if `key` is in the error's `Debug` or `Display`.
pub fn assert_no_key(e: &ProviderError, key: &str) {
    assert!(!format!("{e:?}").contains(key), "the key leaked: {e:?}");
    assert!(!format!("{e}").contains(key), "the key leaked: {e}");
}

/// The error a non-streamed call ends with, checked to not carry `key`.
pub async fn generate_error(p: &dyn Provider, req: &ProviderRequest, key: &str) -> ProviderError {
    let e = p.generate(req).await.expect_err("the call should fail");
    assert_no_key(&e, key);
    e
}

/// The first error of a call: of its stream when `stream`, else of the non-streamed call.
pub async fn first_error(p: &dyn Provider, req: &ProviderRequest, stream: bool) -> ProviderError {
    if stream {
        let items = collect(p, req).await;
        items.into_iter().find_map(Result::err).unwrap()
    } else {
        p.generate(req).await.unwrap_err()
    }
}

/// POSTs to an OpenAI-shaped upstream's `/v1/chat/completions`, to add matchers and an answer.
pub fn chat_completions() -> MockBuilder {
    Mock::given(method("POST")).and(path("/v1/chat/completions"))
}

/// A non-streamed OpenAI chat completion from model `m1` saying `content`, with `usage`.
pub fn chat_completion(content: &str, usage: Value) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "m1",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": usage
    })
}

/// An OpenAI-shaped upstream on loopback answering every chat completion with
/// [`chat_completion`]`(content, usage)`, recording what it was sent.
pub async fn openai_upstream(content: &str, usage: Value) -> MockServer {
    let mock = MockServer::start().await;
    chat_completions()
        .respond_with(ResponseTemplate::new(200).set_body_json(chat_completion(content, usage)))
        .mount(&mock)
        .await;
    mock
}
