//! The shape an answer must take: free text, any JSON object, or JSON that validates against
//! a caller's JSON Schema. A schema is checked once where it enters (it must be a valid JSON
//! Schema the grammar compiler takes) and carries its compiled validator from then on, so
//! every provider's answer is checked the same way.

use std::sync::{Arc, LazyLock};

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::ApproximateTokEnv;
use llguidance::ParserFactory;
use serde_json::{json, Value};

use super::ResponseFormat;

/// Longest schema name, as OpenAI bounds it.
const MAX_NAME_CHARS: usize = 64;

/// Longest grammar-compiler message passed on to the caller.
const MAX_COMPILER_MESSAGE: usize = 300;

/// What shape the answer must take.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum OutputFormat {
    /// Free text.
    #[default]
    Text,
    /// One JSON object.
    JsonObject,
    /// JSON valid against a schema.
    JsonSchema(Arc<JsonSchemaFormat>),
}

impl From<ResponseFormat> for OutputFormat {
    fn from(f: ResponseFormat) -> Self {
        match f {
            ResponseFormat::Text => OutputFormat::Text,
            ResponseFormat::JsonObject => OutputFormat::JsonObject,
        }
    }
}

impl OutputFormat {
    /// Whether `text` has the shape; the error names where and which rule, never the text.
    pub fn check(&self, text: &str) -> Result<(), String> {
        let _span = tracing::debug_span!("output.validate").entered();
        match self {
            OutputFormat::Text => Ok(()),
            OutputFormat::JsonObject => match serde_json::from_str::<Value>(text) {
                Ok(v) if v.is_object() => Ok(()),
                _ => Err("the answer is not a JSON object".into()),
            },
            OutputFormat::JsonSchema(s) => s.check(text),
        }
    }

    /// The JSON Schema a grammar must hold the answer to, when the answer must be JSON.
    pub fn grammar_schema(&self) -> Option<&Value> {
        static ANY_OBJECT: LazyLock<Value> = LazyLock::new(|| json!({"type": "object"}));
        match self {
            OutputFormat::Text => None,
            OutputFormat::JsonObject => Some(&ANY_OBJECT),
            OutputFormat::JsonSchema(s) => Some(&s.schema),
        }
    }

    /// Whether the answer must be JSON.
    pub fn is_json(&self) -> bool {
        !matches!(self, OutputFormat::Text)
    }
}

/// A named JSON Schema the answer must validate against (OpenAI's `json_schema` format).
pub struct JsonSchemaFormat {
    /// 1-64 of `[A-Za-z0-9_-]`.
    pub name: String,
    /// The schema, a JSON object.
    pub schema: Value,
    /// Whether the caller asked for strict adherence (passed on to providers that take it;
    /// Hearth validates every answer either way).
    pub strict: bool,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for JsonSchemaFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonSchemaFormat")
            .field("name", &self.name)
            .field("strict", &self.strict)
            .finish_non_exhaustive()
    }
}

impl PartialEq for JsonSchemaFormat {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.strict == other.strict && self.schema == other.schema
    }
}

/// Why a schema was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SchemaError {
    #[error("the schema name must be 1-64 of A-Z, a-z, 0-9, `_` and `-`")]
    BadName,
    #[error("the schema must be a JSON object")]
    NotAnObject,
    #[error("the schema is not a valid JSON Schema: `{keyword}` fails at `{at}`")]
    Invalid { keyword: String, at: String },
    #[error("the schema cannot be compiled into a grammar: {0}")]
    Uncompilable(String),
}

impl JsonSchemaFormat {
    /// A schema that is valid JSON Schema and that the grammar compiler takes.
    pub fn new(name: &str, schema: Value, strict: bool) -> Result<Self, SchemaError> {
        if !valid_name(name) {
            return Err(SchemaError::BadName);
        }
        if !schema.is_object() {
            return Err(SchemaError::NotAnObject);
        }
        let validator = jsonschema::validator_for(&schema).map_err(|e| SchemaError::Invalid {
            keyword: e.kind().keyword().to_owned(),
            at: e.instance_path().to_string(),
        })?;
        check_compiles(&schema)?;
        Ok(JsonSchemaFormat {
            name: name.to_owned(),
            schema,
            strict,
            validator,
        })
    }

    fn check(&self, text: &str) -> Result<(), String> {
        let value: Value =
            serde_json::from_str(text).map_err(|_| "the answer is not JSON".to_owned())?;
        let first = self.validator.iter_errors(&value).next().map(|e| {
            format!(
                "the answer does not match the schema: `{}` fails at `{}`",
                e.kind().keyword(),
                e.schema_path()
            )
        });
        first.map_or(Ok(()), Err)
    }
}

/// A name of `[A-Za-z0-9_-]{1,64}`, as OpenAI takes for schemas and tools.
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The grammar of JSON valid against `schema`, written without optional whitespace: a small
/// model left free to add whitespace can spend its whole budget on blank lines.
pub(crate) fn grammar_for(schema: &Value) -> TopLevelGrammar {
    TopLevelGrammar::from_json_schema(compact(schema))
}

/// `schema` with llguidance's option for JSON without optional whitespace, unless it sets
/// its own.
pub(crate) fn compact(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Some(o) = schema.as_object_mut() {
        o.entry("x-guidance")
            .or_insert_with(|| json!({"whitespace_flexible": false}));
    }
    schema
}

/// Compiles the schema's grammar over a one-byte-per-token vocabulary: what the grammar
/// compiler refuses is refused here, before any model is asked, whatever model answers.
fn check_compiles(schema: &Value) -> Result<(), SchemaError> {
    static FACTORY: LazyLock<Result<ParserFactory, String>> = LazyLock::new(|| {
        let mut f = ParserFactory::new_simple(&ApproximateTokEnv::single_byte_env())
            .map_err(|e| e.to_string())?;
        f.quiet();
        Ok(f)
    });
    let factory = FACTORY
        .as_ref()
        .map_err(|e| SchemaError::Uncompilable(e.clone()))?;
    factory
        .create_parser(grammar_for(schema))
        .map(drop)
        .map_err(|e| {
            let mut m = e.to_string();
            if let Some((cut, _)) = m.char_indices().nth(MAX_COMPILER_MESSAGE) {
                m.truncate(cut);
            }
            SchemaError::Uncompilable(m)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person() -> JsonSchemaFormat {
        let schema = json!({
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
            "required": ["name", "age"],
            "additionalProperties": false
        });
        JsonSchemaFormat::new("person", schema, true).unwrap()
    }

    #[test]
    fn an_answer_is_checked_against_the_schema() {
        let f = OutputFormat::JsonSchema(Arc::new(person()));
        assert_eq!(f.check(r#"{"name": "Ada", "age": 36}"#), Ok(()));
        let wrong = f.check(r#"{"name": "Ada", "age": -1}"#).unwrap_err();
        assert!(wrong.contains("minimum"), "{wrong}");
        assert!(f.check(r#"{"name": "Ada"}"#).is_err());
        assert!(f.check("Ada is 36").is_err());
    }

    #[test]
    fn the_error_never_quotes_the_answer() {
        let f = OutputFormat::JsonSchema(Arc::new(person()));
        let e = f
            .check(r#"{"name": "secret-value", "age": "secret-age"}"#)
            .unwrap_err();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn json_object_takes_any_object_and_nothing_else() {
        let f = OutputFormat::JsonObject;
        assert_eq!(f.check(r#"{"a": [1]}"#), Ok(()));
        assert!(f.check("[1]").is_err());
        assert!(f.check("{").is_err());
        assert_eq!(OutputFormat::Text.check("{"), Ok(()));
    }

    #[test]
    fn bad_schemas_are_refused_with_the_reason() {
        let bad_name = JsonSchemaFormat::new("has space", json!({"type": "object"}), false);
        assert_eq!(bad_name.unwrap_err(), SchemaError::BadName);
        let long = "a".repeat(65);
        assert!(JsonSchemaFormat::new(&long, json!({}), false).is_err());
        let not_object = JsonSchemaFormat::new("x", json!([1]), false);
        assert_eq!(not_object.unwrap_err(), SchemaError::NotAnObject);
        let invalid = JsonSchemaFormat::new("x", json!({"type": "no-such-type"}), false);
        assert!(
            matches!(invalid, Err(SchemaError::Invalid { .. })),
            "{invalid:?}"
        );
        let unsatisfiable = JsonSchemaFormat::new(
            "x",
            json!({"allOf": [{"type": "string"}, {"type": "integer"}]}),
            false,
        );
        assert!(
            matches!(unsatisfiable, Err(SchemaError::Uncompilable(_))),
            "{unsatisfiable:?}"
        );
    }
}
