//! Reading a GGUF file's header and metadata, with every failure a clear error.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};

use super::LoadError;

/// An opened GGUF file: its parsed header and a reader positioned anywhere.
pub struct Gguf {
    /// Header, metadata and tensor index.
    pub content: Content,
    /// The file, for reading tensors.
    pub reader: BufReader<File>,
    /// The file's length in bytes.
    len: u64,
}

impl Gguf {
    /// Opens and parses a GGUF file. candle bounds every count and length in the header
    /// against the file size, so a hostile header cannot make it allocate without limit.
    /// A file that starts like a GGUF file but does not hold together is `Damaged` (or
    /// `Unsupported` for a tensor type Hearth has no kernel for); anything else is `Format`,
    /// which says nothing of what the file holds.
    pub fn open(path: &Path) -> Result<Gguf, LoadError> {
        let io = |e: std::io::Error| LoadError::Io(format!("{}: {e}", path.display()));
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut reader = BufReader::new(file);
        let content = match Content::read(&mut reader) {
            Ok(content) => content,
            Err(e) if starts_as_gguf(&mut reader) => {
                return Err(header_error(&super::candle_reason(&e)))
            }
            Err(_) => return Err(LoadError::Format("not a GGUF file".into())),
        };
        Ok(Gguf {
            content,
            reader,
            len,
        })
    }

    /// Every tensor's bytes lie inside the file: a file cut short (an interrupted copy or
    /// download) is refused before its weights are read, not half-way through a load. Apart
    /// from `open` so a load can refuse a model over its memory limit first.
    pub fn tensors_inside(&self) -> Result<(), LoadError> {
        for (name, info) in &self.content.tensor_infos {
            let dtype = info.ggml_dtype;
            let elems = info.shape.elem_count();
            if elems % dtype.block_size() != 0 {
                return Err(LoadError::Damaged(format!(
                    "tensor `{name}` has {elems} values, not whole blocks of {}",
                    dtype.block_size()
                )));
            }
            let bytes = (elems / dtype.block_size()) as u64 * dtype.type_size() as u64;
            let end = self
                .content
                .tensor_data_offset
                .saturating_add(info.offset)
                .saturating_add(bytes);
            if end > self.len {
                return Err(LoadError::Damaged(format!(
                    "tensor `{name}` ends at byte {end} but the file has {} bytes: it is cut short",
                    self.len
                )));
            }
        }
        Ok(())
    }

    /// The metadata table.
    pub fn metadata(&self) -> &HashMap<String, Value> {
        &self.content.metadata
    }

    /// A required string entry.
    pub fn string(&self, key: &str) -> Result<&str, LoadError> {
        self.metadata()
            .get(key)
            .ok_or_else(|| LoadError::Missing(key.to_owned()))?
            .to_string()
            .map(String::as_str)
            .map_err(|_| LoadError::Damaged(format!("`{key}` is not a string")))
    }

    /// An optional string entry.
    pub fn opt_string(&self, key: &str) -> Option<&str> {
        self.metadata()
            .get(key)?
            .to_string()
            .ok()
            .map(String::as_str)
    }

    /// An optional unsigned integer entry (any integer width).
    pub fn opt_u32(&self, key: &str) -> Option<u32> {
        let v = self.metadata().get(key)?;
        v.to_u32()
            .ok()
            .or_else(|| v.to_u64().ok().and_then(|x| u32::try_from(x).ok()))
            .or_else(|| v.to_i32().ok().and_then(|x| u32::try_from(x).ok()))
    }

    /// A required array entry.
    pub fn array(&self, key: &str) -> Result<&Vec<Value>, LoadError> {
        self.metadata()
            .get(key)
            .ok_or_else(|| LoadError::Missing(key.to_owned()))?
            .to_vec()
            .map_err(|_| LoadError::Damaged(format!("`{key}` is not an array")))
    }

    /// A required array of strings.
    pub fn strings(&self, key: &str) -> Result<Vec<String>, LoadError> {
        self.array(key)?
            .iter()
            .map(|v| {
                v.to_string()
                    .cloned()
                    .map_err(|_| LoadError::Damaged(format!("`{key}` holds a non-string")))
            })
            .collect()
    }
}

/// Whether the file begins with GGUF's magic and a version that has it (1 to 3).
fn starts_as_gguf(reader: &mut BufReader<File>) -> bool {
    let mut head = [0u8; 8];
    reader.seek(SeekFrom::Start(0)).is_ok()
        && reader.read_exact(&mut head).is_ok()
        && &head[..4] == b"GGUF"
        && (1..=3).contains(&u32::from_le_bytes([head[4], head[5], head[6], head[7]]))
}

/// The error for a GGUF header candle refused: a tensor type it does not know is a
/// quantization Hearth cannot run (named as llama.cpp names it); anything else is damage.
fn header_error(candle: &str) -> LoadError {
    match candle
        .strip_prefix("unknown dtype for tensor ")
        .and_then(|id| id.trim().parse::<u32>().ok())
    {
        Some(id) => LoadError::Unsupported(format!(
            "tensors of type {} (ggml type {id}), a format Hearth has no kernel for",
            ggml_type_name(id)
        )),
        None => LoadError::Damaged(candle.to_owned()),
    }
}

/// llama.cpp's names of the ggml tensor types candle does not read.
fn ggml_type_name(id: u32) -> &'static str {
    match id {
        4 | 5 => "Q4_2/Q4_3 (removed from llama.cpp)",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        31..=33 => "Q4_0_4_4/Q4_0_4_8/Q4_0_8_8 (repacked for ARM)",
        34 => "TQ1_0",
        35 => "TQ2_0",
        36..=38 => "IQ4_NL_4_4/IQ4_NL_4_8/IQ4_NL_8_8 (repacked for ARM)",
        39 => "MXFP4",
        40 => "NVFP4",
        41 => "Q1_0",
        42 => "Q2_0",
        _ => "unknown",
    }
}

/// A header with `entries` as its metadata and no tensors: what the readers of metadata keys
/// see, for their tests.
#[cfg(test)]
pub fn metadata_only<'a>(entries: impl IntoIterator<Item = (String, &'a Value)>) -> Content {
    Content {
        magic: candle_core::quantized::gguf_file::VersionedMagic::GgufV3,
        metadata: entries.into_iter().map(|(k, v)| (k, v.clone())).collect(),
        tensor_infos: HashMap::new(),
        tensor_data_offset: 0,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::fuzzing;

    /// A real (vocabulary-only) GGUF file: the seed every mutation starts from.
    const SEED: &[u8] = include_bytes!("../../../tests/fixtures/vocab/spm.gguf");

    /// Damage as a hostile or broken file has it: bytes overwritten, counts and lengths
    /// made huge, the file cut short.
    #[derive(Debug, Clone)]
    enum Damage {
        Byte(usize, u8),
        Huge(usize, u64),
        Cut(usize),
    }

    fn damage() -> impl Strategy<Value = Damage> {
        prop_oneof![
            4 => (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Damage::Byte(at, b)),
            2 => (any::<usize>(), prop_oneof![Just(u64::MAX), Just(1 << 40), any::<u64>()])
                .prop_map(|(at, v)| Damage::Huge(at, v)),
            1 => any::<usize>().prop_map(Damage::Cut),
        ]
    }

    fn damaged(list: &[Damage]) -> Vec<u8> {
        let mut bytes = SEED.to_vec();
        for d in list {
            let len = bytes.len().max(1);
            match *d {
                Damage::Byte(at, b) => {
                    if let Some(x) = bytes.get_mut(at % len) {
                        *x = b;
                    }
                }
                Damage::Huge(at, v) => {
                    let at = at % len;
                    let end = (at + 8).min(bytes.len());
                    bytes[at..end].copy_from_slice(&v.to_le_bytes()[..end - at]);
                }
                Damage::Cut(at) => bytes.truncate(at % len),
            }
        }
        bytes
    }

    proptest! {
        #![proptest_config(fuzzing::config())]

        #[test]
        fn fuzz_a_damaged_or_random_file_is_refused_with_an_error(
            list in proptest::collection::vec(damage(), 1..6),
            noise in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let dir = tempfile::tempdir().unwrap();
            for (name, bytes) in [
                ("damaged.gguf", damaged(&list)),
                ("noise.gguf", [b"GGUF".as_slice(), &noise].concat()),
            ] {
                let path = dir.path().join(name);
                std::fs::write(&path, bytes).unwrap();
                // The import check reads the header, the architecture and the tokenizer.
                let _ = super::super::inspect(&path);
            }
        }
    }
}
