//! A small JSON record kept beside a model file (what was verified, where it came from):
//! written whole or not at all, and an unreadable one reads as none.

use std::path::Path;

/// The record at `path`, if there is a readable one.
pub(super) fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes the record at `path` through a partial file renamed into place, making its folder.
pub(super) fn write<T: serde::Serialize>(path: &Path, record: &T) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, serde_json::to_vec_pretty(record)?)?;
    std::fs::rename(partial, path)
}
