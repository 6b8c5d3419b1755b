//! Byte-level BPE vocabularies (`tokenizer.ggml.model = "gpt2"`: Llama 3, Qwen2, SmolLM2,
//! GPT-2): merges from `tokenizer.ggml.merges`, the pre-tokenizer named by
//! `tokenizer.ggml.pre`, and the byte-level decoder.

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Merges, BPE};
use tokenizers::Tokenizer;

use super::super::gguf::Gguf;
use super::{pre, GgufVocab, LoadError};

/// The tokenizer (special tokens not added yet), split the way `profile` says.
pub(super) fn build(
    g: &Gguf,
    vocab: &GgufVocab,
    profile: &pre::Profile,
) -> Result<Tokenizer, LoadError> {
    let merges: Merges = g
        .strings("tokenizer.ggml.merges")?
        .into_iter()
        .map(|m| split_merge(&m))
        .collect::<Result<_, _>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab.ids(), merges)
        .ignore_merges(profile.ignore_merges)
        .build()
        .map_err(|e| LoadError::Damaged(format!("BPE: {e}")))?;
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(profile.pre_tokenizer()?));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
    Ok(tokenizer)
}

/// A merge rule's two halves. llama.cpp looks for the separating space from the second
/// byte on, so a first half that is itself a space still parses.
fn split_merge(m: &str) -> Result<(String, String), LoadError> {
    m.char_indices()
        .skip(1)
        .find(|(_, c)| *c == ' ')
        .map(|(at, _)| (m[..at].to_owned(), m[at + 1..].to_owned()))
        .ok_or_else(|| LoadError::Damaged(format!("merge without a space: {m:?}")))
}

#[cfg(test)]
mod tests {
    use super::split_merge;

    #[test]
    fn a_merge_splits_at_its_first_space_after_the_first_character() {
        assert_eq!(
            split_merge("Ġ t").unwrap(),
            ("Ġ".to_owned(), "t".to_owned())
        );
        assert_eq!(
            split_merge("  x").unwrap(),
            (" ".to_owned(), "x".to_owned())
        );
        assert!(split_merge("ab").is_err());
    }
}
