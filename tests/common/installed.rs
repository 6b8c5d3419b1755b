//! Shared by the integration tests (`tests/common`) and the library's own tests, which
//! include this file by path (`src/providers/local/mod.rs`): where what `.ci/run` installs
//! (the default model, a venv) is, and what a test does when it is missing.

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

/// Where `scripts/test` keeps what it installs outside the clone (venvs, built fixtures).
pub fn ci_cache() -> PathBuf {
    std::env::var_os("HEARTH_CI_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| dirs::home_dir().unwrap().join(".cache/hearth-ci"))
}

/// The python of llama-cpp-python's venv, or None (with a message) when it is absent outside
/// CI; in CI a missing venv fails the test, since `scripts/test` builds it.
pub fn llamacpp_python() -> Option<PathBuf> {
    or_skip(
        ci_cache().join("llamacpp-venv/bin/python"),
        "llama-cpp-python venv",
        "scripts/llamacpp-venv",
    )
}
