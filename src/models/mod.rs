//! The model manager: the catalog of known on-device models (`models/catalog.toml`), where
//! their files live, and pulling them. The file is verified by size and SHA-256 before it
//! is moved into place; a pull never leaves a partial file under the final name. Searching
//! (the catalog, then the hub's GGUF repositories) is in `search`; pulling a file a search
//! found, by repository and file, in `hub_pull`.

pub mod catalog;
mod disk;
mod hub_cache;
mod hub_download;
mod hub_pull;
mod hub_source;
pub mod installed;
mod progress;
mod pull;
mod pull_error;
mod record;
mod search;
mod verified;

use std::path::{Path, PathBuf};

pub use hub_cache::HubCache;
pub use hub_download::{Fetched, Hub, Wanted, DEFAULT_ENDPOINT};
pub use hub_pull::{check as check_hub_pull, pull_file as pull_hub_file, HubFile, HubPulled};
pub use hub_source::HubSource;
pub use progress::{lines, rate_and_eta, tenths, EventSink, ProgressSink, PullEvent, Tick};
pub use pull::{install_configured, pull, PullRoute};
pub use pull_error::PullError;
pub use search::{
    needs_bytes, search, search_at, Answer as SearchAnswer, Hit as SearchHit, MAX_QUERY_CHARS,
};
pub use verified::Verified;

pub use catalog::{catalog, entry, models_dir, CatalogEntry, Fallback, ModelKind, DEFAULT_MODEL};
pub use installed::{any_installed, find_installed, imported, installed, Imported, Installed};
use installed::{imported_dir, valid_model_name};

use crate::error::{Error, Result};
use crate::providers::local::LoadError;

/// The one answer for a file that cannot be imported for a reason outside its metadata.
const NOT_A_MODEL: &str = "not a GGUF model file that can be imported from there";

/// Folders an import over HTTP may read from: the models folder, and the user's downloads
/// folder where browsers put the files people fetch. An admin key (or the UI's token) must
/// not be a way to read any file the server can.
pub fn import_roots() -> Vec<PathBuf> {
    let mut roots = vec![models_dir()];
    roots.extend(dirs::download_dir());
    roots
}

/// `source` with every link resolved, when it is a file inside one of `roots`.
pub fn inside(source: &Path, roots: &[PathBuf]) -> Result<PathBuf> {
    let refuse = || Error::bad_request("invalid_request", NOT_A_MODEL);
    let real = source.canonicalize().map_err(|_| refuse())?;
    let allowed = roots
        .iter()
        .filter_map(|r| r.canonicalize().ok())
        .any(|r| real.starts_with(r));
    if allowed && real.is_file() {
        Ok(real)
    } else {
        Err(refuse())
    }
}

/// Where a new imported model named `name` goes (`<models dir>/imported/<name>.gguf`), when
/// the name is one, is not a catalog id (which means the catalog's model) and is not taken.
pub fn new_model_path(name: &str) -> Result<PathBuf> {
    if !valid_model_name(name) {
        return Err(Error::bad_request(
            "invalid_request",
            "an imported model's name is 1-64 characters of letters, digits, '_', '.' or '-', not starting with '.'",
        ));
    }
    if catalog()?.iter().any(|c| c.id == name) {
        return Err(Error::unprocessable(
            "invalid_value",
            format!("`{name}` is a catalog model's id; give the model another name (--name)"),
        ));
    }
    let dest = imported_dir().join(format!("{name}.gguf"));
    // Not `exists()`: a link whose file is gone still holds the name.
    if std::fs::symlink_metadata(&dest).is_ok() {
        return Err(Error::unprocessable(
            "invalid_value",
            format!(
                "local/{name} exists already ({}); give the model another name (--name), or remove it first (`hearth models remove imported/{name}`)",
                dest.display()
            ),
        ));
    }
    Ok(dest)
}

/// Copies a GGUF file into `<models dir>/imported/<name>.gguf` after checking that Hearth
/// can run it. The file is only read, never executed; `name` is a plain name, so no path
/// can escape the models dir. Returns the new path.
pub fn import(source: &Path, name: &str) -> Result<PathBuf> {
    new_model_path(name)?;
    crate::providers::local::inspect(source).map_err(|e| match e {
        // About a GGUF file: what in it is broken or cannot run.
        LoadError::Missing(_)
        | LoadError::Unsupported(_)
        | LoadError::TooLarge(_)
        | LoadError::Damaged(_) => {
            let file = source.file_name().unwrap_or_default().to_string_lossy();
            Error::bad_request("invalid_request", format!("{file}: {e}"))
        }
        // Anything else says nothing of the file: not its bytes, nor whether it exists.
        LoadError::Io(_) | LoadError::Format(_) => {
            Error::bad_request("invalid_request", NOT_A_MODEL)
        }
    })?;
    let dir = imported_dir();
    std::fs::create_dir_all(&dir).map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
    // Checked again: the name may have been taken while the file was inspected.
    let dest = new_model_path(name)?;
    let partial = dir.join(format!("{name}.gguf.partial"));
    std::fs::copy(source, &partial)
        .and_then(|_| std::fs::rename(&partial, &dest))
        .map_err(|e| {
            // A copy cut short (a full disk) leaves nothing behind in the models dir.
            let _ = std::fs::remove_file(&partial);
            Error::Io(format!("copying {}: {e}", source.display()))
        })?;
    Ok(dest)
}

/// Removes an installed catalog model's file (and its folder when that is left empty;
/// anything else the user put there stays). A hub cache copy goes with its blob, so the
/// space is freed. Returns the removed path.
pub fn remove(id: &str) -> Result<PathBuf> {
    let path = entry(id)?.installed_path();
    if !path.exists() {
        return Err(Error::NotFound(format!("{id} is not installed")));
    }
    let fail = |p: &Path, e: std::io::Error| Error::Io(format!("{}: {e}", p.display()));
    let blob = std::fs::symlink_metadata(&path)
        .is_ok_and(|m| m.file_type().is_symlink())
        .then(|| path.canonicalize().ok())
        .flatten();
    std::fs::remove_file(&path).map_err(|e| fail(&path, e))?;
    if let Some(blob) = blob {
        std::fs::remove_file(&blob).map_err(|e| fail(&blob, e))?;
    }
    verified::forget(&models_dir(), id);
    if let Some(dir) = path.parent() {
        let _ = std::fs::remove_dir(dir);
    }
    Ok(path)
}

/// An imported model removed.
#[derive(Debug, Clone)]
pub struct Removed {
    /// The removed file (or link).
    pub path: PathBuf,
    /// For a model pulled from the hub: what became of the hub cache's copy, in words.
    pub hub_copy: Option<String>,
}

/// Removes an imported model by name. A model pulled from the hub takes the hub cache's
/// copy with it when Hearth fetched that copy and nothing else links to it.
pub fn remove_imported(name: &str) -> Result<Removed> {
    let dir = imported_dir();
    let path = dir.join(format!("{name}.gguf"));
    if !valid_model_name(name) || std::fs::symlink_metadata(&path).is_err() {
        return Err(Error::NotFound(format!("no imported model `{name}`")));
    }
    let source = hub_source::read(&dir, name);
    std::fs::remove_file(&path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    hub_source::forget(&dir, name);
    Ok(Removed {
        path,
        hub_copy: source.as_ref().map(hub_pull::release),
    })
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_parses_and_knows_the_default_model_with_its_checksum() {
        let e = entry(DEFAULT_MODEL).unwrap();
        assert_eq!(e.sha256.unwrap().len(), 64);
        assert_eq!(e.family, "llama");
        assert_eq!(e.fallback.len(), 1);
        assert!(entry("nope").is_err());
    }

    #[test]
    fn every_entry_has_a_unique_id_a_family_the_engine_runs_a_kind_and_its_memory() {
        let all = catalog().unwrap();
        let mut ids: Vec<&str> = all.iter().map(|e| e.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all.len(), "an id appears twice");
        for e in &all {
            assert!(e.memory_mb.is_some_and(|m| m > 0), "{}", e.id);
            if e.kind == ModelKind::Embedding {
                assert_eq!(e.family, "bert", "{}", e.id);
                assert!(e.hub_file.ends_with(".safetensors"), "{}", e.id);
                assert!(!e.companion.is_empty(), "{}", e.id);
                continue;
            }
            assert!(
                crate::providers::local::runs(&e.family),
                "{}: {}",
                e.id,
                e.family
            );
            assert!(e.hub_file.ends_with(".gguf"), "{}", e.id);
        }
        assert_eq!(entry("gemma-3-270m").unwrap().kind, ModelKind::Base);
        assert_eq!(entry("qwen3-4b").unwrap().kind, ModelKind::Instruct);
    }
}
