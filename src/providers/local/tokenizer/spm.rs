//! SentencePiece vocabularies (`tokenizer.ggml.model = "llama"`: Llama 2, TinyLlama, Gemma)
//! as a BPE with byte fallback, the way Hugging Face converts SentencePiece BPE models.
//!
//! llama.cpp tokenizes such a vocabulary by repeatedly joining the adjacent pair whose
//! joined text is a token with the highest score (ties: the leftmost pair), over the whole
//! text with spaces written as `▁`; characters that end up in no token become byte tokens
//! `<0xNN>`. A BPE does the same when its merges are every split of every token into two
//! tokens, ranked by the joined token's score. The text is normalised as llama.cpp does:
//! a `▁` in front of every piece of text that starts the input or follows a special token
//! (when `tokenizer.ggml.add_space_prefix`, true unless the file says otherwise), then every
//! space as `▁`, with no splitting into words. (The `Metaspace` pre-tokenizer is not used: it
//! adds no `▁` to text that already starts with a space, llama.cpp does.)

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::{Merges, BPE};
use tokenizers::normalizers::{NormalizerWrapper, Prepend, Replace, Sequence};
use tokenizers::Tokenizer;

use super::super::gguf::Gguf;
use super::{GgufVocab, LoadError};

const SPACE: &str = "\u{2581}";

/// The tokenizer (special tokens not added yet).
pub(super) fn build(g: &Gguf, vocab: &GgufVocab) -> Result<Tokenizer, LoadError> {
    let scores = scores(g, vocab.tokens.len())?;
    let ids = vocab.ids();
    let merges = merges(vocab, &ids, &scores);
    let mut bpe = BPE::builder()
        .vocab_and_merges(ids, merges)
        .byte_fallback(true)
        .fuse_unk(true);
    let unk = g.opt_u32("tokenizer.ggml.unknown_token_id").unwrap_or(0);
    if let Some(t) = vocab.tokens.get(unk as usize) {
        bpe = bpe.unk_token(t.clone());
    }
    let bpe = bpe
        .build()
        .map_err(|e| LoadError::Format(format!("SentencePiece BPE: {e}")))?;
    let space_prefix = g
        .metadata()
        .get("tokenizer.ggml.add_space_prefix")
        .and_then(|v| v.to_bool().ok())
        .unwrap_or(true);
    let replace = |from: &str, to: &str| {
        Replace::new(from, to).map_err(|e| LoadError::Format(format!("normaliser: {e}")))
    };
    let mut normalizers: Vec<NormalizerWrapper> = Vec::new();
    let mut decoders: Vec<DecoderWrapper> = vec![
        replace(SPACE, " ")?.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if space_prefix {
        normalizers.push(Prepend::new(SPACE.to_owned()).into());
        // llama.cpp's detokenizer drops the space it added in front.
        decoders.push(Strip::new(' ', 1, 0).into());
    }
    normalizers.push(replace(" ", SPACE)?.into());
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_normalizer(Some(Sequence::new(normalizers)));
    tokenizer.with_decoder(Some(DecoderSequence::new(decoders)));
    Ok(tokenizer)
}

/// `tokenizer.ggml.scores`, as f32 (llama.cpp also takes i32); all 0 when absent.
fn scores(g: &Gguf, n: usize) -> Result<Vec<f32>, LoadError> {
    let Some(v) = g.metadata().get("tokenizer.ggml.scores") else {
        return Ok(vec![0.0; n]);
    };
    let values = v
        .to_vec()
        .map_err(|_| LoadError::Format("`tokenizer.ggml.scores` is not an array".into()))?;
    if values.len() < n {
        return Err(LoadError::Format(format!(
            "{} scores for {n} tokens",
            values.len()
        )));
    }
    values
        .iter()
        .take(n)
        .map(|x| {
            x.to_f32()
                .or_else(|_| x.to_i32().map(|i| i as f32))
                .map_err(|_| LoadError::Format("`tokenizer.ggml.scores` holds a non-number".into()))
        })
        .collect()
}

/// Every way of writing a token as two tokens, best joined score first; equal scores keep
/// id order (llama.cpp would take the leftmost pair there, which no rank order can say).
fn merges(vocab: &GgufVocab, ids: &tokenizers::models::bpe::Vocab, scores: &[f32]) -> Merges {
    let mut ranked: Vec<(f32, usize, &str, &str)> = Vec::new();
    for (id, token) in vocab.tokens.iter().enumerate() {
        for (at, _) in token.char_indices().skip(1) {
            let (left, right) = token.split_at(at);
            if ids.contains_key(left) && ids.contains_key(right) {
                ranked.push((scores[id], id, left, right));
            }
        }
    }
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked
        .into_iter()
        .map(|(_, _, l, r)| (l.to_owned(), r.to_owned()))
        .collect()
}
