use sha2::{Digest, Sha256};

use crate::providers::{Message, OutputFormat, ProviderRequest};
use crate::workspace::WorkspaceId;

/// Who is asking and through which prompt: the non-model half of the key.
#[derive(Debug, Clone, Copy)]
pub struct KeyScope<'a> {
    /// The workspace: every key starts with it.
    pub workspace: &'a WorkspaceId,
    /// Hash of the caller's permission context (role and tier).
    pub permission_hash: &'a str,
    /// Prompt id, if a prompt was used.
    pub prompt_id: Option<&'a str>,
    /// Prompt version.
    pub prompt_version: Option<&'a str>,
    /// Output schema version.
    pub schema_version: Option<&'a str>,
    /// The task.
    pub task: &'a str,
}

/// A SHA-256 cache key, hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(String);

impl CacheKey {
    /// Derives the key. Both inputs are destructured whole, so a new field in either fails
    /// to compile here until someone decides whether it changes the answer.
    pub fn derive(scope: &KeyScope<'_>, model_address: &str, req: &ProviderRequest) -> CacheKey {
        let KeyScope {
            workspace,
            permission_hash,
            prompt_id,
            prompt_version,
            schema_version,
            task,
        } = *scope;
        let ProviderRequest {
            model_id: _, // part of model_address, which also names the provider
            messages,
            max_output_tokens,
            temperature,
            top_p,
            top_k,
            min_p,
            stop,
            seed,
            response_format,
            tools,
        } = req;
        let mut h = Sha256::new();
        let mut field = |name: &str, value: &str| {
            h.update(name.as_bytes());
            h.update([0]);
            h.update((value.len() as u64).to_le_bytes());
            h.update(value.as_bytes());
        };
        field("workspace", workspace.as_str());
        field("permission", permission_hash);
        field("prompt_id", prompt_id.unwrap_or(""));
        field("prompt_version", prompt_version.unwrap_or(""));
        field("schema_version", schema_version.unwrap_or(""));
        field("model", model_address);
        field("task", task);
        field("input", &normalised_input(messages));
        field("max_output_tokens", &max_output_tokens.to_string());
        field("temperature", &temperature.to_string());
        field("top_p", &format!("{top_p:?}"));
        field("top_k", &format!("{top_k:?}"));
        field("min_p", &format!("{min_p:?}"));
        field("stop", &stop.join("\u{1f}"));
        field("seed", &format!("{seed:?}"));
        field("response_format", &format_key(response_format));
        // Debug of the checked tools: names, descriptions, parameter schemas, choice.
        field("tools", &format!("{tools:?}"));
        CacheKey(hex::encode(h.finalize()))
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The format as it changes the answer: a schema by its name, strictness and content.
fn format_key(format: &OutputFormat) -> String {
    match format {
        OutputFormat::Text => "text".into(),
        OutputFormat::JsonObject => "json_object".into(),
        OutputFormat::JsonSchema(s) => {
            format!(
                "json_schema\u{1f}{}\u{1f}{}\u{1f}{}",
                s.name, s.strict, s.schema
            )
        }
    }
}

/// Messages with line endings unified and trailing whitespace trimmed, roles kept.
fn normalised_input(messages: &[Message]) -> String {
    let mut out = String::new();
    for m in messages {
        out.push_str(&format!("{:?}\u{1e}", m.role));
        out.push_str(m.content.replace("\r\n", "\n").trim_end());
        if !m.tool_calls.is_empty() || m.tool_call_id.is_some() {
            out.push_str(&format!(
                "\u{1e}{:?}\u{1e}{:?}",
                m.tool_calls, m.tool_call_id
            ));
        }
        out.push('\u{1d}');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{Role, Tool, ToolCall, ToolChoice, Tools};

    fn req(text: &str) -> ProviderRequest {
        let message = Message::new(Role::User, text);
        ProviderRequest::greedy("m", vec![message], 64)
    }

    #[test]
    fn the_key_differs_by_workspace_model_version_and_parameters_but_not_trailing_space() {
        let a = WorkspaceId::parse("a").unwrap();
        let b = WorkspaceId::parse("b").unwrap();
        let scope = |ws, v| KeyScope {
            workspace: ws,
            permission_hash: "p",
            prompt_id: Some("triage"),
            prompt_version: Some(v),
            schema_version: None,
            task: "extract",
        };
        let base = CacheKey::derive(&scope(&a, "v1"), "x/m", &req("hi"));
        assert_eq!(
            base,
            CacheKey::derive(&scope(&a, "v1"), "x/m", &req("hi  \r\n"))
        );
        assert_ne!(base, CacheKey::derive(&scope(&b, "v1"), "x/m", &req("hi")));
        assert_ne!(base, CacheKey::derive(&scope(&a, "v2"), "x/m", &req("hi")));
        assert_ne!(base, CacheKey::derive(&scope(&a, "v1"), "y/m", &req("hi")));
        let mut hot = req("hi");
        hot.max_output_tokens = 65;
        assert_ne!(base, CacheKey::derive(&scope(&a, "v1"), "x/m", &hot));
        let top_k = ProviderRequest {
            top_k: Some(40),
            ..req("hi")
        };
        assert_ne!(base, CacheKey::derive(&scope(&a, "v1"), "x/m", &top_k));
        let min_p = ProviderRequest {
            min_p: Some(0.05),
            ..req("hi")
        };
        assert_ne!(base, CacheKey::derive(&scope(&a, "v1"), "x/m", &min_p));
    }

    #[test]
    fn the_key_differs_by_tools_choice_and_the_conversations_calls() {
        let ws = WorkspaceId::parse("a").unwrap();
        let scope = KeyScope {
            workspace: &ws,
            permission_hash: "p",
            prompt_id: None,
            prompt_version: None,
            schema_version: None,
            task: "chat",
        };
        let key = |r: &ProviderRequest| CacheKey::derive(&scope, "x/m", r);
        let tool = |name: &str| Tool::new(name.into(), None, None, None).unwrap();
        let with = |tools: Vec<Tool>, choice| ProviderRequest {
            tools: Tools::new(tools, choice, None).unwrap(),
            ..req("hi")
        };
        let base = key(&req("hi"));
        let f = key(&with(vec![tool("f")], ToolChoice::Auto));
        assert_ne!(base, f);
        assert_ne!(f, key(&with(vec![tool("g")], ToolChoice::Auto)));
        assert_ne!(f, key(&with(vec![tool("f")], ToolChoice::Required)));
        let mut called = req("hi");
        called.messages.push(Message {
            tool_calls: vec![ToolCall {
                id: "c1".into(),
                name: "f".into(),
                arguments: "{}".into(),
            }],
            ..Message::new(Role::Assistant, "")
        });
        let mut other_call = called.clone();
        other_call.messages[1].tool_calls[0].arguments = "{\"a\": 1}".into();
        assert_ne!(key(&called), key(&other_call));
    }
}
