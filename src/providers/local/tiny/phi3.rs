//! The tiny `phi3` files, run by Hearth's llama-shaped pass (`llama.rs`): q, k and v in one
//! `attn_qkv`, gate and up in one `ffn_up`, no `ffn_gate`, rotation in halves, an untied output
//! head, Phi-3's control tokens and turn template. Two shapes:
//!
//! - Phi-3-mini's: whole heads rotated at base 10,000, no rope factors. Held to
//!   candle-transformers' `quantized_phi3`, which reads the same GGUF.
//! - Phi-4-mini's: half of each head rotated (Phi-4-mini rotates 96 of 128), another base,
//!   LongRoPE's long and short factors and its attention factor. `quantized_phi3` knows none of
//!   these (it rotates whole heads at base 10,000), so this one is held to candle-transformers'
//!   `phi3`, its port of the Hugging Face model, given the same weights under Hugging Face's
//!   names. See [`hugging_face_port`] for how its config expresses what llama.cpp does.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::phi3;

use super::{salt, weights, Builder, DIM, FFN, HEADS, HEAD_DIM, LAYERS};

const CONTROL: [&str; 5] = [
    "<|endoftext|>",
    "<|user|>",
    "<|assistant|>",
    "<|end|>",
    "<|system|>",
];
/// A user-defined token (GGUF type 4): what llama.cpp's converter makes of a Phi-3 added
/// token its tokenizer files do not mark special.
const PLACEHOLDER: &str = "<|placeholder1|>";
const EOS: u32 = 0;
const END: u32 = 3;
const TEMPLATE: &str = "{% for message in messages %}{{'<|' + message['role'] + '|>' + '\\n' + message['content'] + '<|end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";
const KV_HEADS: usize = 1;
const VOCAB: usize = CONTROL.len() + 256 + super::MERGED.len();

/// Phi-4-mini's shape, scaled down: rotated dimensions per head, the rotary base, the context
/// the model had before LongRoPE stretched it (the file's is `super::CONTEXT`, twice this),
/// the factors for either side of it and the attention factor.
const PARTIAL_DIMS: usize = HEAD_DIM / 2;
const PHI4_BASE: f32 = 250_000.0;
const ORIGINAL_CONTEXT: u32 = 64;
const LONG: [f32; 2] = [1.5, 7.0];
const SHORT: [f32; 2] = [1.0, 1.25];
const ATTN_FACTOR: f32 = 1.4;

/// The fused `attn_qkv` of layer `l`: the query heads' rows, then the key head's, then the
/// value head's; in each query and key head the first `rotated` rows multiplied by `scale`.
fn attn_qkv(l: usize, rotated: usize, scale: f32) -> candle_core::Result<QTensor> {
    let (q, kv) = (HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM);
    let w = weights(&[q + 2 * kv, DIM], salt(l, "attn_qkv"))?.dequantize(&Device::Cpu)?;
    let per_row: Vec<f32> = (0..q + 2 * kv)
        .map(|row| match row < q + kv && row % HEAD_DIM < rotated {
            true => scale,
            false => 1.0,
        })
        .collect();
    let per_row = Tensor::from_vec(per_row, (q + 2 * kv, 1), &Device::Cpu)?;
    QTensor::quantize(&w.broadcast_mul(&per_row)?, GgmlDType::F32)
}

/// The vocabulary a tiny phi3 file carries.
#[derive(Clone, Copy)]
enum Vocabulary {
    /// The byte-level BPE of every tiny file, with Phi-3's control tokens.
    ByteLevel,
    /// SentencePiece, as Phi-3-mini's own files have it, with its control tokens and
    /// [`PLACEHOLDER`].
    SentencePiece,
}

/// A phi3 file whose q and k rows of the rotated dimensions are scaled by `qk_scale` (1 for
/// the file itself), rotating `rope_dims` of each head at `base`.
fn shaped(
    vocabulary: Vocabulary,
    rope_dims: usize,
    base: f32,
    qk_scale: f32,
) -> candle_core::Result<Builder> {
    let mut b = Builder::new("phi3");
    b.arch_meta("feed_forward_length", Value::U32(FFN as u32));
    b.arch_meta("rope.dimension_count", Value::U32(rope_dims as u32));
    b.arch_meta("rope.freq_base", Value::F32(base));
    let vocab = match vocabulary {
        Vocabulary::ByteLevel => {
            b.vocabulary(&CONTROL, EOS, None, TEMPLATE);
            VOCAB
        }
        Vocabulary::SentencePiece => b.spm_vocabulary(&CONTROL, &[PLACEHOLDER], TEMPLATE),
    };
    b.transformer(vocab, KV_HEADS, false)?;
    for l in 0..LAYERS {
        for part in ["attn_q", "attn_k", "attn_v", "ffn_gate", "ffn_up"] {
            b = b.without(&format!("blk.{l}.{part}.weight"));
        }
        b.tensor(
            format!("blk.{l}.attn_qkv.weight"),
            attn_qkv(l, rope_dims, qk_scale)?,
        );
        b.tensor(
            format!("blk.{l}.ffn_up.weight"),
            weights(&[2 * FFN, DIM], salt(l, "ffn_up"))?,
        );
    }
    Ok(b)
}

/// The tiny Phi-3-mini-shaped model, ready to write.
fn build() -> candle_core::Result<Builder> {
    shaped(Vocabulary::ByteLevel, HEAD_DIM, 10_000.0, 1.0)
}

/// The tiny Phi-3-mini-shaped model with a SentencePiece vocabulary, ready to write.
fn build_sentencepiece() -> candle_core::Result<Builder> {
    shaped(Vocabulary::SentencePiece, HEAD_DIM, 10_000.0, 1.0)
}

/// The tiny Phi-4-mini-shaped model, ready to write.
fn build_phi4_like() -> candle_core::Result<Builder> {
    let mut b = shaped(Vocabulary::ByteLevel, PARTIAL_DIMS, PHI4_BASE, 1.0)?;
    b.arch_meta(
        "rope.scaling.original_context_length",
        Value::U32(ORIGINAL_CONTEXT),
    );
    b.arch_meta("rope.scaling.attn_factor", Value::F32(ATTN_FACTOR));
    let factors = |f: [f32; 2]| QTensor::quantize(&Tensor::new(&f, &Device::Cpu)?, GgmlDType::F32);
    b.tensor("rope_factors_long.weight", factors(LONG)?);
    b.tensor("rope_factors_short.weight", factors(SHORT)?);
    Ok(b)
}

/// candle-transformers' port of the Hugging Face Phi-3 on the Phi-4-mini-shaped weights, with
/// `factors` (the set llama.cpp picks for the context) applied at every position. Where its
/// config cannot say what llama.cpp does, the weights and numbers it is given make up for it:
///
/// - it multiplies each rotary frequency by its LongRoPE factor, where llama.cpp and Hugging
///   Face divide by it, so it gets the reciprocals;
/// - it has no attention factor. Rotation is linear, so scaling the rotated part of q and k by
///   the factor after rotating equals scaling their rotated rows of `attn_qkv` before: its copy
///   of that matrix has those rows scaled;
/// - it takes short factors below `original_max_position_embeddings` and long ones above, per
///   position; without that number it takes the short set everywhere, which is given `factors`.
fn hugging_face_port(factors: [f32; 2]) -> phi3::Model {
    let scaled = shaped(Vocabulary::ByteLevel, PARTIAL_DIMS, PHI4_BASE, ATTN_FACTOR).unwrap();
    let mut tensors = HashMap::new();
    for (name, t) in &scaled.tensors {
        let t = t.dequantize(&Device::Cpu).unwrap();
        tensors.insert(hugging_face_name(name), t);
    }
    let reciprocals = factors.map(|f| 1.0 / f).to_vec();
    let config = phi3::Config {
        vocab_size: VOCAB,
        hidden_act: candle_nn::Activation::Silu,
        hidden_size: DIM,
        intermediate_size: FFN,
        num_hidden_layers: LAYERS,
        num_attention_heads: HEADS,
        num_key_value_heads: KV_HEADS,
        rms_norm_eps: 1e-5,
        rope_theta: f64::from(PHI4_BASE),
        bos_token_id: None,
        eos_token_id: None,
        rope_scaling: Some(phi3::RopeScaling {
            short_factor: reciprocals.clone(),
            long_factor: reciprocals,
            type_: phi3::RopeScalingType::LongRope,
        }),
        max_position_embeddings: super::CONTEXT as usize,
        original_max_position_embeddings: None,
        partial_rotary_factor: Some(PARTIAL_DIMS as f64 / HEAD_DIM as f64),
        tie_word_embeddings: false,
    };
    let vb = candle_nn::VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
    phi3::Model::new(&config, vb).unwrap()
}

/// A GGUF tensor's name in a Hugging Face Phi-3 checkpoint.
fn hugging_face_name(gguf: &str) -> String {
    let top = [
        ("token_embd.weight", "model.embed_tokens.weight"),
        ("output_norm.weight", "model.norm.weight"),
        ("output.weight", "lm_head.weight"),
    ];
    if let Some((_, hf)) = top.iter().find(|(g, _)| *g == gguf) {
        return (*hf).to_owned();
    }
    let (layer, part) = gguf
        .strip_prefix("blk.")
        .and_then(|rest| rest.split_once('.'))
        .unwrap_or_else(|| panic!("no Hugging Face name for {gguf}"));
    let part = match part {
        "attn_norm.weight" => "input_layernorm.weight",
        "ffn_norm.weight" => "post_attention_layernorm.weight",
        "attn_qkv.weight" => "self_attn.qkv_proj.weight",
        "attn_output.weight" => "self_attn.o_proj.weight",
        "ffn_up.weight" => "mlp.gate_up_proj.weight",
        "ffn_down.weight" => "mlp.down_proj.weight",
        other => panic!("no Hugging Face name for {other}"),
    };
    format!("model.layers.{layer}.{part}")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use candle_core::Device;
    use candle_transformers::models::quantized_phi3;

    use super::super::super::{engine, gguf::Gguf, installed, tokenizer::ModelTokenizer};
    use super::super::{answer_twice, ask, assert_matches_reference, load, reopen, CONTEXT};
    use super::*;
    use crate::providers::local::{Engine, KvCacheType, LoadOptions};
    use crate::providers::{Message, Role};

    #[test]
    fn a_tiny_phi3_file_loads_and_a_repeated_prompt_reuses_its_prefix() {
        let (_d, e) = load(&build().unwrap());
        assert_eq!(e.info.architecture, "phi3");
        let (_, _, again, _) = answer_twice(&e, &ask("hello", 12));
        assert_eq!(again.cached_input_tokens, again.input_tokens - 1);
    }

    /// candle-transformers' `quantized_phi3`, an independent port of llama.cpp's phi3 graph
    /// that splits the fused outputs as llama.cpp does, is the reference
    /// (`assert_matches_reference` says why 2e-3).
    #[test]
    fn hearths_phi3_pass_gives_candle_transformers_quantized_phi3_logits_token_by_token() {
        let b = build().unwrap();
        let (dir, e) = load(&b);
        let (content, mut file) = reopen(&dir, &b);
        let mut theirs =
            quantized_phi3::ModelWeights::from_gguf(false, content, &mut file, &Device::Cpu)
                .unwrap();
        assert_matches_reference(&e, |x, pos| theirs.forward(x, pos));
    }

    /// With the file's whole context (128, past the original 64) llama.cpp rotates by the long
    /// factors; with 64 (not past it), by the short ones. Each against the Hugging Face port
    /// given that set (`hugging_face_port` says how), to the same 2e-3.
    #[test]
    fn a_phi4_mini_shaped_pass_rotates_part_of_each_head_with_the_factors_its_context_calls_for() {
        let b = build_phi4_like().unwrap();
        let (dir, long) = load(&b);
        assert_eq!(long.info.context_length, CONTEXT as usize);
        let mut theirs = hugging_face_port(LONG);
        assert_matches_reference(&long, |x, pos| theirs.forward(x, pos));
        let options = LoadOptions {
            context_length: Some(ORIGINAL_CONTEXT as usize),
            ..LoadOptions::with_threads(1)
        };
        let short = Engine::load_with(&dir.path().join("tiny-phi3.gguf"), &options).unwrap();
        let mut theirs = hugging_face_port(SHORT);
        assert_matches_reference(&short, |x, pos| theirs.forward(x, pos));
    }

    #[test]
    fn a_phi4_mini_shaped_file_reuses_its_prefix_and_answers_as_a_cold_run() {
        let (_d, e) = load(&build_phi4_like().unwrap());
        let (_, _, again, _) = answer_twice(&e, &ask("hello there, a prompt of some length", 40));
        assert_eq!(again.cached_input_tokens, again.input_tokens - 1);
    }

    #[test]
    fn the_engine_runs_phi3_and_estimates_its_memory_from_the_phi3_keys() {
        assert!(engine::runs("phi3"));
        let b = build_phi4_like().unwrap();
        let (dir, e) = load(&b);
        let path = dir.path().join("tiny-phi3.gguf");
        assert_eq!(crate::providers::local::inspect(&path).unwrap(), "phi3");
        let estimate =
            crate::providers::local::estimate_memory(&path, None, KvCacheType::F16).unwrap();
        assert_eq!(estimate, e.info.memory);
        // Keys and values, f16, per layer, key head and position: heads are hidden / heads
        // wide, since phi3 files give no key length.
        let kv = LAYERS * KV_HEADS * HEAD_DIM * 2 * 2 * CONTEXT as usize;
        assert_eq!(estimate.kv_cache_bytes, kv as u64);
        let weights: usize = b
            .tensors
            .iter()
            .map(|(_, t)| t.storage_size_in_bytes())
            .sum();
        assert_eq!(estimate.weights_bytes, weights as u64);
    }

    #[test]
    fn without_a_template_a_phi3_file_gets_the_phi3_turns_and_says_so() {
        let (_d, e) = load(&build().unwrap().without_meta("tokenizer.chat_template"));
        assert_eq!(e.info.chat_template, "phi-3 (the file has none)");
        let ids = e.prompt_ids(&[Message::new(Role::User, "hello")]).unwrap();
        let mut want = e.encode_structure("<|user|>\n").unwrap();
        want.extend(e.encode_text("hello").unwrap());
        want.extend(e.encode_structure("<|end|>\n<|assistant|>\n").unwrap());
        assert_eq!(ids, want);
    }

    #[test]
    fn a_phi3_turn_ends_at_end_as_well_as_at_eos() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("tiny-phi3.gguf");
        build().unwrap().write(&path).unwrap();
        let t = ModelTokenizer::for_model(&Gguf::open(&path).unwrap(), &path).unwrap();
        assert_eq!(t.eos_ids, vec![EOS, END]);
    }

    #[test]
    fn a_fused_qkv_of_the_wrong_height_is_a_load_error_that_names_it() {
        let name = "blk.1.attn_qkv.weight";
        let mut b = build().unwrap().without(name);
        b.tensor(name, weights(&[HEADS * HEAD_DIM, DIM], 0.1).unwrap());
        let err = b.load_error();
        assert!(err.contains(name) && err.contains("16 rows"), "{err}");
    }

    /// Chats whose contents start and end with whitespace: every byte C's `isspace` knows
    /// (what llama.cpp's RSTRIP drops), no-break and ideographic spaces (what it keeps), an
    /// empty and a blank content, and the user-defined placeholder with spaces after it.
    fn conversations() -> Vec<Vec<Message>> {
        let m = |role, content: &str| Message::new(role, content);
        vec![
            vec![m(Role::User, "hello")],
            vec![
                m(Role::System, "he said hello"),
                m(Role::User, " \x0B\x0C\r\n\thello  "),
                m(Role::Assistant, "\n\nhello\n"),
                m(Role::User, "\u{A0}\u{3000}hello"),
            ],
            vec![
                m(Role::System, ""),
                m(Role::User, "   "),
                m(Role::Assistant, "hello"),
                m(Role::User, "a<|placeholder1|>  b"),
            ],
        ]
    }

    /// Raw completion prompts with each kind of special token followed by whitespace:
    /// `<s>`, `<unk>` and `<|endoftext|>` are the ones the Phi-3 rule leaves alone.
    const COMPLETIONS: [&str; 2] = [
        "hello<s> hello</s> hello<|endoftext|> hello<unk>\thello",
        "hello<|system|>\x0B hello<|placeholder1|>\n\nhello<|end|> ",
    ];

    #[derive(serde::Deserialize)]
    struct Rendered {
        prompt: String,
        ids: Vec<u32>,
    }

    /// What llama.cpp made of the chats and completions.
    #[derive(serde::Deserialize)]
    struct Theirs {
        chats: Vec<Rendered>,
        completions: Vec<Vec<u32>>,
    }

    /// llama.cpp's rendered prompt and ids for each chat, and its ids for each completion, on
    /// the file at `model` (`tests/fixtures/llamacpp_chat_prompt_ids.py`); None when its venv
    /// is missing outside CI.
    fn llama_cpps_ids(model: &Path, chats: &[Vec<Message>]) -> Option<Theirs> {
        let python = installed::llamacpp_python()?;
        let dir = model.parent().unwrap();
        let (asked, answered) = (dir.join("asked.json"), dir.join("answered.json"));
        let request = serde_json::json!({"chats": chats, "completions": COMPLETIONS});
        std::fs::write(&asked, request.to_string()).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/llamacpp_chat_prompt_ids.py");
        let out = std::process::Command::new(python)
            .arg(script)
            .arg(model)
            .arg(&asked)
            .arg(&answered)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the llama.cpp side failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(serde_json::from_str(&std::fs::read_to_string(&answered).unwrap()).unwrap())
    }

    fn completion(text: &str) -> [Message; 1] {
        [Message::new(Role::Text, text)]
    }

    /// The SentencePiece phi3 file named `name`: Hearth's ids for each chat, for its rendered
    /// prompt sent as a text completion and for each of [`COMPLETIONS`] are llama.cpp's, id
    /// for id.
    fn assert_llama_cpps_prompt_ids(name: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny-phi3.gguf");
        build_sentencepiece()
            .unwrap()
            .with_meta("general.name", Value::String(name.into()))
            .write(&path)
            .unwrap();
        let chats = conversations();
        let Some(theirs) = llama_cpps_ids(&path, &chats) else {
            return;
        };
        let e = Engine::load(&path, None, 1).unwrap();
        for (chat, Rendered { prompt, ids }) in chats.iter().zip(theirs.chats) {
            assert_eq!(e.prompt_ids(chat).unwrap(), ids, "{name}, chat {prompt:?}");
            let ours = e.prompt_ids(&completion(&prompt)).unwrap();
            assert_eq!(ours, ids, "{name}, completion {prompt:?}");
        }
        for (text, ids) in COMPLETIONS.iter().zip(theirs.completions) {
            let ours = e.prompt_ids(&completion(text)).unwrap();
            assert_eq!(ours, ids, "{name}, completion {text:?}");
        }
    }

    /// llama.cpp drops the whitespace after Phi-3's special tokens (all but `<|endoftext|>`)
    /// when the file's name says Phi-3, up to the next non-space even inside a message.
    #[test]
    fn a_file_named_phi3_drops_whitespace_after_special_tokens_as_llama_cpp_does() {
        assert_llama_cpps_prompt_ids("Phi-3 mini tiny test");
    }

    /// "Phi 3" with a space is not a name llama.cpp's test matches: the whitespace stays.
    #[test]
    fn a_file_not_named_phi3_keeps_whitespace_after_special_tokens_as_llama_cpp_does() {
        assert_llama_cpps_prompt_ids("Phi 3 Mini tiny test");
    }
}
