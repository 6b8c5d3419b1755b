//! Google Gemini `generateContent` and `streamGenerateContent?alt=sse`. The key travels in
//! the `x-goog-api-key` header, never in the URL, so it cannot leak into an error that
//! quotes the URL.

use serde_json::{json, Value};

use super::http::{self, from_error_object};
use super::sse::SseEvent;
use super::streaming::{self, Decoder, Step};
use super::Endpoint;
use crate::providers::{
    estimate_prompt_tokens, estimate_tokens, DeltaStream, FinishReason, Provider, ProviderError,
    ProviderRequest, ProviderResponse, ResponseFormat, Role, Usage,
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
fn body(req: &ProviderRequest) -> Value {
    let mut system = Vec::new();
    let mut contents: Vec<(&str, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        // Gemini refuses an empty text part; an empty turn says nothing anyway.
        if m.content.is_empty() {
            continue;
        }
        let part = json!({"text": m.content});
        let role = match m.role {
            Role::System => {
                system.push(part);
                continue;
            }
            // `ChatOnly` refuses raw text before any request is built.
            Role::User | Role::Text => "user",
            Role::Assistant => "model",
        };
        match contents.last_mut() {
            Some((last, parts)) if *last == role => parts.push(part),
            _ => contents.push((role, vec![part])),
        }
    }
    let contents: Vec<Value> = contents
        .into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect();

    let mut config = json!({
        "temperature": req.temperature,
        "maxOutputTokens": req.max_output_tokens,
    });
    if let Some(p) = req.top_p {
        config["topP"] = json!(p);
    }
    // No min_p: the API has none.
    if let Some(k) = req.top_k {
        config["topK"] = json!(k);
    }
    if !req.stop.is_empty() {
        config["stopSequences"] = json!(req.stop);
    }
    if let Some(seed) = req.seed {
        config["seed"] = json!(wire_seed(seed));
    }
    if req.response_format == ResponseFormat::JsonObject {
        config["responseMimeType"] = json!("application/json");
    }

    let mut body = json!({"contents": contents, "generationConfig": config});
    if !system.is_empty() {
        body["systemInstruction"] = json!({"parts": system});
    }
    body
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
fn candidate_finish(v: &Value) -> Option<FinishReason> {
    v.pointer("/candidates/0/finishReason")
        .and_then(Value::as_str)
        .filter(|r| *r != "FINISH_REASON_UNSPECIFIED")
        .map(finish_reason)
}

/// The first candidate's answer text, thought summaries left out.
fn candidate_text(v: &Value) -> String {
    v.pointer("/candidates/0/content/parts")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter(|p| p.get("thought").and_then(Value::as_bool) != Some(true))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

fn usage(v: &Value) -> Option<Usage> {
    let u = v.get("usageMetadata").filter(|u| u.is_object())?;
    let n = |f: &str| u.get(f).and_then(Value::as_u64).unwrap_or(0);
    Some(Usage {
        input_tokens: n("promptTokenCount"),
        output_tokens: n("candidatesTokenCount") + n("thoughtsTokenCount"),
        cached_input_tokens: n("cachedContentTokenCount"),
    })
}

/// A prompt Gemini refused to answer at all: `promptFeedback.blockReason` and no candidate.
fn blocked(v: &Value) -> Option<ProviderError> {
    let reason = v
        .pointer("/promptFeedback/blockReason")
        .and_then(Value::as_str)?;
    let has_candidate = v
        .get("candidates")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty());
    (!has_candidate).then(|| ProviderError::InvalidRequest(format!("blocked: {reason}")))
}

/// Whether an error object says the key itself is wrong; Gemini reports that as a 400
/// `INVALID_ARGUMENT`, not a 401.
fn is_bad_key(error: &Value) -> bool {
    let by_reason = error
        .get("details")
        .and_then(Value::as_array)
        .is_some_and(|details| {
            details.iter().any(|d| {
                matches!(
                    d.get("reason").and_then(Value::as_str),
                    Some("API_KEY_INVALID" | "API_KEY_EXPIRED")
                )
            })
        });
    let by_message = error
        .get("message")
        .and_then(Value::as_str)
        .is_some_and(|m| m.starts_with("API key not valid") || m.starts_with("API key expired"));
    by_reason || by_message
}

/// The `error` object of a body, which the streaming endpoint may wrap in an array.
fn error_object(v: &Value) -> Option<&Value> {
    let v = v.as_array().and_then(|a| a.first()).unwrap_or(v);
    v.get("error").filter(|e| e.is_object())
}

/// An `{"error": {...}}` object inside a stream or a 200 body.
fn embedded_error(v: &Value) -> Option<ProviderError> {
    let e = error_object(v)?;
    if is_bad_key(e) {
        return Some(ProviderError::Auth);
    }
    let kind = e.get("status").and_then(Value::as_str).unwrap_or("error");
    let message = e.get("message").and_then(Value::as_str).unwrap_or("");
    Some(from_error_object(kind, message))
}

/// `http::send` with Gemini's bad-key 400 read as `Auth`; every other failure maps as for
/// all providers.
async fn send(req: reqwest::RequestBuilder) -> Result<reqwest::Response, ProviderError> {
    let resp = req.send().await.map_err(http::transport)?;
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap_or_default();
    let parsed: Option<Value> = serde_json::from_str(&body).ok();
    let error = parsed.as_ref().and_then(error_object);
    if error.is_some_and(is_bad_key) {
        return Err(ProviderError::Auth);
    }
    // The shared mapping reads `error.message` at the top level; unwrap an array body.
    let body = match (&parsed, error) {
        (Some(Value::Array(_)), Some(e)) => json!({ "error": e }).to_string(),
        _ => body,
    };
    Err(http::from_status(status, &headers, &body))
}

#[async_trait::async_trait]
impl Provider for Gemini {
    async fn generate(&self, req: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
        let resp = send(self.post(req, false)?).await?;
        let v = http::json_body(resp).await?;
        if let Some(e) = embedded_error(&v).or_else(|| blocked(&v)) {
            return Err(e);
        }
        if v.pointer("/candidates/0").is_none() {
            return Err(ProviderError::Unavailable(
                "the provider's answer has no candidates".into(),
            ));
        }
        let text = candidate_text(&v);
        let usage = usage(&v).unwrap_or(Usage {
            input_tokens: estimate_prompt_tokens(req),
            output_tokens: estimate_tokens(&text),
            cached_input_tokens: 0,
        });
        Ok(ProviderResponse {
            finish_reason: candidate_finish(&v).unwrap_or(FinishReason::Stop),
            text,
            usage,
        })
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
            let v = http::json_body(send(req).await?).await?;
            models.extend(
                v.get("models")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|m| generates_content(m))
                    .filter_map(|m| m.get("name").and_then(Value::as_str))
                    .map(|n| n.strip_prefix("models/").unwrap_or(n).to_owned()),
            );
            page_token = v
                .get("nextPageToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
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
fn generates_content(model: &Value) -> bool {
    model
        .get("supportedGenerationMethods")
        .and_then(Value::as_array)
        .is_none_or(|methods| {
            methods
                .iter()
                .any(|m| m.as_str() == Some("generateContent"))
        })
}

/// Reads `alt=sse` chunks: each a whole `GenerateContentResponse` with the new text. There
/// is no closing event; the answer is complete once a chunk carried a finish reason.
#[derive(Default)]
pub(super) struct ChunkDecoder {
    prompt_estimate: u64,
    text: String,
    usage: Option<Usage>,
    finish_reason: Option<FinishReason>,
}

impl Decoder for ChunkDecoder {
    fn event(&mut self, ev: &SseEvent) -> Result<Step, ProviderError> {
        let v = streaming::json(ev)?;
        if let Some(e) = embedded_error(&v).or_else(|| blocked(&v)) {
            return Err(e);
        }
        if let Some(u) = usage(&v) {
            self.usage = Some(u);
        }
        if let Some(r) = candidate_finish(&v) {
            self.finish_reason = Some(r);
        }
        let text = candidate_text(&v);
        self.text.push_str(&text);
        Ok(Step::Text(vec![text]))
    }

    fn finish(&mut self) -> (Usage, FinishReason) {
        let usage = self.usage.unwrap_or(Usage {
            input_tokens: self.prompt_estimate,
            output_tokens: estimate_tokens(&self.text),
            cached_input_tokens: 0,
        });
        (usage, self.finish_reason.unwrap_or(FinishReason::Stop))
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
