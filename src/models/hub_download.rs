//! One file of a hub repository fetched into the hub cache ([`super::hub_cache`]) the way
//! huggingface_hub fetches it, so either can finish what the other started:
//!
//! 1. `HEAD {endpoint}/{repo}/resolve/{revision}/{file}` gives the commit (`X-Repo-Commit`),
//!    the etag (`X-Linked-Etag` for LFS files, which is the sha256 of the content, else
//!    `ETag`), the size (`X-Linked-Size`, else `Content-Length`) and, in a redirect, where
//!    the bytes are served from.
//! 2. A blob already in the cache is checked and reused.
//! 3. Else the bytes are appended to `blobs/<etag>.incomplete`, with `Range: bytes=N-` when N
//!    bytes are there from an interrupted pull, checked by sha256, and only then renamed to
//!    `blobs/<etag>` and linked from the snapshot.
//!
//! hf-hub 0.4.3 (what Hearth used before) resumes only at its own 10 MB chunk boundaries, in
//! a `.sync.part` format no other tool reads, and has no cancel or disk check: hence this.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{HeaderMap, ACCEPT_ENCODING, CONTENT_RANGE, LOCATION, RANGE};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::disk;
use super::hub_cache::{is_commit, is_safe_etag, is_safe_file, HubCache, RepoCache};
use super::progress::{EventSink, PullEvent};
use super::PullError;

/// The public hub, when `HF_ENDPOINT` names no other.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// A hub to fetch from and the cache to fetch into.
#[derive(Debug, Clone)]
pub struct Hub {
    endpoint: String,
    cache: HubCache,
    token: Option<String>,
    client: reqwest::Client,
}

/// What to fetch and what it must be.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    /// `owner/name`.
    pub repo: &'a str,
    /// Branch, tag or commit.
    pub revision: &'a str,
    /// Path of the file in the repository.
    pub file: &'a str,
    /// The sha256 the file must have (the hub's own must then agree).
    pub sha256: Option<&'a str>,
    /// The size it must have.
    pub size: Option<u64>,
    /// Refuse the file when neither `sha256` nor the hub gives a sha256 to check.
    pub require_sha256: bool,
}

/// A file in place in the cache.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Its snapshot path.
    pub path: PathBuf,
    /// Its sha256, hex, computed from its bytes.
    pub sha256: String,
    /// Its size.
    pub size: u64,
    /// The commit it belongs to.
    pub commit: String,
    /// What the sha256 was checked against: "catalog", "hub", or nothing.
    pub against: Option<&'static str>,
    /// Whether the cache had it already (from an earlier pull, or another tool).
    pub reused: bool,
}

/// What the HEAD request told.
#[derive(Debug)]
struct Remote {
    commit: String,
    etag: String,
    size: u64,
    lfs_sha256: Option<String>,
    /// Where to GET the bytes.
    url: String,
}

impl Hub {
    /// A hub at `endpoint` (no trailing slash needed) filling `cache`.
    pub fn new(endpoint: &str, cache: HubCache, token: Option<String>) -> Result<Self, PullError> {
        let client = reqwest::Client::builder()
            // Redirects are followed by hand: a relative one is the hub's (a renamed
            // repository), an absolute one names the CDN, which must not get the token.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(15))
            // A connection that stalls for this long is treated as cut: the partial file
            // stays and the next pull resumes it.
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("hearth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| crate::error::Error::Internal(format!("HTTP client: {e}")))?;
        Ok(Hub {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            cache,
            token,
            client,
        })
    }

    /// The hub `HF_ENDPOINT` names (else the public one), the cache the environment names,
    /// and the token `HF_TOKEN` or `$HF_HOME/token` holds, as huggingface_hub reads them.
    pub fn from_env() -> Result<Self, PullError> {
        let endpoint = std::env::var("HF_ENDPOINT").unwrap_or_else(|_| DEFAULT_ENDPOINT.into());
        let token = std::env::var("HF_TOKEN").ok().or_else(|| {
            let home = std::env::var_os("HF_HOME")
                .map(PathBuf::from)
                .or_else(|| dirs::home_dir().map(|h| h.join(".cache/huggingface")))?;
            std::fs::read_to_string(home.join("token")).ok()
        });
        let token = token.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        Self::new(&endpoint, HubCache::from_env(), token)
    }

    /// Where files go.
    pub fn cache(&self) -> &HubCache {
        &self.cache
    }

    /// Puts the file in the cache (or finds it there), checked; returns where it is.
    pub async fn fetch(
        &self,
        want: &Wanted<'_>,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<Fetched, PullError> {
        if !is_safe_file(want.file) {
            return Err(crate::error::Error::bad_request(
                "invalid_request",
                format!("`{}` is not a file name inside a repository", want.file),
            )
            .into());
        }
        let remote = self.head(want).await?;
        let (expected, against) = expected_sha256(want, &remote)?;
        let repo = self.cache.repo(want.repo);
        let blob = repo.blob(&remote.etag);
        for dir in [blob.parent(), repo.lock(&remote.etag).parent()]
            .into_iter()
            .flatten()
        {
            std::fs::create_dir_all(dir).map_err(PullError::io(dir.display().to_string()))?;
        }
        let _lock = hold_lock(&repo.lock(&remote.etag), want.file)?;
        let (sha256, reused) =
            match check_cached(&blob, &remote, expected.as_deref(), events).await? {
                Some(sha256) => (sha256, true),
                None => (
                    self.download(
                        want.file,
                        &remote,
                        &repo,
                        expected.as_deref(),
                        against,
                        events,
                        cancel,
                    )
                    .await?,
                    false,
                ),
            };
        let path = repo
            .link(want.revision, &remote.commit, want.file, &remote.etag)
            .map_err(PullError::io("linking the snapshot"))?;
        Ok(Fetched {
            path,
            sha256,
            size: remote.size,
            commit: remote.commit,
            against,
            reused,
        })
    }

    /// The file's metadata, following the hub's own (relative) redirects.
    async fn head(&self, want: &Wanted<'_>) -> Result<Remote, PullError> {
        let mut url = format!(
            "{}/{}/resolve/{}/{}",
            self.endpoint,
            want.repo,
            want.revision.replace('/', "%2F"),
            want.file
        );
        for _ in 0..5 {
            let resp = self
                .authorized(self.client.head(&url), &url)
                .header(ACCEPT_ENCODING, "identity")
                .send()
                .await
                .map_err(|e| PullError::Unreachable {
                    endpoint: self.endpoint.clone(),
                    reason: error_chain(&e),
                })?;
            let status = resp.status();
            if status.is_redirection() {
                let location = header(resp.headers(), LOCATION.as_str())
                    .ok_or_else(|| bad_answer(&url, "a redirect without Location"))?;
                let next = resp
                    .url()
                    .join(location)
                    .map_err(|e| bad_answer(&url, &format!("Location {location}: {e}")))?;
                if reqwest::Url::parse(location).is_err() {
                    url = next.to_string();
                    continue;
                }
                return remote(resp.headers(), &url, next.to_string());
            }
            if status.is_success() {
                return remote(resp.headers(), &url, url.clone());
            }
            return Err(refused(url, status));
        }
        Err(bad_answer(&url, "more than 5 redirects"))
    }

    /// The token, for the hub itself only (never for the CDN it redirects to).
    fn authorized(&self, req: reqwest::RequestBuilder, url: &str) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) if url.starts_with(&self.endpoint) => req.bearer_auth(t),
            _ => req,
        }
    }

    /// Fetches the bytes into the `.incomplete` file, resuming it, and moves the checked
    /// whole to the blob. Returns its sha256.
    #[allow(clippy::too_many_arguments)]
    async fn download(
        &self,
        file: &str,
        remote: &Remote,
        repo: &RepoCache,
        expected: Option<&str>,
        against: Option<&'static str>,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<String, PullError> {
        let part = repo.incomplete(&remote.etag);
        let mut have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        if have > remote.size {
            have = 0;
        }
        check_space(&part, file, remote.size - have)?;
        let resuming = if have > 0 {
            format!(", resuming at byte {have}")
        } else {
            String::new()
        };
        events(PullEvent::Step(&format!(
            "downloading {file} ({} bytes) from {}{resuming}",
            remote.size, self.endpoint
        )));
        let mut hash = hash_prefix(&part, have).await?;
        // A whole `.incomplete` (a pull stopped between the last byte and the rename) needs
        // no request, only the check.
        if have < remote.size {
            have = self
                .append_rest(file, remote, &part, have, &mut hash, events, cancel)
                .await?;
        }
        if have < remote.size {
            return Err(PullError::Interrupted {
                file: file.to_owned(),
                done: have,
                total: remote.size,
                reason: "the connection closed early".into(),
            });
        }
        let sha256 = hex::encode(hash.finalize());
        if let (Some(expected), Some(against)) = (expected, against) {
            if !expected.eq_ignore_ascii_case(&sha256) {
                let _ = std::fs::remove_file(&part);
                return Err(PullError::Mismatch {
                    file: file.to_owned(),
                    found: format!("sha256 {sha256}"),
                    expected: expected.to_owned(),
                    against,
                    fate: "the file was deleted",
                });
            }
        }
        tokio::fs::rename(&part, repo.blob(&remote.etag))
            .await
            .map_err(PullError::io("moving the blob into place"))?;
        Ok(sha256)
    }

    /// Appends the bytes from `have` on to `part`, feeding `hash`; returns how many bytes
    /// the file then holds. A cut connection keeps what arrived; a cancel, a full disk or
    /// too many bytes delete the file.
    #[allow(clippy::too_many_arguments)]
    async fn append_rest(
        &self,
        file: &str,
        remote: &Remote,
        part: &Path,
        mut have: u64,
        hash: &mut Sha256,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<u64, PullError> {
        let mut req = self.authorized(self.client.get(&remote.url), &remote.url);
        if have > 0 {
            req = req.header(RANGE, format!("bytes={have}-"));
        }
        let interrupted = |done: u64, reason: String| PullError::Interrupted {
            file: file.to_owned(),
            done,
            total: remote.size,
            reason,
        };
        let resp = req
            .send()
            .await
            .map_err(|e| interrupted(have, error_chain(&e)))?;
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => {
                let range = header(resp.headers(), CONTENT_RANGE.as_str()).unwrap_or_default();
                if !range.starts_with(&format!("bytes {have}-")) {
                    return Err(bad_answer(
                        &remote.url,
                        &format!("asked from byte {have}, got Content-Range `{range}`"),
                    ));
                }
            }
            // The server ignored the Range: start over.
            StatusCode::OK => {
                have = 0;
                *hash = Sha256::new();
            }
            status => return Err(refused(remote.url.clone(), status)),
        }
        let mut out = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(have > 0)
            .truncate(have == 0)
            .open(part)
            .await
            .map_err(PullError::io(part.display().to_string()))?;
        let discard = |e: PullError| {
            let _ = std::fs::remove_file(part);
            e
        };
        let write_failed = |e: std::io::Error| {
            if disk::is_full(&e) {
                PullError::DiskFull {
                    file: file.to_owned(),
                    dir: part.parent().map(Path::to_owned).unwrap_or_default(),
                }
            } else {
                PullError::Io {
                    what: part.display().to_string(),
                    source: e,
                }
            }
        };
        events(PullEvent::Bytes {
            done: have,
            total: remote.size,
        });
        let mut body = resp.bytes_stream();
        loop {
            let chunk = tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    drop(out);
                    return Err(discard(PullError::Cancelled { file: file.to_owned() }));
                }
                chunk = body.next() => chunk,
            };
            let bytes = match chunk {
                None => break,
                Some(Ok(bytes)) => bytes,
                Some(Err(e)) => {
                    // Keep what arrived: the next pull resumes from it.
                    out.flush().await.map_err(|e| discard(write_failed(e)))?;
                    return Err(interrupted(have, error_chain(&e)));
                }
            };
            if have + bytes.len() as u64 > remote.size {
                return Err(discard(PullError::Mismatch {
                    file: file.to_owned(),
                    found: "more bytes".into(),
                    expected: format!("{} bytes", remote.size),
                    against: "hub",
                    fate: "the file was deleted",
                }));
            }
            out.write_all(&bytes)
                .await
                .map_err(|e| discard(write_failed(e)))?;
            hash.update(&bytes);
            have += bytes.len() as u64;
            events(PullEvent::Bytes {
                done: have,
                total: remote.size,
            });
        }
        out.flush().await.map_err(|e| discard(write_failed(e)))?;
        out.sync_all().await.map_err(|e| discard(write_failed(e)))?;
        drop(out);
        Ok(have)
    }
}

/// The sha256 the file must have and where that came from; a catalog and a hub that
/// disagree (on the sha256 or the size) stop the pull before any byte is fetched.
fn expected_sha256(
    want: &Wanted<'_>,
    remote: &Remote,
) -> Result<(Option<String>, Option<&'static str>), PullError> {
    let mismatch = |found: String, expected: String| PullError::Mismatch {
        file: want.file.to_owned(),
        found: format!("the hub's {found}"),
        expected,
        against: "catalog",
        fate: "nothing was downloaded",
    };
    if let Some(size) = want.size.filter(|s| *s != remote.size) {
        return Err(mismatch(
            format!("size {}", remote.size),
            format!("size {size}"),
        ));
    }
    match (want.sha256, remote.lfs_sha256.as_deref()) {
        (Some(pinned), Some(hub)) if !pinned.eq_ignore_ascii_case(hub) => Err(mismatch(
            format!("sha256 {hub}"),
            format!("sha256 {pinned}"),
        )),
        (Some(pinned), _) => Ok((Some(pinned.to_ascii_lowercase()), Some("catalog"))),
        (None, Some(hub)) => Ok((Some(hub.to_owned()), Some("hub"))),
        (None, None) if want.require_sha256 => Err(PullError::Unverifiable {
            file: want.file.to_owned(),
        }),
        (None, None) => Ok((None, None)),
    }
}

/// The HEAD answer's fields, checked to be safe as file names.
fn remote(headers: &HeaderMap, url: &str, download_url: String) -> Result<Remote, PullError> {
    let commit = header(headers, "x-repo-commit")
        .filter(|c| is_commit(c))
        .ok_or_else(|| bad_answer(url, "no X-Repo-Commit with a commit id"))?;
    let linked = header(headers, "x-linked-etag").map(clean_etag);
    let etag = linked
        .clone()
        .or_else(|| header(headers, "etag").map(clean_etag))
        .filter(|e| is_safe_etag(e))
        .ok_or_else(|| bad_answer(url, "no ETag that is a hex digest"))?;
    let size = header(headers, "x-linked-size")
        .or_else(|| header(headers, "content-length"))
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| bad_answer(url, "no X-Linked-Size or Content-Length"))?;
    Ok(Remote {
        commit: commit.to_ascii_lowercase(),
        lfs_sha256: linked.filter(|e| e.len() == 64 && is_safe_etag(e)),
        etag,
        size,
        url: download_url,
    })
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok()
}

/// An etag as the cache names blobs: without quotes or a weak marker.
fn clean_etag(raw: &str) -> String {
    raw.trim_start_matches("W/")
        .trim_matches('"')
        .to_ascii_lowercase()
}

fn bad_answer(url: &str, problem: &str) -> PullError {
    PullError::BadAnswer {
        url: url.to_owned(),
        problem: problem.to_owned(),
    }
}

fn refused(url: String, status: StatusCode) -> PullError {
    let hint = match status.as_u16() {
        401 | 403 => {
            " (a gated or private repository: accept its terms on the hub and set HF_TOKEN)"
        }
        404 => " (no such repository, revision or file)",
        _ => "",
    };
    PullError::Refused {
        url,
        status: status.as_u16(),
        hint,
    }
}

/// reqwest's message with its causes ("error sending request" alone says little).
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The sha256 of a blob already in the cache when it is the expected file; a blob that
/// is not is deleted, to be downloaded again.
async fn check_cached(
    blob: &Path,
    remote: &Remote,
    expected: Option<&str>,
    events: &EventSink,
) -> Result<Option<String>, PullError> {
    if !blob.exists() {
        return Ok(None);
    }
    events(PullEvent::Step(&format!(
        "checking the copy already in the hub cache ({})",
        blob.display()
    )));
    if std::fs::metadata(blob).is_ok_and(|m| m.len() == remote.size) {
        let sha256 = hex::encode(hash_prefix(blob, remote.size).await?.finalize());
        if expected.is_none_or(|e| e.eq_ignore_ascii_case(&sha256)) {
            return Ok(Some(sha256));
        }
    }
    events(PullEvent::Step(
        "the cached copy is not the expected file; downloading it again",
    ));
    std::fs::remove_file(blob).map_err(PullError::io(blob.display().to_string()))?;
    Ok(None)
}

/// Refuses to start when the disk cannot take the bytes still to come.
fn check_space(part: &Path, file: &str, need: u64) -> Result<(), PullError> {
    let dir = part.parent().unwrap_or(part);
    match disk::available(dir) {
        Some(free) if free < need => Err(PullError::NoSpace {
            file: file.to_owned(),
            dir: dir.to_owned(),
            need,
            free,
        }),
        _ => Ok(()),
    }
}

/// The lock on the blob, so two pulls (ours, or huggingface_hub's, which uses the same
/// file with `flock`) never append to one `.incomplete` file. Released when dropped.
fn hold_lock(path: &Path, file: &str) -> Result<std::fs::File, PullError> {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(PullError::io(path.display().to_string()))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(PullError::Busy {
            file: file.to_owned(),
            lock: path.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(PullError::io(path.display().to_string())(e)),
    }
}

/// The sha256 state after the first `len` bytes of `path` (none when `len` is 0), read off
/// the async workers since a resumed file may be gigabytes.
async fn hash_prefix(path: &Path, len: u64) -> Result<Sha256, PullError> {
    if len == 0 {
        return Ok(Sha256::new());
    }
    let path = path.to_owned();
    let what = path.display().to_string();
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut hash = Sha256::new();
        let f = std::fs::File::open(&path)?;
        std::io::copy(&mut f.take(len), &mut hash)?;
        Ok(hash)
    })
    .await
    .map_err(|e| PullError::Io {
        what: what.clone(),
        source: std::io::Error::other(e),
    })?
    .map_err(PullError::io(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn an_lfs_answer_gives_the_sha256_and_a_git_file_gives_none() {
        let sha = "ab".repeat(32);
        let lfs = answer(&[
            ("x-repo-commit", COMMIT),
            ("x-linked-etag", &format!("\"{sha}\"")),
            ("x-linked-size", "42"),
            ("etag", "\"1111111111111111111111111111111111111111\""),
        ]);
        let r = remote(&lfs, "u", "cdn".into()).unwrap();
        assert_eq!((r.etag.as_str(), r.size), (sha.as_str(), 42));
        assert_eq!(r.lfs_sha256.as_deref(), Some(sha.as_str()));

        let git = answer(&[
            ("x-repo-commit", COMMIT),
            ("etag", "W/\"1111111111111111111111111111111111111111\""),
            ("content-length", "7"),
        ]);
        let r = remote(&git, "u", "u".into()).unwrap();
        assert_eq!(r.etag, "1".repeat(40));
        assert_eq!(r.lfs_sha256, None);
    }

    #[test]
    fn an_answer_whose_names_could_be_paths_is_refused() {
        let bad_etag = answer(&[
            ("x-repo-commit", COMMIT),
            ("x-linked-etag", "\"../../../etc/passwd\""),
            ("x-linked-size", "1"),
        ]);
        assert!(remote(&bad_etag, "u", "u".into()).is_err());
        let bad_commit = answer(&[
            ("x-repo-commit", "../main"),
            ("x-linked-etag", &"ab".repeat(32)),
            ("x-linked-size", "1"),
        ]);
        assert!(remote(&bad_commit, "u", "u".into()).is_err());
    }

    fn wanted(sha256: Option<&str>, size: Option<u64>) -> Wanted<'_> {
        Wanted {
            repo: "o/n",
            revision: "main",
            file: "m.gguf",
            sha256,
            size,
            require_sha256: true,
        }
    }

    fn git_file(size: u64) -> Remote {
        Remote {
            commit: COMMIT.into(),
            etag: "1".repeat(40),
            size,
            lfs_sha256: None,
            url: "u".into(),
        }
    }

    #[test]
    fn a_model_file_with_no_sha256_anywhere_is_refused_and_a_size_the_hub_contradicts_too() {
        let e = expected_sha256(&wanted(None, None), &git_file(9)).unwrap_err();
        assert!(matches!(e, PullError::Unverifiable { .. }), "{e:?}");
        let pinned = "cd".repeat(32);
        let (sha, against) = expected_sha256(&wanted(Some(&pinned), None), &git_file(9)).unwrap();
        assert_eq!(
            (sha.as_deref(), against),
            (Some(pinned.as_str()), Some("catalog"))
        );
        let e = expected_sha256(&wanted(Some(&pinned), Some(8)), &git_file(9)).unwrap_err();
        assert!(e.to_string().contains("size 9"), "{e}");
    }
}
