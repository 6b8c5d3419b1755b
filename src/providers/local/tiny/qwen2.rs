//! The tiny `qwen2` file, run by Hearth's llama-shaped pass (`llama.rs`): grouped-query
//! attention with q/k/v biases, rotation in halves, an output head tied to the embeddings,
//! ChatML with a default system turn.

use candle_core::quantized::gguf_file::Value;

use super::{salt, weights, Builder, HEADS, HEAD_DIM, LAYERS};

const CONTROL: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const TEMPLATE: &str = "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
const KV_HEADS: usize = 1;

/// The tiny qwen2 model, ready to write.
pub(super) fn build() -> candle_core::Result<Builder> {
    let mut b = Builder::new("qwen2");
    b.arch_meta("rope.freq_base", Value::F32(1_000_000.0));
    b.vocabulary(&CONTROL, 2, None, TEMPLATE);
    b.transformer(CONTROL.len() + 256 + super::MERGED.len(), KV_HEADS, true)?;
    for l in 0..LAYERS {
        for (name, len) in [
            ("attn_q", HEADS * HEAD_DIM),
            ("attn_k", KV_HEADS * HEAD_DIM),
            ("attn_v", KV_HEADS * HEAD_DIM),
        ] {
            b.tensor(
                format!("blk.{l}.{name}.bias"),
                weights(&[len], salt(l, name) + 0.2)?,
            );
        }
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use candle_core::Device;
    use candle_transformers::models::quantized_qwen2;

    use super::super::{answer_twice, ask, assert_matches_reference, load, reopen, CONTEXT};
    use super::*;
    use crate::providers::{Message, Role};

    #[test]
    fn a_tiny_qwen2_file_loads_and_says_what_it_is() {
        let (_d, e) = load(&build().unwrap());
        assert_eq!(e.info.architecture, "qwen2");
        assert_eq!(e.info.name.as_deref(), Some("tiny test qwen2"));
        assert_eq!(e.info.vocab_size, 3 + 256 + 4);
        assert_eq!(e.info.context_length, CONTEXT as usize);
    }

    #[test]
    fn the_qwen2_template_adds_its_default_system_turn() {
        let (_d, e) = load(&build().unwrap());
        let ids = e.prompt_ids(&[Message::new(Role::User, "hello")]).unwrap();
        let system = e
            .encode_structure("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")
            .unwrap();
        assert!(ids.starts_with(&system), "{ids:?}");
        assert_eq!(
            ids.iter().filter(|t| **t == 1).count(),
            3,
            "system, user and the generation prompt"
        );
    }

    #[test]
    fn qwen2_greedy_decoding_is_deterministic_and_a_repeated_prompt_reuses_its_prefix() {
        let (_d, e) = load(&build().unwrap());
        let (_, _, again, _) = answer_twice(&e, &ask("hello", 12));
        assert_eq!(again.cached_input_tokens, again.input_tokens - 1);
    }

    /// candle-transformers' `quantized_qwen2`, which the engine ran before Hearth's own pass,
    /// is the reference (`assert_matches_reference` says why 2e-3).
    #[test]
    fn hearths_qwen2_pass_gives_candle_transformers_qwen2_logits_token_by_token() {
        let b = build().unwrap();
        let (dir, e) = load(&b);
        let (content, mut file) = reopen(&dir, &b);
        let mut theirs =
            quantized_qwen2::ModelWeights::from_gguf(content, &mut file, &Device::Cpu).unwrap();
        assert_matches_reference(&e, |x, pos| theirs.forward(x, pos));
    }

    #[test]
    fn a_qwen2_file_missing_a_bias_is_a_load_error_that_names_it() {
        let err = build().unwrap().without("blk.1.attn_k.bias").load_error();
        assert!(err.contains("blk.1.attn_k.bias"), "{err}");
    }
}
