//! Deterministic in-process providers: the demo's `mock-fast`, `mock-strong` and
//! `mock-balanced`, fault drills and benchmarks. A product feature, configured like any
//! provider; never a stand-in for a real adapter's contract tests.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{
    estimate_prompt_tokens, estimate_tokens, shorten, unit, Delta, DeltaStream, EmbedRequest,
    EmbedResponse, FinishReason, OutputFormat, Provider, ProviderError, ProviderRequest,
    ProviderResponse, Role, ToolCall, ToolCallPiece, ToolChoice, Usage,
};
use crate::config::MockConfig;

const WORDS: [&str; 16] = [
    "customer", "billing", "charged", "twice", "upgrade", "refund", "priority", "high", "category",
    "account", "review", "plan", "resolve", "request", "summary", "issue",
];

/// Answer length before `max_output_tokens` caps it.
const NATURAL_ANSWER_TOKENS: usize = 24;

/// A provider whose answers are a pure function of the request.
pub struct MockProvider {
    latency: Duration,
}

impl MockProvider {
    /// A mock with the configured latency.
    pub fn new(config: &MockConfig) -> Self {
        MockProvider {
            latency: Duration::from_millis(config.latency_ms),
        }
    }
}

/// The prompt tokens of a request as mocks count them (4 per message of framing).
pub fn prompt_tokens(req: &ProviderRequest) -> u64 {
    estimate_prompt_tokens(req) + 4 * req.messages.len() as u64
}

fn answer_tokens(req: &ProviderRequest) -> (Vec<String>, FinishReason) {
    let mut hasher = Sha256::new();
    hasher.update(req.model_id.as_bytes());
    for m in &req.messages {
        hasher.update(m.content.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let cap = req.max_output_tokens as usize;
    let n = NATURAL_ANSWER_TOKENS.min(cap);
    let finish = if cap < NATURAL_ANSWER_TOKENS {
        FinishReason::Length
    } else {
        FinishReason::Stop
    };
    let mut words: Vec<String> = (0..n)
        .map(|i| {
            let word = WORDS[usize::from(digest[i % digest.len()]) % WORDS.len()];
            if i == 0 {
                word.to_owned()
            } else {
                format!(" {word}")
            }
        })
        .collect();
    match &req.response_format {
        OutputFormat::Text => {}
        OutputFormat::JsonObject => {
            let summary: String = words.concat();
            words = vec![json!({ "model": req.model_id, "summary": summary }).to_string()];
        }
        OutputFormat::JsonSchema(s) => words = vec![example_of(&s.schema, 0).to_string()],
    }
    (words, finish)
}

/// Output tokens of an answer: one per word, or the byte estimate of a JSON answer.
fn output_tokens(req: &ProviderRequest, tokens: &[String]) -> u64 {
    match req.response_format {
        OutputFormat::Text => tokens.len() as u64,
        OutputFormat::JsonObject | OutputFormat::JsonSchema(_) => {
            estimate_tokens(&tokens.concat()).min(u64::from(req.max_output_tokens))
        }
    }
}

/// Deepest schema nesting the example follows (a request body nests at most 128 deep).
const MAX_EXAMPLE_DEPTH: usize = 128;

/// A plain value of the schema's shape: the first of an enum or `anyOf`, each property, the
/// fewest array items, the smallest number and string allowed. Enough for demos of
/// structured output; a schema it misses is answered with an invalid value, as a careless
/// model would.
fn example_of(schema: &Value, depth: usize) -> Value {
    if depth > MAX_EXAMPLE_DEPTH {
        return Value::Null;
    }
    let field = |k: &str| schema.get(k);
    if let Some(c) = field("const") {
        return c.clone();
    }
    if let Some(first) = field("enum").and_then(|e| e.get(0)) {
        return first.clone();
    }
    if let Some(first) = ["anyOf", "oneOf"]
        .iter()
        .find_map(|k| field(k).and_then(|a| a.get(0)))
    {
        return example_of(first, depth + 1);
    }
    let kind = match field("type") {
        Some(Value::Array(kinds)) => kinds.first().and_then(Value::as_str),
        Some(t) => t.as_str(),
        None => None,
    };
    let least = |k: &str| field(k).and_then(Value::as_u64).unwrap_or(0) as usize;
    match kind.unwrap_or("object") {
        "string" => Value::String("x".repeat(least("minLength"))),
        "integer" | "number" => field("minimum").cloned().unwrap_or(json!(0)),
        "boolean" => Value::Bool(false),
        "null" => Value::Null,
        "array" => {
            let item = field("items").map_or(Value::Null, |i| example_of(i, depth + 1));
            Value::Array(vec![item; least("minItems")])
        }
        _ => Value::Object(
            field("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), example_of(v, depth + 1)))
                .collect(),
        ),
    }
}

/// Dimensions of a mock's vectors.
pub const MOCK_DIMENSIONS: usize = 64;

/// A unit vector that is a pure function of the model and the text: equal texts get equal
/// vectors, different ones unrelated vectors (nothing semantic about it).
fn mock_vector(model_id: &str, text: &str) -> Vec<f32> {
    let bytes = (0..MOCK_DIMENSIONS / 32).flat_map(|block| {
        Sha256::new()
            .chain_update(model_id)
            .chain_update([0])
            .chain_update(text)
            .chain_update([block as u8])
            .finalize()
    });
    unit(bytes.map(|b| f32::from(b) / 127.5 - 1.0).collect())
}

/// The call a mock makes when tools are offered, may be called, and the conversation does
/// not end with a tool's answer: the named tool or the first, with the plain example of its
/// parameters' schema as arguments.
fn tool_call(req: &ProviderRequest) -> Option<ToolCall> {
    let t = &req.tools;
    let answered = req.messages.last().is_some_and(|m| m.role == Role::Tool);
    if !t.offered() || t.choice == ToolChoice::None || answered {
        return None;
    }
    let tool = match &t.choice {
        ToolChoice::Function(name) => t.tools.iter().find(|x| &x.name == name)?,
        _ => t.tools.first()?,
    };
    let mut hasher = Sha256::new();
    for m in &req.messages {
        hasher.update(m.content.as_bytes());
        hasher.update([0]);
    }
    Some(ToolCall {
        id: format!("call_{}", &hex::encode(hasher.finalize())[..24]),
        name: tool.name.clone(),
        arguments: example_of(&tool.parameters, 0).to_string(),
    })
}

fn call_usage(req: &ProviderRequest, call: &ToolCall) -> Usage {
    Usage {
        input_tokens: prompt_tokens(req),
        output_tokens: estimate_tokens(&call.arguments),
        cached_input_tokens: 0,
    }
}

/// A call streamed as OpenAI frames one: its id and name first, then its arguments in two
/// pieces.
fn streamed_call(req: &ProviderRequest, call: ToolCall) -> DeltaStream {
    let usage = call_usage(req, &call);
    let cut = call.arguments.len() / 2;
    let cut = (0..=cut)
        .rev()
        .find(|i| call.arguments.is_char_boundary(*i))
        .unwrap_or(0);
    let piece = |id, name, arguments: &str| {
        Delta::ToolCall(ToolCallPiece {
            index: 0,
            id,
            name,
            arguments: arguments.to_owned(),
        })
    };
    let deltas = vec![
        Ok(Delta::Progress(usage)),
        Ok(piece(Some(call.id.clone()), Some(call.name.clone()), "")),
        Ok(piece(None, None, &call.arguments[..cut])),
        Ok(piece(None, None, &call.arguments[cut..])),
        Ok(Delta::Finish {
            usage,
            finish_reason: FinishReason::ToolCalls,
        }),
    ];
    Box::pin(futures::stream::iter(deltas))
}

/// Sleeps, except for a zero latency: a zero sleep still waits for the timer's next tick
/// (about a millisecond), which would swamp the benchmark's zero-latency provider.
async fn pause(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

#[async_trait::async_trait]
impl Provider for MockProvider {
    async fn generate(&self, req: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
        pause(self.latency).await;
        if let Some(call) = tool_call(req) {
            return Ok(ProviderResponse {
                usage: call_usage(req, &call),
                text: String::new(),
                finish_reason: FinishReason::ToolCalls,
                tool_calls: vec![call],
            });
        }
        let (tokens, finish_reason) = answer_tokens(req);
        Ok(ProviderResponse {
            usage: Usage {
                input_tokens: prompt_tokens(req),
                output_tokens: output_tokens(req, &tokens),
                cached_input_tokens: 0,
            },
            text: tokens.concat(),
            finish_reason,
            tool_calls: Vec::new(),
        })
    }

    async fn stream(&self, req: &ProviderRequest) -> Result<DeltaStream, ProviderError> {
        if let Some(call) = tool_call(req) {
            return Ok(streamed_call(req, call));
        }
        let (tokens, finish_reason) = answer_tokens(req);
        let usage = Usage {
            input_tokens: prompt_tokens(req),
            output_tokens: output_tokens(req, &tokens),
            cached_input_tokens: 0,
        };
        let step = self.latency / (tokens.len() as u32 + 1);
        let last = tokens.len().saturating_sub(1);
        let deltas = tokens
            .into_iter()
            .enumerate()
            .flat_map(move |(i, t)| {
                // A word is a token; a JSON answer is one piece carrying all of them.
                let output_tokens = if i == last {
                    usage.output_tokens
                } else {
                    i as u64 + 1
                };
                let so_far = Usage {
                    output_tokens,
                    ..usage
                };
                [Delta::Progress(so_far), Delta::Text(t)]
            })
            .chain(std::iter::once(Delta::Finish {
                usage,
                finish_reason,
            }));
        let stream = futures::stream::iter(deltas).then(move |d| async move {
            if !matches!(d, Delta::Progress(_)) {
                pause(step).await;
            }
            Ok(d)
        });
        Ok(Box::pin(stream))
    }

    async fn embed(&self, req: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        pause(self.latency).await;
        let vectors = req
            .inputs
            .iter()
            .map(|t| shorten(mock_vector(&req.model_id, t), req.dimensions))
            .collect::<Result<_, _>>()?;
        Ok(EmbedResponse {
            vectors,
            usage: Usage {
                input_tokens: req.inputs.iter().map(|t| estimate_tokens(t)).sum(),
                ..Usage::default()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{Message, Role};

    fn request(max: u32) -> ProviderRequest {
        let message = Message::new(Role::User, "charged twice");
        ProviderRequest::greedy("fast-extract-v1", vec![message], max)
    }

    #[tokio::test]
    async fn the_same_request_gets_the_same_answer_and_a_streamed_one_matches() {
        let p = MockProvider::new(&MockConfig {
            latency_ms: 0,
            locality: crate::config::Locality::Hosted,
        });
        let a = p.generate(&request(64)).await.unwrap();
        let b = p.generate(&request(64)).await.unwrap();
        assert_eq!(a, b);
        let mut s = p.stream(&request(64)).await.unwrap();
        let mut text = String::new();
        let mut usage = None;
        let mut progress = Vec::new();
        while let Some(d) = s.next().await {
            match d.unwrap() {
                Delta::Text(t) => text.push_str(&t),
                Delta::Progress(u) => progress.push(u.output_tokens),
                Delta::Finish { usage: u, .. } => usage = Some(u),
                Delta::ToolCall(c) => panic!("no tools were offered: {c:?}"),
            }
        }
        assert_eq!(text, a.text);
        assert_eq!(usage, Some(a.usage));
        let counted: Vec<u64> = (1..=a.usage.output_tokens).collect();
        assert_eq!(progress, counted, "a running count before each word");
    }

    #[tokio::test]
    async fn max_output_tokens_caps_the_answer_and_says_length() {
        let p = MockProvider::new(&MockConfig {
            latency_ms: 0,
            locality: crate::config::Locality::Hosted,
        });
        let r = p.generate(&request(5)).await.unwrap();
        assert_eq!(r.usage.output_tokens, 5);
        assert_eq!(r.finish_reason, FinishReason::Length);
    }
}
