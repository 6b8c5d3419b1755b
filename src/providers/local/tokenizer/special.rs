//! Special tokens in a prompt's text, split out the way llama.cpp splits them before it
//! tokenizes what lies between: control and unknown tokens only in the template's own text,
//! user-defined ones in any text. The pieces of text between special tokens are joined across
//! the template's text and the messages' contents, so a content's ids are the ones llama.cpp
//! gets for the whole rendered prompt (a SentencePiece vocabulary puts its `▁` only in front
//! of text that follows a special token, and merges across where a content begins).
//!
//! Some models want the whitespace after their special tokens dropped. GGUF files do not say
//! so; llama.cpp sets that attribute (RSTRIP) by the model's name ([`NameRule`]).

use aho_corasick::{AhoCorasick, MatchKind};

use super::super::gguf::Gguf;
use super::{GgufVocab, LoadError, CONTROL, UNKNOWN, USER_DEFINED};

/// A piece of a prompt, by who wrote it.
#[derive(Debug, Clone, Copy)]
pub enum Piece<'a> {
    /// The chat template's own text (or a raw completion prompt): control-token text in it
    /// becomes control tokens.
    Structure(&'a str),
    /// Text from a user, tool or document: control-token text in it stays text.
    Text(&'a str),
}

/// A prompt split at its special tokens.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Fragment {
    Token(u32),
    /// Text to tokenize as a whole, with no special token in it.
    Raw(String),
}

/// Token attributes llama.cpp sets by `general.name` (llama-vocab.cpp, after it reads the
/// vocabulary), since GGUF files do not carry them. Its rules for BERT-style vocabularies
/// (LSTRIP on a mask token) concern files Hearth does not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NameRule {
    /// Special tokens keep the whitespace around them.
    None,
    /// The name holds `phi-3` or `phi3`, ASCII case ignored ("Phi 3 Mini" does not): every
    /// special token but `<unk>`, `<s>` and `<|endoftext|>` drops the whitespace after it, as
    /// Phi-3's own tokenizer.json marks its added tokens. (llama.cpp also names `</s>`, which
    /// changes nothing beyond the rule for all special tokens: a `</s>` that is not a special
    /// token is never split out, so its attribute is never read.)
    Phi3,
}

impl NameRule {
    fn of(name: Option<&str>) -> NameRule {
        let name = name.unwrap_or_default().to_ascii_lowercase();
        if name.contains("phi-3") || name.contains("phi3") {
            NameRule::Phi3
        } else {
            NameRule::None
        }
    }

    /// Whether the special token `text` drops the whitespace after it.
    fn rstrip(self, text: &str) -> bool {
        match self {
            NameRule::None => false,
            NameRule::Phi3 => !matches!(text, "<unk>" | "<s>" | "<|endoftext|>"),
        }
    }
}

/// What llama.cpp's RSTRIP drops: C's `isspace` in a UTF-8 locale, byte by byte, so ASCII
/// only (vertical tab and form feed included; no-break and ideographic spaces are text).
fn c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0B' | '\x0C' | '\r')
}

#[derive(Debug, Clone, Copy)]
struct Special {
    id: u32,
    rstrip: bool,
}

/// Some special tokens and a search for them, leftmost first, the longest of those starting
/// at the same place (what the `tokenizers` crate does with its added tokens).
struct Matcher {
    automaton: AhoCorasick,
    tokens: Vec<Special>,
}

impl Matcher {
    fn new(found: Vec<(&str, Special)>) -> Result<Matcher, LoadError> {
        let (texts, tokens): (Vec<&str>, Vec<Special>) = found.into_iter().unzip();
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(texts)
            .map_err(|e| LoadError::Format(format!("special tokens: {e}")))?;
        Ok(Matcher { automaton, tokens })
    }
}

/// The vocabulary's special tokens, with the attributes its model's name gives them.
pub(super) struct Specials {
    /// Control, unknown and user-defined tokens: what the template's text is split at.
    in_structure: Matcher,
    /// User-defined tokens only: llama.cpp splits them out of any text.
    in_text: Matcher,
}

impl Specials {
    pub(super) fn new(g: &Gguf, vocab: &GgufVocab) -> Result<Specials, LoadError> {
        Specials::with_rule(vocab, NameRule::of(g.opt_string("general.name")))
    }

    fn with_rule(vocab: &GgufVocab, rule: NameRule) -> Result<Specials, LoadError> {
        let mut in_structure = Vec::new();
        let mut in_text = Vec::new();
        for (id, (text, kind)) in vocab.tokens.iter().zip(&vocab.types).enumerate() {
            if ![CONTROL, UNKNOWN, USER_DEFINED].contains(kind) {
                continue;
            }
            let special = Special {
                id: id as u32,
                rstrip: rule.rstrip(text),
            };
            in_structure.push((text.as_str(), special));
            if *kind == USER_DEFINED {
                in_text.push((text.as_str(), special));
            }
        }
        Ok(Specials {
            in_structure: Matcher::new(in_structure)?,
            in_text: Matcher::new(in_text)?,
        })
    }

    /// The prompt as special tokens and the text between them.
    pub(super) fn split(&self, pieces: &[Piece]) -> Vec<Fragment> {
        let mut out = Fragments::default();
        for piece in pieces {
            let (matcher, text) = match *piece {
                Piece::Structure(text) => (&self.in_structure, text),
                Piece::Text(text) => (&self.in_text, text),
            };
            let mut from = 0;
            for m in matcher.automaton.find_iter(text) {
                out.raw(&text[from..m.start()]);
                out.token(matcher.tokens[m.pattern().as_usize()]);
                from = m.end();
            }
            out.raw(&text[from..]);
        }
        out.list
    }
}

/// Fragments being collected, and whether whitespace met next is dropped.
#[derive(Default)]
struct Fragments {
    list: Vec<Fragment>,
    strip: bool,
}

impl Fragments {
    fn token(&mut self, special: Special) {
        self.list.push(Fragment::Token(special.id));
        self.strip = special.rstrip;
    }

    /// Text after the last fragment: joined to it if that is text too, since llama.cpp sees
    /// one rendered string. Whitespace after an RSTRIP token goes up to the next non-space,
    /// whichever pieces it spans, as it does in that string.
    fn raw(&mut self, text: &str) {
        let text = match self.strip {
            true => text.trim_start_matches(c_space),
            false => text,
        };
        if text.is_empty() {
            return;
        }
        self.strip = false;
        match self.list.last_mut() {
            Some(Fragment::Raw(last)) => last.push_str(text),
            _ => self.list.push(Fragment::Raw(text.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phi3_rule_follows_llama_cpps_name_test() {
        for name in [
            "Phi-3-mini-4k-instruct",
            "tiny test phi3",
            "PHI3",
            "my-Phi-3.5",
        ] {
            assert_eq!(NameRule::of(Some(name)), NameRule::Phi3, "{name}");
        }
        for name in ["Phi 3 Mini 4k Instruct", "Phi 4 Mini Instruct", "phi-2", ""] {
            assert_eq!(NameRule::of(Some(name)), NameRule::None, "{name}");
        }
        assert_eq!(NameRule::of(None), NameRule::None);
    }

    #[test]
    fn under_the_phi3_rule_all_special_tokens_but_three_drop_the_whitespace_after_them() {
        for token in [
            "<|user|>",
            "<|end|>",
            "<|assistant|>",
            "</s>",
            "<|placeholder1|>",
        ] {
            assert!(NameRule::Phi3.rstrip(token), "{token}");
            assert!(!NameRule::None.rstrip(token), "{token}");
        }
        for token in ["<unk>", "<s>", "<|endoftext|>"] {
            assert!(!NameRule::Phi3.rstrip(token), "{token}");
        }
    }

    fn specials(tokens: &[(&str, i32)], name: &str) -> Specials {
        let vocab = GgufVocab {
            tokens: tokens.iter().map(|(t, _)| (*t).to_owned()).collect(),
            types: tokens.iter().map(|(_, kind)| *kind).collect(),
        };
        Specials::with_rule(&vocab, NameRule::of(Some(name))).unwrap()
    }

    const TOKENS: [(&str, i32); 4] = [
        ("<|user|>", CONTROL),
        ("<|endoftext|>", CONTROL),
        ("<sep>", USER_DEFINED),
        ("<|end|>", CONTROL),
    ];

    fn raw(s: &str) -> Fragment {
        Fragment::Raw(s.to_owned())
    }

    #[test]
    fn stripped_whitespace_runs_on_into_the_content_and_stops_at_the_next_token() {
        let s = specials(&TOKENS, "phi3");
        let pieces = [
            Piece::Structure("<|user|>\n"),
            Piece::Text(" \x0B\x0C\r\n\tHi <sep>  there "),
            Piece::Structure("<|end|>\n \n<|endoftext|> x"),
        ];
        assert_eq!(
            s.split(&pieces),
            [
                Fragment::Token(0),
                raw("Hi "),
                Fragment::Token(2),
                raw("there "),
                Fragment::Token(3),
                Fragment::Token(1),
                raw(" x"),
            ]
        );
    }

    #[test]
    fn only_ascii_whitespace_is_stripped() {
        let s = specials(&TOKENS, "phi3");
        let pieces = [
            Piece::Structure("<|user|>"),
            Piece::Text("\u{A0}\u{3000}Hi"),
        ];
        assert_eq!(
            s.split(&pieces),
            [Fragment::Token(0), raw("\u{A0}\u{3000}Hi")]
        );
    }

    #[test]
    fn text_between_special_tokens_is_one_fragment_across_pieces_and_keeps_its_whitespace() {
        let s = specials(&TOKENS, "tiny test");
        let pieces = [
            Piece::Structure("<|user|>\n"),
            Piece::Text("Hi <|end|>"),
            Piece::Structure("<|end|>\n"),
        ];
        assert_eq!(
            s.split(&pieces),
            [
                Fragment::Token(0),
                raw("\nHi <|end|>"),
                Fragment::Token(3),
                raw("\n"),
            ]
        );
    }
}
