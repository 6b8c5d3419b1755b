//! Tool calling, as every provider receives it: the functions a request offers the model,
//! how it may use them, and the calls an answer makes. Checked where they enter: names of
//! `[A-Za-z0-9_-]{1,64}`, unique, parameters a valid JSON Schema object, at most
//! `MAX_TOOLS`, and a named choice among them.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::format::valid_name;

/// Most tools one request may offer (OpenAI's own limit).
pub const MAX_TOOLS: usize = 128;

/// Most calls one message may carry, or one streamed answer may make: bounds what a client
/// or a provider can make Hearth hold.
pub const MAX_CALLS: usize = MAX_TOOLS;

/// A function the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// 1-64 of `[A-Za-z0-9_-]`.
    pub name: String,
    /// What it does, for the model.
    pub description: Option<String>,
    /// A JSON Schema object for its arguments.
    pub parameters: Value,
    /// Whether the caller asked for strict arguments (passed on where the API takes it).
    pub strict: Option<bool>,
}

/// How the model may use the tools.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// Answer or call, as the model likes.
    #[default]
    Auto,
    /// Answer only.
    None,
    /// Call at least one tool.
    Required,
    /// Call this tool.
    Function(String),
}

/// The tools of a request, checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tools {
    /// The functions offered (empty when none).
    pub tools: Vec<Tool>,
    /// How they may be used.
    pub choice: ToolChoice,
    /// Whether several calls may come in one answer; the provider's default when unset.
    pub parallel: Option<bool>,
}

/// A call the model made.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ToolCall {
    /// The call's id, which the tool's answer names.
    pub id: String,
    /// The tool called.
    pub name: String,
    /// Its arguments: JSON text.
    pub arguments: String,
}

/// A piece of a streamed tool call: the first piece of a call has its id and name, later
/// ones more of its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCallPiece {
    /// Which call of the answer (0, 1, ...).
    pub index: u32,
    pub id: Option<String>,
    pub name: Option<String>,
    /// More argument text (possibly empty).
    pub arguments: String,
}

impl ToolCallPiece {
    /// A whole call as one piece: how a call already complete is streamed.
    pub fn whole(index: usize, call: ToolCall) -> ToolCallPiece {
        ToolCallPiece {
            index: index as u32,
            id: Some(call.id),
            name: Some(call.name),
            arguments: call.arguments,
        }
    }
}

/// Why the tools of a request were refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolError {
    #[error("at most {MAX_TOOLS} tools may be offered, not {0}")]
    TooMany(usize),
    #[error("a tool's type must be `function`, not `{0}`")]
    NotAFunction(String),
    #[error("tool names must be 1-64 of A-Z, a-z, 0-9, `_` and `-`")]
    BadName,
    #[error("the tool `{0}` is offered twice")]
    Duplicate(String),
    #[error("the parameters of tool `{name}` are not a valid JSON Schema object: `{keyword}` fails at `{at}`")]
    BadParameters {
        name: String,
        keyword: String,
        at: String,
    },
    #[error("tool_choice names `{0}`, which is not among the tools offered")]
    UnknownChoice(String),
    #[error("tool_choice `{0}` needs tools")]
    ChoiceWithoutTools(&'static str),
}

impl Tool {
    /// A checked tool; absent parameters mean a function of no arguments.
    pub fn new(
        name: String,
        description: Option<String>,
        parameters: Option<Value>,
        strict: Option<bool>,
    ) -> Result<Tool, ToolError> {
        if !valid_name(&name) {
            return Err(ToolError::BadName);
        }
        let parameters = parameters.unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        let bad = |keyword: &str, at: String| ToolError::BadParameters {
            name: name.clone(),
            keyword: keyword.to_owned(),
            at,
        };
        if !parameters.is_object() {
            return Err(bad("type", String::new()));
        }
        jsonschema::validator_for(&parameters)
            .map_err(|e| bad(e.kind().keyword(), e.instance_path().to_string()))?;
        Ok(Tool {
            name,
            description,
            parameters,
            strict,
        })
    }
}

impl Tools {
    /// Checked tools: at most `MAX_TOOLS`, each name once, a named choice among them.
    pub fn new(
        tools: Vec<Tool>,
        choice: ToolChoice,
        parallel: Option<bool>,
    ) -> Result<Tools, ToolError> {
        if tools.len() > MAX_TOOLS {
            return Err(ToolError::TooMany(tools.len()));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(t) = tools.iter().find(|t| !seen.insert(t.name.as_str())) {
            return Err(ToolError::Duplicate(t.name.clone()));
        }
        match &choice {
            ToolChoice::Function(n) if !tools.iter().any(|t| &t.name == n) => {
                return Err(ToolError::UnknownChoice(n.clone()))
            }
            ToolChoice::Required if tools.is_empty() => {
                return Err(ToolError::ChoiceWithoutTools("required"))
            }
            _ => {}
        }
        Ok(Tools {
            tools,
            choice,
            parallel,
        })
    }

    /// Whether any tool is offered.
    pub fn offered(&self) -> bool {
        !self.tools.is_empty()
    }

    /// The names offered, in order.
    pub fn names(&self) -> Vec<String> {
        self.tools.iter().map(|t| t.name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str) -> Tool {
        Tool::new(name.into(), None, None, None).unwrap()
    }

    #[test]
    fn tools_are_checked_where_they_enter() {
        assert_eq!(
            Tool::new("has space".into(), None, None, None),
            Err(ToolError::BadName)
        );
        let bad = Tool::new("f".into(), None, Some(json!({"type": 5})), None);
        assert!(
            matches!(bad, Err(ToolError::BadParameters { .. })),
            "{bad:?}"
        );
        let many = (0..=MAX_TOOLS).map(|i| tool(&format!("f{i}"))).collect();
        assert_eq!(
            Tools::new(many, ToolChoice::Auto, None),
            Err(ToolError::TooMany(MAX_TOOLS + 1))
        );
        let twice = Tools::new(vec![tool("f"), tool("f")], ToolChoice::Auto, None);
        assert_eq!(twice, Err(ToolError::Duplicate("f".into())));
        let unknown = Tools::new(vec![tool("f")], ToolChoice::Function("g".into()), None);
        assert_eq!(unknown, Err(ToolError::UnknownChoice("g".into())));
        let required = Tools::new(vec![], ToolChoice::Required, None);
        assert_eq!(required, Err(ToolError::ChoiceWithoutTools("required")));
    }

    #[test]
    fn a_tool_without_parameters_takes_an_empty_object() {
        assert_eq!(
            tool("now").parameters,
            json!({"type": "object", "properties": {}})
        );
    }
}
