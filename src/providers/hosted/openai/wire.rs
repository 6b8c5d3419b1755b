//! The Chat Completions wire format: the request body, and the answer, stream chunk and
//! error object as OpenAI and the servers copying it send them.

use serde::{Deserialize, Serialize};

use crate::providers::hosted::lenient;

/// A `POST /chat/completions` body.
#[derive(Debug, Serialize)]
pub(super) struct ChatRequest<'a> {
    pub(super) model: &'a str,
    pub(super) messages: Vec<ChatMessage<'a>>,
    // The f32 widened, as Hearth has always sent it (0.7 goes as 0.699999988079071); an
    // f32 field would be written in its shortest form, another number upstream.
    pub(super) temperature: f64,
    #[serde(flatten)]
    pub(super) cap: OutputCap,
    pub(super) stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) min_p: Option<f64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(super) stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) response_format: Option<ResponseFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(super) tools: Vec<ToolSpec<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tool_choice: Option<ToolChoiceWire<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) parallel_tool_calls: Option<bool>,
}

/// A function offered to the model.
#[derive(Debug, Serialize)]
pub(super) struct ToolSpec<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) function: FunctionSpec<'a>,
}

#[derive(Debug, Serialize)]
pub(super) struct FunctionSpec<'a> {
    pub(super) name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<&'a str>,
    pub(super) parameters: &'a serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) strict: Option<bool>,
}

/// `auto`, `none`, `required`, or a named function.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum ToolChoiceWire<'a> {
    Mode(&'static str),
    Named {
        #[serde(rename = "type")]
        kind: &'static str,
        function: Named<'a>,
    },
}

#[derive(Debug, Serialize)]
pub(super) struct Named<'a> {
    pub(super) name: &'a str,
}

/// A call an assistant message made, sent back with the conversation.
#[derive(Debug, Serialize)]
pub(super) struct CallOut<'a> {
    pub(super) id: &'a str,
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) function: FunctionOut<'a>,
}

#[derive(Debug, Serialize)]
pub(super) struct FunctionOut<'a> {
    pub(super) name: &'a str,
    pub(super) arguments: &'a str,
}

/// The output cap under the one name the server knows.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum OutputCap {
    /// OpenAI's name for its newer models.
    MaxCompletionTokens(u32),
    /// The older name compatible servers know.
    MaxTokens(u32),
}

#[derive(Debug, Serialize)]
pub(super) struct ChatMessage<'a> {
    pub(super) role: ChatRole,
    /// Null for an assistant message that only calls tools.
    pub(super) content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) tool_calls: Vec<CallOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tool_call_id: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum ChatRole {
    System,
    User,
    Assistant,
    Tool,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ResponseFormat<'a> {
    JsonObject,
    JsonSchema { json_schema: JsonSchema<'a> },
}

#[derive(Debug, Serialize)]
pub(super) struct JsonSchema<'a> {
    pub(super) name: &'a str,
    pub(super) schema: &'a serde_json::Value,
    pub(super) strict: bool,
}

#[derive(Debug, Serialize)]
pub(super) struct StreamOptions {
    pub(super) include_usage: bool,
}

/// A `chat.completion` body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ChatResponse {
    #[serde(deserialize_with = "lenient::non_null")]
    pub(super) error: Option<ErrorBody>,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) usage: Option<CompletionUsage>,
    #[serde(deserialize_with = "lenient::list")]
    pub(super) choices: Vec<Choice>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Choice {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) message: AssistantMessage,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) finish_reason: Option<String>,
}

/// A `chat.completion.chunk` stream event.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ChatChunk {
    #[serde(deserialize_with = "lenient::non_null")]
    pub(super) error: Option<ErrorBody>,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) usage: Option<CompletionUsage>,
    #[serde(deserialize_with = "lenient::list")]
    pub(super) choices: Vec<ChunkChoice>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ChunkChoice {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) delta: AssistantMessage,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) finish_reason: Option<String>,
}

/// A choice's `message`, or the piece of it a chunk's `delta` carries; `content` is null
/// when there is no text, as in a chunk that only carries the role.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct AssistantMessage {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) content: Option<String>,
    #[serde(deserialize_with = "lenient::list")]
    pub(super) tool_calls: Vec<CallIn>,
}

/// A call in an answer, or a piece of one in a chunk (`index` in chunks only; `id` and the
/// name on a call's first piece).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct CallIn {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) index: Option<u32>,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) id: Option<String>,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) function: FunctionIn,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct FunctionIn {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) name: Option<String>,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) arguments: Option<String>,
}

/// Token counts; a count a server leaves out counts as 0.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct CompletionUsage {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) prompt_tokens: u64,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) completion_tokens: u64,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) prompt_tokens_details: PromptTokensDetails,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct PromptTokensDetails {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) cached_tokens: u64,
}

/// An `error` object, in a 200 body or a stream event.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ErrorBody {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) code: Option<ErrorCode>,
    #[serde(rename = "type", deserialize_with = "lenient::value")]
    pub(super) kind: Option<String>,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) message: Option<String>,
}

/// OpenAI names its error codes; OpenRouter, vLLM and llama.cpp's server send the HTTP
/// status the error stands for.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum ErrorCode {
    Status(u64),
    Name(String),
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn minimal(cap: OutputCap) -> ChatRequest<'static> {
        ChatRequest {
            model: "m",
            messages: vec![ChatMessage {
                role: ChatRole::User,
                content: Some("hi"),
                tool_calls: vec![],
                tool_call_id: None,
            }],
            temperature: 0.0,
            cap,
            stream: false,
            top_p: None,
            top_k: None,
            min_p: None,
            stop: &[],
            seed: None,
            response_format: None,
            stream_options: None,
            tools: vec![],
            tool_choice: None,
            parallel_tool_calls: None,
        }
    }

    #[test]
    fn a_request_without_options_sends_only_the_required_fields_and_one_cap() {
        let body = serde_json::to_value(minimal(OutputCap::MaxTokens(9))).unwrap();
        assert_eq!(
            body,
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                "temperature": 0.0, "max_tokens": 9, "stream": false})
        );
        let body = serde_json::to_value(minimal(OutputCap::MaxCompletionTokens(9))).unwrap();
        assert_eq!(body["max_completion_tokens"], 9);
        assert!(body.get("max_tokens").is_none());
    }

    #[test]
    fn json_mode_and_stream_options_are_objects() {
        let mut req = minimal(OutputCap::MaxTokens(1));
        req.response_format = Some(ResponseFormat::JsonObject);
        req.stream_options = Some(StreamOptions {
            include_usage: true,
        });
        let body = serde_json::to_value(req).unwrap();
        assert_eq!(body["response_format"], json!({"type": "json_object"}));
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
    }

    #[test]
    fn a_schema_goes_as_openai_frames_json_schema() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
        let mut req = minimal(OutputCap::MaxTokens(1));
        req.response_format = Some(ResponseFormat::JsonSchema {
            json_schema: JsonSchema {
                name: "thing",
                schema: &schema,
                strict: true,
            },
        });
        let body = serde_json::to_value(req).unwrap();
        assert_eq!(
            body["response_format"],
            json!({"type": "json_schema",
                "json_schema": {"name": "thing", "schema": schema, "strict": true}})
        );
    }

    #[test]
    fn a_chunk_with_null_error_usage_reason_and_content_parses_as_nothing_said() {
        let v: Value = serde_json::from_str(
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":null},
                "finish_reason":null}],"usage":null,"error":null}"#,
        )
        .unwrap();
        let chunk: ChatChunk = lenient::read(&v);
        assert!(chunk.error.is_none());
        assert!(chunk.usage.is_none());
        assert_eq!(chunk.choices.len(), 1);
        assert!(chunk.choices[0].delta.content.is_none());
        assert!(chunk.choices[0].finish_reason.is_none());
    }

    #[test]
    fn an_error_of_any_shape_but_null_is_an_error() {
        let error = |e: Value| lenient::read::<ChatChunk>(&json!({ "error": e })).error;
        assert!(error(Value::Null).is_none());
        assert!(error(json!("boom")).is_some());
        assert!(error(json!(false)).is_some());
        assert!(error(json!([{"message": "m"}])).unwrap().message.is_none());
        let e = error(json!({"message": "m", "type": "server_error"})).unwrap();
        assert_eq!(
            (e.message.as_deref(), e.kind.as_deref()),
            (Some("m"), Some("server_error"))
        );
    }

    #[test]
    fn the_first_choice_stays_first_when_an_earlier_item_has_another_shape() {
        let v = json!({"choices": [null, {"delta": {"content": "b"}}]});
        let chunk: ChatChunk = lenient::read(&v);
        assert_eq!(chunk.choices.len(), 2);
        assert!(chunk.choices[0].delta.content.is_none());
    }

    #[test]
    fn an_error_code_is_a_status_or_a_name_and_any_other_shape_is_none() {
        let code = |c: Value| lenient::read::<ErrorBody>(&json!({ "code": c })).code;
        assert!(matches!(code(json!(429)), Some(ErrorCode::Status(429))));
        assert!(matches!(code(json!("429")), Some(ErrorCode::Name(n)) if n == "429"));
        assert!(code(json!(-1)).is_none());
        assert!(code(json!(4.5)).is_none());
        assert!(code(json!({"a": 1})).is_none());
    }

    #[test]
    fn usage_of_another_shape_is_absent_and_counts_of_another_shape_are_zero() {
        let read = |u: Value| lenient::read::<ChatChunk>(&json!({ "usage": u })).usage;
        assert!(read(json!("n/a")).is_none());
        assert!(read(json!([9, 2])).is_none());
        let u = read(json!({"prompt_tokens": "9", "completion_tokens": 2,
            "prompt_tokens_details": {"cached_tokens": 4}}))
        .unwrap();
        assert_eq!(
            (
                u.prompt_tokens,
                u.completion_tokens,
                u.prompt_tokens_details.cached_tokens
            ),
            (0, 2, 4)
        );
    }
}
