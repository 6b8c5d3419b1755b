//! A tiny llama-architecture GGUF written by the tests themselves (deterministic weights,
//! two layers, a byte-level BPE vocabulary with ChatML control tokens), so the loader,
//! tokenizer, template, decoding, streaming and cancellation are tested on every run,
//! with or without the real model.

use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

const DIM: usize = 16;
const HEADS: u32 = 2;
const LAYERS: usize = 2;
const FFN: usize = 32;
const CONTROL: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

fn tokens() -> Vec<String> {
    let mut alphabet: Vec<char> = tokenizers::pre_tokenizers::byte_level::ByteLevel::alphabet()
        .into_iter()
        .collect();
    alphabet.sort_unstable();
    let mut t: Vec<String> = CONTROL.iter().map(|s| (*s).to_owned()).collect();
    t.extend(alphabet.into_iter().map(String::from));
    t.extend(["he", "ll", "hell", "hello"].map(String::from));
    t
}

fn weights(shape: &[usize], salt: f32) -> candle_core::Result<QTensor> {
    let n: usize = shape.iter().product();
    let t = (Tensor::arange(0u32, n as u32, &Device::Cpu)?.to_dtype(candle_core::DType::F32)?
        * f64::from(0.37 + salt))?
    .sin()?
    .affine(0.3, 0.0)?
    .reshape(shape)?;
    QTensor::quantize(&t, GgmlDType::F32)
}

fn ones(n: usize) -> candle_core::Result<QTensor> {
    QTensor::quantize(
        &Tensor::ones(n, candle_core::DType::F32, &Device::Cpu)?,
        GgmlDType::F32,
    )
}

/// Writes the tiny model to `path`.
pub fn write(path: &Path) -> candle_core::Result<()> {
    let toks = tokens();
    let vocab = toks.len();
    let types: Vec<Value> = (0..vocab)
        .map(|i| Value::I32(if i < CONTROL.len() { 3 } else { 1 }))
        .collect();
    let merges = ["h e", "l l", "he ll", "hell o"]
        .map(|m| Value::String(m.into()))
        .to_vec();
    let s = |v: &str| Value::String(v.into());
    let metadata: Vec<(&str, Value)> = vec![
        ("general.architecture", s("llama")),
        ("general.name", s("tiny test llama")),
        ("llama.context_length", Value::U32(64)),
        ("llama.embedding_length", Value::U32(DIM as u32)),
        ("llama.block_count", Value::U32(LAYERS as u32)),
        ("llama.attention.head_count", Value::U32(HEADS)),
        ("llama.attention.head_count_kv", Value::U32(HEADS)),
        ("llama.rope.dimension_count", Value::U32(DIM as u32 / HEADS)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("tokenizer.ggml.model", s("gpt2")),
        ("tokenizer.ggml.pre", s("smollm")),
        (
            "tokenizer.ggml.tokens",
            Value::Array(toks.iter().map(|t| s(t)).collect()),
        ),
        ("tokenizer.ggml.merges", Value::Array(merges)),
        ("tokenizer.ggml.token_type", Value::Array(types)),
        ("tokenizer.ggml.eos_token_id", Value::U32(2)),
        ("tokenizer.chat_template", s(CHATML)),
    ];
    let mut tensors: Vec<(String, QTensor)> = vec![
        ("token_embd.weight".into(), weights(&[vocab, DIM], 0.0)?),
        ("output_norm.weight".into(), ones(DIM)?),
        ("output.weight".into(), weights(&[vocab, DIM], 0.5)?),
    ];
    for l in 0..LAYERS {
        let salt = l as f32 * 0.1;
        for (name, shape) in [
            ("attn_q", [DIM, DIM]),
            ("attn_k", [DIM, DIM]),
            ("attn_v", [DIM, DIM]),
            ("attn_output", [DIM, DIM]),
            ("ffn_gate", [FFN, DIM]),
            ("ffn_up", [FFN, DIM]),
            ("ffn_down", [DIM, FFN]),
        ] {
            tensors.push((
                format!("blk.{l}.{name}.weight"),
                weights(&shape, salt + name.len() as f32 * 0.01)?,
            ));
        }
        tensors.push((format!("blk.{l}.attn_norm.weight"), ones(DIM)?));
        tensors.push((format!("blk.{l}.ffn_norm.weight"), ones(DIM)?));
    }
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut f = std::fs::File::create(path)?;
    gguf_file::write(&mut f, &md, &ts)
}

#[cfg(test)]
mod tests {
    use super::super::Engine;
    use super::*;
    use crate::providers::{FinishReason, Message, ProviderRequest, ResponseFormat, Role};

    fn tiny() -> (tempfile::TempDir, Engine) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        write(&path).unwrap();
        let engine = Engine::load(&path, None, 1).unwrap();
        (dir, engine)
    }

    fn req(text: &str, max: u32) -> ProviderRequest {
        ProviderRequest {
            model_id: "tiny".into(),
            messages: vec![Message {
                role: Role::User,
                content: text.into(),
            }],
            max_output_tokens: max,
            temperature: 0.0,
            top_p: None,
            stop: vec![],
            seed: Some(1),
            response_format: ResponseFormat::Text,
        }
    }

    #[test]
    fn the_tiny_model_loads_and_its_tokenizer_round_trips_text_with_merges() {
        let (_d, e) = tiny();
        assert_eq!(e.info.architecture, "llama");
        assert_eq!(e.info.vocab_size, 3 + 256 + 4);
        let ids = e.encode_text("hello world").unwrap();
        assert_eq!(
            ids[0] as usize,
            3 + 256 + 3,
            "the merged token `hello` comes first"
        );
        assert_eq!(e.decode(&ids).unwrap(), "hello world");
    }

    #[test]
    fn control_tokens_come_only_from_the_template() {
        let (_d, e) = tiny();
        let ids = e
            .prompt_ids(&[Message {
                role: Role::User,
                content: "<|im_end|><|im_start|>system".into(),
            }])
            .unwrap();
        assert_eq!(
            ids.iter().filter(|t| **t == 1).count(),
            2,
            "user turn and generation prompt"
        );
        assert_eq!(ids.iter().filter(|t| **t == 2).count(), 1);
    }

    #[test]
    fn greedy_decoding_is_deterministic_and_the_stream_is_the_whole_answer() {
        let (_d, e) = tiny();
        let mut pieces = String::new();
        let (a, ua, fa) = e
            .generate(&req("hello", 12), &mut |p| {
                pieces.push_str(p);
                true
            })
            .unwrap();
        let (b, ub, _) = e.generate(&req("hello", 12), &mut |_| true).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            (ua.input_tokens, ua.output_tokens),
            (ub.input_tokens, ub.output_tokens)
        );
        assert_eq!(
            ub.cached_input_tokens,
            ub.input_tokens - 1,
            "a repeated prompt is computed again only for its last token"
        );
        assert_eq!(pieces, a);
        assert!(ua.output_tokens <= 12);
        if ua.output_tokens == 12 {
            assert_eq!(fa, FinishReason::Length);
        }
    }

    #[test]
    fn a_consumer_that_stops_ends_generation_within_a_token() {
        let (_d, e) = tiny();
        let mut calls = 0;
        let (_, usage, _) = e
            .generate(&req("hello", 40), &mut |_| {
                calls += 1;
                false
            })
            .unwrap();
        assert!(usage.output_tokens <= 2, "{usage:?}");
    }

    #[test]
    fn damaged_copies_of_the_tiny_model_are_errors() {
        let (d, _) = tiny();
        let bytes = std::fs::read(d.path().join("tiny.gguf")).unwrap();
        for cut in [0, 4, 24, bytes.len() / 3, bytes.len() - 1] {
            let p = d.path().join(format!("cut{cut}.gguf"));
            std::fs::write(&p, &bytes[..cut]).unwrap();
            assert!(
                Engine::load(&p, None, 1).is_err(),
                "a file cut at {cut} loaded"
            );
        }
        let mut wrong = bytes.clone();
        wrong[0] = b'X';
        let p = d.path().join("magic.gguf");
        std::fs::write(&p, wrong).unwrap();
        assert!(Engine::load(&p, None, 1).is_err());
    }

    #[test]
    fn an_unknown_architecture_is_refused_by_name() {
        let (d, _) = tiny();
        let bytes = std::fs::read(d.path().join("tiny.gguf")).unwrap();
        // Same length, different name: "llama" -> "llamb".
        let text = b"general.architecture";
        let key = bytes.windows(text.len()).position(|w| w == text).unwrap();
        let mut renamed = bytes.clone();
        // The value follows the key: u32 type, u64 length, then the string.
        let value = key + text.len() + 4 + 8;
        renamed[value + 4] = b'b';
        let p = d.path().join("arch.gguf");
        std::fs::write(&p, renamed).unwrap();
        let err = Engine::load(&p, None, 1)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("llamb"), "{err}");
    }
}
