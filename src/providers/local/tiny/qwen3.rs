//! The tiny `qwen3` file, run by Hearth's llama-shaped pass (`llama.rs`): q and k RMS-normed
//! per head, heads wider than the hidden size divided by the head count (as Qwen3 0.6B's 128
//! against 1024 / 16), rotation in halves, a tied output head, ChatML.

use candle_core::quantized::gguf_file::Value;

use super::{salt, weights, Builder, DIM, HEADS, LAYERS};

const CONTROL: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
const KV_HEADS: usize = 1;
/// Twice `DIM / HEADS`: the projections widen into the heads and `attn_output` narrows back.
const WIDE_HEAD: usize = 2 * DIM / HEADS;

/// The tiny qwen3 model, ready to write.
fn build() -> candle_core::Result<Builder> {
    let mut b = Builder::new("qwen3");
    b.arch_meta("rope.freq_base", Value::F32(1_000_000.0));
    b.arch_meta("attention.key_length", Value::U32(WIDE_HEAD as u32));
    b.arch_meta("attention.value_length", Value::U32(WIDE_HEAD as u32));
    b.vocabulary(&CONTROL, 2, None, CHATML);
    b.transformer(CONTROL.len() + 256 + super::MERGED.len(), KV_HEADS, true)?;
    for l in 0..LAYERS {
        for (name, shape) in [
            ("attn_q", [HEADS * WIDE_HEAD, DIM]),
            ("attn_k", [KV_HEADS * WIDE_HEAD, DIM]),
            ("attn_v", [KV_HEADS * WIDE_HEAD, DIM]),
            ("attn_output", [DIM, HEADS * WIDE_HEAD]),
        ] {
            let name = format!("blk.{l}.{name}.weight");
            b = b.without(&name);
            b.tensor(name.clone(), weights(&shape, salt(l, &name))?);
        }
        for name in ["attn_q_norm", "attn_k_norm"] {
            b.tensor(
                format!("blk.{l}.{name}.weight"),
                weights(&[WIDE_HEAD], salt(l, name) + 0.3)?,
            );
        }
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use candle_core::Device;
    use candle_transformers::models::quantized_qwen3;

    use super::super::{answer_twice, ask, assert_matches_reference, load, reopen};
    use super::*;

    #[test]
    fn a_tiny_qwen3_file_loads_and_a_repeated_prompt_reuses_its_prefix() {
        let (_d, e) = load(&build().unwrap());
        assert_eq!(e.info.architecture, "qwen3");
        let (_, _, again, _) = answer_twice(&e, &ask("hello", 12));
        assert_eq!(again.cached_input_tokens, again.input_tokens - 1);
    }

    /// candle-transformers' `quantized_qwen3`, an independent port of llama.cpp's qwen3 graph,
    /// is the reference (`assert_matches_reference` says why 2e-3).
    #[test]
    fn hearths_qwen3_pass_gives_candle_transformers_qwen3_logits_token_by_token() {
        let b = build().unwrap();
        let (dir, e) = load(&b);
        let (content, mut file) = reopen(&dir, &b);
        let mut theirs =
            quantized_qwen3::ModelWeights::from_gguf(content, &mut file, &Device::Cpu).unwrap();
        assert_matches_reference(&e, |x, pos| theirs.forward(x, pos));
    }

    #[test]
    fn a_qwen3_file_missing_a_head_norm_is_a_load_error_that_names_it() {
        let err = build()
            .unwrap()
            .without("blk.1.attn_k_norm.weight")
            .load_error();
        assert!(err.contains("blk.1.attn_k_norm.weight"), "{err}");
    }
}
