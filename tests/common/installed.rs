//! Shared by the integration tests (`tests/common`) and the library's own tokenizer tests,
//! which include this file by path: what a test does when something `.ci/run` installs (the
//! default model, a venv) is missing.

use std::path::PathBuf;

/// `path` when it exists, else `None` with a SKIPPED line naming `what` and the script that
/// installs it. In CI a missing one fails the test instead, since `.ci/run` installs it.
pub fn or_skip(path: PathBuf, what: &str, script: &str) -> Option<PathBuf> {
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the {what} is missing at {}: run {script}",
        path.display()
    );
    eprintln!("SKIPPED: no {what} at {} (run {script})", path.display());
    None
}
