//! Pre-tokenizers of byte-level BPE vocabularies, named by `tokenizer.ggml.pre` the way
//! llama.cpp names them (`llama-vocab.cpp`): each name means a list of regexes applied one
//! after the other (each splits every piece the previous ones left, keeping both matches and
//! the text between them), then the GPT-2 byte-to-character mapping. Built, as Hugging
//! Face's own tokenizer.json files for these models are, from `Split` (onig regexes, which
//! have the `(?!\S)` lookahead) followed by `ByteLevel` without its own regex.
//!
//! A name not listed here is refused: a wrong guess would give a model token ids it was
//! never trained on, silently.

use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::SplitDelimiterBehavior;

use super::LoadError;

/// GPT-2's regex as llama.cpp writes it (its trailing `\s+` case is handled in its code).
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// Llama 3's regex with llama.cpp's spelled-out case-insensitive contractions.
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen2's: Llama 3's with every digit on its own.
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// How a byte-level BPE vocabulary splits text and what llama.cpp sets with the name.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Profile {
    regexes: &'static [&'static str],
    /// A piece that is itself a token is taken whole, without running the merges.
    pub ignore_merges: bool,
    /// Whether a BOS token is added when the GGUF has no `tokenizer.ggml.add_bos_token`.
    pub add_bos: bool,
}

const fn profile(regexes: &'static [&'static str], ignore_merges: bool, add_bos: bool) -> Profile {
    Profile {
        regexes,
        ignore_merges,
        add_bos,
    }
}

/// The profile for a `tokenizer.ggml.pre` value (`None`: the key is absent, which llama.cpp
/// reads as `default`); unknown names are `LoadError::Unsupported`.
pub(super) fn named(pre: Option<&str>) -> Result<Profile, LoadError> {
    let Some(name) = pre else {
        tracing::warn!(
            "the GGUF has no tokenizer.ggml.pre; using llama.cpp's `default` pre-tokenizer, as llama.cpp does"
        );
        return Ok(profile(DEFAULT, false, false));
    };
    Ok(match name {
        "default" => profile(DEFAULT, false, false),
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0"
        | "lfm2" | "jina-v5-nano" => profile(&[LLAMA3], true, true),
        "dbrx" | "smaug-bpe" => profile(&[LLAMA3], false, false),
        "qwen2" | "deepseek-r1-qwen" | "megrez" | "stablelm2" => profile(&[QWEN2], false, false),
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone"
        | "minerva-7b" => profile(&[r"\p{N}", GPT2], false, false),
        "gpt-2" | "phi-2" | "mpt" | "olmo" | "jais" => profile(&[GPT2], false, false),
        other => {
            return Err(LoadError::Unsupported(format!(
                "pre-tokenizer `{other}` (tokenizer.ggml.pre) is not supported; refusing to guess \
                 its rules (supported: default, llama-bpe, qwen2, smollm, gpt-2 and their llama.cpp aliases)"
            )))
        }
    })
}

/// llama.cpp's `default`: punctuation runs, then GPT-2's regex, then digit runs, then
/// ASCII digits in threes.
const DEFAULT: &[&str] = &[r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"];

impl Profile {
    /// The `tokenizers` pre-tokenizer: the regex splits in order, then bytes to characters.
    pub(super) fn pre_tokenizer(&self) -> Result<PreTokenizerWrapper, LoadError> {
        let mut steps: Vec<PreTokenizerWrapper> = self
            .regexes
            .iter()
            .map(|r| {
                Split::new(
                    SplitPattern::Regex((*r).to_owned()),
                    SplitDelimiterBehavior::Isolated,
                    false,
                )
                .map(PreTokenizerWrapper::from)
                .map_err(|e| LoadError::Format(format!("pre-tokenizer regex {r:?}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        steps.push(ByteLevel::new(false, true, false).into());
        Ok(Sequence::new(steps).into())
    }
}
