//! The record of a pulled file's check: `<models dir>/<id>/verified.json`, written when a
//! pull has checked the file's sha256, so a catalog entry without a pinned checksum still
//! shows (`hearth models info`, `GET /admin/models`) what the file was checked against.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a pull checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verified {
    /// The file's sha256, hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// What the sha256 was compared with: "catalog" (pinned there) or "hub" (the hub's LFS
    /// sha256 of the file).
    pub against: String,
    /// The hub commit the file came from, when it came from the hub.
    pub hub_commit: Option<String>,
    /// The installed file.
    pub path: PathBuf,
    /// When it was checked (RFC 3339, UTC).
    pub verified_at: String,
}

impl Verified {
    /// A record of a check made now.
    pub fn now(
        sha256: &str,
        size_bytes: u64,
        against: &str,
        hub_commit: Option<&str>,
        path: &Path,
    ) -> Self {
        let verified_at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Verified {
            sha256: sha256.to_owned(),
            size_bytes,
            against: against.to_owned(),
            hub_commit: hub_commit.map(str::to_owned),
            path: path.to_owned(),
            verified_at,
        }
    }
}

fn record_path(models_dir: &Path, id: &str) -> PathBuf {
    models_dir.join(id).join("verified.json")
}

/// The record for catalog id `id`, if a pull wrote one (an unreadable one counts as none:
/// the next pull checks again).
pub fn read(models_dir: &Path, id: &str) -> Option<Verified> {
    super::record::read(&record_path(models_dir, id))
}

/// Writes the record, whole or not at all.
pub fn write(models_dir: &Path, id: &str, v: &Verified) -> std::io::Result<()> {
    super::record::write(&record_path(models_dir, id), v)
}

/// Removes the record (the file it describes is gone).
pub fn forget(models_dir: &Path, id: &str) {
    let _ = std::fs::remove_file(record_path(models_dir, id));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written_and_is_gone_once_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let v = Verified::now(
            &"ab".repeat(32),
            42,
            "hub",
            Some(&"c".repeat(40)),
            Path::new("/m"),
        );
        write(dir.path(), "m1", &v).unwrap();
        assert_eq!(read(dir.path(), "m1"), Some(v));
        forget(dir.path(), "m1");
        assert_eq!(read(dir.path(), "m1"), None);
    }
}
