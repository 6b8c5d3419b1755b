//! Free space on the disk a download goes to, and telling a full disk from other write
//! errors.

use std::path::Path;

/// Bytes an unprivileged process may still write on the file system holding `dir`
/// (`statvfs`'s available blocks, not its free ones: the root-reserved share is not ours).
/// `None` where the platform gives no answer; the download then starts unchecked and a full
/// disk is caught when a write fails.
#[cfg(unix)]
pub fn available(dir: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(dir).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// See the Unix version: no check on other platforms.
#[cfg(not(unix))]
pub fn available(_dir: &Path) -> Option<u64> {
    None
}

/// Whether a write failed because the disk (or the user's quota on it) is full.
pub fn is_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temp_dir_has_some_space_and_enospc_reads_as_full() {
        let dir = tempfile::tempdir().unwrap();
        assert!(available(dir.path()).is_some_and(|n| n > 0));
        assert!(is_full(&std::io::Error::from_raw_os_error(28)));
        assert!(!is_full(&std::io::Error::from(
            std::io::ErrorKind::PermissionDenied
        )));
    }
}
