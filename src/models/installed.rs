//! The models installed on this machine: the catalog's whose files are in place, and the
//! imported files, each addressable as `local/<id>`. Read per request by the local provider,
//! so it imports no provider.

use std::path::PathBuf;

use super::catalog::{catalog, models_dir, CatalogEntry};
use super::{hub_source, HubSource};

/// Where imported models live: `<models dir>/imported`.
pub(super) fn imported_dir() -> PathBuf {
    models_dir().join("imported")
}

/// Whether `name` can name an imported model: a plain name, so no path can escape the
/// models dir.
pub(super) fn valid_model_name(name: &str) -> bool {
    crate::workspace::valid_name(name, 64) && !name.starts_with('.')
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
