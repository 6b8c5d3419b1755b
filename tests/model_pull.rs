//! Pulling a model from a hub that is a local server with the hub's API shape: `HEAD` and
//! `GET /{repo}/resolve/{revision}/{file}` answer a redirect carrying `X-Repo-Commit`,
//! `X-Linked-Etag` (the file's sha256) and `X-Linked-Size`, and the redirect's target
//! serves the bytes with `Range`. Nothing here reaches the internet.
//!
//! The library tests drive `Hub::fetch` directly; the CLI tests run `hearth models pull`
//! with `HF_ENDPOINT`, `HF_HOME` and `HEARTH_MODELS_DIR` pointing at the server and temp
//! dirs, and kill or interrupt it mid-download.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hearth::models::{EventSink, Hub, HubCache, PullError, PullEvent, Wanted};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use tokio::io::AsyncBufReadExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const REPO: &str = "test-org/tiny-GGUF";
const FILE: &str = "tiny.Q4_K_M.gguf";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
/// The server sends the body in pieces of this size, so a cut or a pause falls between
/// writes the client has made.
const PIECE: usize = 64 * 1024;

/// Where a response body stops until the test lets it go on, and what it does then:
/// `cut` drops the connection (the client has the bytes before it, since the test waited
/// for them), else the rest is sent.
#[derive(Clone)]
struct Stop {
    at: usize,
    gate: Arc<Gate>,
    cut: bool,
}

impl Stop {
    fn pause(at: usize, gate: &Arc<Gate>) -> Option<Stop> {
        Some(Stop {
            at,
            gate: gate.clone(),
            cut: false,
        })
    }

    fn cut(at: usize, gate: &Arc<Gate>) -> Option<Stop> {
        Some(Stop {
            at,
            gate: gate.clone(),
            cut: true,
        })
    }
}

/// A pause in the middle of a body: the server says it got there, the test lets it go on.
#[derive(Default)]
struct Gate {
    reached: Notify,
    go: Notify,
}

/// The fake hub's file, what it claims about it, and what it was asked.
struct FakeHub {
    bytes: Vec<u8>,
    /// What `X-Linked-Etag` says the sha256 is.
    claimed_sha256: String,
    origin: Mutex<String>,
    /// The first byte each GET of the content asked for (0 without a Range).
    gets: Mutex<Vec<u64>>,
    /// How the next GET's body ends, once.
    next_stop: Mutex<Option<Stop>>,
}

impl FakeHub {
    fn gets(&self) -> Vec<u64> {
        self.gets.lock().clone()
    }
}

/// A file that is not all alike, so a byte in the wrong place changes the sha256.
fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Serves `bytes` on 127.0.0.1 with a free port; `claimed_sha256` defaults to the truth.
async fn serve(bytes: Vec<u8>, claimed_sha256: Option<String>) -> Arc<FakeHub> {
    let hub = Arc::new(FakeHub {
        claimed_sha256: claimed_sha256.unwrap_or_else(|| sha256(&bytes)),
        bytes,
        origin: Mutex::new(String::new()),
        gets: Mutex::new(Vec::new()),
        next_stop: Mutex::new(None),
    });
    let app = Router::new()
        .route("/{owner}/{name}/resolve/{revision}/{*file}", get(resolve))
        .route("/cdn/{sha}", get(content_route))
        .with_state(hub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    *hub.origin.lock() = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    hub
}

/// The hub's answer for an LFS file, to HEAD and GET alike: a redirect to the CDN with
/// the file's metadata in headers.
async fn resolve(State(hub): State<Arc<FakeHub>>) -> Response {
    let origin = hub.origin.lock().clone();
    (
        StatusCode::FOUND,
        [
            (
                header::LOCATION,
                format!("{origin}/cdn/{}", hub.claimed_sha256),
            ),
            (
                header::HeaderName::from_static("x-repo-commit"),
                COMMIT.to_owned(),
            ),
            (
                header::HeaderName::from_static("x-linked-etag"),
                format!("\"{}\"", hub.claimed_sha256),
            ),
            (
                header::HeaderName::from_static("x-linked-size"),
                hub.bytes.len().to_string(),
            ),
            (
                header::ETAG,
                "\"0123456789abcdef0123456789abcdef01234567\"".to_owned(),
            ),
        ],
    )
        .into_response()
}

/// The bytes from where `Range: bytes=N-` says, in pieces, ending as `next_stop` says.
async fn content_route(State(hub): State<Arc<FakeHub>>, headers: HeaderMap) -> Response {
    let start = headers
        .get(header::RANGE)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| {
            r.strip_prefix("bytes=")?
                .strip_suffix('-')?
                .parse::<usize>()
                .ok()
        })
        .unwrap_or(0);
    hub.gets.lock().push(start as u64);
    let len = hub.bytes.len();
    let stop = hub.next_stop.lock().take();
    let body = Body::from_stream(futures::stream::unfold(
        (start, false),
        move |(pos, resumed)| {
            let (hub, stop) = (hub.clone(), stop.clone());
            async move {
                let mut limit = len;
                match &stop {
                    Some(stop) if pos >= stop.at && !resumed => {
                        stop.gate.reached.notify_one();
                        stop.gate.go.notified().await;
                        if stop.cut {
                            let cut = std::io::Error::other("connection cut by the test");
                            return Some((Err(cut), (len, true)));
                        }
                        return Some((Ok(Bytes::new()), (pos, true)));
                    }
                    Some(stop) if !resumed => limit = stop.at,
                    _ => {}
                }
                if pos >= len {
                    return None;
                }
                let end = (pos + PIECE).min(limit);
                let piece = Bytes::copy_from_slice(&hub.bytes[pos..end]);
                Some((Ok::<_, std::io::Error>(piece), (end, resumed)))
            }
        },
    ));
    let mut resp = ([(header::CONTENT_LENGTH, (len - start).to_string())], body).into_response();
    if start > 0 {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        resp.headers_mut().insert(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{len}", len - 1).parse().unwrap(),
        );
    }
    resp
}

fn quiet() -> EventSink {
    Arc::new(|_| {})
}

fn want(sha256: Option<&str>) -> Wanted<'_> {
    Wanted {
        repo: REPO,
        revision: "main",
        file: FILE,
        sha256,
        size: None,
        require_sha256: true,
    }
}

fn client(fake: &FakeHub, cache_root: &Path) -> Hub {
    Hub::new(&fake.origin.lock(), HubCache::new(cache_root), None).unwrap()
}

/// Every file under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                walk(&p, root, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The model's files in the cache: blobs (complete or not) and snapshot links.
fn model_files(cache_root: &Path) -> Vec<String> {
    files_under(&cache_root.join("models--test-org--tiny-GGUF"))
        .into_iter()
        .filter(|f| !f.starts_with("refs"))
        .collect()
}

#[tokio::test]
async fn a_cut_connection_is_resumed_by_the_next_pull_from_where_it_stopped() {
    let bytes = content(1 << 20);
    let fake = serve(bytes.clone(), None).await;
    let cache = tempfile::tempdir().unwrap();
    let hub = client(&fake, cache.path());
    let gate = Arc::new(Gate::default());
    let cut_at = 5 * PIECE as u64;
    *fake.next_stop.lock() = Stop::cut(cut_at as usize, &gate);
    // The cut comes once the client has written what came before it.
    let cut_when_written: EventSink = {
        let gate = gate.clone();
        Arc::new(move |e| {
            if matches!(e, PullEvent::Bytes { done, .. } if done == cut_at) {
                gate.go.notify_one();
            }
        })
    };

    let first = hub
        .fetch(&want(None), &cut_when_written, &CancellationToken::new())
        .await;
    let Err(PullError::Interrupted { done, .. }) = first else {
        panic!("expected an interruption, got {first:?}");
    };
    let blob = cache
        .path()
        .join("models--test-org--tiny-GGUF/blobs")
        .join(sha256(&bytes));
    let partial = blob.with_extension("incomplete");
    assert_eq!(done, cut_at);
    assert_eq!(std::fs::metadata(&partial).unwrap().len(), done);

    let got = hub
        .fetch(&want(None), &quiet(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        fake.gets(),
        [0, done],
        "the second GET asks for the rest only"
    );
    assert_eq!(got.sha256, sha256(&bytes));
    assert_eq!(got.against, Some("hub"));
    assert_eq!(std::fs::read(&got.path).unwrap(), bytes);
    assert_eq!(
        got.path,
        cache
            .path()
            .join("models--test-org--tiny-GGUF/snapshots")
            .join(COMMIT)
            .join(FILE)
    );
    assert_eq!(
        std::fs::read_to_string(cache.path().join("models--test-org--tiny-GGUF/refs/main"))
            .unwrap(),
        COMMIT
    );
    assert!(!partial.exists());
}

#[tokio::test]
async fn a_file_already_in_the_cache_is_checked_and_reused_not_downloaded_again() {
    let bytes = content(300_000);
    let fake = serve(bytes.clone(), None).await;
    let cache = tempfile::tempdir().unwrap();
    let hub = client(&fake, cache.path());
    let go = CancellationToken::new();
    let first = hub.fetch(&want(None), &quiet(), &go).await.unwrap();
    // As if another tool had pulled the blob for another revision: no snapshot, no ref.
    std::fs::remove_dir_all(cache.path().join("models--test-org--tiny-GGUF/snapshots")).unwrap();
    std::fs::remove_dir_all(cache.path().join("models--test-org--tiny-GGUF/refs")).unwrap();

    let again = hub.fetch(&want(None), &quiet(), &go).await.unwrap();
    assert!(again.reused && !first.reused);
    assert_eq!(fake.gets().len(), 1, "one download in all");
    assert_eq!(std::fs::read(&again.path).unwrap(), bytes);
}

#[tokio::test]
async fn a_file_whose_sha256_is_not_the_hubs_is_deleted_and_the_error_says_so() {
    let bytes = content(400_000);
    let other = sha256(b"some other file");
    let fake = serve(bytes, Some(other.clone())).await;
    let cache = tempfile::tempdir().unwrap();
    let hub = client(&fake, cache.path());

    let e = hub
        .fetch(&want(None), &quiet(), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        matches!(e, PullError::Mismatch { against: "hub", .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("the file was deleted"), "{e}");
    assert_eq!(e.code(), "checksum_mismatch");
    assert_eq!(fake.gets().len(), 1);
    assert_eq!(model_files(cache.path()), Vec::<String>::new());
}

#[tokio::test]
async fn a_catalog_sha256_the_hub_contradicts_stops_the_pull_before_any_byte() {
    let fake = serve(content(200_000), None).await;
    let cache = tempfile::tempdir().unwrap();
    let hub = client(&fake, cache.path());
    let pinned = sha256(b"what the catalog pinned");

    let e = hub
        .fetch(&want(Some(&pinned)), &quiet(), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            PullError::Mismatch {
                against: "catalog",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("nothing was downloaded"), "{e}");
    assert!(fake.gets().is_empty());
}

#[tokio::test]
async fn a_cancelled_pull_stops_and_leaves_no_partial_file() {
    let bytes = content(1 << 20);
    let fake = serve(bytes, None).await;
    let cache = tempfile::tempdir().unwrap();
    let hub = client(&fake, cache.path());
    let gate = Arc::new(Gate::default());
    *fake.next_stop.lock() = Stop::pause(4 * PIECE, &gate);
    let cancel = CancellationToken::new();

    let pull = {
        let cancel = cancel.clone();
        tokio::spawn(async move { hub.fetch(&want(None), &quiet(), &cancel).await })
    };
    gate.reached.notified().await;
    cancel.cancel();
    let e = pull.await.unwrap().unwrap_err();
    gate.go.notify_one();

    assert!(matches!(e, PullError::Cancelled { .. }), "{e:?}");
    assert_eq!(model_files(cache.path()), Vec::<String>::new());
}

/// A tmpfs of `size` mounted on a fresh temp dir for as long as it lives; `None` (with
/// the reason printed) where mounting is refused, as it is without root.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => {
                eprintln!(
                    "skipped: mount -t tmpfs was refused ({}); the disk-full tests need root",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount ({e}); the disk-full tests need it");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn a_disk_too_small_for_the_file_is_refused_before_the_download_starts() {
    let Some(disk) = Tmpfs::mount("1m") else {
        return;
    };
    let fake = serve(content(2 << 20), None).await;
    let hub = client(&fake, disk.path());

    let e = hub
        .fetch(&want(None), &quiet(), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        matches!(e, PullError::NoSpace { need, .. } if need == 2 << 20),
        "{e:?}"
    );
    assert!(fake.gets().is_empty());
    assert_eq!(model_files(disk.path()), Vec::<String>::new());
}

#[tokio::test]
async fn a_disk_that_fills_up_mid_download_leaves_no_partial_file_and_says_why() {
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    let fake = serve(content(3 << 20), None).await;
    let hub = client(&fake, disk.path());
    let gate = Arc::new(Gate::default());
    *fake.next_stop.lock() = Stop::pause(8 * PIECE, &gate);

    let pull = tokio::spawn(async move {
        hub.fetch(&want(None), &quiet(), &CancellationToken::new())
            .await
    });
    gate.reached.notified().await;
    // Something else takes the rest of the disk while the download waits.
    fill(&disk.path().join("filler"));
    gate.go.notify_one();
    let e = pull.await.unwrap().unwrap_err();

    assert!(matches!(e, PullError::DiskFull { .. }), "{e:?}");
    assert!(e.to_string().contains("filled up"), "{e}");
    assert_eq!(model_files(disk.path()), Vec::<String>::new());
}

/// Writes zeros to `path` until the disk is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let zeros = vec![0u8; 64 * 1024];
    while f.write_all(&zeros).is_ok() {}
}

/// A catalog with one entry on the fake hub, with neither sha256 nor size pinned.
fn catalog(dir: &Path) -> PathBuf {
    let path = dir.join("catalog.toml");
    std::fs::write(
        &path,
        format!(
            r#"[[models]]
id = "tiny-test"
family = "llama"
hub_repo = "{REPO}"
hub_file = "{FILE}"
licence = "apache-2.0"
context_length = 2048
recommended_use = "a test of pulls"
"#
        ),
    )
    .unwrap();
    path
}

type Lines = tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>;

/// `hearth models pull tiny-test` against the fake hub, with its own temp dirs.
struct PullRun {
    dirs: tempfile::TempDir,
    fake: Arc<FakeHub>,
}

impl PullRun {
    async fn new(bytes: Vec<u8>) -> Self {
        PullRun {
            dirs: tempfile::tempdir().unwrap(),
            fake: serve(bytes, None).await,
        }
    }

    /// The environment that points Hearth at the fake hub and the temp dirs.
    fn env(&self) -> Vec<(&'static str, String)> {
        let d = self.dirs.path();
        let path = |p: PathBuf| p.display().to_string();
        vec![
            ("HEARTH_CATALOG", path(catalog(d))),
            ("HF_ENDPOINT", self.fake.origin.lock().clone()),
            ("HF_HOME", path(d.join("hf"))),
            ("HF_HUB_CACHE", path(d.join("hf/hub"))),
            ("HF_TOKEN", String::new()),
            ("HEARTH_MODELS_DIR", path(d.join("models"))),
        ]
    }

    fn command(&self) -> tokio::process::Command {
        let mut c = common::hearth();
        c.args(["models", "pull", "tiny-test", "--data-dir"])
            .arg(self.dirs.path().join("data"))
            .envs(self.env())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        tokio::process::Command::from(c)
    }

    fn cache(&self) -> PathBuf {
        self.dirs.path().join("hf/hub")
    }

    /// Starts the pull, pauses the server halfway, and returns the child once it has
    /// reported (so written) half the file, with the rest of its standard error.
    async fn start_paused_halfway(&self, gate: &Arc<Gate>) -> (tokio::process::Child, Lines) {
        let half = self.fake.bytes.len() / 2;
        *self.fake.next_stop.lock() = Stop::pause(half, gate);
        let mut child = self.command().spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        gate.reached.notified().await;
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("models: 50%") {
                return (child, lines);
            }
        }
        panic!("the pull ended before it reported half the file");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_cli_pull_is_resumed_by_the_next_one_and_the_file_is_byte_identical() {
    let bytes = content(1 << 20);
    let run = PullRun::new(bytes.clone()).await;
    let gate = Arc::new(Gate::default());
    let (mut child, _stderr) = run.start_paused_halfway(&gate).await;
    child.kill().await.unwrap();
    gate.go.notify_one();

    let blob = run
        .cache()
        .join("models--test-org--tiny-GGUF/blobs")
        .join(sha256(&bytes));
    let kept = std::fs::metadata(blob.with_extension("incomplete"))
        .unwrap()
        .len();
    assert!(kept > 0, "the killed pull kept its partial file");

    let out = run.command().output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gets = run.fake.gets();
    assert_eq!(gets.len(), 2);
    assert!(
        gets[1] > 0 && gets[1] == kept,
        "resumed at {} of {kept}",
        gets[1]
    );
    assert_eq!(sha256(&std::fs::read(&blob).unwrap()), sha256(&bytes));

    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(run.dirs.path().join("models/tiny-test/verified.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["sha256"], sha256(&bytes));
    assert_eq!(record["against"], "hub");
    assert_eq!(record["size_bytes"], bytes.len());

    // The catalog pins no size; the recorded check is what makes it count as installed.
    let mut list = common::hearth();
    list.args(["models", "list"]).envs(run.env());
    let listed = String::from_utf8(list.output().unwrap().stdout).unwrap();
    let row = listed
        .lines()
        .find(|l| l.contains("local/tiny-test"))
        .unwrap();
    assert!(row.contains("yes") && row.contains("1.0 MB"), "{listed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_cancels_a_cli_pull_and_leaves_no_partial_file() {
    let run = PullRun::new(content(1 << 20)).await;
    let gate = Arc::new(Gate::default());
    let (mut child, mut lines) = run.start_paused_halfway(&gate).await;
    let pid = child.id().unwrap().to_string();
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let mut stderr = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        stderr.push_str(&line);
    }
    let status = child.wait().await.unwrap();
    gate.go.notify_one();

    assert!(!status.success());
    assert!(stderr.contains("cancelled"), "{stderr}");
    assert_eq!(model_files(&run.cache()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn closing_the_admin_pull_stream_cancels_the_pull_and_leaves_no_partial_file() {
    use futures::StreamExt;
    let run = PullRun::new(content(1 << 20)).await;
    let half = run.fake.bytes.len() / 2;
    let gate = Arc::new(Gate::default());
    *run.fake.next_stop.lock() = Stop::pause(half, &gate);
    let data = run.dirs.path().join("data");
    let env = run.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = common::Server::start_in_with_env(&data, &["--demo"], &env);
    let admin = common::create_key(&data, "tenant_enterprise", "admin");

    let resp = server
        .http
        .post(server.url("/admin/models"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"id": "local/tiny-test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("50%") {
        let chunk = stream
            .next()
            .await
            .expect("the stream ended early")
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains(r#""total_bytes":1048576"#), "{seen}");
    let partial = run
        .cache()
        .join("models--test-org--tiny-GGUF/blobs")
        .join(format!("{}.incomplete", sha256(&run.fake.bytes)));
    assert!(partial.exists());
    drop(stream);

    // The server notices the closed stream on its own schedule: wait for it, bounded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while partial.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    gate.go.notify_one();
    assert_eq!(model_files(&run.cache()), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------
// A file found by search, pulled by repository and file rather than by catalog id.

/// A file of the fake hub's repository that is not the catalog's (which is `FILE`).
const HIT: &str = "found-by-search.Q8_0.gguf";
/// The local name it gets by default: its file name, lower-case, without `.gguf`.
const HIT_NAME: &str = "found-by-search.q8_0";

/// A real GGUF model file Hearth can run (a SentencePiece vocabulary with a llama header).
fn gguf_bytes() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vocab/spm.gguf"))
        .unwrap()
}

impl PullRun {
    /// `hearth models ARGS...` against the fake hub; the runtime keeps serving meanwhile.
    async fn cli(&self, args: &[&str]) -> (bool, String) {
        let mut c = common::hearth();
        c.arg("models")
            .args(args)
            .arg("--data-dir")
            .arg(self.dirs.path().join("data"))
            .envs(self.env());
        let out = tokio::process::Command::from(c).output().await.unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    fn imported(&self) -> Vec<String> {
        files_under(&self.dirs.path().join("models/imported"))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hub_file_pulled_by_repo_and_file_is_listed_linked_to_the_cache_and_removed_with_it() {
    let bytes = gguf_bytes();
    let run = PullRun::new(bytes.clone()).await;
    let spec = format!("{REPO}/{HIT}");

    let (ok, out) = run.cli(&["pull", &spec]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("local/{HIT_NAME} installed")),
        "{out}"
    );
    let link = run
        .dirs
        .path()
        .join(format!("models/imported/{HIT_NAME}.gguf"));
    assert!(
        link.is_symlink(),
        "the file is stored once, in the hub cache"
    );
    assert_eq!(std::fs::read(&link).unwrap(), bytes);
    assert_eq!(
        model_files(&run.cache()),
        [
            format!("blobs/{}", sha256(&bytes)),
            format!("snapshots/{COMMIT}/{HIT}")
        ]
    );

    let (_, listed) = run.cli(&["list"]).await;
    let row = listed
        .lines()
        .find(|l| l.contains(&format!("local/{HIT_NAME}")))
        .unwrap_or_else(|| panic!("not listed: {listed}"));
    assert!(row.contains("from hub"), "{row}");
    assert!(row.contains(&format!("{REPO}/{HIT} at main")), "{row}");
    assert!(row.contains(&sha256(&bytes)), "{row}");

    // Taken names are refused before any byte is asked for.
    let gets = run.fake.gets().len();
    let (ok, out) = run.cli(&["pull", &spec]).await;
    assert!(!ok && out.contains("exists already"), "{out}");
    let (ok, out) = run.cli(&["pull", &spec, "--name", "tiny-test"]).await;
    assert!(!ok && out.contains("catalog model's id"), "{out}");
    let (ok, out) = run.cli(&["pull", &format!("{REPO}/{FILE}")]).await;
    assert!(!ok && out.contains("pull it by that id"), "{out}");
    assert_eq!(run.fake.gets().len(), gets);

    let (ok, out) = run.cli(&["remove", HIT_NAME]).await;
    assert!(ok, "{out}");
    assert!(out.contains("deleted the hub cache's copy"), "{out}");
    assert_eq!(run.imported(), Vec::<String>::new());
    assert_eq!(model_files(&run.cache()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hub_cache_copy_stays_while_another_name_links_to_it_or_when_another_tool_put_it_there()
{
    let bytes = gguf_bytes();
    let run = PullRun::new(bytes.clone()).await;
    let spec = format!("{REPO}/{HIT}");
    let blob = run
        .cache()
        .join("models--test-org--tiny-GGUF/blobs")
        .join(sha256(&bytes));

    // Two names for one file: one copy, freed with the last of them.
    for name in ["first", "second"] {
        let (ok, out) = run.cli(&["pull", &spec, "--name", name]).await;
        assert!(ok, "{out}");
    }
    assert_eq!(run.fake.gets().len(), 1, "the second pull reused the copy");
    let (ok, out) = run.cli(&["remove", "imported/first"]).await;
    assert!(ok && out.contains("local/second uses it too"), "{out}");
    assert!(blob.exists());
    let (ok, out) = run.cli(&["remove", "local/second"]).await;
    assert!(ok && out.contains("deleted the hub cache's copy"), "{out}");
    assert!(!blob.exists());

    // A copy another tool put in the hub cache is used, and left there on removal.
    let other_tool = Hub::new(&run.fake.origin.lock(), HubCache::new(run.cache()), None).unwrap();
    let want = Wanted {
        file: HIT,
        ..want(None)
    };
    other_tool
        .fetch(&want, &quiet(), &CancellationToken::new())
        .await
        .unwrap();
    let (ok, out) = run.cli(&["pull", &spec, "--name", "third"]).await;
    assert!(ok, "{out}");
    let (ok, out) = run.cli(&["remove", "third"]).await;
    assert!(
        ok && out.contains("it was there before Hearth pulled it"),
        "{out}"
    );
    assert!(blob.exists());
    assert_eq!(run.imported(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hub_file_that_is_not_a_model_hearth_runs_is_deleted_and_nothing_is_installed() {
    let run = PullRun::new(content(300_000)).await;

    let (ok, out) = run.cli(&["pull", &format!("{REPO}/{HIT}")]).await;

    assert!(!ok);
    assert!(out.contains("is not a model Hearth can run"), "{out}");
    assert!(out.contains("the downloaded file was deleted"), "{out}");
    assert_eq!(run.fake.gets().len(), 1);
    assert_eq!(run.imported(), Vec::<String>::new());
    assert_eq!(model_files(&run.cache()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hub_file_whose_sha256_is_not_the_hubs_leaves_nothing_installed() {
    let run = PullRun {
        dirs: tempfile::tempdir().unwrap(),
        fake: serve(gguf_bytes(), Some(sha256(b"another file"))).await,
    };

    let (ok, out) = run
        .cli(&["pull", &format!("{REPO}/{HIT}"), "--name", "m"])
        .await;

    assert!(!ok);
    assert!(out.contains("does not match the hub's"), "{out}");
    assert_eq!(run.imported(), Vec::<String>::new());
    assert_eq!(model_files(&run.cache()), Vec::<String>::new());
}

async fn v1_models(server: &common::Server, key: &str) -> Vec<String> {
    let (status, v) = server.get_json("/v1/models", Some(key)).await;
    assert_eq!(status, 200, "{v}");
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_pull_of_a_search_hit_streams_and_the_model_answers_to_its_name_at_once() {
    let bytes = gguf_bytes();
    let run = PullRun::new(bytes.clone()).await;
    let policy = run.dirs.path().join("policy.toml");
    let local = "[providers.local]\nkind = \"local\"\n";
    std::fs::write(&policy, [local, common::MOCK_ROUTE_AND_OPEN_TIER].concat()).unwrap();
    let data = run.dirs.path().join("data");
    let env = run.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server =
        common::Server::start_in_with_env(&data, &["--config", policy.to_str().unwrap()], &env);
    let admin = common::create_key(&data, "default", "admin");
    let pull = |body: serde_json::Value| {
        let (server, admin) = (&server, &admin);
        async move { server.post("/admin/models", Some(admin), &body).await }
    };

    // Refused at the edge, as JSON, before any byte.
    for (body, status, says) in [
        (
            serde_json::json!({"hub": {"repo": "no-slash", "file": HIT}}),
            400,
            "OWNER/NAME",
        ),
        (
            serde_json::json!({"hub": {"repo": REPO, "file": "../../etc/passwd.gguf"}}),
            400,
            "ending in .gguf",
        ),
        (
            serde_json::json!({"hub": {"repo": REPO, "file": HIT, "revision": "x".repeat(200)}}),
            400,
            "revision",
        ),
        (
            serde_json::json!({"hub": {"repo": REPO, "file": HIT}, "id": "tiny-test"}),
            422,
            "catalog model's id",
        ),
        (serde_json::json!({}), 400, "give `id`"),
    ] {
        let (got, _, v) = pull(body.clone()).await;
        assert_eq!(got, status, "{body}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(says),
            "{v}"
        );
    }
    assert!(run.fake.gets().is_empty());
    let name = format!("local/{HIT_NAME}");
    assert!(!v1_models(&server, &admin).await.contains(&name));

    let (status, _, stream) = pull(serde_json::json!({"hub": {"repo": REPO, "file": HIT}})).await;
    assert_eq!(status, 200);
    let stream = stream.as_str().unwrap();
    let done = stream
        .split("event: done\ndata: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no done event: {stream}"));
    let done: serde_json::Value = serde_json::from_str(done.lines().next().unwrap()).unwrap();
    assert_eq!(done["model"], name.as_str(), "{done}");
    assert_eq!(done["source"]["sha256"], sha256(&bytes));
    assert!(
        done["route"].as_str().unwrap().starts_with("Hub("),
        "{done}"
    );

    assert!(v1_models(&server, &admin).await.contains(&name));
    let (_, listed) = server.get_json("/admin/models", Some(&admin)).await;
    let row = listed["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == name.as_str())
        .unwrap_or_else(|| panic!("not in /admin/models: {listed}"));
    assert_eq!(row["size_bytes"], bytes.len());
    assert_eq!(row["source"]["repo"], REPO);
    assert_eq!(row["source"]["file"], HIT);
    assert_eq!(row["source"]["revision"], "main");
    assert_eq!(row["source"]["commit"], COMMIT);

    let (status, _, v) = pull(serde_json::json!({"hub": {"repo": REPO, "file": HIT}})).await;
    assert_eq!(status, 422, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("exists already"));

    let (status, removed) = server
        .delete(&format!("/admin/models/imported%2F{HIT_NAME}"), &admin)
        .await;
    assert_eq!(status, 200, "{removed}");
    assert!(
        removed["hub_copy"]
            .as_str()
            .unwrap()
            .contains("deleted the hub cache's copy"),
        "{removed}"
    );
    assert!(!v1_models(&server, &admin).await.contains(&name));
    assert_eq!(model_files(&run.cache()), Vec::<String>::new());
}
