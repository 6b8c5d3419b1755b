//! The command line's error: the library's, plus what only a command line can get wrong.

use std::path::PathBuf;

/// Why a command failed; its `Display` is the one line printed after `error:`.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The library refused or failed.
    #[error("{0}")]
    Hearth(hearth::Error),
    /// The database failed. Unlike the HTTP API, the operator owns the store, so the
    /// detail is shown rather than hidden.
    #[error("storage error: {0}")]
    Storage(String),
    /// An argument's value cannot be used.
    #[error("{0}")]
    Invalid(String),
    /// A file could not be read or parsed.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Standard output failed, usually because the reader went away.
    #[error("cannot write to standard output: {0}")]
    Output(#[from] std::io::Error),
}

impl CliError {
    /// Whether the reader of standard output closed it (e.g. `hearth audit tail | head`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

impl From<hearth::Error> for CliError {
    fn from(e: hearth::Error) -> Self {
        match e {
            hearth::Error::Storage(detail) => CliError::Storage(detail),
            other => CliError::Hearth(other),
        }
    }
}
