//! The Messages API wire format: the request body, the message it answers with, the named
//! stream events and the error object.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::providers::hosted::lenient;
use crate::providers::ToolCall;

/// A `POST /messages` body.
#[derive(Debug, Serialize)]
pub(super) struct MessagesRequest<'a> {
    pub(super) model: &'a str,
    pub(super) max_tokens: u32,
    pub(super) messages: Vec<Turn>,
    // The f32 widened, as Hearth has always sent it (0.7 goes as 0.699999988079071); an
    // f32 field would be written in its shortest form, another number upstream.
    pub(super) temperature: f64,
    pub(super) stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) top_k: Option<u32>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(super) stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(super) tools: Vec<ToolSpec<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tool_choice: Option<ToolChoiceWire<'a>>,
}

/// A function offered to the model.
#[derive(Debug, Serialize)]
pub(super) struct ToolSpec<'a> {
    pub(super) name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<&'a str>,
    pub(super) input_schema: &'a Value,
}

/// `auto`, `any` (OpenAI's `required`), `tool` (a named one) or `none`.
#[derive(Debug, Serialize)]
pub(super) struct ToolChoiceWire<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) disable_parallel_tool_use: Option<bool>,
}

#[derive(Debug, Serialize)]
pub(super) struct Turn {
    pub(super) role: TurnRole,
    pub(super) content: TurnContent,
}

/// A turn's text, or its blocks when it calls tools or answers calls.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum TurnContent {
    Text(String),
    Blocks(Vec<BlockOut>),
}

/// A content block Hearth sends.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum BlockOut {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        content: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum TurnRole {
    User,
    Assistant,
}

/// A `message` body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct MessageResponse {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) error: Option<ErrorBody>,
    /// Absent only from a body that is no message at all.
    #[serde(deserialize_with = "lenient::optional_list")]
    pub(super) content: Option<Vec<Block>>,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) usage: Option<Usage>,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) stop_reason: Option<String>,
}

/// A content block; blocks of the kinds Hearth does not ask for (thinking, tool use), and
/// any of another shape, are `Other`.
#[derive(Debug, Default, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Block {
    Text {
        #[serde(default, deserialize_with = "lenient::value")]
        text: Option<String>,
    },
    ToolUse {
        #[serde(default, deserialize_with = "lenient::value")]
        id: Option<String>,
        #[serde(default, deserialize_with = "lenient::value")]
        name: Option<String>,
        #[serde(default)]
        input: Value,
    },
    #[default]
    #[serde(other)]
    Other,
}

impl Block {
    pub(super) fn text(&self) -> Option<&str> {
        match self {
            Block::Text { text } => text.as_deref(),
            _ => None,
        }
    }

    /// A `tool_use` block as a call: its input as JSON text (`{}` when it has none).
    pub(super) fn call(&self) -> Option<ToolCall> {
        match self {
            Block::ToolUse { id, name, input } => Some(ToolCall {
                id: id.clone().unwrap_or_default(),
                name: name.clone()?,
                arguments: match input {
                    Value::Null => "{}".to_owned(),
                    v => v.to_string(),
                },
            }),
            _ => None,
        }
    }
}

/// Token counts, each absent when not reported: a stream's `message_delta` carries
/// cumulative totals, often only `output_tokens`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Usage {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) input_tokens: Option<u64>,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) output_tokens: Option<u64>,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) cache_read_input_tokens: Option<u64>,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) cache_creation_input_tokens: Option<u64>,
}

/// An `error` object, in a body or an `error` event.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ErrorBody {
    #[serde(rename = "type", deserialize_with = "lenient::value")]
    pub(super) kind: Option<String>,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) message: Option<String>,
}

/// A stream event, by its name: the SSE `event:` field, else the data's `type`.
#[derive(Debug)]
pub(super) enum StreamEvent {
    MessageStart(MessageStart),
    ContentBlockStart(ContentBlockStart),
    ContentBlockDelta(ContentBlockDelta),
    MessageDelta(MessageDelta),
    MessageStop,
    Error(ErrorEvent),
    /// ping, content_block_stop, and event types added after this was written.
    Other,
}

impl StreamEvent {
    pub(super) fn read(name: Option<&str>, data: &Value) -> Self {
        let name = match name {
            Some(name) => name.to_owned(),
            None => lenient::read::<Named>(data).kind.unwrap_or_default(),
        };
        match name.as_str() {
            "message_start" => StreamEvent::MessageStart(lenient::read(data)),
            "content_block_start" => StreamEvent::ContentBlockStart(lenient::read(data)),
            "content_block_delta" => StreamEvent::ContentBlockDelta(lenient::read(data)),
            "message_delta" => StreamEvent::MessageDelta(lenient::read(data)),
            "message_stop" => StreamEvent::MessageStop,
            "error" => StreamEvent::Error(lenient::read(data)),
            _ => StreamEvent::Other,
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Named {
    #[serde(rename = "type", deserialize_with = "lenient::value")]
    kind: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct MessageStart {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) message: StartedMessage,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct StartedMessage {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) usage: Option<Usage>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ContentBlockStart {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) index: Option<u64>,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) content_block: Block,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ContentBlockDelta {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) index: Option<u64>,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) delta: BlockDelta,
}

/// A piece of a content block; pieces of the kinds Hearth does not ask for (thinking,
/// signatures, tool input), and any of another shape, are `Other`.
#[derive(Debug, Default, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum BlockDelta {
    TextDelta {
        #[serde(default, deserialize_with = "lenient::value")]
        text: Option<String>,
    },
    InputJsonDelta {
        #[serde(default, deserialize_with = "lenient::value")]
        partial_json: Option<String>,
    },
    #[default]
    #[serde(other)]
    Other,
}

impl BlockDelta {
    pub(super) fn text(self) -> Option<String> {
        match self {
            BlockDelta::TextDelta { text } => text,
            _ => None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct MessageDelta {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) delta: MessageChange,
    #[serde(deserialize_with = "lenient::value")]
    pub(super) usage: Option<Usage>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct MessageChange {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) stop_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ErrorEvent {
    #[serde(deserialize_with = "lenient::value")]
    pub(super) error: Option<ErrorBody>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_request_without_options_sends_no_system_sampling_or_stop_fields() {
        let req = MessagesRequest {
            model: "m",
            max_tokens: 9,
            messages: vec![Turn {
                role: TurnRole::User,
                content: TurnContent::Text("hi".into()),
            }],
            temperature: 1.0,
            stream: true,
            system: None,
            top_p: None,
            top_k: None,
            stop_sequences: &[],
            tools: vec![],
            tool_choice: None,
        };
        assert_eq!(
            serde_json::to_value(req).unwrap(),
            json!({"model": "m", "max_tokens": 9, "temperature": 1.0, "stream": true,
                "messages": [{"role": "user", "content": "hi"}]})
        );
    }

    #[test]
    fn only_text_blocks_with_text_give_text() {
        let body = json!({"content": [
            {"type": "text", "text": "a"},
            {"type": "thinking", "thinking": "t"},
            {"type": "tool_use", "id": "x", "name": "f", "input": {}},
            {"type": 0, "text": "tag by index"},
            {"type": "text", "text": 5},
            {"text": "untagged"},
            "b",
            {"type": "text", "text": "c"},
        ]});
        let blocks = lenient::read::<MessageResponse>(&body).content.unwrap();
        assert_eq!(blocks.len(), 8);
        let text: Vec<&str> = blocks.iter().filter_map(Block::text).collect();
        assert_eq!(text, ["a", "c"]);
        let calls: Vec<ToolCall> = blocks.iter().filter_map(Block::call).collect();
        assert_eq!(
            calls,
            [ToolCall {
                id: "x".into(),
                name: "f".into(),
                arguments: "{}".into()
            }]
        );
    }

    #[test]
    fn a_body_without_a_content_list_is_told_apart_from_an_empty_one() {
        let content = |v| lenient::read::<MessageResponse>(&v).content;
        assert_eq!(content(json!({"content": []})).map(|c| c.len()), Some(0));
        assert!(content(json!({})).is_none());
        assert!(content(json!({"content": {"type": "text"}})).is_none());
        assert!(content(json!({"content": null})).is_none());
    }

    #[test]
    fn an_event_is_named_by_its_sse_name_before_its_data_type() {
        let named = |name, data| StreamEvent::read(name, &data);
        assert!(matches!(
            named(Some("message_stop"), json!({"type": "ping"})),
            StreamEvent::MessageStop
        ));
        assert!(matches!(
            named(None, json!({"type": "message_stop"})),
            StreamEvent::MessageStop
        ));
        assert!(matches!(
            named(None, json!({"type": 5})),
            StreamEvent::Other
        ));
        let StreamEvent::ContentBlockDelta(e) = named(
            Some("content_block_delta"),
            json!({"delta": {"type": "text_delta", "text": "x"}}),
        ) else {
            panic!("expected a content_block_delta");
        };
        assert_eq!(e.delta.text().as_deref(), Some("x"));
    }

    #[test]
    fn an_error_is_an_object_and_nothing_else() {
        let error = |v| lenient::read::<MessageResponse>(&v).error;
        assert!(error(json!({"error": {}})).is_some());
        assert!(error(json!({"error": "x"})).is_none());
        assert!(error(json!({"error": [{"type": "api_error"}]})).is_none());
    }
}
