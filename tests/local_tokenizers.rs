//! The local model's tokenizer through the crate's public surface: which GGUF vocabularies
//! `inspect` (what `hearth models import` runs) and `Engine::load` accept or refuse, and a
//! `tokenizer.json` beside the model file, hand-written here the way Hugging Face writes
//! them, checked against the GGUF's vocabulary. The id-by-id comparisons with llama.cpp on
//! other vocabularies are unit tests (`src/providers/local/tokenizer/tests.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{self, Content, Value};
use hearth::providers::local::{inspect, Engine};
use serde_json::{json, Value as Json};

const CONTROL: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const MERGES: [&str; 4] = ["h e", "l l", "he ll", "hell o"];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A small byte-level BPE vocabulary: ChatML control tokens, the 256 byte characters and
/// the merges that spell "hello".
fn tiny_tokens() -> Vec<String> {
    let mut alphabet: Vec<char> = tokenizers::pre_tokenizers::byte_level::ByteLevel::alphabet()
        .into_iter()
        .collect();
    alphabet.sort_unstable();
    let mut t: Vec<String> = CONTROL.iter().map(|s| (*s).to_owned()).collect();
    t.extend(alphabet.into_iter().map(String::from));
    t.extend(["he", "ll", "hell", "hello"].map(String::from));
    t
}

/// A GGUF holding only the tiny vocabulary, with these tokenizer model and pre names.
fn tiny_vocab_file(dir: &Path, model: &str, pre: &str) -> PathBuf {
    let tokens = tiny_tokens();
    let s = |v: &str| Value::String(v.to_owned());
    let md: Vec<(&str, Value)> = vec![
        ("general.architecture", s("llama")),
        ("tokenizer.ggml.model", s(model)),
        ("tokenizer.ggml.pre", s(pre)),
        (
            "tokenizer.ggml.tokens",
            Value::Array(tokens.iter().map(|t| s(t)).collect()),
        ),
        (
            "tokenizer.ggml.token_type",
            Value::Array(
                (0..tokens.len())
                    .map(|i| Value::I32(if i < CONTROL.len() { 3 } else { 1 }))
                    .collect(),
            ),
        ),
        (
            "tokenizer.ggml.merges",
            Value::Array(MERGES.iter().map(|m| s(m)).collect()),
        ),
        ("tokenizer.ggml.eos_token_id", Value::U32(2)),
    ];
    let path = dir.join(format!("{model}-{pre}.gguf"));
    let refs: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (*k, v)).collect();
    gguf_file::write(&mut std::fs::File::create(&path).unwrap(), &refs, &[]).unwrap();
    path
}

/// A tokenizer.json as Hugging Face writes one for a byte-level BPE: `pre_tokenizer` is the
/// model's own (SmolLM2's: every digit alone, then GPT-2's split).
fn byte_level_tokenizer_json(tokens: &[String], merges: &[String], control: &[usize]) -> Json {
    let vocab: serde_json::Map<String, Json> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), json!(i)))
        .collect();
    let added: Vec<Json> = control
        .iter()
        .map(|&id| {
            json!({"id": id, "content": tokens[id], "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
        ]},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null,
                  "continuing_subword_prefix": null, "end_of_word_suffix": null,
                  "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": merges}
    })
}

fn swap_ids(json: &mut Json, a: &str, b: &str) {
    let vocab = json["model"]["vocab"].as_object_mut().unwrap();
    let (ia, ib) = (vocab[a].clone(), vocab[b].clone());
    vocab.insert(a.to_owned(), ib);
    vocab.insert(b.to_owned(), ia);
}

fn inspect_error(path: &Path) -> String {
    inspect(path)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

#[test]
fn a_sentencepiece_vocabulary_passes_the_import_check() {
    assert_eq!(
        inspect(&fixtures().join("vocab/spm.gguf")).unwrap(),
        "llama"
    );
}

#[test]
fn an_unknown_pre_tokenizer_fails_the_import_check_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let err = inspect_error(&tiny_vocab_file(dir.path(), "gpt2", "made-up-pre"));
    assert!(err.contains("`made-up-pre`"), "{err}");
    assert!(inspect(&tiny_vocab_file(dir.path(), "gpt2", "smollm")).is_ok());
}

#[test]
fn an_unknown_tokenizer_model_fails_the_import_check_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let err = inspect_error(&tiny_vocab_file(dir.path(), "bert", "smollm"));
    assert!(err.contains("`bert`"), "{err}");
}

#[test]
fn a_tokenizer_json_beside_the_model_is_checked_id_by_id_against_the_gguf() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_vocab_file(dir.path(), "gpt2", "smollm");
    let merges: Vec<String> = MERGES.map(String::from).to_vec();
    let mut json = byte_level_tokenizer_json(&tiny_tokens(), &merges, &[0, 1, 2]);
    let json_path = dir.path().join("tokenizer.json");
    std::fs::write(&json_path, json.to_string()).unwrap();
    assert!(inspect(&path).is_ok(), "{}", inspect_error(&path));

    swap_ids(&mut json, "hell", "hello");
    std::fs::write(&json_path, json.to_string()).unwrap();
    let err = inspect_error(&path);
    let hell = tiny_tokens().iter().position(|t| t == "hell").unwrap();
    assert!(
        err.contains(&format!(
            "id {hell} is \"hello\" there and \"hell\" in the GGUF"
        )),
        "{err}"
    );

    std::fs::write(&json_path, "{ not json").unwrap();
    assert!(
        inspect(&path).is_err(),
        "an unreadable tokenizer.json is not skipped"
    );
}

fn ids(v: &Json) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// The default model linked into a fresh folder with SmolLM2's tokenizer.json beside it,
/// written from the GGUF's own tokens and merges.
fn default_model_with_tokenizer_json() -> Option<(tempfile::TempDir, PathBuf, Json)> {
    let model = common::default_model()?;
    let content = Content::read(&mut std::fs::File::open(&model).unwrap()).unwrap();
    let strings = |key: &str| -> Vec<String> {
        content.metadata[key]
            .to_vec()
            .unwrap()
            .iter()
            .map(|v| v.to_string().unwrap().clone())
            .collect()
    };
    let tokens = strings("tokenizer.ggml.tokens");
    let control: Vec<usize> = content.metadata["tokenizer.ggml.token_type"]
        .to_vec()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, t)| t.to_i32().unwrap() == 3)
        .map(|(i, _)| i)
        .collect();
    let json = byte_level_tokenizer_json(&tokens, &strings("tokenizer.ggml.merges"), &control);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.gguf");
    std::os::unix::fs::symlink(&model, &path).unwrap();
    std::fs::write(dir.path().join("tokenizer.json"), json.to_string()).unwrap();
    Some((dir, path, json))
}

#[test]
fn the_default_model_with_its_tokenizer_json_gives_llama_cpps_ids() {
    let Some((_dir, path, _)) = default_model_with_tokenizer_json() else {
        return;
    };
    let engine = Engine::load(&path, None, 1).unwrap();
    let text = std::fs::read_to_string(fixtures().join("smollm2_token_ids.json")).unwrap();
    let recorded: Json = serde_json::from_str(&text).unwrap();
    for case in recorded["cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        assert_eq!(
            engine.encode_text(text).unwrap(),
            ids(&case["ids_plain"]),
            "{text:?}"
        );
        assert_eq!(
            engine.encode_structure(text).unwrap(),
            ids(&case["ids_special"]),
            "{text:?}"
        );
    }
}

#[test]
fn the_default_model_with_a_tokenizer_json_that_disagrees_does_not_load() {
    let Some((dir, path, mut json)) = default_model_with_tokenizer_json() else {
        return;
    };
    swap_ids(&mut json, "Hello", "Ġworld");
    std::fs::write(dir.path().join("tokenizer.json"), json.to_string()).unwrap();
    let err = Engine::load(&path, None, 1)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("id 905 is \"Hello\" there and \"Ġworld\" in the GGUF"),
        "{err}"
    );
}
