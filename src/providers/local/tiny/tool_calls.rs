//! Tool calling on tiny files with the Qwen 2.5 and Llama 3.2 templates (which render tools
//! themselves) and with plain ChatML (which gets Hearth's tools section): whatever the
//! weights say, a call the grammar holds parses, names an offered tool and has arguments
//! valid against its schema.

use candle_core::quantized::gguf_file::Value;
use serde_json::json;

use super::{load, Builder};
use crate::providers::local::{Answer, Engine};
use crate::providers::{
    FinishReason, Message, OutputFormat, ProviderRequest, Role, Tool, ToolChoice, Tools,
};

const QWEN25: &str = include_str!("../../../../tests/fixtures/templates/qwen2.5-instruct.jinja");
const LLAMA32: &str = include_str!("../../../../tests/fixtures/templates/llama-3.2-instruct.jinja");

/// `b` with room for a tools prompt spelled byte by byte and, when given, another template.
fn roomy(b: Builder, template: Option<&str>) -> (tempfile::TempDir, Engine) {
    let arch = b.arch;
    let mut b = b.with_meta(&format!("{arch}.context_length"), Value::U32(4096));
    if let Some(t) = template {
        b = b.with_meta("tokenizer.chat_template", Value::String(t.into()));
    }
    load(&b)
}

fn tools() -> Vec<Tool> {
    let weather = json!({"type": "object", "properties": {
        "city": {"type": "string", "enum": ["Paris", "Oslo"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 9}},
        "required": ["city", "days"], "additionalProperties": false});
    let empty = json!({"type": "object", "properties": {}, "additionalProperties": false});
    vec![
        Tool::new(
            "get_weather".into(),
            Some("Weather".into()),
            Some(weather),
            None,
        )
        .unwrap(),
        Tool::new("get_time".into(), None, Some(empty), None).unwrap(),
    ]
}

fn asking(choice: ToolChoice, parallel: Option<bool>) -> ProviderRequest {
    ProviderRequest {
        tools: Tools::new(tools(), choice, parallel).unwrap(),
        ..ProviderRequest::greedy(
            "tiny",
            vec![Message::new(Role::User, "Weather in Oslo?")],
            120,
        )
    }
}

/// The answer, and the text streamed along the way.
fn run(e: &Engine, req: &ProviderRequest) -> (Answer, String) {
    let mut streamed = String::new();
    let answer = e
        .generate(req, &mut |piece, _| {
            streamed.push_str(piece);
            true
        })
        .unwrap();
    (answer, streamed)
}

/// Every call names an offered tool and its arguments validate against that tool's schema.
fn assert_valid_calls(a: &Answer) {
    assert_eq!(a.finish, FinishReason::ToolCalls, "{a:?}");
    assert!(!a.calls.is_empty());
    let offered = tools();
    for c in &a.calls {
        let tool = offered
            .iter()
            .find(|t| t.name == c.name)
            .expect("an offered tool");
        let arguments: serde_json::Value = serde_json::from_str(&c.arguments).unwrap();
        assert!(
            jsonschema::is_valid(&tool.parameters, &arguments),
            "{}: {}",
            c.name,
            c.arguments
        );
        assert!(c.id.starts_with("call_"));
    }
}

#[test]
fn a_required_call_on_the_qwen_template_parses_and_validates_and_streams_no_text() {
    let (_d, e) = roomy(super::qwen2::build().unwrap(), Some(QWEN25));
    assert_eq!(e.info.tool_calling, "the template's own (<tool_call> tags)");
    let prompt = e
        .decode(
            &e.chat_ids(
                &asking(ToolChoice::Required, None).messages,
                &asking(ToolChoice::Required, None).tools,
            )
            .unwrap(),
        )
        .unwrap();
    assert!(prompt
        .contains("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\""));
    let (a, streamed) = run(&e, &asking(ToolChoice::Required, None));
    assert_valid_calls(&a);
    assert_eq!((a.text.as_str(), streamed.as_str()), ("", ""));
}

#[test]
fn a_named_tool_on_the_llama_template_is_the_one_called_once() {
    let (_d, e) = roomy(super::llama::build().unwrap(), Some(LLAMA32));
    assert_eq!(e.info.tool_calling, "the template's own (Llama 3 JSON)");
    let (a, _) = run(
        &e,
        &asking(ToolChoice::Function("get_weather".into()), None),
    );
    assert_valid_calls(&a);
    assert_eq!(a.calls.len(), 1);
    assert_eq!(a.calls[0].name, "get_weather");
}

#[test]
fn a_template_without_tools_gets_hearths_section_and_parallel_false_allows_one_call() {
    let (_d, e) = roomy(super::llama::build().unwrap(), None);
    assert_eq!(
        e.info.tool_calling,
        "Hearth's (<tool_call> tags in the system turn)"
    );
    let req = asking(ToolChoice::Required, Some(false));
    let prompt = e
        .decode(&e.chat_ids(&req.messages, &req.tools).unwrap())
        .unwrap();
    assert!(
        prompt.starts_with("system\nYou can call functions."),
        "{prompt}"
    );
    let (a, _) = run(&e, &req);
    assert_valid_calls(&a);
    assert_eq!(a.calls.len(), 1);
}

#[test]
fn auto_with_a_response_format_answers_in_the_format_or_calls() {
    let (_d, e) = roomy(super::qwen2::build().unwrap(), Some(QWEN25));
    let schema = json!({"type": "object", "properties": {"ok": {"type": "boolean"}},
                        "required": ["ok"], "additionalProperties": false});
    let format = crate::providers::JsonSchemaFormat::new("answer", schema, true).unwrap();
    let req = ProviderRequest {
        response_format: OutputFormat::JsonSchema(std::sync::Arc::new(format)),
        ..asking(ToolChoice::Auto, None)
    };
    let (a, streamed) = run(&e, &req);
    match a.calls.is_empty() {
        true => {
            req.response_format.check(&a.text).unwrap();
            assert_eq!(streamed, a.text, "the answer is streamed once decided");
        }
        false => assert_valid_calls(&a),
    }
}

#[test]
fn tool_choice_none_offers_nothing_and_answers_in_text() {
    let (_d, e) = roomy(super::qwen2::build().unwrap(), Some(QWEN25));
    let req = asking(ToolChoice::None, None);
    let prompt = e
        .decode(&e.chat_ids(&req.messages, &req.tools).unwrap())
        .unwrap();
    assert!(!prompt.contains("<tools>"));
    let (a, streamed) = run(
        &e,
        &ProviderRequest {
            max_output_tokens: 8,
            ..req
        },
    );
    assert!(a.calls.is_empty());
    assert_eq!(streamed, a.text);
}

#[test]
fn a_call_started_in_free_text_is_finished_under_the_grammar_and_the_text_before_it_kept() {
    let (_d, e) = roomy(super::qwen2::build().unwrap(), Some(QWEN25));
    let script = e.encode_text("Let me check. <tool_call>").unwrap();
    let req = asking(ToolChoice::Auto, Some(false));
    let mut streamed = String::new();
    let a = e
        .generate_scripted(&req, &script, &mut |piece, _| {
            streamed.push_str(piece);
            true
        })
        .unwrap();
    assert_valid_calls(&a);
    assert_eq!(a.text, "Let me check.");
    assert_eq!(
        streamed.trim_end(),
        a.text,
        "nothing of the call is streamed as text"
    );
    assert_eq!(a.calls.len(), 1);
    assert!(
        a.usage.output_tokens < u64::from(req.max_output_tokens),
        "the call ends the answer: {:?}",
        a.usage
    );
}

#[test]
fn a_call_at_the_start_of_a_llama_answer_is_a_call_and_other_text_is_text() {
    let (_d, e) = roomy(super::llama::build().unwrap(), Some(LLAMA32));
    let req = asking(ToolChoice::Auto, None);
    let script = e.encode_text(" {\"").unwrap();
    let a = e
        .generate_scripted(&req, &script, &mut |_, _| true)
        .unwrap();
    assert_valid_calls(&a);
    assert_eq!(a.text, "");
    let script = e.encode_text("It is {\"name\"").unwrap();
    let req = ProviderRequest {
        max_output_tokens: 16,
        ..req
    };
    let a = e
        .generate_scripted(&req, &script, &mut |_, _| true)
        .unwrap();
    assert!(
        a.calls.is_empty(),
        "a call starts the answer or there is none"
    );
    assert!(a.text.starts_with("It is {\"name\""), "{a:?}");
}
