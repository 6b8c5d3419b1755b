//! The tiny `gemma3` file, run by Hearth's gemma3 forward pass (`gemma3.rs`): its own
//! metadata keys (key and value lengths, sliding window), q/k norms and post-attention and
//! post-feed-forward norms, a tied output head, BOS in front, and Gemma's turn template
//! (`<start_of_turn>user` ... `<end_of_turn>`, the answer as `model`).

use candle_core::quantized::gguf_file::Value;

use super::{ones, Builder, DIM, HEAD_DIM, LAYERS};

const CONTROL: [&str; 5] = [
    "<pad>",
    "<eos>",
    "<bos>",
    "<start_of_turn>",
    "<end_of_turn>",
];
const EOS: u32 = 1;
const BOS: u32 = 2;
const START_OF_TURN: u32 = 3;
const TEMPLATE: &str = "{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + ('model' if message['role'] == 'assistant' else message['role']) + '\\n' + message['content'] + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}";
const KV_HEADS: usize = 1;

/// The tiny gemma3 model, ready to write.
fn build() -> candle_core::Result<Builder> {
    let mut b = Builder::new("gemma3");
    b.arch_meta("attention.key_length", Value::U32(HEAD_DIM as u32));
    b.arch_meta("attention.value_length", Value::U32(HEAD_DIM as u32));
    b.arch_meta("attention.sliding_window", Value::U32(16));
    b.arch_meta("rope.freq_base", Value::F32(1_000_000.0));
    b.vocabulary(&CONTROL, EOS, Some(BOS), TEMPLATE);
    b.transformer(CONTROL.len() + 256 + super::MERGED.len(), KV_HEADS, true)?;
    for l in 0..LAYERS {
        b.tensor(format!("blk.{l}.attn_q_norm.weight"), ones(HEAD_DIM)?);
        b.tensor(format!("blk.{l}.attn_k_norm.weight"), ones(HEAD_DIM)?);
        b.tensor(format!("blk.{l}.post_attention_norm.weight"), ones(DIM)?);
        b.tensor(format!("blk.{l}.post_ffw_norm.weight"), ones(DIM)?);
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::super::{answer_twice, ask, load, Engine, CONTEXT};
    use super::*;
    use crate::providers::{Message, Role};

    #[test]
    fn a_tiny_gemma3_file_loads_and_says_what_it_is() {
        let (_d, e) = load(&build().unwrap());
        assert_eq!(e.info.architecture, "gemma3");
        assert_eq!(e.info.name.as_deref(), Some("tiny test gemma3"));
        assert_eq!(e.info.vocab_size, 5 + 256 + 4);
        assert_eq!(e.info.context_length, CONTEXT as usize);
    }

    fn hello_prompt(e: &Engine) -> Vec<u32> {
        e.prompt_ids(&[Message::new(Role::User, "hello")]).unwrap()
    }

    #[test]
    fn the_gemma3_prompt_starts_with_bos_and_has_gemma_turns_ending_in_the_model_turn() {
        let (_d, e) = load(&build().unwrap());
        let ids = hello_prompt(&e);
        assert_eq!(ids[0], BOS);
        assert_eq!(ids.iter().filter(|t| **t == START_OF_TURN).count(), 2);
        let model_turn = e.encode_structure("<start_of_turn>model\n").unwrap();
        assert!(ids.ends_with(&model_turn), "{ids:?}");
    }

    #[test]
    fn the_gemma3_prompt_has_one_bos_when_the_template_writes_it_too() {
        let (_d, e) = load(&build().unwrap());
        let ids = hello_prompt(&e);
        assert_eq!(ids.iter().filter(|t| **t == BOS).count(), 1, "{ids:?}");
    }

    #[test]
    fn gemma3_greedy_decoding_is_deterministic_and_a_repeated_prompt_reuses_its_prefix() {
        let (_d, e) = load(&build().unwrap());
        let (_, _, again, _) = answer_twice(&e, &ask("hello", 12));
        assert_eq!(
            again.cached_input_tokens,
            again.input_tokens - 1,
            "a repeated prompt is computed again only for its last token"
        );
    }

    #[test]
    fn past_the_sliding_window_a_reused_prefix_answers_as_a_cold_run() {
        // The tiny file's window is 16 tokens: prompt and answer run well past it, so the
        // second run (prefix reused, one token at a time) and the first (the prompt in one
        // pass) mask their sliding-window layers differently and must still agree.
        let (_d, e) = load(&build().unwrap());
        answer_twice(&e, &ask("hello there, a prompt of some length", 40));
    }

    #[test]
    fn a_gemma3_file_without_its_post_norms_is_a_load_error_that_names_them() {
        let err = build()
            .unwrap()
            .without("blk.0.post_ffw_norm.weight")
            .load_error();
        assert!(err.contains("blk.0.post_ffw_norm.weight"), "{err}");
    }
}
