//! The Hugging Face hub cache, laid out the way huggingface_hub (Python) and hf-hub (Rust)
//! lay it out, so a file any of them pulled is found here and a file pulled here is found
//! by them:
//!
//! ```text
//! <root>/models--<owner>--<name>/
//!     blobs/<etag>                the file's bytes; etag is the LFS sha256, or the git blob id
//!     blobs/<etag>.incomplete     a download in progress, resumed by appending to it
//!     snapshots/<commit>/<file>   a relative symlink to ../../blobs/<etag>
//!     refs/<revision>             the commit a branch or tag pointed at when last pulled
//! <root>/.locks/models--<owner>--<name>/<etag>.lock   held while the blob is written
//! ```
//!
//! The root is `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`, which is
//! the order huggingface_hub reads them in.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// The cache's root folder.
#[derive(Debug, Clone)]
pub struct HubCache {
    root: PathBuf,
}

impl HubCache {
    /// The cache at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        HubCache { root: root.into() }
    }

    /// The cache the environment names, as huggingface_hub finds it.
    pub fn from_env() -> Self {
        Self::from_vars(|k| std::env::var_os(k))
    }

    fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Self {
        let root = var("HF_HUB_CACHE")
            .map(PathBuf::from)
            .or_else(|| var("HF_HOME").map(|h| PathBuf::from(h).join("hub")))
            .unwrap_or_else(|| {
                dirs::home_dir()
                    .unwrap_or_else(|| PathBuf::from("."))
                    .join(".cache/huggingface/hub")
            });
        HubCache { root }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// One model repository's part of the cache.
    pub fn repo(&self, repo_id: &str) -> RepoCache {
        RepoCache {
            root: self.root.clone(),
            folder: format!("models--{}", repo_id.replace('/', "--")),
        }
    }
}

/// One repository's folder in the cache.
#[derive(Debug, Clone)]
pub struct RepoCache {
    root: PathBuf,
    folder: String,
}

impl RepoCache {
    fn dir(&self) -> PathBuf {
        self.root.join(&self.folder)
    }

    /// Where the blob with this etag lives.
    pub fn blob(&self, etag: &str) -> PathBuf {
        self.dir().join("blobs").join(etag)
    }

    /// Where its download in progress lives (the name huggingface_hub resumes too).
    pub fn incomplete(&self, etag: &str) -> PathBuf {
        self.dir().join("blobs").join(format!("{etag}.incomplete"))
    }

    /// The lock held while the blob is written.
    pub fn lock(&self, etag: &str) -> PathBuf {
        self.root
            .join(".locks")
            .join(&self.folder)
            .join(format!("{etag}.lock"))
    }

    fn snapshot(&self, commit: &str, file: &str) -> PathBuf {
        self.dir().join("snapshots").join(commit).join(file)
    }

    fn ref_file(&self, revision: &str) -> PathBuf {
        self.dir().join("refs").join(revision)
    }

    /// The commit `revision` names: itself when it is a commit id, else what its ref says.
    pub fn commit_of(&self, revision: &str) -> Option<String> {
        if is_commit(revision) {
            return Some(revision.to_owned());
        }
        let commit = std::fs::read_to_string(self.ref_file(revision)).ok()?;
        let commit = commit.trim();
        is_commit(commit).then(|| commit.to_owned())
    }

    /// The cached file at `revision`, if it is there.
    pub fn find(&self, revision: &str, file: &str) -> Option<PathBuf> {
        let path = self.snapshot(&self.commit_of(revision)?, file);
        path.is_file().then_some(path)
    }

    /// Makes `file` at `commit` the blob `etag`, and `revision` name `commit` when it is a
    /// branch or tag. Returns the snapshot path.
    pub fn link(
        &self,
        revision: &str,
        commit: &str,
        file: &str,
        etag: &str,
    ) -> std::io::Result<PathBuf> {
        let snapshot = self.snapshot(commit, file);
        if let Some(dir) = snapshot.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // An older link (to another blob, or dangling) is replaced.
        if std::fs::symlink_metadata(&snapshot).is_ok() {
            std::fs::remove_file(&snapshot)?;
        }
        point_at_blob(&snapshot, &self.blob(etag), file)?;
        if revision != commit {
            let ref_file = self.ref_file(revision);
            if let Some(dir) = ref_file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(ref_file, commit)?;
        }
        Ok(snapshot)
    }
}

/// Removes the snapshot link `snapshot` and, unless another snapshot of its repository
/// links to the same blob, the blob too. Returns whether the blob went.
pub fn unlink_snapshot(snapshot: &Path) -> std::io::Result<bool> {
    let blob = snapshot.canonicalize()?;
    std::fs::remove_file(snapshot)?;
    // blobs/<etag> -> the repository's folder -> its snapshots.
    let snapshots = blob
        .parent()
        .and_then(Path::parent)
        .map(|repo| repo.join("snapshots"));
    if snapshots.is_some_and(|dir| links_to(&dir, &blob)) {
        return Ok(false);
    }
    std::fs::remove_file(&blob)?;
    Ok(true)
}

/// Whether a file under `dir` resolves to `blob`.
fn links_to(dir: &Path, blob: &Path) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            let path = e.path();
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            if is_dir {
                links_to(&path, blob)
            } else {
                path.canonicalize().is_ok_and(|p| p == blob)
            }
        })
}

/// A relative link, as huggingface_hub makes it, so the cache can be moved as a whole.
#[cfg(unix)]
fn point_at_blob(snapshot: &Path, blob: &Path, file: &str) -> std::io::Result<()> {
    let etag = blob.file_name().unwrap_or_default();
    // snapshots/<commit>/<file>: one `..` per folder of the file, then two more.
    let depth = Path::new(file).components().count() + 1;
    let mut target = PathBuf::new();
    for _ in 0..depth {
        target.push("..");
    }
    target.push("blobs");
    target.push(etag);
    std::os::unix::fs::symlink(target, snapshot)
}

/// Without symbolic links for everyone, a hard link to the blob (what huggingface_hub
/// falls back to is a copy; a hard link costs no space).
#[cfg(not(unix))]
fn point_at_blob(snapshot: &Path, blob: &Path, _file: &str) -> std::io::Result<()> {
    std::fs::hard_link(blob, snapshot)
}

/// A full git commit id: 40 hex digits.
pub fn is_commit(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether a name the hub sent (an etag) is safe as a file name: hex digits only, as every
/// etag of the hub is (a sha256 or a git blob id). Anything else could name a path.
pub fn is_safe_etag(s: &str) -> bool {
    (40..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether a file name inside a repository stays inside the snapshot folder.
pub fn is_safe_file(file: &str) -> bool {
    !file.is_empty()
        && Path::new(file)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_read_in_huggingface_hubs_order() {
        fn vars(set: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
            move |k| {
                set.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| OsString::from(v))
            }
        }
        const BOTH: &[(&str, &str)] = &[("HF_HUB_CACHE", "/c"), ("HF_HOME", "/h")];
        assert_eq!(HubCache::from_vars(vars(BOTH)).root(), Path::new("/c"));
        const HOME: &[(&str, &str)] = &[("HF_HOME", "/h")];
        assert_eq!(HubCache::from_vars(vars(HOME)).root(), Path::new("/h/hub"));
        let none = HubCache::from_vars(vars(&[]));
        assert!(none.root().ends_with(".cache/huggingface/hub"));
    }

    #[test]
    fn a_linked_file_is_found_by_branch_and_by_commit_through_a_relative_link() {
        let dir = tempfile::tempdir().unwrap();
        let repo = HubCache::new(dir.path()).repo("owner/name");
        let (commit, etag) = ("a".repeat(40), "b".repeat(64));
        std::fs::create_dir_all(repo.blob(&etag).parent().unwrap()).unwrap();
        std::fs::write(repo.blob(&etag), b"weights").unwrap();
        let snapshot = repo.link("main", &commit, "sub/m.gguf", &etag).unwrap();

        assert_eq!(
            snapshot,
            dir.path()
                .join("models--owner--name/snapshots")
                .join(&commit)
                .join("sub/m.gguf")
        );
        assert_eq!(repo.find("main", "sub/m.gguf"), Some(snapshot.clone()));
        assert_eq!(repo.find(&commit, "sub/m.gguf"), Some(snapshot.clone()));
        assert_eq!(std::fs::read(&snapshot).unwrap(), b"weights");
        #[cfg(unix)]
        assert_eq!(
            std::fs::read_link(&snapshot).unwrap(),
            Path::new("../../../blobs").join(&etag)
        );
        assert_eq!(repo.find("other", "sub/m.gguf"), None);
    }

    #[cfg(unix)]
    #[test]
    fn unlinking_a_snapshot_frees_its_blob_only_when_no_other_snapshot_links_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let repo = HubCache::new(dir.path()).repo("owner/name");
        let etag = "b".repeat(64);
        std::fs::create_dir_all(repo.blob(&etag).parent().unwrap()).unwrap();
        std::fs::write(repo.blob(&etag), b"weights").unwrap();
        let old = repo.link("v1", &"a".repeat(40), "m.gguf", &etag).unwrap();
        let new = repo.link("main", &"c".repeat(40), "m.gguf", &etag).unwrap();

        assert!(!unlink_snapshot(&new).unwrap(), "v1 still links to it");
        assert!(repo.blob(&etag).exists() && !new.exists());
        assert!(unlink_snapshot(&old).unwrap());
        assert!(!repo.blob(&etag).exists() && !old.exists());
    }

    #[test]
    fn names_from_the_hub_cannot_leave_the_cache() {
        assert!(is_safe_etag(&"0f".repeat(32)));
        assert!(!is_safe_etag("../../etc/passwd"));
        assert!(!is_safe_etag("abc"));
        assert!(is_safe_file("dir/model.gguf"));
        assert!(!is_safe_file("../model.gguf"));
        assert!(!is_safe_file("/etc/passwd"));
        assert!(!is_commit("main"));
    }
}
