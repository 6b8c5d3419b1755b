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
