//! Tiny GGUF models written by the tests themselves, one per architecture the engine loads
//! (`llama`, `qwen2`, `qwen3`, `phi3`, `gemma3`): deterministic weights, two layers and a
//! byte-level BPE vocabulary with the family's control tokens and chat template (phi3 also
//! with a SentencePiece one, as Phi-3-mini's files have), so the loader, tokenizer, template,
//! decoding, streaming and cancellation are tested on every run, with or without a real model.

mod gemma3;
mod llama;
mod phi3;
mod qwen2;
mod qwen3;
mod tool_calls;

use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

use super::{Answer, Engine};
use crate::providers::{FinishReason, Message, ProviderRequest, Role, Usage};

const DIM: usize = 16;
const HEADS: usize = 2;
const HEAD_DIM: usize = DIM / HEADS;
const LAYERS: usize = 2;
const FFN: usize = 32;
/// Room for qwen2's default system turn, spelled out byte by byte, and an answer.
const CONTEXT: u32 = 128;
/// Merged tokens after the control tokens and the 256 byte tokens; `hello` is the last.
const MERGED: [&str; 4] = ["he", "ll", "hell", "hello"];

/// The pieces of [`Builder::spm_vocabulary`], best score first: "hello" with and without a
/// space in front, and what makes them. As in Llama 2's vocabulary, a newline is no piece
/// (`<0x0A>` stands for it).
const SPM_PIECES: [&str; 11] = [
    "\u{2581}hello",
    "hello",
    "hell",
    "he",
    "ll",
    "\u{2581}\u{2581}",
    "\u{2581}",
    "h",
    "e",
    "l",
    "o",
];

/// A GGUF file being put together: metadata and tensors, written in one go.
struct Builder {
    arch: &'static str,
    metadata: Vec<(String, Value)>,
    tensors: Vec<(String, QTensor)>,
}

fn text(v: &str) -> Value {
    Value::String(v.into())
}

impl Builder {
    fn new(arch: &'static str) -> Builder {
        let mut b = Builder {
            arch,
            metadata: Vec::new(),
            tensors: Vec::new(),
        };
        b.meta("general.architecture", text(arch));
        b.meta("general.name", text(&format!("tiny test {arch}")));
        b.arch_meta("context_length", Value::U32(CONTEXT));
        b.arch_meta("embedding_length", Value::U32(DIM as u32));
        b.arch_meta("block_count", Value::U32(LAYERS as u32));
        b.arch_meta("attention.head_count", Value::U32(HEADS as u32));
        b.arch_meta("attention.layer_norm_rms_epsilon", Value::F32(1e-5));
        b
    }

    fn meta(&mut self, key: &str, value: Value) {
        self.metadata.push((key.to_owned(), value));
    }

    /// An entry under the architecture's own prefix (`qwen2.block_count`).
    fn arch_meta(&mut self, key: &str, value: Value) {
        self.meta(&format!("{}.{key}", self.arch), value);
    }

    fn tensor(&mut self, name: impl Into<String>, t: QTensor) {
        self.tensors.push((name.into(), t));
    }

    /// The byte-level BPE vocabulary: `control` tokens first (type 3), then the byte
    /// alphabet, then [`MERGED`]; with the chat template and the special ids.
    fn vocabulary(&mut self, control: &[&str], eos: u32, bos: Option<u32>, template: &str) {
        let mut alphabet: Vec<char> = tokenizers::pre_tokenizers::byte_level::ByteLevel::alphabet()
            .into_iter()
            .collect();
        alphabet.sort_unstable();
        let tokens: Vec<Value> = control
            .iter()
            .map(|c| text(c))
            .chain(alphabet.into_iter().map(|c| text(&c.to_string())))
            .chain(MERGED.map(text))
            .collect();
        let types = (0..tokens.len())
            .map(|i| Value::I32(if i < control.len() { 3 } else { 1 }))
            .collect();
        let merges = ["h e", "l l", "he ll", "hell o"].map(text).to_vec();
        self.meta("tokenizer.ggml.model", text("gpt2"));
        self.meta("tokenizer.ggml.pre", text("smollm"));
        self.meta("tokenizer.ggml.tokens", Value::Array(tokens));
        self.meta("tokenizer.ggml.merges", Value::Array(merges));
        self.meta("tokenizer.ggml.token_type", Value::Array(types));
        self.meta("tokenizer.ggml.eos_token_id", Value::U32(eos));
        if let Some(bos) = bos {
            self.meta("tokenizer.ggml.bos_token_id", Value::U32(bos));
        }
        self.meta("tokenizer.ggml.add_bos_token", Value::Bool(bos.is_some()));
        self.meta("tokenizer.chat_template", text(template));
    }

    /// A SentencePiece vocabulary (`tokenizer.ggml.model = "llama"`) laid out as Llama 2's
    /// and Phi-3-mini's: `<unk>`, `<s>`, `</s>`, the 256 byte tokens, [`SPM_PIECES`], then the
    /// model's own `control` (type 3) and `user_defined` (type 4) tokens; with the chat
    /// template and llama.cpp's default special ids. Returns the vocabulary's size.
    fn spm_vocabulary(&mut self, control: &[&str], user_defined: &[&str], template: &str) -> usize {
        let bytes: Vec<String> = (0..=255u8).map(|b| format!("<0x{b:02X}>")).collect();
        let tokens: Vec<&str> = ["<unk>", "<s>", "</s>"]
            .into_iter()
            .chain(bytes.iter().map(String::as_str))
            .chain(SPM_PIECES)
            .chain(control.iter().copied())
            .chain(user_defined.iter().copied())
            .collect();
        let special = |kind: i32, n: usize| std::iter::repeat_n(Value::I32(kind), n);
        let types = special(2, 1)
            .chain(special(3, 2))
            .chain(special(6, bytes.len()))
            .chain(special(1, SPM_PIECES.len()))
            .chain(special(3, control.len()))
            .chain(special(4, user_defined.len()))
            .collect();
        // Each piece scores below the one before it, so no two merges tie.
        let scores = tokens
            .iter()
            .map(|t| match SPM_PIECES.iter().position(|p| p == t) {
                Some(rank) => Value::F32(-(rank as f32)),
                None => Value::F32(0.0),
            })
            .collect();
        self.meta("tokenizer.ggml.model", text("llama"));
        self.meta(
            "tokenizer.ggml.tokens",
            Value::Array(tokens.iter().map(|t| text(t)).collect()),
        );
        self.meta("tokenizer.ggml.scores", Value::Array(scores));
        self.meta("tokenizer.ggml.token_type", Value::Array(types));
        self.meta("tokenizer.ggml.unknown_token_id", Value::U32(0));
        self.meta("tokenizer.ggml.bos_token_id", Value::U32(1));
        self.meta("tokenizer.ggml.eos_token_id", Value::U32(2));
        self.meta("tokenizer.chat_template", text(template));
        tokens.len()
    }

    /// The tensors every family shares: embeddings, final norm, the output head unless it
    /// is tied to the embeddings, and each layer's attention, feed-forward and norms, with
    /// `kv_heads` key and value heads.
    fn transformer(
        &mut self,
        vocab: usize,
        kv_heads: usize,
        tied: bool,
    ) -> candle_core::Result<()> {
        self.arch_meta("attention.head_count_kv", Value::U32(kv_heads as u32));
        self.tensor("token_embd.weight", weights(&[vocab, DIM], 0.0)?);
        self.tensor("output_norm.weight", ones(DIM)?);
        if !tied {
            self.tensor("output.weight", weights(&[vocab, DIM], 0.5)?);
        }
        let kv = kv_heads * HEAD_DIM;
        for l in 0..LAYERS {
            for (name, shape) in [
                ("attn_q", [HEADS * HEAD_DIM, DIM]),
                ("attn_k", [kv, DIM]),
                ("attn_v", [kv, DIM]),
                ("attn_output", [DIM, HEADS * HEAD_DIM]),
                ("ffn_gate", [FFN, DIM]),
                ("ffn_up", [FFN, DIM]),
                ("ffn_down", [DIM, FFN]),
            ] {
                self.tensor(
                    format!("blk.{l}.{name}.weight"),
                    weights(&shape, salt(l, name))?,
                );
            }
            self.tensor(format!("blk.{l}.attn_norm.weight"), ones(DIM)?);
            self.tensor(format!("blk.{l}.ffn_norm.weight"), ones(DIM)?);
        }
        Ok(())
    }

    /// Leaves a tensor out, to make a damaged file.
    fn without(mut self, name: &str) -> Builder {
        self.tensors.retain(|(n, _)| n != name);
        self
    }

    /// Replaces a metadata entry, to make a damaged or hostile file.
    fn with_meta(mut self, key: &str, value: Value) -> Builder {
        self.metadata.retain(|(k, _)| k != key);
        self.meta(key, value);
        self
    }

    /// Leaves a metadata entry out (a file without a chat template).
    fn without_meta(mut self, key: &str) -> Builder {
        self.metadata.retain(|(k, _)| k != key);
        self
    }

    /// The load error of this file (empty if it loaded).
    fn load_error(self) -> String {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("damaged.gguf");
        self.write(&p).unwrap();
        Engine::load(&p, None, 1)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    fn write(&self, path: &Path) -> candle_core::Result<()> {
        let md: Vec<(&str, &Value)> = self.metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let ts: Vec<(&str, &QTensor)> = self.tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let mut f = std::fs::File::create(path)?;
        gguf_file::write(&mut f, &md, &ts)
    }
}

/// A distinct weight pattern per layer and tensor.
fn salt(layer: usize, name: &str) -> f32 {
    layer as f32 * 0.1 + name.len() as f32 * 0.01
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

/// Writes `b` into a fresh folder and loads it.
fn load(b: &Builder) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("tiny-{}.gguf", b.arch));
    b.write(&path).unwrap();
    let engine = Engine::load(&path, None, 1).unwrap();
    (dir, engine)
}

/// One user message, greedy, seeded.
fn ask(text: &str, max: u32) -> ProviderRequest {
    let message = Message::new(Role::User, text);
    ProviderRequest {
        seed: Some(1),
        ..ProviderRequest::greedy("tiny", vec![message], max)
    }
}

/// Asks the same question twice, the first time streamed; checks that both answers are
/// the same, that the stream is the whole answer and that something was generated.
/// Returns the answer, both usages and why the first ended.
fn answer_twice(e: &Engine, req: &ProviderRequest) -> (String, Usage, Usage, FinishReason) {
    let mut pieces = String::new();
    let Answer {
        text: a,
        usage: first,
        finish,
        ..
    } = e
        .generate(req, &mut |p, _| {
            pieces.push_str(p);
            true
        })
        .unwrap();
    let Answer {
        text: b,
        usage: second,
        ..
    } = e.generate(req, &mut |_, _| true).unwrap();
    assert_eq!(a, b, "greedy decoding is deterministic");
    assert_eq!(pieces, a, "the stream is the whole answer");
    assert_eq!(
        (first.input_tokens, first.output_tokens),
        (second.input_tokens, second.output_tokens)
    );
    assert!(first.output_tokens >= 1 && first.output_tokens <= u64::from(req.max_output_tokens));
    (a, first, second, finish)
}

/// Our logits of a fixed id sequence, fed one token at a time, against a reference model's
/// (`forward(ids, pos)` on the same file) at every position.
///
/// The references are candle-transformers' ports of llama.cpp's graphs: on f32 weights both
/// compute the same sums in nearly the same order, except that Hearth's cache holds keys and
/// values in f16 (rounded by at most 2^-11 of their size) where candle's holds f32; on logits
/// of order one that moves them by well under 2e-3 (with an f32 cache the two agreed within
/// 1e-4).
fn assert_matches_reference(
    e: &Engine,
    mut forward: impl FnMut(&Tensor, usize) -> candle_core::Result<Tensor>,
) {
    let ids = [1u32, 40, 41, 42, 7, 262, 100, 2];
    let ours = e.logits_along(&ids).unwrap();
    for (pos, (id, ours)) in ids.iter().zip(ours).enumerate() {
        let x = Tensor::new(&[[*id]], &Device::Cpu).unwrap();
        let theirs = forward(&x, pos).unwrap().flatten_all().unwrap();
        let theirs = theirs.to_vec1::<f32>().unwrap();
        assert_eq!(ours.len(), theirs.len(), "vocabulary at position {pos}");
        for (t, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert!(
                (a - b).abs() <= 2e-3,
                "position {pos}, token {t}: {a} vs {b}"
            );
        }
    }
}

/// The GGUF content and reader of `b`'s file in `dir`, for a reference model to load.
fn reopen(dir: &tempfile::TempDir, b: &Builder) -> (gguf_file::Content, std::fs::File) {
    let mut file = std::fs::File::open(dir.path().join(format!("tiny-{}.gguf", b.arch))).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    (content, file)
}
