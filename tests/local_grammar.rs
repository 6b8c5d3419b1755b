//! Constrained decoding on the real default model (SmolLM2-135M-Instruct): under a grammar
//! built from each of 50 JSON schemas of varied shape (`tests/fixtures/structured/`: enums,
//! nested objects, bounded arrays, `anyOf`/`oneOf`, `$ref`, string formats and patterns), the
//! model's answer validates every time. In CI the model must be present
//! (`scripts/fetch-default-model`); a local run without it skips, saying so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, OnceLock};

use hearth::providers::local::{Answer, Engine};
use hearth::providers::{
    FinishReason, JsonSchemaFormat, Message, OutputFormat, ProviderRequest, Role,
};
use serde_json::Value;

mod common;

fn engine() -> Option<&'static Engine> {
    static ENGINE: OnceLock<Option<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| common::default_model().map(|path| Engine::load(&path, None, 2).unwrap()))
        .as_ref()
}

fn schemas() -> Vec<Value> {
    let text = std::fs::read_to_string("tests/fixtures/structured/schemas.json").unwrap();
    serde_json::from_str::<Vec<Value>>(&text).unwrap()
}

fn ask(e: &Engine, prompt: &str, format: OutputFormat, max: u32) -> (String, FinishReason) {
    let messages = vec![Message::new(
        Role::User,
        format!("{prompt} Answer in JSON."),
    )];
    let req = ProviderRequest {
        response_format: format,
        ..ProviderRequest::greedy("smollm2-135m-instruct", messages, max)
    };
    let Answer { text, finish, .. } = e.generate(&req, &mut |_, _| true).unwrap();
    (text, finish)
}

#[test]
fn every_one_of_fifty_schemas_gets_an_answer_that_validates() {
    let Some(e) = engine() else { return };
    let cases = schemas();
    assert_eq!(cases.len(), 50);
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let schema = case["schema"].clone();
        let format = JsonSchemaFormat::new(name, schema.clone(), true).unwrap();
        let (text, finish) = ask(
            e,
            case["prompt"].as_str().unwrap(),
            OutputFormat::JsonSchema(Arc::new(format)),
            96,
        );
        let valid =
            serde_json::from_str::<Value>(&text).is_ok_and(|v| jsonschema::is_valid(&schema, &v));
        if !valid || finish != FinishReason::Stop {
            failures.push(format!("{name}: {finish:?} {text}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 50 failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn json_object_mode_gets_an_object_where_the_free_answer_is_prose() {
    let Some(e) = engine() else { return };
    let prompt = "What is the capital of France?";
    let (free, _) = ask(e, prompt, OutputFormat::Text, 24);
    assert!(serde_json::from_str::<Value>(&free).is_err(), "{free}");
    let (json, finish) = ask(e, prompt, OutputFormat::JsonObject, 64);
    let value: Value = serde_json::from_str(&json).unwrap_or_else(|_| panic!("{json}"));
    assert!(value.is_object());
    assert_eq!(finish, FinishReason::Stop);
}
