//! The Gemini API wire format: `GenerateContentRequest`, the `GenerateContentResponse` a
//! call or each stream chunk answers with, the error object and the model list.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::providers::hosted::lenient;

/// A `generateContent` or `streamGenerateContent` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GenerateContentRequest<'a> {
    pub(super) contents: Vec<Content<'a>>,
    pub(super) generation_config: GenerationConfig<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) system_instruction: Option<Content<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(super) tools: Vec<ToolsOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tool_config: Option<ToolConfig<'a>>,
}

/// The functions offered, in one `functionDeclarations` list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ToolsOut<'a> {
    pub(super) function_declarations: Vec<FunctionDeclaration<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FunctionDeclaration<'a> {
    pub(super) name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<&'a str>,
    /// The full JSON Schema (the older `parameters` takes only an OpenAPI subset).
    pub(super) parameters_json_schema: &'a Value,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ToolConfig<'a> {
    pub(super) function_calling_config: FunctionCallingConfig<'a>,
}

/// `AUTO`, `ANY` (OpenAI's `required`, or a named function with `allowedFunctionNames`) or
/// `NONE`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FunctionCallingConfig<'a> {
    pub(super) mode: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) allowed_function_names: Vec<&'a str>,
}

/// A turn, or the system instruction (which has no role).
#[derive(Debug, Serialize)]
pub(super) struct Content<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) role: Option<ContentRole>,
    pub(super) parts: Vec<Part<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum ContentRole {
    User,
    Model,
}

/// Text, a call the model made, or a tool's answer to one.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Part<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) function_call: Option<FunctionCallOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) function_response: Option<FunctionResponseOut<'a>>,
}

impl<'a> Part<'a> {
    pub(super) fn text(text: &'a str) -> Self {
        Part {
            text: Some(text),
            ..Part::default()
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct FunctionCallOut<'a> {
    pub(super) name: &'a str,
    pub(super) args: Value,
}

#[derive(Debug, Serialize)]
pub(super) struct FunctionResponseOut<'a> {
    pub(super) name: &'a str,
    pub(super) response: Value,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GenerationConfig<'a> {
    // The f32 widened, as Hearth has always sent it (0.7 goes as 0.699999988079071); an
    // f32 field would be written in its shortest form, another number upstream.
    pub(super) temperature: f64,
    pub(super) max_output_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) top_k: Option<u32>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(super) stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) seed: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) response_mime_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) response_json_schema: Option<&'a serde_json::Value>,
}

/// A `GenerateContentResponse`: a whole answer, or one stream chunk with the new text.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct GenerateContentResponse {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) error: Option<ErrorBody>,
    #[serde(deserialize_with = "lenient::list")]
    pub(super) candidates: Vec<Candidate>,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) usage_metadata: Option<UsageMetadata>,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) prompt_feedback: PromptFeedback,
}

impl GenerateContentResponse {
    /// A body or chunk. The streaming endpoint may wrap an error in an array; only that
    /// error is read from one.
    pub(super) fn read(v: &Value) -> Self {
        match v {
            Value::Array(_) => GenerateContentResponse {
                error: ErrorEnvelope::read(v).error,
                ..Self::default()
            },
            v => lenient::read(v),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Candidate {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) content: CandidateContent,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct CandidateContent {
    #[serde(deserialize_with = "lenient::list")]
    pub(super) parts: Vec<AnswerPart>,
}

/// A part of an answer: text, or a thought summary (text with `thought: true`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct AnswerPart {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) text: Option<String>,
    #[serde(rename = "functionCall", deserialize_with = "lenient::value")]
    pub(super) function_call: Option<FunctionCallIn>,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) thought: Option<bool>,
}

/// A call in an answer (ids only from some models).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct FunctionCallIn {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) id: Option<String>,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) name: Option<String>,
    pub(super) args: Value,
}

/// Token counts; a count left out counts as 0.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct UsageMetadata {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) prompt_token_count: u64,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) candidates_token_count: u64,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) thoughts_token_count: u64,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) cached_content_token_count: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct PromptFeedback {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) block_reason: Option<String>,
}

/// The `{"error": {...}}` of a failed call's body, which the streaming endpoint may wrap
/// in an array.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ErrorEnvelope {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) error: Option<ErrorBody>,
}

impl ErrorEnvelope {
    pub(super) fn read(v: &Value) -> Self {
        lenient::read(v.as_array().and_then(|a| a.first()).unwrap_or(v))
    }
}

/// A `google.rpc.Status`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ErrorBody {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) status: Option<String>,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) message: Option<String>,
    #[serde(deserialize_with = "lenient::list")]
    pub(super) details: Vec<ErrorDetail>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ErrorDetail {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) reason: Option<String>,
}

/// A page of `GET /models`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct ModelPage {
    #[serde(deserialize_with = "lenient::list")]
    pub(super) models: Vec<Model>,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) next_page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Model {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) name: Option<String>,
    /// Absent from a listing that does not say.
    #[serde(deserialize_with = "lenient::optional_list")]
    pub(super) supported_generation_methods: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_plain_request_sends_no_system_instruction_and_only_the_required_config() {
        let req = GenerateContentRequest {
            contents: vec![Content {
                role: Some(ContentRole::User),
                parts: vec![Part::text("hi")],
            }],
            generation_config: GenerationConfig {
                temperature: 0.0,
                max_output_tokens: 9,
                top_p: None,
                top_k: None,
                stop_sequences: &[],
                seed: None,
                response_mime_type: None,
                response_json_schema: None,
            },
            system_instruction: None,
            tools: vec![],
            tool_config: None,
        };
        assert_eq!(
            serde_json::to_value(req).unwrap(),
            json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                "generationConfig": {"temperature": 0.0, "maxOutputTokens": 9}})
        );
    }

    #[test]
    fn a_system_instruction_is_content_without_a_role() {
        let system = Content {
            role: None,
            parts: vec![Part::text("Be brief.")],
        };
        assert_eq!(
            serde_json::to_value(system).unwrap(),
            json!({"parts": [{"text": "Be brief."}]})
        );
    }

    #[test]
    fn from_an_array_only_the_first_items_error_is_read() {
        let error = json!({"status": "UNAVAILABLE", "message": "m"});
        let body = json!([{"error": error, "candidates": [{"finishReason": "STOP"}]}]);
        let r = GenerateContentResponse::read(&body);
        assert_eq!(r.error.unwrap().status.as_deref(), Some("UNAVAILABLE"));
        assert!(r.candidates.is_empty());
        let nested = json!([[{ "error": error }]]);
        assert!(GenerateContentResponse::read(&nested).error.is_none());
        assert!(GenerateContentResponse::read(&json!([])).error.is_none());
    }

    #[test]
    fn a_candidate_of_another_shape_keeps_its_place() {
        let body = json!({"candidates": [5, {"finishReason": "STOP"}]});
        let r = GenerateContentResponse::read(&body);
        assert_eq!(r.candidates.len(), 2);
        assert!(r.candidates[0].finish_reason.is_none());
    }

    #[test]
    fn a_model_that_does_not_list_its_methods_is_told_apart_from_one_that_lists_none() {
        let methods = |v| lenient::read::<Model>(&v).supported_generation_methods;
        assert!(methods(json!({"name": "models/a"})).is_none());
        assert!(methods(json!({"supportedGenerationMethods": "generateContent"})).is_none());
        assert_eq!(
            methods(json!({"supportedGenerationMethods": [5, "generateContent"]})),
            Some(vec![String::new(), "generateContent".to_owned()])
        );
        assert_eq!(
            methods(json!({"supportedGenerationMethods": []})),
            Some(vec![])
        );
    }
}
