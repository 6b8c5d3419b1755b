//! The model's tokenizer, giving the ids llama.cpp gives for the same file:
//! - a `tokenizer.json` beside the GGUF file, when there is one, after checking it id by id
//!   against the GGUF's `tokenizer.ggml.tokens` (`json.rs`, with the `tokenizers` crate; a
//!   mismatch refuses the model);
//! - otherwise the GGUF metadata: `tokenizer.ggml.model` `gpt2` is a byte-level BPE with the
//!   pre-tokenizer named by `tokenizer.ggml.pre` (`bpe.rs`, `pre.rs`, with the `tokenizers`
//!   crate), `llama` a SentencePiece vocabulary with scores and byte fallback (`spm.rs`, our
//!   own: the crate's BPE needs 54 MB of merges for Gemma's and cannot break ties as llama.cpp
//!   does); anything else, and any pre-tokenizer name llama.cpp's rules are not known for, is
//!   refused, never guessed.
//!
//! Special tokens are split out of a prompt first, as llama.cpp does (`special.rs`): control
//! and unknown tokens (GGUF token types 3 and 2) only out of the chat template's own text,
//! user-defined ones (type 4) out of any text, so `<|im_end|>` typed by a user stays plain
//! text; the text between them goes to the tokenizer, which never reads control-token text
//! as a control token.

mod bpe;
mod bytes;
mod json;
mod pieces;
mod pre;
mod special;
mod spm;
#[cfg(test)]
mod spm_json;
#[cfg(test)]
mod tests;

use std::path::Path;

use tokenizers::models::bpe::Vocab;
use tokenizers::{AddedToken, Tokenizer};

use super::gguf::Gguf;
use super::LoadError;
use special::{Fragment, Specials};
use spm::Spm;

pub use special::Piece;

/// GGUF token types (llama.cpp's `llama_token_type`).
const NORMAL: i32 = 1;
const UNKNOWN: i32 = 2;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;

/// The model's tokenizer and its special ids.
pub struct ModelTokenizer {
    /// The text between special tokens to ids; control-token text in it stays text.
    text: TextTokenizer,
    /// Where a prompt is split before that, and what whitespace goes with the split.
    specials: Specials,
    /// Ids that end generation.
    pub eos_ids: Vec<u32>,
    /// The beginning-of-sequence token, if the model wants one in front of a prompt.
    pub bos: Option<(u32, String)>,
    /// The end-of-sequence token text.
    pub eos_token: String,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Each token's bytes, by id, for grammars (`bytes.rs`).
    pub token_bytes: Vec<Vec<u8>>,
}

/// The GGUF's vocabulary: token strings by id and their types.
struct GgufVocab {
    tokens: Vec<String>,
    types: Vec<i32>,
}

impl GgufVocab {
    /// The vocabulary as llama.cpp reads it, refusing duplicate token strings as it does.
    fn read(g: &Gguf) -> Result<GgufVocab, LoadError> {
        let mut tokens = g.strings("tokenizer.ggml.tokens")?;
        // llama.cpp's name for an empty token, so that it cannot collide with real text.
        for (i, t) in tokens.iter_mut().enumerate() {
            if t.is_empty() {
                *t = format!("[EMPTY_{i}]");
            }
        }
        let mut seen = std::collections::HashMap::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            if let Some(first) = seen.insert(t.as_str(), i) {
                return Err(LoadError::Damaged(format!(
                    "token {t:?} appears twice in the vocabulary (ids {first} and {i})"
                )));
            }
        }
        // No types means every token is normal, as llama.cpp reads it.
        let types = match g.metadata().get("tokenizer.ggml.token_type") {
            None => vec![NORMAL; tokens.len()],
            Some(v) => v
                .to_vec()
                .map_err(|_| {
                    LoadError::Damaged("`tokenizer.ggml.token_type` is not an array".into())
                })?
                .iter()
                .map(|t| {
                    t.to_i32().map_err(|_| {
                        LoadError::Damaged("`tokenizer.ggml.token_type` holds a non-i32".into())
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        if types.len() < tokens.len() {
            return Err(LoadError::Damaged(format!(
                "{} token types for {} tokens",
                types.len(),
                tokens.len()
            )));
        }
        Ok(GgufVocab { tokens, types })
    }

    /// Token string to id.
    fn ids(&self) -> Vocab {
        self.tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect()
    }

    fn of_type<'a>(&'a self, wanted: &'a [i32]) -> impl Iterator<Item = &'a String> + 'a {
        self.tokens
            .iter()
            .zip(&self.types)
            .filter(move |(_, t)| wanted.contains(t))
            .map(|(tok, _)| tok)
    }

    /// Control and unknown tokens as special tokens (never made from text, skipped when
    /// decoding), and user-defined ones as tokens split out of any text before normalisation
    /// (`special.rs` splits prompts at both first, with the attributes llama.cpp gives them).
    fn add_special_tokens(&self, t: &mut Tokenizer) {
        let specials: Vec<AddedToken> = self
            .of_type(&[CONTROL, UNKNOWN])
            .map(|tok| AddedToken::from(tok.clone(), true))
            .collect();
        t.add_special_tokens(&specials);
        let user: Vec<AddedToken> = self
            .of_type(&[USER_DEFINED])
            .map(|tok| AddedToken::from(tok.clone(), false).normalized(false))
            .collect();
        t.add_tokens(&user);
    }
}

/// What turns the text between special tokens into ids.
enum TextTokenizer {
    /// The `tokenizers` crate: a byte-level BPE from the GGUF, or a tokenizer.json beside
    /// it, with the GGUF's special tokens added so that decoding skips the control ones.
    Crate(Box<Tokenizer>),
    /// A SentencePiece vocabulary from the GGUF.
    Spm(Spm),
}

impl TextTokenizer {
    /// The crate's tokenizer, special tokens added from `vocab`; special-token text reaching
    /// it came from where it must stay text (`special.rs` splits it out first).
    fn from_crate(mut tokenizer: Tokenizer, vocab: &GgufVocab) -> TextTokenizer {
        vocab.add_special_tokens(&mut tokenizer);
        tokenizer.set_encode_special_tokens(true);
        TextTokenizer::Crate(Box::new(tokenizer))
    }

    fn token_id(&self, token: &str) -> Option<u32> {
        match self {
            TextTokenizer::Crate(t) => t.token_to_id(token),
            TextTokenizer::Spm(t) => t.token_id(token),
        }
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        match self {
            TextTokenizer::Crate(t) => t
                .encode_fast(text, false)
                .map(|e| e.get_ids().to_vec())
                .map_err(|e| e.to_string()),
            TextTokenizer::Spm(t) => Ok(t.encode(text)),
        }
    }

    fn decode(&self, ids: &[u32]) -> Result<String, String> {
        match self {
            TextTokenizer::Crate(t) => t.decode(ids, true).map_err(|e| e.to_string()),
            TextTokenizer::Spm(t) => Ok(t.decode(ids)),
        }
    }
}

/// The vocabulary kind a GGUF file's tokenizer metadata describes.
enum Kind {
    /// `gpt2`: byte-level BPE.
    Bpe,
    /// `llama`: SentencePiece.
    Spm,
}

fn kind(g: &Gguf) -> Result<Kind, LoadError> {
    match g.string("tokenizer.ggml.model")? {
        "gpt2" => Ok(Kind::Bpe),
        "llama" => Ok(Kind::Spm),
        other => Err(LoadError::Unsupported(format!(
            "tokenizer model `{other}` (tokenizer.ggml.model) is not supported; only `gpt2` \
             (byte-level BPE) and `llama` (SentencePiece)"
        ))),
    }
}

impl ModelTokenizer {
    /// The tokenizer for the GGUF file at `path`: the `tokenizer.json` in the same folder if
    /// there is one (an error, not a fallback, when it disagrees with the GGUF's vocabulary),
    /// else the one built from the GGUF metadata.
    pub fn for_model(g: &Gguf, path: &Path) -> Result<ModelTokenizer, LoadError> {
        let json = path.with_file_name("tokenizer.json");
        if !json.is_file() {
            return ModelTokenizer::from_gguf(g);
        }
        let kind = kind(g)?;
        let vocab = GgufVocab::read(g)?;
        // Whatever the file marks as special, the GGUF's control tokens must never come
        // out of user text.
        let text = TextTokenizer::from_crate(json::load(&json, &vocab)?, &vocab);
        tracing::info!(tokenizer = %json.display(), "tokenizer from tokenizer.json");
        // The pre-tokenizer's name matters only for the BOS default here: the file has its own.
        let add_bos = adds_bos(g, || match kind {
            Kind::Spm => Ok(true),
            Kind::Bpe => pre::named(g.opt_string("tokenizer.ggml.pre")).map(|p| p.add_bos),
        })?;
        ModelTokenizer::assemble(g, &vocab, text, &kind, add_bos)
    }

    /// The tokenizer built from the GGUF metadata alone.
    pub fn from_gguf(g: &Gguf) -> Result<ModelTokenizer, LoadError> {
        let kind = kind(g)?;
        let vocab = GgufVocab::read(g)?;
        let (text, add_bos) = match kind {
            Kind::Bpe => {
                let profile = pre::named(g.opt_string("tokenizer.ggml.pre"))?;
                let t = bpe::build(g, &vocab, &profile)?;
                (
                    TextTokenizer::from_crate(t, &vocab),
                    adds_bos(g, || Ok(profile.add_bos))?,
                )
            }
            // llama.cpp puts BOS in front of SentencePiece prompts unless told otherwise.
            Kind::Spm => (
                TextTokenizer::Spm(Spm::new(g, &vocab)?),
                adds_bos(g, || Ok(true))?,
            ),
        };
        ModelTokenizer::assemble(g, &vocab, text, &kind, add_bos)
    }

    /// The tokenizer, the special tokens and the special ids.
    fn assemble(
        g: &Gguf,
        vocab: &GgufVocab,
        text: TextTokenizer,
        kind: &Kind,
        add_bos: bool,
    ) -> Result<ModelTokenizer, LoadError> {
        let spm = matches!(kind, Kind::Spm);
        // SentencePiece files without the keys get llama.cpp's defaults (<s> = 1, </s> = 2).
        let token = |key: &str, spm_default: u32| -> Result<Option<(u32, String)>, LoadError> {
            let Some(id) = g.opt_u32(key).or(spm.then_some(spm_default)) else {
                return Ok(None);
            };
            match vocab.tokens.get(id as usize) {
                Some(t) => Ok(Some((id, t.clone()))),
                None => Err(LoadError::Damaged(format!(
                    "`{key}` is {id}, beyond the {} tokens",
                    vocab.tokens.len()
                ))),
            }
        };
        let eos = token("tokenizer.ggml.eos_token_id", 2)?
            .ok_or_else(|| LoadError::Missing("tokenizer.ggml.eos_token_id".into()))?;
        let mut eos_ids = vec![eos.0];
        // Chat models end a turn with their end-of-turn token as well as with EOS (Phi-3 ends a
        // turn with `<|end|>` where its files name `<|endoftext|>` as EOS; llama.cpp stops at
        // either).
        for end in ["<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>"] {
            if let Some(id) = vocab.tokens.iter().position(|t| t == end) {
                if !eos_ids.contains(&(id as u32)) {
                    eos_ids.push(id as u32);
                }
            }
        }
        let bos = if add_bos {
            Some(
                token("tokenizer.ggml.bos_token_id", 1)?
                    .ok_or_else(|| LoadError::Missing("tokenizer.ggml.bos_token_id".into()))?,
            )
        } else {
            None
        };
        Ok(ModelTokenizer {
            text,
            specials: Specials::new(g, vocab)?,
            eos_ids,
            bos,
            eos_token: eos.1,
            vocab_size: vocab.tokens.len(),
            token_bytes: bytes::token_bytes(vocab, kind),
        })
    }

    /// The id of a token of the vocabulary.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.text.token_id(token)
    }

    /// Whether the vocabulary holds this token.
    pub fn has_token(&self, token: &str) -> bool {
        self.token_id(token).is_some()
    }

    /// Ids of a prompt made of template text and untrusted text: what llama.cpp gives for
    /// the whole of it with special tokens parsed, except that control-token text inside
    /// untrusted text stays text.
    pub fn encode_prompt(&self, pieces: &[Piece]) -> Result<Vec<u32>, String> {
        let mut ids = Vec::new();
        for fragment in self.specials.split(pieces) {
            match fragment {
                Fragment::Token(id) => ids.push(id),
                Fragment::Raw(text) => ids.extend(self.text.encode(&text)?),
            }
        }
        Ok(ids)
    }

    /// Ids of template text: control-token text becomes control tokens.
    pub fn encode_structure(&self, s: &str) -> Result<Vec<u32>, String> {
        self.encode_prompt(&[Piece::Structure(s)])
    }

    /// Ids of untrusted text: control-token text stays plain text.
    pub fn encode_text(&self, s: &str) -> Result<Vec<u32>, String> {
        self.encode_prompt(&[Piece::Text(s)])
    }

    /// The text of some ids (control tokens skipped).
    pub fn decode(&self, ids: &[u32]) -> Result<String, String> {
        self.text.decode(ids)
    }

    /// The tokenizer as a `tokenizer.json` file (a SentencePiece vocabulary as Hugging Face
    /// converts one, `spm_json.rs`).
    #[cfg(test)]
    fn save_json(&self, path: &Path) {
        match &self.text {
            TextTokenizer::Crate(t) => t.save(path, false).unwrap(),
            TextTokenizer::Spm(t) => spm_json::tokenizer(t).save(path, false).unwrap(),
        }
    }
}

/// Whether prompts start with BOS: the file's `tokenizer.ggml.add_bos_token`, else what
/// llama.cpp does for this kind of vocabulary.
fn adds_bos(
    g: &Gguf,
    default: impl FnOnce() -> Result<bool, LoadError>,
) -> Result<bool, LoadError> {
    match g
        .metadata()
        .get("tokenizer.ggml.add_bos_token")
        .and_then(|v| v.to_bool().ok())
    {
        Some(add) => Ok(add),
        None => default(),
    }
}
