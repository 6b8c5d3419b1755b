//! SentencePiece vocabularies (`tokenizer.ggml.model = "llama"`: Llama 2, TinyLlama, Gemma),
//! tokenized the way llama.cpp's SPM tokenizer does it:
//!
//! - The text is normalised: a space in front when it starts the input or follows a special
//!   token (`special.rs` hands over exactly such pieces), if `tokenizer.ggml.add_space_prefix`
//!   (true unless the file says otherwise), then every space written as `▁`. No splitting
//!   into words: merges run over the whole piece.
//! - Each character starts as a symbol. Of the adjacent pairs whose joined text is a token,
//!   the one whose token has the highest score is joined first; between equal scores, the
//!   leftmost. Joining goes on until no adjacent pair makes a token.
//! - A symbol that is no token (a character outside the vocabulary) becomes its bytes'
//!   tokens `<0xNN>`.
//!
//! A `tokenizers` BPE can give the same ids only with a merge for every split of every token
//! ranked by score (515k merges and about 54 MB of tables for Gemma's 262,144 tokens), and no
//! rank order can say "leftmost" between two equal scores. This keeps the texts in one buffer
//! (`pieces.rs`) and the scores in an array: about 7 MB for Gemma.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::super::gguf::Gguf;
use super::pieces::Pieces;
use super::{GgufVocab, LoadError, CONTROL, UNKNOWN};

const SPACE: char = '\u{2581}';

/// A SentencePiece vocabulary and its normalisation.
pub(super) struct Spm {
    pieces: Pieces,
    scores: Vec<f32>,
    /// The token of each byte value (256), for characters outside the vocabulary.
    bytes: Vec<Option<u32>>,
    /// For a byte with no token.
    unk: u32,
    space_prefix: bool,
    /// Control and unknown tokens, which decoding leaves out.
    hidden: Vec<bool>,
}

impl Spm {
    pub(super) fn new(g: &Gguf, vocab: &GgufVocab) -> Result<Spm, LoadError> {
        let space_prefix = g
            .metadata()
            .get("tokenizer.ggml.add_space_prefix")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(true);
        let unk = g.opt_u32("tokenizer.ggml.unknown_token_id").unwrap_or(0);
        Ok(Spm::from_parts(
            Pieces::new(&vocab.tokens),
            scores(g, vocab.tokens.len())?,
            &vocab.types,
            unk,
            space_prefix,
        ))
    }

    fn from_parts(
        pieces: Pieces,
        scores: Vec<f32>,
        types: &[i32],
        unk: u32,
        space_prefix: bool,
    ) -> Spm {
        let bytes = (0..=u8::MAX).map(|b| byte_token(&pieces, b)).collect();
        let hidden = types
            .iter()
            .take(pieces.len())
            .map(|t| [CONTROL, UNKNOWN].contains(t))
            .collect();
        Spm {
            pieces,
            scores,
            bytes,
            unk,
            space_prefix,
            hidden,
        }
    }

    /// The id of a token of the vocabulary.
    pub(super) fn token_id(&self, token: &str) -> Option<u32> {
        self.pieces.id(token)
    }

    /// The ids of a piece of text with no special token in it.
    pub(super) fn encode(&self, text: &str) -> Vec<u32> {
        let text = self.normalise(text);
        let mut symbols = Symbols::of(&text);
        let mut queue = BinaryHeap::new();
        for right in 1..symbols.list.len() {
            self.offer(&text, &symbols, right - 1, right, &mut queue);
        }
        while let Some(pair) = queue.pop() {
            if !symbols.join(&pair) {
                continue;
            }
            let joined = &symbols.list[pair.left];
            let (prev, next) = (joined.prev, joined.next);
            if let Some(prev) = prev {
                self.offer(&text, &symbols, prev, pair.left, &mut queue);
            }
            if let Some(next) = next {
                self.offer(&text, &symbols, pair.left, next, &mut queue);
            }
        }
        let mut ids = Vec::with_capacity(symbols.list.len());
        for s in symbols.chain() {
            match self.pieces.id(s.text(&text)) {
                Some(id) => ids.push(id),
                None => ids.extend(
                    s.text(&text)
                        .bytes()
                        .map(|b| self.bytes[b as usize].unwrap_or(self.unk)),
                ),
            }
        }
        ids
    }

    /// The text as llama.cpp hands it to its SPM tokenizer.
    fn normalise(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 3);
        if self.space_prefix {
            out.push(SPACE);
        }
        out.extend(text.chars().map(|c| if c == ' ' { SPACE } else { c }));
        out
    }

    /// Queues the pair `left`, `right` if their joined text is a token.
    fn offer(
        &self,
        text: &str,
        symbols: &Symbols,
        left: usize,
        right: usize,
        queue: &mut BinaryHeap<Pair>,
    ) {
        let (l, r) = (&symbols.list[left], &symbols.list[right]);
        let joined = &text[l.start..r.start + r.len];
        if let Some(id) = self.pieces.id(joined) {
            queue.push(Pair {
                score: self.scores[id as usize],
                left,
                right,
                len: joined.len(),
            });
        }
    }

    /// The text of some ids, as the `tokenizers` decoder for these vocabularies gives it:
    /// control and unknown tokens and ids beyond the vocabulary left out, `▁` as a space,
    /// runs of byte tokens as their UTF-8 text (U+FFFD for each byte of a run that is not
    /// UTF-8), and the one space the normalisation put in front dropped.
    pub(super) fn decode(&self, ids: &[u32]) -> String {
        let mut out = String::new();
        let mut bytes = Vec::new();
        for &id in ids {
            let Some(piece) = self.pieces.get(id) else {
                continue;
            };
            if self.hidden.get(id as usize).copied().unwrap_or(false) {
                continue;
            }
            match byte_value(piece) {
                Some(b) => bytes.push(b),
                None => {
                    flush_bytes(&mut bytes, &mut out);
                    out.extend(piece.chars().map(|c| if c == SPACE { ' ' } else { c }));
                }
            }
        }
        flush_bytes(&mut bytes, &mut out);
        if self.space_prefix && out.starts_with(' ') {
            out.remove(0);
        }
        out
    }

    /// The vocabulary's texts, scores, unknown token and normalisation, for writing it as
    /// a tokenizer.json.
    #[cfg(test)]
    pub(super) fn parts(&self) -> (&Pieces, &[f32], u32, bool) {
        (&self.pieces, &self.scores, self.unk, self.space_prefix)
    }
}

/// The token for byte `b`: `<0xNN>`, else the byte as a one-character token (what llama.cpp
/// tries next). Vocabularies with neither get the unknown token for it.
fn byte_token(pieces: &Pieces, b: u8) -> Option<u32> {
    pieces.id(&format!("<0x{b:02X}>")).or_else(|| {
        b.is_ascii()
            .then(|| pieces.id(&char::from(b).to_string()))?
    })
}

/// The byte a `<0xNN>` token stands for.
fn byte_value(piece: &str) -> Option<u8> {
    let hex = piece.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

fn flush_bytes(bytes: &mut Vec<u8>, out: &mut String) {
    match std::str::from_utf8(bytes) {
        Ok(s) => out.push_str(s),
        Err(_) => out.extend(bytes.iter().map(|_| char::REPLACEMENT_CHARACTER)),
    }
    bytes.clear();
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
                // llama.cpp compares scores with `<`, to which -0 and 0 are equal.
                .map(|s| s + 0.0)
                .map_err(|_| LoadError::Format("`tokenizer.ggml.scores` holds a non-number".into()))
        })
        .collect()
}

/// A run of the normalised text: one character at first, then what joins made of it.
#[derive(Debug, Clone, Copy)]
struct Symbol {
    start: usize,
    /// Bytes; 0 once joined into the symbol on its left.
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

impl Symbol {
    fn text<'a>(&self, text: &'a str) -> &'a str {
        &text[self.start..self.start + self.len]
    }
}

/// The symbols, a list linked in text order.
struct Symbols {
    list: Vec<Symbol>,
}

impl Symbols {
    fn of(text: &str) -> Symbols {
        let n = text.chars().count();
        let list = text
            .char_indices()
            .enumerate()
            .map(|(i, (start, c))| Symbol {
                start,
                len: c.len_utf8(),
                prev: i.checked_sub(1),
                next: (i + 1 < n).then_some(i + 1),
            })
            .collect();
        Symbols { list }
    }

    /// Joins the pair's right symbol into its left one, unless either has changed since the
    /// pair was queued (then the pair is stale and nothing happens).
    fn join(&mut self, pair: &Pair) -> bool {
        let (l, r) = (self.list[pair.left], self.list[pair.right]);
        if l.len == 0 || r.len == 0 || l.len + r.len != pair.len {
            return false;
        }
        self.list[pair.left].len += r.len;
        self.list[pair.left].next = r.next;
        self.list[pair.right].len = 0;
        if let Some(next) = r.next {
            self.list[next].prev = Some(pair.left);
        }
        true
    }

    /// The symbols left, in text order.
    fn chain(&self) -> impl Iterator<Item = &Symbol> {
        let first = (!self.list.is_empty()).then_some(0);
        std::iter::successors(first, |&i| self.list[i].next).map(|i| &self.list[i])
    }
}

/// Two adjacent symbols whose joined text is a token, queued by that token's score.
#[derive(Debug, PartialEq)]
struct Pair {
    score: f32,
    left: usize,
    right: usize,
    /// The joined text's length in bytes, to tell a stale pair.
    len: usize,
}

impl Eq for Pair {}

impl Ord for Pair {
    /// The higher score first; between equal scores, the leftmost pair.
    fn cmp(&self, other: &Pair) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Pair {
    fn partial_cmp(&self, other: &Pair) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vocabulary of these tokens and scores (all normal), with byte tokens after them.
    fn spm(tokens: &[(&str, f32)], space_prefix: bool) -> Spm {
        let mut texts: Vec<String> = tokens.iter().map(|(t, _)| (*t).to_owned()).collect();
        let mut scores: Vec<f32> = tokens.iter().map(|(_, s)| *s).collect();
        texts.extend((0..=255u8).map(|b| format!("<0x{b:02X}>")));
        scores.resize(texts.len(), 0.0);
        let types = vec![1; texts.len()];
        Spm::from_parts(Pieces::new(&texts), scores, &types, 0, space_prefix)
    }

    fn byte(b: u8, tokens: usize) -> u32 {
        (tokens + b as usize) as u32
    }

    #[test]
    fn the_best_scoring_pair_is_joined_first() {
        let t = spm(
            &[
                ("a", 0.0),
                ("b", 0.0),
                ("c", 0.0),
                ("ab", -2.0),
                ("bc", -1.0),
            ],
            false,
        );
        assert_eq!(t.encode("abc"), [0, 4]);
    }

    #[test]
    fn between_equal_scores_the_leftmost_pair_is_joined_first() {
        // "bc" has the lower id: ranking ties by id would give a + bc + d.
        let tokens = [
            ("a", 0.0),
            ("b", 0.0),
            ("c", 0.0),
            ("d", 0.0),
            ("bc", -1.0),
            ("ab", -1.0),
            ("cd", -1.0),
        ];
        let t = spm(&tokens, false);
        assert_eq!(t.encode("abcd"), [5, 6]);
    }

    #[test]
    fn characters_outside_the_vocabulary_become_bytes_where_they_stand() {
        let tokens = [
            ("n", 0.0),
            ("a", 0.0),
            ("v", 0.0),
            ("e", 0.0),
            ("na", -1.0),
            ("ve", -1.0),
        ];
        let t = spm(&tokens, false);
        let n = tokens.len();
        assert_eq!(t.encode("naïve"), [4, byte(0xC3, n), byte(0xAF, n), 5]);
        assert_eq!(t.decode(&t.encode("naïve")), "naïve");
    }

    #[test]
    fn spaces_are_written_as_the_block_and_one_goes_in_front() {
        let tokens = [("▁", 0.0), ("a", 0.0), ("▁a", -1.0)];
        let t = spm(&tokens, true);
        assert_eq!(t.encode("a a"), [2, 2]);
        assert_eq!(t.decode(&[2, 2]), "a a");
        assert_eq!(t.encode(" a"), [0, 2]);
        assert_eq!(t.decode(&[0, 2]), " a");
    }

    #[test]
    fn byte_runs_that_are_not_utf8_decode_to_one_replacement_per_byte() {
        let t = spm(&[("x", 0.0)], false);
        assert_eq!(
            t.decode(&[byte(0xC3, 1), byte(0xC3, 1), 0]),
            "\u{FFFD}\u{FFFD}x"
        );
    }
}
