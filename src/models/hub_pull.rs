//! Pulling a GGUF file that is not in the catalog, named by hub repository and file (what
//! `hearth models search` lists). It is fetched as a catalog model is ([`Hub::fetch`]:
//! resumable, into the hub cache, after the free-disk check), with the hub's own LFS sha256
//! required since no catalog pins one; then Hearth checks it can run it; then it is installed
//! as `local/<name>` by a link `<models dir>/imported/<name>.gguf` to the hub cache's file, so
//! the file is stored once, with a record of where it came from ([`super::hub_source`]).

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use super::hub_cache::{self, is_safe_file};
use super::hub_download::{Fetched, Hub, Wanted};
use super::hub_source::{self, HubSource};
use super::progress::{EventSink, PullEvent};
use super::{catalog, imported, imported_dir, new_model_path, PullError};
use crate::error::{Error, Result};

/// The longest owner or repository name the hub allows.
pub const MAX_REPO_PART_CHARS: usize = 96;
/// The longest file path taken; GGUF file names are far shorter.
pub const MAX_FILE_CHARS: usize = 255;
/// The longest branch, tag or commit taken.
pub const MAX_REVISION_CHARS: usize = 128;

/// A file of a hub repository at a revision, checked to be one that can be asked for and
/// cached without leaving the cache: the repository `owner/name` by the hub's naming rule,
/// a relative path ending in `.gguf`, a plain branch, tag or commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubFile {
    /// `owner/name`.
    pub repo: String,
    /// The file's path in the repository.
    pub file: String,
    /// Branch, tag or commit.
    pub revision: String,
}

impl HubFile {
    /// The file `file` of `repo` at `revision` (default `main`), if each is one.
    pub fn new(repo: &str, file: &str, revision: Option<&str>) -> Result<Self> {
        let revision = revision.unwrap_or("main");
        let refuse = |why: String| Error::bad_request("invalid_request", why);
        let (owner, name) = repo.split_once('/').unwrap_or((repo, ""));
        if !hub_name(owner) || !hub_name(name) {
            return Err(refuse(format!(
                "a hub repository is OWNER/NAME, each 1-{MAX_REPO_PART_CHARS} letters, digits, '_', '.' or '-' (not '--' or '..', not starting or ending with '-' or '.')"
            )));
        }
        let plain_path = file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-+/".contains(&b));
        if file.len() > MAX_FILE_CHARS
            || !plain_path
            || !is_safe_file(file)
            || !file.to_ascii_lowercase().ends_with(".gguf")
        {
            return Err(refuse(format!(
                "a hub file is a path in the repository ending in .gguf, up to {MAX_FILE_CHARS} letters, digits, '_', '.', '-', '+' or '/'"
            )));
        }
        let plain_revision = revision
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b));
        if revision.is_empty()
            || revision.len() > MAX_REVISION_CHARS
            || !plain_revision
            || !is_safe_file(revision)
        {
            return Err(refuse(format!(
                "a revision is a branch, tag or commit: up to {MAX_REVISION_CHARS} letters, digits, '_', '.', '-' or '/'"
            )));
        }
        Ok(HubFile {
            repo: repo.to_owned(),
            file: file.to_owned(),
            revision: revision.to_owned(),
        })
    }

    /// `OWNER/REPO/FILE.gguf` (the file may be in a folder of the repository).
    pub fn parse(spec: &str, revision: Option<&str>) -> Result<Self> {
        let mut parts = spec.splitn(3, '/');
        let (owner, name, file) = (parts.next(), parts.next(), parts.next());
        match (owner, name, file) {
            (Some(owner), Some(name), Some(file)) => {
                Self::new(&format!("{owner}/{name}"), file, revision)
            }
            _ => Err(Error::bad_request(
                "invalid_request",
                "a hub file is named OWNER/REPO/FILE.gguf",
            )),
        }
    }

    /// Whether `spec` names a hub file rather than a catalog id (which has no '/').
    pub fn is_spec(spec: &str) -> bool {
        spec.matches('/').count() >= 2
    }

    /// The local name the file gets unless told another: its file name without `.gguf`,
    /// lower-case, with what an imported model's name may not hold turned into '-'.
    pub fn default_name(&self) -> String {
        let base = self.file.rsplit('/').next().unwrap_or(&self.file);
        let stem = &base[..base.len().saturating_sub(".gguf".len())];
        let name: String = stem
            .to_ascii_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .take(64)
            .collect();
        let name = name.trim_start_matches('.');
        if name.is_empty() {
            "model".to_owned()
        } else {
            name.to_owned()
        }
    }
}

/// The hub's rule for an owner's or a repository's name. '--' would also make two
/// repositories share one folder of the hub cache (`models--owner--name`).
fn hub_name(s: &str) -> bool {
    crate::workspace::valid_name(s, MAX_REPO_PART_CHARS)
        && !s.starts_with(['-', '.'])
        && !s.ends_with(['-', '.'])
        && !s.contains("--")
        && !s.contains("..")
}

/// A model installed by [`pull_file`].
#[derive(Debug, Clone)]
pub struct HubPulled {
    /// Its name: `local/<name>`.
    pub name: String,
    /// The link in the models dir.
    pub path: PathBuf,
    /// Where it came from.
    pub source: HubSource,
}

/// What a pull of `hub_file` as `name` would refuse before any byte: a name that is not
/// one or is taken (see [`new_model_path`]), and a file that is a catalog model's (pulled
/// by its id, so the two never share one copy that removing either would delete).
pub fn check(hub_file: &HubFile, name: &str) -> Result<PathBuf> {
    let same_file = catalog()?
        .into_iter()
        .find(|c| c.hub_repo.eq_ignore_ascii_case(&hub_file.repo) && c.hub_file == hub_file.file);
    if let Some(c) = same_file {
        return Err(Error::unprocessable(
            "invalid_value",
            format!(
                "{}/{} is the catalog's `{}`: pull it by that id (`hearth models pull {}`)",
                hub_file.repo, hub_file.file, c.id, c.id
            ),
        ));
    }
    new_model_path(name)
}

/// Fetches `hub_file`, checks that Hearth can run it, and installs it as `local/<name>`.
/// A file Hearth cannot run is deleted again (unless the hub cache held it before).
pub async fn pull_file(
    hub_file: &HubFile,
    name: &str,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<HubPulled, PullError> {
    check(hub_file, name)?;
    let hub = Hub::from_env()?;
    let want = Wanted {
        repo: &hub_file.repo,
        revision: &hub_file.revision,
        file: &hub_file.file,
        sha256: None,
        size: None,
        require_sha256: true,
    };
    let got = hub.fetch(&want, events, cancel).await?;
    events(PullEvent::Step(&format!(
        "checking that Hearth can run {}",
        hub_file.file
    )));
    let inspected = got.path.clone();
    let runs = tokio::task::spawn_blocking(move || crate::providers::local::inspect(&inspected))
        .await
        .map_err(|e| Error::Internal(format!("the check stopped: {e}")))?;
    if let Err(e) = runs {
        let fate = if got.reused {
            "the copy the hub cache held before stays"
        } else {
            let _ = hub_cache::unlink_snapshot(&got.path);
            "the downloaded file was deleted"
        };
        return Err(PullError::CannotRun {
            file: hub_file.file.clone(),
            reason: e.to_string(),
            fate,
        });
    }
    let pulled = install(hub_file, name, &got)?;
    events(PullEvent::Step(&format!(
        "installed local/{name} at {} (sha256 {} matches the hub's{})",
        pulled.path.display(),
        got.sha256,
        if got.reused {
            "; the copy was already in the hub cache"
        } else {
            ""
        }
    )));
    Ok(pulled)
}

/// Links `<models dir>/imported/<name>.gguf` to the fetched file and records its source.
fn install(hub_file: &HubFile, name: &str, got: &Fetched) -> Result<HubPulled, PullError> {
    let snapshot = std::path::absolute(&got.path).map_err(PullError::io("the hub cache"))?;
    // A pull of a file another model of ours already links to shares that model's answer
    // to "was it in the cache before Hearth?", so the last removal frees it.
    let was_cached = got.reused && shares_blob_with(&snapshot).is_none_or(|s| s.was_cached);
    let dir = imported_dir();
    std::fs::create_dir_all(&dir).map_err(PullError::io(dir.display().to_string()))?;
    // Checked again: the name may have been taken while the file downloaded.
    let link = new_model_path(name)?;
    point_at(&snapshot, &link).map_err(PullError::io(link.display().to_string()))?;
    let verified_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let source = HubSource {
        repo: hub_file.repo.clone(),
        file: hub_file.file.clone(),
        revision: hub_file.revision.clone(),
        commit: got.commit.clone(),
        sha256: got.sha256.clone(),
        size_bytes: got.size,
        snapshot,
        was_cached,
        verified_at,
    };
    if let Err(e) = hub_source::write(&dir, name, &source) {
        let _ = std::fs::remove_file(&link);
        return Err(PullError::io("writing the model's source record")(e));
    }
    Ok(HubPulled {
        name: name.to_owned(),
        path: link,
        source,
    })
}

/// The source of another model pulled from the hub whose file is the same blob.
fn shares_blob_with(snapshot: &Path) -> Option<HubSource> {
    let blob = snapshot.canonicalize().ok()?;
    imported()
        .into_iter()
        .filter_map(|m| m.source)
        .find(|s| s.snapshot.canonicalize().ok().as_ref() == Some(&blob))
}

#[cfg(unix)]
fn point_at(snapshot: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(snapshot, link)
}

/// Without symbolic links for everyone, a hard link (no space either).
#[cfg(not(unix))]
fn point_at(snapshot: &Path, link: &Path) -> std::io::Result<()> {
    std::fs::hard_link(snapshot, link)
}

/// What becomes of the hub cache's copy once the model `source` describes is removed
/// (its link already gone), in words: deleted when Hearth's pull fetched it and no other
/// model of the models dir, nor another revision in the cache, links to it; else kept.
pub(super) fn release(source: &HubSource) -> String {
    let shown = source.snapshot.display();
    if source.was_cached {
        return format!(
            "the hub cache's copy stays ({shown}): it was there before Hearth pulled it"
        );
    }
    let Ok(blob) = source.snapshot.canonicalize() else {
        return format!("the hub cache's copy ({shown}) was gone already");
    };
    let other = imported()
        .into_iter()
        .find(|m| m.path.canonicalize().ok().as_ref() == Some(&blob));
    if let Some(other) = other {
        return format!(
            "the hub cache's copy stays ({shown}): local/{} uses it too",
            other.name
        );
    }
    match hub_cache::unlink_snapshot(&source.snapshot) {
        Ok(true) => format!(
            "deleted the hub cache's copy ({shown}, {} bytes)",
            source.size_bytes
        ),
        Ok(false) => format!(
            "the hub cache's copy stays ({shown}): another revision in the cache links to it"
        ),
        Err(e) => format!("the hub cache's copy ({shown}) could not be deleted: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_hit_is_named_owner_repo_file_and_a_catalog_id_is_not() {
        let f = HubFile::parse(
            "bartowski/Qwen2.5-0.5B-GGUF/sub/Qwen2.5-0.5B-Q4_K_M.gguf",
            None,
        )
        .unwrap();
        assert_eq!(f.repo, "bartowski/Qwen2.5-0.5B-GGUF");
        assert_eq!(f.file, "sub/Qwen2.5-0.5B-Q4_K_M.gguf");
        assert_eq!(f.revision, "main");
        assert!(HubFile::is_spec("o/r/f.gguf"));
        assert!(!HubFile::is_spec("smollm2-135m-instruct"));
        assert!(!HubFile::is_spec("local/smollm2-135m-instruct"));
        assert!(HubFile::parse("o/r", None).is_err());
    }

    #[test]
    fn names_that_could_leave_the_cache_or_the_url_are_refused() {
        let ok = |repo: &str, file: &str, rev: Option<&str>| HubFile::new(repo, file, rev).is_ok();
        assert!(ok("o/r", "m.Q8_0.gguf", Some("v1.0")));
        assert!(ok("o/r", "M.GGUF", Some(&"a".repeat(40))));
        assert!(!ok("o/r", "../m.gguf", None));
        assert!(!ok("o/r", "/etc/m.gguf", None));
        assert!(!ok("o/r", "m.gguf?x=1", None));
        assert!(!ok("o/r", "m.bin", None));
        assert!(!ok(
            "o/r",
            &format!("{}.gguf", "a".repeat(MAX_FILE_CHARS)),
            None
        ));
        assert!(!ok("o--x/r", "m.gguf", None));
        assert!(!ok("o/r/x", "m.gguf", None));
        assert!(!ok("o", "m.gguf", None));
        assert!(!ok(&format!("o/{}", "r".repeat(97)), "m.gguf", None));
        assert!(!ok("o/r", "m.gguf", Some("../../x")));
        assert!(!ok("o/r", "m.gguf", Some("")));
        assert!(!ok("o/r", "m.gguf", Some("main branch")));
    }

    #[test]
    fn the_default_name_is_the_file_name_lower_case_and_fit_for_a_model_name() {
        let name = |file: &str| HubFile::new("o/r", file, None).unwrap().default_name();
        assert_eq!(
            name("Qwen2.5-0.5B-Instruct-Q4_K_M.gguf"),
            "qwen2.5-0.5b-instruct-q4_k_m"
        );
        assert_eq!(name("sub/Tiny+Model.GGUF"), "tiny-model");
        assert_eq!(name(".hidden.gguf"), "hidden");
        assert_eq!(name(&format!("{}.gguf", "a".repeat(100))).len(), 64);
    }
}
