//! The bytes each token stands for, as a grammar sees the vocabulary: a byte-level BPE
//! token's characters mapped back through GPT-2's byte-to-character table, a SentencePiece
//! token with `▁` as a space and `<0xNN>` as its byte, and a control token as its name
//! behind a 0xFF byte, which no text contains, so a grammar never spells one out.

use super::{GgufVocab, Kind, CONTROL, UNKNOWN, USER_DEFINED};

/// GGUF's type for SentencePiece byte tokens (`<0x0A>`).
const BYTE: i32 = 6;

/// The marker llguidance reads as "special token" in front of a token's bytes.
const SPECIAL: u8 = 0xFF;

/// Each token's bytes, by id.
pub(super) fn token_bytes(vocab: &GgufVocab, kind: &Kind) -> Vec<Vec<u8>> {
    let unbyte = Unbyte::new();
    vocab
        .tokens
        .iter()
        .zip(&vocab.types)
        .map(|(token, &ty)| match ty {
            CONTROL | UNKNOWN => [&[SPECIAL], token.as_bytes()].concat(),
            USER_DEFINED => token.as_bytes().to_vec(),
            _ => match kind {
                Kind::Bpe => unbyte.bytes(token),
                Kind::Spm if ty == BYTE => {
                    spm_byte(token).map_or_else(|| token.as_bytes().to_vec(), |b| vec![b])
                }
                Kind::Spm => token.replace('\u{2581}', " ").into_bytes(),
            },
        })
        .collect()
}

/// `<0xNN>` to its byte.
fn spm_byte(token: &str) -> Option<u8> {
    let hex = token.strip_prefix("<0x")?.strip_suffix('>')?;
    u8::from_str_radix(hex, 16).ok()
}

/// GPT-2's byte-to-character table, backwards: printable bytes stand for themselves, the
/// others for the characters from U+0100 on, in byte order.
struct Unbyte {
    shifted: Vec<u8>,
}

impl Unbyte {
    fn new() -> Unbyte {
        Unbyte {
            shifted: (0..=255u8).filter(|b| !Unbyte::printable(*b)).collect(),
        }
    }

    fn printable(b: u8) -> bool {
        matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
    }

    fn bytes(&self, token: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(token.len());
        for c in token.chars() {
            let code = c as u32;
            match u8::try_from(code) {
                Ok(b) if Unbyte::printable(b) => out.push(b),
                _ => match code
                    .checked_sub(0x100)
                    .and_then(|i| self.shifted.get(i as usize))
                {
                    Some(b) => out.push(*b),
                    // Not a byte-level character: the token is plain text.
                    None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                },
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(tokens: &[&str], types: &[i32]) -> GgufVocab {
        GgufVocab {
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            types: types.to_vec(),
        }
    }

    #[test]
    fn byte_level_tokens_map_back_to_their_bytes() {
        // `Ġ` is the space, `Ċ` the newline, `Ã©` the two bytes of é.
        let v = vocab(&["Ġthe", "Ċ", "Ã©", "<|im_end|>"], &[1, 1, 1, CONTROL]);
        let bytes = token_bytes(&v, &Kind::Bpe);
        assert_eq!(bytes[0], b" the");
        assert_eq!(bytes[1], b"\n");
        assert_eq!(bytes[2], "é".as_bytes());
        assert_eq!(bytes[3], b"\xFF<|im_end|>");
    }

    #[test]
    fn sentencepiece_tokens_turn_the_bar_into_a_space_and_byte_tokens_into_bytes() {
        let v = vocab(&["▁the", "<0x0A>", "<s>"], &[1, BYTE, CONTROL]);
        let bytes = token_bytes(&v, &Kind::Spm);
        assert_eq!(bytes[0], b" the");
        assert_eq!(bytes[1], b"\n");
        assert_eq!(bytes[2], b"\xFF<s>");
    }
}
