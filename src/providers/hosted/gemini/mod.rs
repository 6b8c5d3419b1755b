//! Google Gemini `generateContent` and `streamGenerateContent?alt=sse`. The key travels in
//! the `x-goog-api-key` header, never in the URL, so it cannot leak into an error that
//! quotes the URL.

mod wire;

use serde_json::{json, Value};

use super::http::{self, from_error_object};
use super::lenient;
use super::sse::SseEvent;
use super::streaming::{self, Decoder, Step};
use super::Endpoint;
use crate::providers::{
    estimate_prompt_tokens, estimate_tokens, Delta, DeltaStream, FinishReason, Message,
    OutputFormat, Provider, ProviderError, ProviderRequest, ProviderResponse, Role, ToolCall,
    ToolCallPiece, ToolChoice, Tools, Usage,
};
use wire::{
    Content, ContentRole, ErrorBody, ErrorEnvelope, FunctionCallOut, FunctionCallingConfig,
    FunctionDeclaration, FunctionResponseOut, GenerateContentRequest, GenerateContentResponse,
    GenerationConfig, ModelPage, Part, ToolConfig, ToolsOut,
};

/// Pages `list_models` follows at most; one page holds up to `MODELS_PAGE_SIZE` models.
const MAX_MODEL_PAGES: usize = 20;
const MODELS_PAGE_SIZE: u32 = 1000;

/// The adapter.
pub(crate) struct Gemini {
    endpoint: Endpoint,
}

impl Gemini {
    pub(crate) fn new(endpoint: Endpoint) -> Self {
        Gemini { endpoint }
    }

    /// A request to `path` carrying the key header (marked sensitive so it never prints).
    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        let req = self.endpoint.request(method, path);
        let Some(key) = &self.endpoint.key else {
            return Ok(req);
        };
        let mut value = reqwest::header::HeaderValue::from_str(key.expose())
            .map_err(|_| ProviderError::Auth)?;
        value.set_sensitive(true);
        Ok(req.header("x-goog-api-key", value))
    }

    fn post(
        &self,
        req: &ProviderRequest,
        stream: bool,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        let model = model_segment(&req.model_id);
        let path = if stream {
            format!("/models/{model}:streamGenerateContent?alt=sse")
        } else {
            format!("/models/{model}:generateContent")
        };
        Ok(self.request(reqwest::Method::POST, &path)?.json(&body(req)))
    }
}

/// The model id as one URL path segment: an optional `models/` prefix dropped, everything
/// but unreserved characters percent-encoded.
fn model_segment(model_id: &str) -> String {
    let id = model_id.strip_prefix("models/").unwrap_or(model_id);
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `GenerateContentRequest`: system messages become `systemInstruction`, the rest
/// `contents` with the assistant as `model` and consecutive turns of one role merged.
fn body(req: &ProviderRequest) -> GenerateContentRequest<'_> {
    let mut system = Vec::new();
    let mut contents: Vec<Content> = Vec::new();
    for m in &req.messages {
        let parts = parts(m, &req.messages);
        // Gemini refuses an empty text part; an empty turn says nothing anyway.
        if parts.is_empty() {
            continue;
        }
        let role = match m.role {
            Role::System => {
                system.extend(parts);
                continue;
            }
            // `ChatOnly` refuses raw text before any request is built; a tool's answer is a
            // user turn's `functionResponse`.
            Role::User | Role::Text | Role::Tool => ContentRole::User,
            Role::Assistant => ContentRole::Model,
        };
        match contents.last_mut() {
            Some(last) if last.role == Some(role) => last.parts.extend(parts),
            _ => contents.push(Content {
                role: Some(role),
                parts,
            }),
        }
    }
    GenerateContentRequest {
        contents,
        generation_config: generation_config(req),
        system_instruction: (!system.is_empty()).then_some(Content {
            role: None,
            parts: system,
        }),
        tools: declarations(req),
        tool_config: tool_config(&req.tools),
    }
}

/// A message's parts: its text (if any), its calls, or its answer to a call, which Gemini
/// names by the function called (looked up from the call it answers).
fn parts<'a>(m: &'a Message, all: &'a [Message]) -> Vec<Part<'a>> {
    if let Some(id) = &m.tool_call_id {
        let name = all
            .iter()
            .flat_map(|earlier| &earlier.tool_calls)
            .rfind(|c| &c.id == id)
            .map_or("", |c| c.name.as_str());
        // Gemini wants an object; a tool's answer that is not one is wrapped.
        let response = match serde_json::from_str::<Value>(&m.content) {
            Ok(v @ Value::Object(_)) => v,
            _ => json!({ "result": m.content }),
        };
        let answer = FunctionResponseOut { name, response };
        return vec![Part {
            function_response: Some(answer),
            ..Part::default()
        }];
    }
    let text = (!m.content.is_empty()).then(|| Part::text(&m.content));
    let calls = m.tool_calls.iter().map(|c| Part {
        function_call: Some(FunctionCallOut {
            name: &c.name,
            // Checked to be JSON where the request entered.
            args: serde_json::from_str(&c.arguments).unwrap_or_else(|_| json!({})),
        }),
        ..Part::default()
    });
    text.into_iter().chain(calls).collect()
}

fn declarations(req: &ProviderRequest) -> Vec<ToolsOut<'_>> {
    if !req.tools.offered() {
        return Vec::new();
    }
    let function_declarations = req
        .tools
        .tools
        .iter()
        .map(|t| FunctionDeclaration {
            name: &t.name,
            description: t.description.as_deref(),
            parameters_json_schema: &t.parameters,
        })
        .collect();
    vec![ToolsOut {
        function_declarations,
    }]
}

fn tool_config(tools: &Tools) -> Option<ToolConfig<'_>> {
    if !tools.offered() {
        return None;
    }
    let (mode, allowed_function_names) = match &tools.choice {
        ToolChoice::Auto => ("AUTO", vec![]),
        ToolChoice::None => ("NONE", vec![]),
        ToolChoice::Required => ("ANY", vec![]),
        ToolChoice::Function(n) => ("ANY", vec![n.as_str()]),
    };
    Some(ToolConfig {
        function_calling_config: FunctionCallingConfig {
            mode,
            allowed_function_names,
        },
    })
}

/// The first candidate's calls; a call without an id gets one from its place (`start` on).
fn candidate_calls(r: &GenerateContentResponse, start: usize) -> Vec<ToolCall> {
    let Some(candidate) = r.candidates.first() else {
        return Vec::new();
    };
    candidate
        .content
        .parts
        .iter()
        .filter_map(|p| p.function_call.as_ref())
        .filter_map(|c| Some((c.name.clone()?, c)))
        .enumerate()
        .map(|(i, (name, c))| ToolCall {
            id: c
                .id
                .clone()
                .unwrap_or_else(|| format!("call_{}", start + i)),
            name,
            arguments: match &c.args {
                Value::Null => "{}".to_owned(),
                v => v.to_string(),
            },
        })
        .collect()
}

fn generation_config(req: &ProviderRequest) -> GenerationConfig<'_> {
    GenerationConfig {
        temperature: f64::from(req.temperature),
        max_output_tokens: req.max_output_tokens,
        top_p: req.top_p.map(f64::from),
        // No min_p: the API has none.
        top_k: req.top_k,
        stop_sequences: &req.stop,
        seed: req.seed.map(wire_seed),
        response_mime_type: req.response_format.is_json().then_some("application/json"),
        response_json_schema: match &req.response_format {
            OutputFormat::JsonSchema(s) => Some(&s.schema),
            _ => None,
        },
    }
}

/// Gemini's seed is an int32; a larger one is folded into range, deterministically.
fn wire_seed(seed: u64) -> i32 {
    i32::try_from(seed).unwrap_or_else(|_| i32::try_from(seed & 0x7fff_ffff).unwrap_or(0))
}

fn finish_reason(s: &str) -> FinishReason {
    match s {
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            FinishReason::ContentFilter
        }
        _ => FinishReason::Stop,
    }
}

/// The first candidate's finish reason, when it has one.
fn candidate_finish(r: &GenerateContentResponse) -> Option<FinishReason> {
    r.candidates
        .first()?
        .finish_reason
        .as_deref()
        .filter(|r| *r != "FINISH_REASON_UNSPECIFIED")
        .map(finish_reason)
}

/// The first candidate's answer text, thought summaries left out.
fn candidate_text(r: &GenerateContentResponse) -> String {
    let Some(candidate) = r.candidates.first() else {
        return String::new();
    };
    candidate
        .content
        .parts
        .iter()
        .filter(|p| p.thought != Some(true))
        .filter_map(|p| p.text.as_deref())
        .collect()
}

fn usage(u: &wire::UsageMetadata) -> Usage {
    Usage {
        input_tokens: u.prompt_token_count,
        output_tokens: u.candidates_token_count + u.thoughts_token_count,
        cached_input_tokens: u.cached_content_token_count,
    }
}

/// The error a body or chunk carries instead of an answer: an error object, or a prompt
/// Gemini refused to answer at all (`promptFeedback.blockReason` and no candidate).
fn refusal(r: &GenerateContentResponse) -> Option<ProviderError> {
    if let Some(e) = &r.error {
        return Some(embedded_error(e));
    }
    let reason = r.prompt_feedback.block_reason.as_deref()?;
    r.candidates
        .is_empty()
        .then(|| ProviderError::InvalidRequest(format!("blocked: {reason}")))
}

/// Whether an error object says the key itself is wrong; Gemini reports that as a 400
/// `INVALID_ARGUMENT`, not a 401.
fn is_bad_key(error: &ErrorBody) -> bool {
    let by_reason = error.details.iter().any(|d| {
        matches!(
            d.reason.as_deref(),
            Some("API_KEY_INVALID" | "API_KEY_EXPIRED")
        )
    });
    let by_message = error
        .message
        .as_deref()
        .is_some_and(|m| m.starts_with("API key not valid") || m.starts_with("API key expired"));
    by_reason || by_message
}

/// The error an `{"error": {...}}` object inside a stream or a 200 body stands for.
fn embedded_error(e: &ErrorBody) -> ProviderError {
    if is_bad_key(e) {
        return ProviderError::Auth;
    }
    let kind = e.status.as_deref().unwrap_or("error");
    from_error_object(kind, e.message.as_deref().unwrap_or(""))
}

/// Sends as `http::send` does, a failure mapped by `status_error`.
async fn send(req: reqwest::RequestBuilder) -> Result<reqwest::Response, ProviderError> {
    let resp = req.send().await.map_err(http::transport)?;
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap_or_default();
    Err(status_error(status, &headers, body))
}

/// The typed error for a non-success status: Gemini's bad-key 400 is `Auth`, every other
/// failure maps as for all providers.
fn status_error(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: String,
) -> ProviderError {
    let parsed: Option<Value> = serde_json::from_str(&body).ok();
    let error = parsed.as_ref().and_then(|v| ErrorEnvelope::read(v).error);
    if error.as_ref().is_some_and(is_bad_key) {
        return ProviderError::Auth;
    }
    // The shared mapping reads `error.message` at the top level; unwrap an array body.
    let first = parsed
        .as_ref()
        .and_then(Value::as_array)
        .and_then(|a| a.first());
    let body = match first {
        Some(first) if error.is_some() => json!({ "error": first["error"] }).to_string(),
        _ => body,
    };
    http::from_status(status, headers, &body)
}

/// The answer in a non-streamed response body.
fn response(v: &Value, req: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
    let r = GenerateContentResponse::read(v);
    if let Some(e) = refusal(&r) {
        return Err(e);
    }
    if r.candidates.is_empty() {
        return Err(ProviderError::Unavailable(
            "the provider's answer has no candidates".into(),
        ));
    }
    let text = candidate_text(&r);
    let tool_calls = candidate_calls(&r, 0);
    let usage = r.usage_metadata.as_ref().map(usage).unwrap_or(Usage {
        input_tokens: estimate_prompt_tokens(req),
        output_tokens: estimate_tokens(&text),
        cached_input_tokens: 0,
    });
    // Gemini says STOP after calls; OpenAI's callers look for tool_calls.
    let finish_reason = match candidate_finish(&r).unwrap_or(FinishReason::Stop) {
        FinishReason::Stop if !tool_calls.is_empty() => FinishReason::ToolCalls,
        other => other,
    };
    Ok(ProviderResponse {
        finish_reason,
        text,
        usage,
        tool_calls,
    })
}

#[async_trait::async_trait]
impl Provider for Gemini {
    async fn generate(&self, req: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
        let resp = send(self.post(req, false)?).await?;
        response(&http::json_body(resp).await?, req)
    }

    async fn stream(&self, req: &ProviderRequest) -> Result<DeltaStream, ProviderError> {
        let resp = send(self.post(req, true)?).await?;
        Ok(streaming::deltas(
            resp,
            ChunkDecoder {
                prompt_estimate: estimate_prompt_tokens(req),
                text: String::new(),
                usage: None,
                finish_reason: None,
                calls: 0,
            },
        ))
    }

    async fn list_models(&self) -> Result<Vec<String>, ProviderError> {
        let mut models = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_MODEL_PAGES {
            let mut req = self
                .request(reqwest::Method::GET, "/models")?
                .query(&[("pageSize", MODELS_PAGE_SIZE.to_string())]);
            if let Some(t) = &page_token {
                req = req.query(&[("pageToken", t)]);
            }
            let page: ModelPage = lenient::read(&http::json_body(send(req).await?).await?);
            models.extend(
                page.models
                    .into_iter()
                    .filter(generates_content)
                    .filter_map(|m| m.name)
                    .map(|n| n.strip_prefix("models/").map(str::to_owned).unwrap_or(n)),
            );
            page_token = page.next_page_token.filter(|t| !t.is_empty());
            if page_token.is_none() {
                break;
            }
        }
        Ok(models)
    }

    fn is_usable(&self) -> bool {
        self.endpoint.key.is_some()
    }
}

/// Whether a listed model answers `generateContent` (embedding models do not); a listing
/// that does not say is taken at its word.
fn generates_content(model: &wire::Model) -> bool {
    model
        .supported_generation_methods
        .as_ref()
        .is_none_or(|methods| methods.iter().any(|m| m == "generateContent"))
}

/// Reads `alt=sse` chunks: each a whole `GenerateContentResponse` with the new text. There
/// is no closing event; the answer is complete once a chunk carried a finish reason.
#[derive(Default)]
pub(super) struct ChunkDecoder {
    prompt_estimate: u64,
    text: String,
    usage: Option<Usage>,
    finish_reason: Option<FinishReason>,
    /// Calls streamed so far.
    calls: usize,
}

impl Decoder for ChunkDecoder {
    fn event(&mut self, ev: &SseEvent) -> Result<Step, ProviderError> {
        let r = GenerateContentResponse::read(&streaming::json(ev)?);
        if let Some(e) = refusal(&r) {
            return Err(e);
        }
        if let Some(u) = &r.usage_metadata {
            self.usage = Some(usage(u));
        }
        if let Some(reason) = candidate_finish(&r) {
            self.finish_reason = Some(reason);
        }
        let text = candidate_text(&r);
        self.text.push_str(&text);
        let calls = candidate_calls(&r, self.calls);
        let first = self.calls;
        self.calls += calls.len();
        // Gemini streams each call whole: one piece with its id, name and arguments.
        let pieces = calls
            .into_iter()
            .enumerate()
            .map(|(i, c)| Delta::ToolCall(ToolCallPiece::whole(first + i, c)));
        Ok(Step::Deltas(
            std::iter::once(Delta::Text(text)).chain(pieces).collect(),
        ))
    }

    fn finish(&mut self) -> (Usage, FinishReason) {
        let usage = self.usage.unwrap_or(Usage {
            input_tokens: self.prompt_estimate,
            output_tokens: estimate_tokens(&self.text),
            cached_input_tokens: 0,
        });
        // Gemini says STOP after calls; OpenAI's callers look for tool_calls.
        let finish = match self.finish_reason.unwrap_or(FinishReason::Stop) {
            FinishReason::Stop if self.calls > 0 => FinishReason::ToolCalls,
            other => other,
        };
        (usage, finish)
    }

    fn complete_without_terminator(&self) -> bool {
        self.finish_reason.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_id_is_one_path_segment() {
        assert_eq!(model_segment("gemini-2.5-flash"), "gemini-2.5-flash");
        assert_eq!(model_segment("models/gemini-2.5-pro"), "gemini-2.5-pro");
        assert_eq!(model_segment("a/b?c#d"), "a%2Fb%3Fc%23d");
    }

    #[test]
    fn a_seed_outside_int32_is_folded_into_range() {
        assert_eq!(wire_seed(42), 42);
        assert_eq!(wire_seed(u64::from(u32::MAX) + 5), 4);
        assert!(wire_seed(u64::MAX) >= 0);
    }
}
