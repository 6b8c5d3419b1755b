//! Where a model pulled by hub repository and file came from: `<models dir>/imported/
//! <name>.hub.json`, beside the link `<name>.gguf` into the hub cache, written once the
//! file's sha256 was checked against the hub's and Hearth found it can run it. `hearth models
//! list` and `GET /admin/models` show it; removing the model reads it to decide whether the
//! hub cache's copy goes too.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a pull by repository and file fetched, and from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HubSource {
    /// `owner/name`.
    pub repo: String,
    /// The file in the repository.
    pub file: String,
    /// The branch, tag or commit asked for.
    pub revision: String,
    /// The commit it named then.
    pub commit: String,
    /// The file's sha256, hex, checked against the hub's LFS sha256.
    pub sha256: String,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// The hub cache's file the model's link points at.
    #[schema(value_type = String)]
    pub snapshot: PathBuf,
    /// Whether the hub cache held the file before Hearth pulled it (another tool put it
    /// there): then removing the model leaves the cache's copy alone.
    pub was_cached: bool,
    /// When it was checked (RFC 3339, UTC).
    pub verified_at: String,
}

fn record_path(imported_dir: &Path, name: &str) -> PathBuf {
    imported_dir.join(format!("{name}.hub.json"))
}

/// The record of the imported model `name`, if it was pulled from the hub (an unreadable
/// record counts as none: the model is then shown as a plain imported file).
pub fn read(imported_dir: &Path, name: &str) -> Option<HubSource> {
    super::record::read(&record_path(imported_dir, name))
}

/// Writes the record, whole or not at all.
pub fn write(imported_dir: &Path, name: &str, source: &HubSource) -> std::io::Result<()> {
    super::record::write(&record_path(imported_dir, name), source)
}

/// Removes the record (the model is gone).
pub fn forget(imported_dir: &Path, name: &str) {
    let _ = std::fs::remove_file(record_path(imported_dir, name));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written_and_is_gone_once_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let source = HubSource {
            repo: "o/n".into(),
            file: "m.Q8_0.gguf".into(),
            revision: "main".into(),
            commit: "c".repeat(40),
            sha256: "ab".repeat(32),
            size_bytes: 42,
            snapshot: PathBuf::from("/hub/snapshots/c/m.Q8_0.gguf"),
            was_cached: false,
            verified_at: "2025-01-01T00:00:00Z".into(),
        };
        write(dir.path(), "m", &source).unwrap();
        assert_eq!(read(dir.path(), "m"), Some(source));
        forget(dir.path(), "m");
        assert_eq!(read(dir.path(), "m"), None);
    }
}
