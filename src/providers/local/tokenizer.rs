//! The model's tokenizer, built from the GGUF metadata with the `tokenizers` crate the way
//! llama.cpp reads the same file: BPE from `tokenizer.ggml.tokens` and `.merges`, the
//! pre-tokenizer named by `tokenizer.ggml.pre` (unknown names are refused, never guessed),
//! a byte-level decoder, and every control token (type 3) as a special token.
//!
//! Two instances are kept: one that turns control-token text into control tokens (for
//! the chat template's own structure) and one that never does (for text from users,
//! tools and documents), so `<|im_end|>` typed by a user stays plain text.

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Merges, Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, Tokenizer};

use super::gguf::Gguf;
use super::LoadError;

/// GGUF token type of control tokens (`<|im_start|>`, `<|endoftext|>`, ...).
const CONTROL: i32 = 3;

/// The model's tokenizer pair and its special ids.
pub struct ModelTokenizer {
    structure: Tokenizer,
    text: Tokenizer,
    /// Ids that end generation.
    pub eos_ids: Vec<u32>,
    /// The beginning-of-sequence token, if the model uses one.
    pub bos: Option<(u32, String)>,
    /// The end-of-sequence token text.
    pub eos_token: String,
    /// Vocabulary size.
    pub vocab_size: usize,
}

fn pre_tokenizer(pre: &str) -> Result<PreTokenizerWrapper, LoadError> {
    let byte_level: PreTokenizerWrapper = ByteLevel::new(false, true, true).into();
    match pre {
        // llama.cpp: "\p{N}" then the GPT-2 regex, no prefix space.
        "smollm" => Ok(Sequence::new(vec![Digits::new(true).into(), byte_level]).into()),
        "gpt2" | "gpt-2" | "default" => Ok(byte_level),
        other => Err(LoadError::Unsupported(format!(
            "pre-tokenizer `{other}` (tokenizer.ggml.pre) is not supported yet; refusing to guess its rules"
        ))),
    }
}

impl ModelTokenizer {
    /// Builds the tokenizer from a GGUF file's metadata.
    pub fn from_gguf(g: &Gguf) -> Result<ModelTokenizer, LoadError> {
        let model = g.string("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(LoadError::Unsupported(format!(
                "tokenizer model `{model}` is not supported yet (only gpt2-style BPE)"
            )));
        }
        let tokens = g.strings("tokenizer.ggml.tokens")?;
        let merges: Merges = g
            .strings("tokenizer.ggml.merges")?
            .into_iter()
            .map(|m| match m.split_once(' ') {
                Some((a, b)) => Ok((a.to_owned(), b.to_owned())),
                None => Err(LoadError::Format(format!("merge without a space: {m:?}"))),
            })
            .collect::<Result<_, _>>()?;
        let vocab: Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| LoadError::Format(format!("BPE: {e}")))?;
        let pre = pre_tokenizer(g.opt_string("tokenizer.ggml.pre").unwrap_or("default"))?;
        let mut structure = Tokenizer::new(bpe);
        structure.with_pre_tokenizer(Some(pre));
        structure.with_decoder(Some(ByteLevelDecoder::default()));
        let types: Vec<i32> = g
            .array("tokenizer.ggml.token_type")?
            .iter()
            .map(|v| v.to_i32().unwrap_or(1))
            .collect();
        let specials: Vec<AddedToken> = tokens
            .iter()
            .zip(&types)
            .filter(|(_, t)| **t == CONTROL)
            .map(|(tok, _)| AddedToken::from(tok.clone(), true))
            .collect();
        structure.add_special_tokens(&specials);
        let mut text = structure.clone();
        text.set_encode_special_tokens(true);
        let token = |key: &str| {
            g.opt_u32(key)
                .and_then(|id| tokens.get(id as usize).map(|t| (id, t.clone())))
        };
        let eos = token("tokenizer.ggml.eos_token_id")
            .ok_or_else(|| LoadError::Missing("tokenizer.ggml.eos_token_id".into()))?;
        let mut eos_ids = vec![eos.0];
        // Chat models end a turn with their end-of-turn token as well as with EOS.
        for end in ["<|im_end|>", "<|eot_id|>", "<end_of_turn>"] {
            if let Some(id) = tokens.iter().position(|t| t == end) {
                if !eos_ids.contains(&(id as u32)) {
                    eos_ids.push(id as u32);
                }
            }
        }
        let add_bos = g
            .metadata()
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(false);
        Ok(ModelTokenizer {
            structure,
            text,
            eos_ids,
            bos: if add_bos {
                token("tokenizer.ggml.bos_token_id")
            } else {
                None
            },
            eos_token: eos.1,
            vocab_size: tokens.len(),
        })
    }

    /// Ids of template text: control-token text becomes control tokens.
    pub fn encode_structure(&self, s: &str) -> Result<Vec<u32>, String> {
        encode(&self.structure, s)
    }

    /// Ids of untrusted text: control-token text stays plain text.
    pub fn encode_text(&self, s: &str) -> Result<Vec<u32>, String> {
        encode(&self.text, s)
    }

    /// The text of some ids (control tokens skipped).
    pub fn decode(&self, ids: &[u32]) -> Result<String, String> {
        self.structure.decode(ids, true).map_err(|e| e.to_string())
    }
}

fn encode(t: &Tokenizer, s: &str) -> Result<Vec<u32>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    t.encode_fast(s, false)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| e.to_string())
}
