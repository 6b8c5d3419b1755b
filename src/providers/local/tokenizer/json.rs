//! A model's own `tokenizer.json` (from its original hub repository), used when it sits
//! beside the GGUF file and agrees with the GGUF's vocabulary id by id. A file that
//! disagrees is refused, and so is the model: the ids the weights were trained on are the
//! GGUF's, and a tokenizer.json someone put there was meant to be used, so quietly building
//! the tokenizer from the metadata instead would hide the mistake.

use std::path::Path;

use tokenizers::Tokenizer;

use super::{GgufVocab, LoadError};

/// The tokenizer in `path`, after checking that each id of the GGUF vocabulary names the
/// same token string in it and that it has no ids beyond them.
pub(super) fn load(path: &Path, vocab: &GgufVocab) -> Result<Tokenizer, LoadError> {
    let mut tokenizer = Tokenizer::from_file(path)
        .map_err(|e| LoadError::Format(format!("{}: {e}", path.display())))?;
    // Truncation or padding in the file would cut or pad prompts behind the engine's back.
    tokenizer
        .with_truncation(None)
        .map_err(|e| LoadError::Format(format!("{}: {e}", path.display())))?;
    tokenizer.with_padding(None);
    if let Some(problem) = first_difference(&tokenizer, &vocab.tokens) {
        return Err(LoadError::Format(format!(
            "{} does not match the GGUF's vocabulary: {problem}; the model is refused rather than \
             run with the tokenizer built from the GGUF metadata (remove or replace that \
             tokenizer.json to use the GGUF's own)",
            path.display()
        )));
    }
    Ok(tokenizer)
}

fn first_difference(tokenizer: &Tokenizer, tokens: &[String]) -> Option<String> {
    for (id, expected) in tokens.iter().enumerate() {
        let found = tokenizer.id_to_token(id as u32);
        if found.as_deref() != Some(expected.as_str()) {
            return Some(match found {
                Some(f) => format!("id {id} is {f:?} there and {expected:?} in the GGUF"),
                None => format!("id {id} is missing there and {expected:?} in the GGUF"),
            });
        }
    }
    tokenizer
        .get_vocab(true)
        .into_iter()
        .filter(|(_, id)| *id as usize >= tokens.len())
        .min_by_key(|(_, id)| *id)
        .map(|(token, id)| {
            format!(
                "id {id} ({token:?}) is beyond the GGUF's {} tokens",
                tokens.len()
            )
        })
}
