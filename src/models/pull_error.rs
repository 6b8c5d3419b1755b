//! Why a pull stopped. Each variant knows its code (what the CLI and the admin stream show)
//! and whether the package-registry route is worth trying after it.

use std::path::PathBuf;

use crate::error::Error;

/// A pull that did not end with a verified file in place.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// No answer from the hub at all (offline, DNS, refused connection).
    #[error("the hub at {endpoint} cannot be reached: {reason}")]
    Unreachable { endpoint: String, reason: String },
    /// The hub answered with an error status.
    #[error("the hub answered {status} for {url}{hint}")]
    Refused {
        url: String,
        status: u16,
        hint: &'static str,
    },
    /// The hub's answer lacks what a download needs, or contradicts itself.
    #[error("the hub's answer for {url}: {problem}")]
    BadAnswer { url: String, problem: String },
    /// The file's sha256 or size is not the expected one.
    #[error("{file}: {found} does not match the {against}'s {expected}; {fate}")]
    Mismatch {
        file: String,
        found: String,
        expected: String,
        /// Where the expected value came from: "catalog" or "hub".
        against: &'static str,
        /// What became of the file ("the file was deleted", "nothing was downloaded").
        fate: &'static str,
    },
    /// Neither the catalog nor the hub gives a sha256 to check the file against.
    #[error("{file}: the catalog pins no sha256 and the hub gives none (not an LFS file); an unverifiable model file is not installed")]
    Unverifiable { file: String },
    /// The file arrived whole and checked, but it is not a model Hearth can run.
    #[error("{file} is not a model Hearth can run ({reason}); {fate}")]
    CannotRun {
        file: String,
        reason: String,
        /// What became of the file.
        fate: &'static str,
    },
    /// The free-disk check before starting failed.
    #[error("{file} needs {need} more bytes but {dir} has {free} free; nothing was downloaded")]
    NoSpace {
        file: String,
        dir: PathBuf,
        need: u64,
        free: u64,
    },
    /// The disk filled up while the file was being written.
    #[error("the disk holding {dir} filled up while {file} was downloading; the partial file was deleted")]
    DiskFull { file: String, dir: PathBuf },
    /// The connection broke off; the partial file stays, for the next pull to resume.
    #[error("the download of {file} broke off after {done} of {total} bytes ({reason}); pull again to resume from there")]
    Interrupted {
        file: String,
        done: u64,
        total: u64,
        reason: String,
    },
    /// Cancelled by the user (Ctrl-C, the UI's stop); the partial file was deleted.
    #[error("the pull of {file} was cancelled; its partial file was deleted")]
    Cancelled { file: String },
    /// Another process is downloading the same blob right now.
    #[error("another pull of {file} is running (it holds {lock})")]
    Busy { file: String, lock: PathBuf },
    /// A local file operation failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// Anything the rest of Hearth reports (the catalog, the package-registry route).
    #[error(transparent)]
    Other(#[from] Error),
}

impl PullError {
    /// The stable code the CLI and the admin stream show.
    pub fn code(&self) -> &'static str {
        match self {
            PullError::Unreachable { .. } => "hub_unreachable",
            PullError::Refused { .. } | PullError::BadAnswer { .. } => "hub_error",
            PullError::Mismatch { .. } => "checksum_mismatch",
            PullError::Unverifiable { .. } => "unverifiable",
            PullError::CannotRun { .. } => "cannot_run",
            PullError::NoSpace { .. } => "no_disk_space",
            PullError::DiskFull { .. } => "disk_full",
            PullError::Interrupted { .. } => "interrupted",
            PullError::Cancelled { .. } => "cancelled",
            PullError::Busy { .. } => "pull_in_progress",
            PullError::Io { .. } => "io_error",
            PullError::Other(e) => e.code(),
        }
    }

    /// Whether the package-registry route may succeed where the hub failed: not after a
    /// cancel, and not when the disk is what is short.
    pub fn worth_another_route(&self) -> bool {
        !matches!(
            self,
            PullError::Cancelled { .. } | PullError::NoSpace { .. } | PullError::DiskFull { .. }
        )
    }

    pub(super) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> PullError {
        let what = what.into();
        move |source| PullError::Io { what, source }
    }
}

impl From<PullError> for Error {
    fn from(e: PullError) -> Self {
        match e {
            PullError::Other(e) => e,
            e => Error::unprocessable(e.code(), e.to_string()),
        }
    }
}
