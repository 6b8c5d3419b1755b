//! Reading a GGUF file's header and metadata, with every failure a clear error.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};

use super::LoadError;

/// An opened GGUF file: its parsed header and a reader positioned anywhere.
pub struct Gguf {
    /// Header, metadata and tensor index.
    pub content: Content,
    /// The file, for reading tensors.
    pub reader: BufReader<File>,
}

impl Gguf {
    /// Opens and parses a GGUF file. candle bounds every count and length in the header
    /// against the file size, so a hostile header cannot make it allocate without limit.
    pub fn open(path: &Path) -> Result<Gguf, LoadError> {
        let file =
            File::open(path).map_err(|e| LoadError::Io(format!("{}: {e}", path.display())))?;
        let mut reader = BufReader::new(file);
        let content = Content::read(&mut reader).map_err(|e| LoadError::Format(e.to_string()))?;
        Ok(Gguf { content, reader })
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
            .map_err(|_| LoadError::Format(format!("`{key}` is not a string")))
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
            .map_err(|_| LoadError::Format(format!("`{key}` is not an array")))
    }

    /// A required array of strings.
    pub fn strings(&self, key: &str) -> Result<Vec<String>, LoadError> {
        self.array(key)?
            .iter()
            .map(|v| {
                v.to_string()
                    .cloned()
                    .map_err(|_| LoadError::Format(format!("`{key}` holds a non-string")))
            })
            .collect()
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
