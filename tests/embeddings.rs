//! `POST /v1/embeddings` end to end: a real `hearth serve` over loopback with a real SQLite
//! data dir, the on-device sentence encoder (all-MiniLM-L6-v2, installed by
//! `scripts/fetch-default-model all-minilm-l6-v2`; a local run without it skips those tests,
//! saying so), a hosted OpenAI-compatible upstream on loopback (wiremock, recording what it
//! was sent) and a priced mock, all under one policy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine as _;
use common::{cli_ok, Server};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const MINILM: &str = "local/all-minilm-l6-v2";

/// The installed encoder's weights, or None (with a message) when absent outside CI.
fn minilm_installed() -> bool {
    let entry = hearth::models::entry("all-minilm-l6-v2").unwrap();
    common::installed::or_skip(
        entry.installed_path(),
        "embedding model all-minilm-l6-v2",
        "scripts/fetch-default-model all-minilm-l6-v2",
    )
    .is_some()
}

/// An upstream whose `/v1/embeddings` answers with OpenAI's shape: one 4-value vector per
/// input, 3 prompt tokens per input.
async fn upstream() -> MockServer {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(|req: &wiremock::Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            let n = body["input"].as_array().map_or(1, Vec::len);
            let data: Vec<Value> = (0..n)
                .map(|i| json!({"object": "embedding", "index": i, "embedding": [0.5, 0.5, 0.5, 0.5]}))
                .collect();
            let usage = json!({"prompt_tokens": 3 * n, "total_tokens": 3 * n});
            ResponseTemplate::new(200).set_body_json(
                json!({"object": "list", "data": data, "model": body["model"], "usage": usage}),
            )
        })
        .mount(&mock)
        .await;
    mock
}

/// What the upstream was sent, all bodies joined, and how many.
async fn seen_upstream(mock: &MockServer) -> (usize, String) {
    let reqs = mock.received_requests().await.unwrap_or_default();
    let text = reqs
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    (reqs.len(), text)
}

struct Install {
    _dir: tempfile::TempDir,
    server: Server,
    cfg: String,
    data: std::path::PathBuf,
}

impl Install {
    /// The on-device provider serving installed models (the encoder among them), the
    /// hosted upstream, and a mock priced at a dollar per thousand tokens; the tier answers a
    /// spent budget with its template, which an embedding must never get.
    fn start(upstream: &MockServer) -> Install {
        let dir = tempfile::tempdir().unwrap();
        let policy = format!(
            r#"
[providers.local]
kind = "local"

[providers.upstream]
kind = "openai_compatible"
base_url = "{}/v1"

[providers.priced]
kind = "mock"
latency_ms = 0
locality = "on_device"

[models.hosted_embed]
provider = "upstream"
model_id = "text-embedding-3-small"
max_output_tokens = 1
input_usd_per_1k = 0.00002
output_usd_per_1k = 0.0

[models.priced_embed]
provider = "priced"
model_id = "priced-embed"
max_output_tokens = 1
input_usd_per_1k = 1.0
output_usd_per_1k = 0.0

[routes.search]
primary = "hosted_embed"
fallbacks = ["priced_embed"]

[tiers.pro]
allowed_models = ["*"]
default_model = "priced_embed"
daily_budget_usd = 10.0
max_output_tokens = 256
on_budget_exhausted = "template"
on_route_not_allowed = "reject"
"#,
            upstream.uri()
        );
        let cfg = dir.path().join("policy.toml");
        std::fs::write(&cfg, policy).unwrap();
        let data = dir.path().join("data");
        let cfg = cfg.to_str().unwrap().to_owned();
        let server = Server::start_in(&data, &["--config", &cfg]);
        Install {
            _dir: dir,
            server,
            cfg,
            data,
        }
    }

    /// A workspace on the pro tier with a data policy, and a key for it.
    fn workspace(&self, id: &str, data_policy: &str) -> String {
        let run = |args: &[&str]| {
            let mut all = vec!["--config", self.cfg.as_str()];
            all.extend_from_slice(args);
            cli_ok(&self.data, &all).trim().to_owned()
        };
        run(&[
            "workspaces",
            "create",
            id,
            "--tier",
            "pro",
            "--data-policy",
            data_policy,
        ]);
        run(&["keys", "create", "--workspace", id])
    }

    fn admin_key(&self) -> String {
        let args = [
            "--config",
            self.cfg.as_str(),
            "keys",
            "create",
            "--workspace",
            "default",
            "--role",
            "admin",
        ];
        cli_ok(&self.data, &args).trim().to_owned()
    }

    async fn embed(&self, key: &str, body: Value) -> (u16, Value) {
        let (status, _, v) = self.server.post("/v1/embeddings", Some(key), &body).await;
        (status, v)
    }

    async fn last_audit_event(&self, key: &str) -> Value {
        let (status, v) = self.server.get_json("/audit?limit=1", Some(key)).await;
        assert_eq!(status, 200, "{v}");
        v["events"][0].clone()
    }
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn vectors(answer: &Value) -> Vec<Vec<f32>> {
    answer["data"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, d)| {
            assert_eq!(d["object"], "embedding");
            assert_eq!(d["index"], i);
            floats(&d["embedding"])
        })
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[tokio::test]
async fn the_local_encoder_answers_384_unit_vectors_that_place_close_sentences_close() {
    if !minilm_installed() {
        return;
    }
    let mock = upstream().await;
    let app = Install::start(&mock);
    let key = app.workspace("w_local", "local_only");
    let texts = [
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The stock market fell sharply on Monday.",
    ];
    let (status, v) = app
        .embed(&key, json!({"model": MINILM, "input": texts}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], MINILM);
    assert_eq!(v["hearth"]["provider"], "local");
    assert_eq!(v["hearth"]["estimated_cost_usd"], 0.0);
    let vs = vectors(&v);
    assert_eq!(vs.len(), 3);
    for x in &vs {
        assert_eq!(x.len(), 384);
        assert!(
            (dot(x, x) - 1.0).abs() < 1e-4,
            "not unit length: {}",
            dot(x, x)
        );
    }
    let close = dot(&vs[0], &vs[1]);
    let far = dot(&vs[0], &vs[2]);
    assert!(
        close > 0.5 && far < 0.2 && close > far + 0.3,
        "close {close}, far {far}"
    );
    assert_eq!(seen_upstream(&mock).await.0, 0, "nothing left the machine");
}

#[tokio::test]
async fn the_vectors_and_token_counts_equal_an_independent_numpy_bert_on_the_same_weights() {
    if !minilm_installed() {
        return;
    }
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/minilm_vectors.json")).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();
    let ids: usize = cases
        .iter()
        .map(|c| c["ids"].as_array().unwrap().len())
        .sum();
    let mock = upstream().await;
    let app = Install::start(&mock);
    let key = app.workspace("w_reference", "any");
    let (status, v) = app
        .embed(&key, json!({"model": MINILM, "input": texts}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["usage"]["prompt_tokens"], ids,
        "the same tokens, [CLS] and [SEP] included"
    );
    for (got, case) in vectors(&v).iter().zip(cases) {
        let want = floats(&case["vector"]);
        let worst = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (g - w).abs())
            .fold(0.0, f32::max);
        assert!(worst < 2e-5, "{}: off by {worst}", case["text"]);
    }
}

#[tokio::test]
async fn one_string_equals_an_array_of_one_and_base64_holds_the_same_floats() {
    if !minilm_installed() {
        return;
    }
    let mock = upstream().await;
    let app = Install::start(&mock);
    let key = app.workspace("w_forms", "any");
    let text = "Hearth keeps every call on this machine.";
    let (s1, one) = app
        .embed(&key, json!({"model": MINILM, "input": text}))
        .await;
    let (s2, many) = app
        .embed(&key, json!({"model": MINILM, "input": [text]}))
        .await;
    let (s3, b64) = app
        .embed(
            &key,
            json!({"model": MINILM, "input": text, "encoding_format": "base64"}),
        )
        .await;
    assert_eq!((s1, s2, s3), (200, 200, 200), "{one} {many} {b64}");
    assert_eq!(vectors(&one), vectors(&many));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    let decoded: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(decoded, vectors(&one)[0], "bit for bit");
}

#[tokio::test]
async fn dimensions_cut_the_vector_and_scale_it_back_to_unit_length() {
    if !minilm_installed() {
        return;
    }
    let mock = upstream().await;
    let app = Install::start(&mock);
    let key = app.workspace("w_dims", "any");
    let text = "short vectors for a small index";
    let (_, full) = app
        .embed(&key, json!({"model": MINILM, "input": text}))
        .await;
    let (status, cut) = app
        .embed(
            &key,
            json!({"model": MINILM, "input": text, "dimensions": 64}),
        )
        .await;
    assert_eq!(status, 200, "{cut}");
    let full = &vectors(&full)[0];
    let cut = &vectors(&cut)[0];
    assert_eq!(cut.len(), 64);
    assert!((dot(cut, cut) - 1.0).abs() < 1e-4);
    let norm = dot(&full[..64], &full[..64]).sqrt();
    for (c, f) in cut.iter().zip(&full[..64]) {
        assert!((c - f / norm).abs() < 1e-5, "{c} vs {}", f / norm);
    }
    let (status, v) = app
        .embed(
            &key,
            json!({"model": MINILM, "input": text, "dimensions": 385}),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "unsupported_by_model");
    let (status, list) = app.server.get_json("/v1/models", Some(&key)).await;
    assert_eq!(status, 200, "{list}");
    let kind = |id: &str| {
        let models = list["data"].as_array().unwrap();
        let m = models.iter().find(|m| m["id"] == id);
        m.map(|m| m["kind"].clone()).unwrap_or_default()
    };
    assert_eq!(kind(MINILM), "embedding", "{list}");
    assert_eq!(kind("local/smollm2-135m-instruct"), "chat", "{list}");
}

#[tokio::test]
async fn usage_counts_the_tokens_read_and_the_audit_event_holds_counts_not_text() {
    if !minilm_installed() {
        return;
    }
    let mock = upstream().await;
    let app = Install::start(&mock);
    let key = app.workspace("w_audit", "any");
    // [CLS] hello world [SEP] and [CLS] good morning [SEP]: four tokens each.
    let (status, v) = app
        .embed(
            &key,
            json!({"model": MINILM, "input": ["hello world", "good morning"]}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["usage"], json!({"prompt_tokens": 8, "total_tokens": 8}));
    let event = app.last_audit_event(&key).await;
    assert_eq!(event["endpoint"], "/v1/embeddings");
    assert_eq!(event["event_type"], "llm_request_completed");
    assert_eq!(event["trace_id"], v["hearth"]["trace_id"]);
    assert_eq!(event["model"], MINILM);
    assert_eq!(event["provider"], "local");
    assert_eq!(event["input_tokens"], 8);
    assert_eq!(event["output_tokens"], 0);
    assert_eq!(event["task"], "embeddings");
    let decision = event["policy_decision"].as_str().unwrap();
    assert!(decision.contains("embed 2 inputs"), "{decision}");
    let all = event.to_string();
    assert!(!all.contains("hello") && !all.contains("morning"), "{all}");
    let (status, metrics) = app.server.get("/metrics", Some(&app.admin_key())).await;
    assert_eq!(status, 200);
    let served = [
        "task=\"embeddings\"",
        "model=\"local/all-minilm-l6-v2\"",
        "status=\"ok\"",
    ];
    assert_eq!(common::metric(&metrics, "llm_requests_total", &served), 1.0);
}

#[tokio::test]
async fn bad_input_is_a_4xx_with_a_code_and_the_trace_id() {
    let mock = upstream().await;
    let app = Install::start(&mock);
    let key = app.workspace("w_bad", "any");
    let too_many: Vec<String> = (0..2049).map(|i| format!("t{i}")).collect();
    let cases = [
        (
            json!({"model": "priced_embed", "input": ""}),
            400,
            "empty_input",
        ),
        (
            json!({"model": "priced_embed", "input": []}),
            400,
            "empty_input",
        ),
        (
            json!({"model": "priced_embed", "input": ["a", " "]}),
            400,
            "empty_input",
        ),
        (
            json!({"model": "priced_embed", "input": too_many}),
            400,
            "too_many_inputs",
        ),
        (
            json!({"model": "priced_embed", "input": [101, 2023]}),
            400,
            "token_input_unsupported",
        ),
        (
            json!({"model": "priced_embed", "input": [[101], [2023]]}),
            400,
            "token_input_unsupported",
        ),
        (
            json!({"model": "priced_embed", "input": 7}),
            400,
            "invalid_request",
        ),
        (
            json!({"model": "priced_embed", "input": ["a", 1]}),
            400,
            "invalid_request",
        ),
        (json!({"model": "priced_embed"}), 400, "invalid_request"),
        (
            json!({"model": "priced_embed", "input": "a", "encoding_format": "int8"}),
            400,
            "invalid_request",
        ),
        (
            json!({"model": "priced_embed", "input": "a", "dimensions": 0}),
            400,
            "invalid_request",
        ),
        (
            json!({"model": "priced_embed", "input": "a", "dimensions": 65}),
            400,
            "unsupported_by_model",
        ),
        (
            json!({"model": "no-such-model", "input": "a"}),
            400,
            "unknown_model",
        ),
        (
            json!({"model": "hearth/no-such-route", "input": "a"}),
            400,
            "unknown_task",
        ),
    ];
    for (body, status, code) in cases {
        let (got, v) = app.embed(&key, body.clone()).await;
        assert_eq!(
            (got, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {v}"
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{v}"
        );
        assert!(
            v["error"]["trace_id"]
                .as_str()
                .is_some_and(|t| !t.is_empty()),
            "{v}"
        );
    }
    assert_eq!(seen_upstream(&mock).await.0, 0);
}

#[tokio::test]
async fn a_model_that_generates_text_is_refused_for_embeddings_and_an_encoder_for_chat() {
    if !minilm_installed() || common::default_model().is_none() {
        return;
    }
    let mock = upstream().await;
    let app = Install::start(&mock);
    let key = app.workspace("w_kinds", "any");
    let (status, v) = app
        .embed(
            &key,
            json!({"model": "local/smollm2-135m-instruct", "input": "hi"}),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "unsupported_by_model");
    let chat = json!({"model": MINILM, "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, v) = app
        .server
        .post("/v1/chat/completions", Some(&key), &chat)
        .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "unsupported_by_model");
}

#[tokio::test]
async fn hosted_embeddings_go_upstream_in_openai_format_and_are_charged() {
    let mock = upstream().await;
    let app = Install::start(&mock);
    let key = app.workspace("w_hosted", "any");
    let (status, v) = app
        .embed(
            &key,
            json!({"model": "hosted_embed", "input": ["alpha", "beta"], "dimensions": 4}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["model"], "upstream/text-embedding-3-small");
    assert_eq!(vectors(&v), vec![vec![0.5; 4]; 2]);
    assert_eq!(v["usage"]["prompt_tokens"], 6);
    let cost = v["hearth"]["estimated_cost_usd"].as_f64().unwrap();
    assert!((cost - 6.0 * 0.00002 / 1000.0).abs() < 1e-15, "{cost}");
    let (n, sent) = seen_upstream(&mock).await;
    assert_eq!(n, 1);
    let sent: Value = serde_json::from_str(&sent).unwrap();
    assert_eq!(
        sent,
        json!({"model": "text-embedding-3-small", "input": ["alpha", "beta"],
            "encoding_format": "float", "dimensions": 4})
    );
}

#[tokio::test]
async fn a_local_only_workspace_never_sends_text_to_a_hosted_embedding_model() {
    let mock = upstream().await;
    let app = Install::start(&mock);
    let key = app.workspace("w_local_only", "local_only");
    let (status, v) = app
        .embed(
            &key,
            json!({"model": "hosted_embed", "input": "secret plans"}),
        )
        .await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["code"], "policy_blocked");
    // A route falls back to what the policy allows: the on-device priced mock.
    let (status, v) = app
        .embed(
            &key,
            json!({"model": "hearth/search", "input": "secret plans"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["hearth"]["provider"], "priced");
    assert_eq!(seen_upstream(&mock).await.0, 0);
}

#[tokio::test]
async fn the_pii_guard_puts_placeholders_in_what_a_redact_workspace_embeds_upstream() {
    let mock = upstream().await;
    let app = Install::start(&mock);
    let key = app.workspace("w_redact", "redact");
    let text = "Write to an.nguyen@example.vn about the invoice.";
    let (status, v) = app
        .embed(&key, json!({"model": "hosted_embed", "input": text}))
        .await;
    assert_eq!(status, 200, "{v}");
    let (n, sent) = seen_upstream(&mock).await;
    assert_eq!(n, 1);
    assert!(
        sent.contains("[EMAIL_1]") && !sent.contains("an.nguyen"),
        "{sent}"
    );
}

#[tokio::test]
async fn a_spent_budget_refuses_embeddings_with_429_never_a_template() {
    let mock = upstream().await;
    let app = Install::start(&mock);
    let key = app.workspace("w_budget", "any");
    let admin = app.admin_key();
    let (status, v) = app
        .server
        .patch_workspace(&admin, "w_budget", &json!({"daily_budget_usd": 0.05}))
        .await;
    assert_eq!(status, 200, "{v}");
    let body = json!({"model": "priced_embed", "input": "twelve chars"});
    let mut served = 0;
    let refusal = loop {
        let (status, v) = app.embed(&key, body.clone()).await;
        match status {
            200 => served += 1,
            _ => break (status, v),
        }
        assert!(served < 50, "the budget never ran out");
    };
    let (status, v) = refusal;
    assert_eq!(status, 429, "{v}");
    assert_eq!(v["error"]["code"], "budget_exceeded", "{v}");
    // "twelve chars" is charged 3 tokens ($0.003) and held at its worst case before the call,
    // 12 bytes + 8 = 20 tokens ($0.02): the 12th finds $0.033 spent, and $0.053 is over $0.05.
    assert_eq!(served, 11, "{v}");
}

#[tokio::test]
async fn the_workspace_rate_limit_counts_embeddings_requests() {
    let mock = upstream().await;
    let app = Install::start(&mock);
    let key = app.workspace("w_rate", "any");
    let admin = app.admin_key();
    let (status, v) = app
        .server
        .patch_workspace(&admin, "w_rate", &json!({"rpm": 2}))
        .await;
    assert_eq!(status, 200, "{v}");
    let body = json!({"model": "priced_embed", "input": "x"});
    assert_eq!(app.embed(&key, body.clone()).await.0, 200);
    assert_eq!(app.embed(&key, body.clone()).await.0, 200);
    let (status, v) = app.embed(&key, body).await;
    assert_eq!(status, 429, "{v}");
    assert_eq!(v["error"]["code"], "rate_limited_workspace", "{v}");
}

/// The OpenAI adapter's `/embeddings` call against recorded-shape fixtures
/// (`tests/fixtures/openai/`), through the public `build` API: its request and how each
/// answer and error maps, as the chat path maps them.
mod hosted_adapter {
    use std::sync::Arc;

    use hearth::config::HostedKind;
    use hearth::providers::{EmbedRequest, Provider, ProviderError};
    use serde_json::json;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer};

    use super::common::hosted::{assert_no_key, sent_body, Adapter};

    const KEY: &str = "test-openai-key-hearth-embed-77c1e0";
    const API: Adapter = Adapter {
        fixtures: "openai",
        base_path: "/v1",
        chat_path: "/v1/embeddings",
    };

    fn provider(mock: &MockServer, key_env: &str) -> Arc<dyn Provider> {
        API.provider(mock, HostedKind::Openai, key_env, KEY)
    }

    fn request() -> EmbedRequest {
        EmbedRequest {
            model_id: "text-embedding-3-small".into(),
            inputs: vec!["The food was delicious.".into(), "Ngon quá!".into()],
            dimensions: None,
        }
    }

    async fn error_of(status: u16, fixture: &str, key_env: &str) -> ProviderError {
        let mock = MockServer::start().await;
        API.serve(&mock, API.reply(status, fixture), 1).await;
        let e = provider(&mock, key_env)
            .embed(&request())
            .await
            .unwrap_err();
        assert_no_key(&e, KEY);
        e
    }

    #[tokio::test]
    async fn an_embeddings_call_posts_the_texts_with_the_key_and_reads_the_vectors_and_usage() {
        let mock = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/embeddings"))
            .and(header("authorization", format!("Bearer {KEY}").as_str()))
            .respond_with(API.reply(200, "embeddings_success.json"))
            .expect(1)
            .mount(&mock)
            .await;
        let p = provider(&mock, "HEARTH_TEST_EMBED_KEY_OK");
        let r = p.embed(&request()).await.unwrap();
        assert_eq!(r.vectors.len(), 2);
        assert_eq!(
            r.vectors[0],
            [0.0023064255, -0.009327292, 0.015797347, -0.0077780345]
        );
        assert_eq!(r.usage.input_tokens, 8);
        assert_eq!(r.usage.output_tokens, 0);
        assert_eq!(
            sent_body(&mock).await,
            json!({"model": "text-embedding-3-small",
                "input": ["The food was delicious.", "Ngon quá!"], "encoding_format": "float"})
        );
    }

    #[tokio::test]
    async fn errors_map_as_the_chat_path_maps_them() {
        let e = error_of(
            429,
            "error_429_rate_limit_exceeded.json",
            "HEARTH_TEST_EMBED_KEY_429",
        )
        .await;
        assert!(matches!(e, ProviderError::RateLimited { .. }), "{e:?}");
        let e = error_of(
            401,
            "error_401_invalid_api_key.json",
            "HEARTH_TEST_EMBED_KEY_401",
        )
        .await;
        assert_eq!(e, ProviderError::Auth);
        let e = error_of(
            404,
            "error_404_model_not_found.json",
            "HEARTH_TEST_EMBED_KEY_404",
        )
        .await;
        assert!(matches!(e, ProviderError::InvalidRequest(_)), "{e:?}");
        let e = error_of(
            503,
            "error_503_engine_overloaded.json",
            "HEARTH_TEST_EMBED_KEY_503",
        )
        .await;
        assert!(matches!(e, ProviderError::Unavailable(_)), "{e:?}");
        // Cut-off JSON is a broken answer; a chat completion where vectors belong, a wrong one.
        let e = error_of(200, "malformed.json", "HEARTH_TEST_EMBED_KEY_CUT").await;
        assert!(matches!(e, ProviderError::Unavailable(_)), "{e:?}");
        let e = error_of(200, "completion_length.json", "HEARTH_TEST_EMBED_KEY_CHAT").await;
        assert!(matches!(e, ProviderError::Malformed(_)), "{e:?}");
    }
}
