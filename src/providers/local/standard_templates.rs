//! The chat templates of the model families, for a file that carries none: base models and
//! older conversions often have no `tokenizer.chat_template`. As llama.cpp does, the family's
//! standard format is used (ChatML when nothing better is known), and `hearth models info`
//! names the one chosen.

/// Gemma: turns between `<start_of_turn>` and `<end_of_turn>`, the assistant called `model`,
/// a system message folded into the first user turn (Gemma has no system role).
const GEMMA: &str = "{{ bos_token }}
{%- if messages and messages[0]['role'] == 'system' -%}
{%- set first_prefix = messages[0]['content'] + '\n\n' -%}{%- set turns = messages[1:] -%}
{%- else -%}{%- set first_prefix = '' -%}{%- set turns = messages -%}{%- endif -%}
{%- for message in turns -%}
<start_of_turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}
{{ (first_prefix if loop.first else '') + message['content'] }}<end_of_turn>
{% endfor -%}
{%- if add_generation_prompt -%}<start_of_turn>model
{% endif -%}";

/// Llama 3: header tokens around each role, `<|eot_id|>` after each turn.
const LLAMA3: &str = "{{ bos_token }}
{%- for message in messages -%}
<|start_header_id|>{{ message['role'] }}<|end_header_id|>

{{ message['content'] }}<|eot_id|>
{%- endfor -%}
{%- if add_generation_prompt -%}<|start_header_id|>assistant<|end_header_id|>

{% endif -%}";

/// Phi-3: `<|role|>` before each turn, `<|end|>` after it.
const PHI3: &str = "{%- for message in messages -%}
<|{{ message['role'] }}|>
{{ message['content'] }}<|end|>
{% endfor -%}
{%- if add_generation_prompt -%}<|assistant|>
{% endif -%}";

/// ChatML (Qwen, SmolLM and many others), and the format of last resort.
const CHATML: &str = "{%- for message in messages -%}
<|im_start|>{{ message['role'] }}
{{ message['content'] }}<|im_end|>
{% endfor -%}
{%- if add_generation_prompt -%}<|im_start|>assistant
{% endif -%}";

/// The standard template for a file of `architecture` whose vocabulary holds the tokens
/// `has_token` says it does: its name and its source.
pub fn standard_for(
    architecture: &str,
    has_token: impl Fn(&str) -> bool,
) -> (&'static str, &'static str) {
    match architecture {
        a if a.starts_with("gemma") => ("gemma", GEMMA),
        "phi3" => ("phi-3", PHI3),
        _ if has_token("<|start_header_id|>") => ("llama-3", LLAMA3),
        _ => ("chatml", CHATML),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::local::template::{ChatTemplate, Segment};
    use crate::providers::{Message, Role};

    fn render(source: &str, bos: &str, messages: &[Message]) -> String {
        let t = ChatTemplate::new(source, bos, "").unwrap();
        t.render(messages, &[])
            .unwrap()
            .into_iter()
            .map(|s| match s {
                Segment::Structure(text) => text,
                Segment::Content(i) => format!("[{}]", messages[i].content),
                Segment::Data(text) => text,
            })
            .collect()
    }

    fn conversation() -> Vec<Message> {
        let m = |role, content: &str| Message::new(role, content);
        vec![
            m(Role::System, "Be brief."),
            m(Role::User, "Hi"),
            m(Role::Assistant, "Hello."),
            m(Role::User, "Capital of France?"),
        ]
    }

    #[test]
    fn each_family_gets_its_own_format_and_chatml_is_the_last_resort() {
        let none = |_: &str| false;
        assert_eq!(standard_for("gemma3", none).0, "gemma");
        assert_eq!(standard_for("phi3", none).0, "phi-3");
        assert_eq!(
            standard_for("llama", |t| t == "<|start_header_id|>").0,
            "llama-3"
        );
        assert_eq!(standard_for("llama", none).0, "chatml");
        assert_eq!(standard_for("qwen2", none).0, "chatml");
    }

    #[test]
    fn gemma_folds_the_system_message_into_the_first_user_turn() {
        assert_eq!(
            render(GEMMA, "<bos>", &conversation()),
            "<bos><start_of_turn>user\n[Be brief.]\n\n[Hi]<end_of_turn>\n\
             <start_of_turn>model\n[Hello.]<end_of_turn>\n\
             <start_of_turn>user\n[Capital of France?]<end_of_turn>\n\
             <start_of_turn>model\n"
        );
    }

    #[test]
    fn llama3_phi3_and_chatml_render_every_turn_and_the_generation_prompt() {
        assert_eq!(
            render(LLAMA3, "<|begin_of_text|>", &conversation()[..2]),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n[Be brief.]<|eot_id|>\
             <|start_header_id|>user<|end_header_id|>\n\n[Hi]<|eot_id|>\
             <|start_header_id|>assistant<|end_header_id|>\n\n"
        );
        assert_eq!(
            render(PHI3, "", &conversation()[1..3]),
            "<|user|>\n[Hi]<|end|>\n<|assistant|>\n[Hello.]<|end|>\n<|assistant|>\n"
        );
        assert_eq!(
            render(CHATML, "", &conversation()[..2]),
            "<|im_start|>system\n[Be brief.]<|im_end|>\n<|im_start|>user\n[Hi]<|im_end|>\n<|im_start|>assistant\n"
        );
    }
}
