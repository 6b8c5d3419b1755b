//! Tool calling on the on-device model: how the tools and a conversation's calls reach the
//! prompt, the grammar a call is decoded under, and how calls are read back.
//!
//! A template that renders `tools` itself and whose call syntax is known (Qwen 2.5/3 and
//! Hermes write `<tool_call>{"name": ..., "arguments": ...}</tool_call>`, Llama 3.x writes
//! `{"name": ..., "parameters": ...}`) gets the tools and the calls as Hugging Face passes
//! them. Any other template (SmolLM2, Gemma, the standard ones) gets them as text: the tools
//! in the system turn with the `<tool_call>` syntax explained, earlier calls in the assistant's
//! text, tool results as user turns in `<tool_response>`.
//!
//! The arguments always parse and validate: a call is decoded under a grammar whose JSON is
//! an `anyOf` over the offered tools' schemas. `required` or a named tool holds the whole
//! answer to calls; `auto` lets the model write freely until it starts a call (the trigger),
//! then holds the rest to calls.

use serde_json::{json, Value};

use llguidance::api::TopLevelGrammar;

use std::borrow::Cow;

use super::template::tool_json;
use crate::providers::tools::{Tool, ToolCall, ToolChoice, Tools, MAX_CALLS};
use crate::providers::{Message, Role};

/// How a model writes a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syntax {
    /// `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`, several in a row.
    Hermes,
    /// `{"name": ..., "parameters": {...}}`, the whole answer, one call.
    Llama3,
}

impl Syntax {
    fn arguments_key(self) -> &'static str {
        match self {
            Syntax::Hermes => "arguments",
            Syntax::Llama3 => "parameters",
        }
    }
}

const OPEN: &str = "<tool_call>";
const CLOSE: &str = "</tool_call>";

/// How a loaded model's template takes tools, read from its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ToolStyle {
    /// The template renders `tools` and calls itself.
    native: bool,
    syntax: Syntax,
}

impl ToolStyle {
    /// The style of a template: native when it reads `tools` and writes a syntax known here.
    pub(super) fn of(template: &str) -> ToolStyle {
        let reads_tools = template.contains("tools");
        let syntax = match template {
            t if t.contains(OPEN) => Some(Syntax::Hermes),
            t if t.contains("\"parameters\"") && t.contains("<|start_header_id|>") => {
                Some(Syntax::Llama3)
            }
            _ => None,
        };
        match (reads_tools, syntax) {
            (true, Some(syntax)) => ToolStyle {
                native: true,
                syntax,
            },
            _ => ToolStyle {
                native: false,
                syntax: Syntax::Hermes,
            },
        }
    }

    /// Its name, for `hearth models info`.
    pub(super) fn name(&self) -> &'static str {
        match (self.native, self.syntax) {
            (true, Syntax::Hermes) => "the template's own (<tool_call> tags)",
            (true, Syntax::Llama3) => "the template's own (Llama 3 JSON)",
            (false, _) => "Hearth's (<tool_call> tags in the system turn)",
        }
    }

    /// The conversation and tools as the template is given them; borrowed as they came
    /// wherever nothing needs rewriting (every request without tools).
    pub(super) fn conversation<'a>(
        &self,
        messages: &'a [Message],
        tools: &'a Tools,
    ) -> Prompted<'a> {
        let offered: &[Tool] = match tools.choice {
            ToolChoice::None => &[],
            _ => &tools.tools,
        };
        let has_calls = messages
            .iter()
            .any(|m| m.role == Role::Tool || !m.tool_calls.is_empty());
        if self.native || (offered.is_empty() && !has_calls) {
            return Prompted {
                messages: Cow::Borrowed(messages),
                tools: if self.native { offered } else { &[] },
            };
        }
        let mut out = as_text(messages);
        if !offered.is_empty() {
            let section = tools_section(offered);
            match out.first_mut() {
                Some(m) if m.role == Role::System => {
                    m.content = format!("{}\n\n{section}", m.content);
                }
                _ => out.insert(0, Message::new(Role::System, section)),
            }
        }
        Prompted {
            messages: Cow::Owned(out),
            tools: &[],
        }
    }

    /// How this request's answer may call tools; None when it may not.
    pub(super) fn plan<'a>(&self, tools: &'a Tools) -> Option<CallPlan<'a>> {
        if !tools.offered() || tools.choice == ToolChoice::None {
            return None;
        }
        Some(CallPlan {
            syntax: self.syntax,
            tools,
        })
    }
}

/// What the template renders.
pub(super) struct Prompted<'a> {
    pub messages: Cow<'a, [Message]>,
    pub tools: &'a [Tool],
}

/// The tools offered to a template that has no place for them, as a system-turn section.
fn tools_section(tools: &[Tool]) -> String {
    let signatures: Vec<String> = tools.iter().map(|t| tool_json(t).to_string()).collect();
    format!(
        "You can call functions. Their signatures, as JSON Schema:\n<tools>\n{}\n</tools>\n\n\
         To call one, answer with its name and arguments as a JSON object between tags:\n\
         {OPEN}\n{{\"name\": \"function name\", \"arguments\": {{\"argument\": \"value\"}}}}\n{CLOSE}",
        signatures.join("\n")
    )
}

/// A conversation with its calls written as text and its tool results as user turns, for a
/// template that knows neither.
fn as_text(messages: &[Message]) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::with_capacity(messages.len());
    for m in messages {
        match m.role {
            Role::Assistant if !m.tool_calls.is_empty() => {
                let calls: Vec<String> = m.tool_calls.iter().map(call_text).collect();
                let text = [m.content.trim_end(), &calls.join("\n")]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("\n");
                out.push(Message::new(Role::Assistant, text));
            }
            Role::Tool => {
                let response = format!("<tool_response>\n{}\n</tool_response>", m.content);
                match out.last_mut() {
                    // Results of one round of calls share a turn, as Qwen's template does.
                    Some(prev)
                        if prev.role == Role::User
                            && prev.content.ends_with("</tool_response>") =>
                    {
                        prev.content = format!("{}\n{response}", prev.content);
                    }
                    _ => out.push(Message::new(Role::User, response)),
                }
            }
            _ => out.push(Message::new(m.role, m.content.clone())),
        }
    }
    out
}

fn call_text(c: &ToolCall) -> String {
    let arguments: Value = serde_json::from_str(&c.arguments).unwrap_or_else(|_| json!({}));
    let body = json!({"name": c.name, "arguments": arguments});
    format!("{OPEN}\n{body}\n{CLOSE}")
}

/// The calls a request's answer may make.
pub(super) struct CallPlan<'a> {
    syntax: Syntax,
    tools: &'a Tools,
}

/// Where in the answer a call may start, when the model is free to answer in text.
#[derive(Debug, Clone, Copy)]
pub(super) struct Trigger {
    pub text: &'static str,
    /// Only at the very start of the answer (after whitespace), or anywhere.
    pub at_start: bool,
}

impl CallPlan<'_> {
    /// Whether the whole answer must be calls.
    pub(super) fn forced(&self) -> bool {
        matches!(
            self.tools.choice,
            ToolChoice::Required | ToolChoice::Function(_)
        )
    }

    /// What starts a call in free text.
    pub(super) fn trigger(&self) -> Trigger {
        match self.syntax {
            Syntax::Hermes => Trigger {
                text: OPEN,
                at_start: false,
            },
            Syntax::Llama3 => Trigger {
                text: "{\"",
                at_start: true,
            },
        }
    }

    /// The grammar of one or more calls (one where parallel calls are off or the syntax has
    /// room for one only); with `format`, of an answer in that format or calls.
    pub(super) fn grammar(&self, format: Option<&Value>) -> TopLevelGrammar {
        let call = format!("%json {}", self.call_schema());
        // A named tool is called once, as OpenAI does.
        let single = self.syntax == Syntax::Llama3
            || self.tools.parallel == Some(false)
            || matches!(self.tools.choice, ToolChoice::Function(_));
        let calls = match (self.syntax, single) {
            (Syntax::Llama3, _) => format!("calls: {call}"),
            (Syntax::Hermes, true) => {
                format!("calls: call\ncall: \"{OPEN}\\n\" {call} \"\\n{CLOSE}\"")
            }
            (Syntax::Hermes, false) => {
                format!("calls: call (\"\\n\" call)*\ncall: \"{OPEN}\\n\" {call} \"\\n{CLOSE}\"")
            }
        };
        let start = match format {
            Some(schema) => {
                let answer = crate::providers::format::compact(schema);
                format!("start: %json {answer} | calls")
            }
            None => "start: calls".to_owned(),
        };
        TopLevelGrammar::from_lark(format!("{start}\n{calls}\n"))
    }

    /// The JSON of one call: the name of a tool it may call and arguments valid against that
    /// tool's parameters, with the spacing Python's `json.dumps` gives (what the models saw).
    fn call_schema(&self) -> Value {
        let callable: Vec<&Tool> = match &self.tools.choice {
            ToolChoice::Function(name) => self
                .tools
                .tools
                .iter()
                .filter(|t| &t.name == name)
                .collect(),
            _ => self.tools.tools.iter().collect(),
        };
        let key = self.syntax.arguments_key();
        let one = |t: &Tool| {
            json!({
                "type": "object",
                "properties": {"name": {"const": t.name}, key: t.parameters},
                "required": ["name", key],
                "additionalProperties": false,
            })
        };
        let mut schema = match callable.as_slice() {
            [t] => one(t),
            many => json!({"anyOf": many.iter().map(|t| one(t)).collect::<Vec<_>>()}),
        };
        schema["x-guidance"] = json!({
            "whitespace_flexible": false,
            "item_separator": ", ",
            "key_separator": ": ",
        });
        schema
    }

    /// The calls in `text` (an answer decoded under `grammar`, or a part of one that starts
    /// at the trigger); empty when it holds none or was cut short.
    pub(super) fn parse(&self, text: &str) -> Vec<ToolCall> {
        let bodies: Vec<&str> = match self.syntax {
            Syntax::Llama3 => vec![text.trim()],
            Syntax::Hermes => text
                .split(OPEN)
                .skip(1)
                .filter_map(|part| part.split_once(CLOSE).map(|(body, _)| body.trim()))
                .collect(),
        };
        let key = self.syntax.arguments_key();
        let mut calls = Vec::new();
        for body in bodies.into_iter().take(MAX_CALLS) {
            let Ok(Value::Object(o)) = serde_json::from_str::<Value>(body) else {
                return Vec::new();
            };
            let (Some(Value::String(name)), Some(arguments)) = (o.get("name"), o.get(key)) else {
                return Vec::new();
            };
            if !self.tools.tools.iter().any(|t| &t.name == name) {
                return Vec::new();
            }
            calls.push(ToolCall {
                id: format!("call_{}", &uuid::Uuid::new_v4().simple().to_string()[..24]),
                name: name.clone(),
                arguments: arguments.to_string(),
            });
        }
        calls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weather() -> Tool {
        Tool::new(
            "get_weather".into(),
            Some("The weather in a city".into()),
            Some(json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})),
            None,
        )
        .unwrap()
    }

    fn tools(choice: ToolChoice) -> Tools {
        let time = Tool::new("get_time".into(), None, None, None).unwrap();
        Tools::new(vec![weather(), time], choice, None).unwrap()
    }

    const QWEN: &str = "{%- if tools %}<tools>{% for t in tools %}{{ t | tojson }}{% endfor %}</tools>{% endif %}<tool_call>";
    const LLAMA: &str =
        "<|start_header_id|>{%- if tools %}{{ tools | tojson }}{% endif %}'\"parameters\": '";

    #[test]
    fn a_template_is_native_only_when_it_reads_tools_and_writes_a_known_syntax() {
        assert_eq!(
            ToolStyle::of(QWEN),
            ToolStyle {
                native: true,
                syntax: Syntax::Hermes
            }
        );
        assert_eq!(
            ToolStyle::of(LLAMA),
            ToolStyle {
                native: true,
                syntax: Syntax::Llama3
            }
        );
        let plain = ToolStyle::of("{% for m in messages %}{{ m.content }}{% endfor %}");
        assert_eq!(
            plain,
            ToolStyle {
                native: false,
                syntax: Syntax::Hermes
            }
        );
        let unknown = ToolStyle::of("{% if tools %}[TOOL_CALLS]{% endif %}");
        assert!(!unknown.native, "a syntax not known here is not guessed");
    }

    #[test]
    fn a_template_without_tools_gets_them_in_the_system_turn_and_the_history_as_text() {
        let style = ToolStyle::of("{{ messages }}");
        let call = ToolCall {
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
        };
        let mut asked = Message::new(Role::Assistant, "");
        asked.tool_calls = vec![call];
        let mut answered = Message::new(Role::Tool, "18 C");
        answered.tool_call_id = Some("call_1".into());
        let conversation = vec![
            Message::new(Role::System, "Be brief."),
            Message::new(Role::User, "Weather in Paris?"),
            asked,
            answered,
        ];
        let auto = tools(ToolChoice::Auto);
        let p = style.conversation(&conversation, &auto);
        assert!(p.tools.is_empty());
        assert!(p.messages[0]
            .content
            .starts_with("Be brief.\n\nYou can call functions."));
        assert!(p.messages[0].content.contains(r#""name":"get_weather""#));
        assert_eq!(
            p.messages[2].content,
            "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}\n</tool_call>"
        );
        assert_eq!(p.messages[3].role, Role::User);
        assert_eq!(
            p.messages[3].content,
            "<tool_response>\n18 C\n</tool_response>"
        );
        let no_tools = Tools::default();
        let plain = style.conversation(&conversation[..2], &no_tools);
        assert!(
            matches!(plain.messages, Cow::Borrowed(_)),
            "a request without tools is not copied"
        );
        let offered_none = tools(ToolChoice::None);
        let none = style.conversation(&conversation, &offered_none);
        assert_eq!(
            none.messages[0].content, "Be brief.",
            "tool_choice none offers nothing"
        );
    }

    #[test]
    fn calls_are_read_back_with_fresh_ids_and_anything_else_is_no_call() {
        let t = tools(ToolChoice::Auto);
        let plan = ToolStyle::of(QWEN).plan(&t).unwrap();
        let calls = plan.parse(
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>\n\
             <tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>",
        );
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (calls[0].name.as_str(), calls[0].arguments.as_str()),
            ("get_weather", r#"{"city":"Oslo"}"#)
        );
        assert_ne!(calls[0].id, calls[1].id);
        assert!(
            plan.parse("<tool_call>\n{\"name\": \"get_wea").is_empty(),
            "cut short"
        );
        assert!(plan
            .parse("<tool_call>{\"name\": \"rm_rf\", \"arguments\": {}}</tool_call>")
            .is_empty());
        let llama = ToolStyle::of(LLAMA).plan(&t).unwrap();
        let calls = llama.parse("{\"name\": \"get_time\", \"parameters\": {}}");
        assert_eq!(calls[0].name, "get_time");
    }

    #[test]
    fn the_call_grammar_names_only_the_tool_chosen() {
        let t = tools(ToolChoice::Function("get_time".into()));
        let plan = ToolStyle::of(QWEN).plan(&t).unwrap();
        let schema = plan.call_schema();
        assert_eq!(schema["properties"]["name"]["const"], "get_time");
        assert!(plan.forced());
        let auto = tools(ToolChoice::Auto);
        let plan = ToolStyle::of(QWEN).plan(&auto).unwrap();
        assert_eq!(plan.call_schema()["anyOf"].as_array().unwrap().len(), 2);
        assert!(!plan.forced());
        assert!(ToolStyle::of(QWEN).plan(&tools(ToolChoice::None)).is_none());
    }
}
