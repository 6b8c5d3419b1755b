//! A SentencePiece vocabulary as a `tokenizers` tokenizer, the way Hugging Face converts
//! SentencePiece BPE models: a BPE with byte fallback whose merges are every split of every
//! token into two tokens, ranked by the joined token's score. Tests save it as the
//! tokenizer.json beside a model, to prove that route.
//!
//! It gives llama.cpp's ids except where two pairs tie on score: the merges then keep id
//! order where llama.cpp joins the leftmost pair, which no rank order can say. The normaliser
//! puts `▁` in front (when the vocabulary wants a space prefix) and writes spaces as `▁`; the
//! `Metaspace` pre-tokenizer is not used, since it adds no `▁` to text that already starts
//! with a space and llama.cpp does.

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::{Merges, Vocab, BPE};
use tokenizers::normalizers::{NormalizerWrapper, Prepend, Replace, Sequence};
use tokenizers::Tokenizer;

use super::pieces::Pieces;
use super::spm::Spm;

const SPACE: &str = "\u{2581}";

/// The tokenizer (special tokens not added).
pub(super) fn tokenizer(spm: &Spm) -> Tokenizer {
    let (pieces, scores, unk, space_prefix) = spm.parts();
    let ids: Vocab = pieces
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_owned(), i as u32))
        .collect();
    let mut bpe = BPE::builder()
        .vocab_and_merges(ids, merges(pieces, scores))
        .byte_fallback(true)
        .fuse_unk(true);
    if let Some(t) = pieces.get(unk) {
        bpe = bpe.unk_token(t.to_owned());
    }
    let mut normalizers: Vec<NormalizerWrapper> = Vec::new();
    let mut decoders: Vec<DecoderWrapper> = vec![
        Replace::new(SPACE, " ").unwrap().into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if space_prefix {
        normalizers.push(Prepend::new(SPACE.to_owned()).into());
        // llama.cpp's detokenizer drops the space it added in front.
        decoders.push(Strip::new(' ', 1, 0).into());
    }
    normalizers.push(Replace::new(" ", SPACE).unwrap().into());
    let mut tokenizer = Tokenizer::new(bpe.build().unwrap());
    tokenizer.with_normalizer(Some(Sequence::new(normalizers)));
    tokenizer.with_decoder(Some(DecoderSequence::new(decoders)));
    tokenizer
}

/// Every way of writing a token as two tokens, best joined score first; equal scores keep
/// id order.
fn merges(pieces: &Pieces, scores: &[f32]) -> Merges {
    let mut ranked: Vec<(f32, usize, &str, &str)> = Vec::new();
    for (id, token) in pieces.iter().enumerate() {
        for (at, _) in token.char_indices().skip(1) {
            let (left, right) = token.split_at(at);
            if pieces.id(left).is_some() && pieces.id(right).is_some() {
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
