//! Finding GGUF files to run: the catalog's entries that match the text first, then the
//! hub's GGUF repositories and their files (through its public API), each with its quant,
//! whether Hearth has a kernel for that quant, and whether it would fit in the local memory
//! budget. The hub is asked with a short connect timeout, so a machine without network hears
//! so within seconds and still gets the catalog's matches.
//!
//! The caller's text only ever travels URL-encoded in the search request's query; it is not
//! logged, and reqwest's errors (which would quote the URL) are stripped of it.

use std::time::Duration;

use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{catalog, CatalogEntry};
use crate::error::{Error, Result};

/// Repositories listed at most, and files listed at most from each: a screenful to choose
/// from, and a bound on the requests one search makes (one per repository).
pub const MAX_REPOS: usize = 20;
/// See [`MAX_REPOS`].
pub const MAX_FILES_PER_REPO: usize = 50;
/// The longest search text, in characters; model names are far shorter.
pub const MAX_QUERY_CHARS: usize = 100;
/// A machine without network fails to connect (or to resolve the name) within this; a
/// reachable hub connects in well under a second.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The most one hub request may take, answer included. With [`PARALLEL_REPOS`] this bounds a
/// search by about (1 + 20 / 5) x 10 s even when every request hangs.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Repositories whose file lists are asked for at once.
const PARALLEL_REPOS: usize = 5;
/// The most bytes read from one hub answer: twenty repositories' summaries, or one
/// repository's file list, are tens of kilobytes.
const MAX_ANSWER_BYTES: usize = 8 << 20;
/// The hub when `HF_ENDPOINT` is not set (hf-hub's default too).
const HUB: &str = "https://huggingface.co";
const GIB: u64 = 1 << 30;

/// How "fits" is decided, as the answers say it.
pub const FITS_RULE: &str = "file size x 4/3 + 1 GiB within the local memory budget \
                             ([local] memory_budget_mb, default half the machine's memory)";

/// One GGUF file found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = SearchHit)]
pub struct Hit {
    /// Hub repository.
    pub repo: String,
    /// File in the repository.
    pub file: String,
    /// Its size, when the hub says.
    #[schema(required = true)]
    pub size_bytes: Option<u64>,
    /// The quant its name says (`Q4_K_M`, `Q8_0`, `F16`, ...), or `unknown`.
    pub quant: String,
    /// Whether Hearth has a kernel for that quant (the architecture is checked at pull).
    pub runs: bool,
    /// The memory it is taken to need: see [`needs_bytes`]; None without a size.
    #[schema(required = true)]
    pub needs_bytes: Option<u64>,
    /// Whether that fits in the budget; None without a size.
    #[schema(required = true)]
    pub fits: Option<bool>,
    /// The catalog entry it is, if any (`hearth models pull ID` fetches it).
    #[schema(required = true)]
    pub catalog_id: Option<String>,
}

/// A repository whose file list could not be read.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = SearchSkipped)]
pub struct Skipped {
    /// The repository.
    pub repo: String,
    /// Why.
    pub reason: String,
}

/// What a search found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = SearchAnswer)]
pub struct Answer {
    /// Whether the hub answered the search.
    pub online: bool,
    /// Why not, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The catalog's matching entries; listed before the hub's files.
    pub catalog: Vec<Hit>,
    /// The hub's GGUF files, repository by repository in the hub's order (files that are
    /// catalog entries are in `catalog` only).
    pub files: Vec<Hit>,
    /// Repositories whose file list could not be read.
    pub skipped: Vec<Skipped>,
    /// The budget `fits` was decided against.
    pub budget_bytes: u64,
    /// How `fits` was decided.
    pub fits_rule: &'static str,
}

/// The search text, trimmed, if it is one a search can take: 1 to [`MAX_QUERY_CHARS`]
/// characters, none of them control characters.
pub fn valid_query(text: &str) -> Result<&str> {
    let text = text.trim();
    let refuse = |why: &str| Error::bad_request("invalid_request", why.to_owned());
    if text.is_empty() {
        return Err(refuse("the search text is empty"));
    }
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(refuse(&format!(
            "the search text is longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(refuse("the search text has control characters"));
    }
    Ok(text)
}

/// The quant a GGUF file's name (or folder) says, upper-cased (`FP16` read as `F16`), or
/// `unknown`. The quant is the last name-part that looks like one, so that a model named
/// after a quant scheme is not mistaken for the file's.
pub fn quant_of(file: &str) -> String {
    let name = file.to_ascii_uppercase();
    name.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .flat_map(underscore_tails)
        .filter(|part| is_quant(part))
        .last()
        .map_or_else(
            || "unknown".to_owned(),
            |q| q.replace("FP16", "F16").replace("FP32", "F32"),
        )
}

/// `A_B_C`, `B_C`, `C`: a quant may follow a name part joined with `_` (`model_Q4_K_M`).
fn underscore_tails(part: &str) -> impl Iterator<Item = &str> {
    std::iter::once(part).chain(part.match_indices('_').map(move |(i, _)| &part[i + 1..]))
}

fn is_quant(s: &str) -> bool {
    const FLOATS: [&str; 5] = ["F16", "BF16", "F32", "FP16", "FP32"];
    if FLOATS.contains(&s) {
        return true;
    }
    let body = s.strip_prefix("IQ").or_else(|| s.strip_prefix("TQ"));
    let body = body.or_else(|| s.strip_prefix('Q'));
    let Some((bits, rest)) = body.and_then(|b| b.split_once('_')) else {
        return false;
    };
    let bits_ok = bits.len() == 1 && bits.bytes().all(|b| b.is_ascii_digit());
    let rest_ok = [
        "0", "1", "K", "K_S", "K_M", "K_L", "K_XL", "XXS", "XS", "S", "M", "NL",
    ]
    .contains(&rest);
    bits_ok && rest_ok
}

/// Whether Hearth has a kernel for a quant as `quant_of` names it: Q4_0, Q4_1, Q5_0, Q8_0,
/// Q4_K, Q5_K, Q6_K (and their `_S`/`_M`/`_L` mixes, whose tensors are of those kinds), and
/// F16, BF16, F32. Not IQ*, TQ*, Q2_K, Q3_K, Q5_1, nor the `_XL` mixes, whose makers choose
/// the kinds of some tensors freely.
pub fn has_kernel(quant: &str) -> bool {
    const RUNS: [&str; 10] = [
        "Q4_0", "Q4_1", "Q5_0", "Q8_0", "Q4_K", "Q5_K", "Q6_K", "F16", "BF16", "F32",
    ];
    let base = ["_S", "_M", "_L"]
        .iter()
        .find_map(|mix| quant.strip_suffix(mix).filter(|b| b.ends_with("_K")))
        .unwrap_or(quant);
    RUNS.contains(&base)
}

/// The memory a GGUF file of `size` bytes is taken to need: the weights (the file), the f16
/// KV cache at the default 8,192-token context and the scratch, as the loader estimates them
/// from the header. The cache does not follow the file size: it is 0.9 to 1.1 GiB for every
/// Qwen3 from 0.6B to 8B (28-36 layers x 8 KV heads x 128), twice a 0.6B file's weights,
/// while a Llama 3.1 8B's is a fifth of its weights. A third of the file plus 1 GiB covers
/// the loader's estimate for the two installed catalog files (tested) and, worked out by hand
/// from their shapes, for Qwen3 0.6B-8B, Llama 3.2 1B/3B and 3.1 8B, Gemma 3 4B/12B and
/// Phi-4-mini at Q4_K_M; so "fits" is safe, and "does not fit" may be strict by up to about
/// 1.5 GiB (an 8B Q4_K_M file is taken to need 7.1 GiB where the loader estimates 5.7).
pub fn needs_bytes(size: u64) -> u64 {
    size + size / 3 + GIB
}

fn hit(repo: &str, file: &str, size: Option<u64>, budget: u64, id: Option<&str>) -> Hit {
    let quant = quant_of(file);
    let needs = size.map(needs_bytes);
    Hit {
        repo: repo.to_owned(),
        file: file.to_owned(),
        size_bytes: size,
        runs: has_kernel(&quant),
        quant,
        needs_bytes: needs,
        fits: needs.map(|n| n <= budget),
        catalog_id: id.map(str::to_owned),
    }
}

/// Whether every word of the text is in the entry's id, repository, file or family.
fn matches(entry: &CatalogEntry, text: &str) -> bool {
    let haystack = [&entry.id, &entry.hub_repo, &entry.hub_file, &entry.family]
        .map(|s| s.to_lowercase())
        .join(" ");
    text.to_lowercase()
        .split_whitespace()
        .all(|word| haystack.contains(word))
}

/// The catalog entries matching the text, as hits.
fn catalog_hits(entries: &[CatalogEntry], text: &str, budget: u64) -> Vec<Hit> {
    entries
        .iter()
        .filter(|e| matches(e, text))
        .map(|e| hit(&e.hub_repo, &e.hub_file, e.size_bytes, budget, Some(&e.id)))
        .collect()
}

/// The hub's address: `HF_ENDPOINT`, else the public hub.
pub fn endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| HUB.to_owned())
}

/// Searches the catalog and the hub at [`endpoint`]; `budget` decides "fits".
pub async fn search(text: &str, budget: u64) -> Result<Answer> {
    search_at(&endpoint(), text, budget).await
}

/// Searches the catalog and the hub at `endpoint`. A hub that cannot be reached, or does
/// not answer the search, gives an offline answer with the catalog's matches.
pub async fn search_at(endpoint: &str, text: &str, budget: u64) -> Result<Answer> {
    let text = valid_query(text)?;
    let entries = catalog()?;
    let catalog = catalog_hits(&entries, text, budget);
    let (online, reason, files, skipped) = match hub_files(endpoint, text, budget).await {
        Ok((files, skipped)) => (true, None, files, skipped),
        Err(why) => (false, Some(why), Vec::new(), Vec::new()),
    };
    // A catalog entry's file is listed once, as the catalog's (whatever the text matched).
    let files = files
        .into_iter()
        .filter(|f| {
            !entries
                .iter()
                .any(|e| e.hub_repo == f.repo && e.hub_file == f.file)
        })
        .collect::<Vec<_>>();
    Ok(Answer {
        online,
        reason,
        catalog,
        files,
        skipped,
        budget_bytes: budget,
        fits_rule: FITS_RULE,
    })
}

/// A repository in the hub's search answer.
#[derive(Deserialize)]
struct HubModel {
    id: Option<String>,
    #[serde(rename = "modelId")]
    model_id: Option<String>,
}

/// A repository's model info with `blobs=true`.
#[derive(Deserialize)]
struct RepoInfo {
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(Deserialize)]
struct Sibling {
    rfilename: String,
    size: Option<u64>,
    lfs: Option<Lfs>,
}

#[derive(Deserialize)]
struct Lfs {
    size: Option<u64>,
}

/// The hub's GGUF repositories for the text and their files, or why the hub could not be
/// asked.
async fn hub_files(
    endpoint: &str,
    text: &str,
    budget: u64,
) -> std::result::Result<(Vec<Hit>, Vec<Skipped>), String> {
    let endpoint = endpoint.trim_end_matches('/');
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("hearth/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("no HTTP client: {}", e.without_url()))?;
    let limit = MAX_REPOS.to_string();
    let query = [("search", text), ("filter", "gguf"), ("limit", &limit)];
    let found: Vec<HubModel> = get_json(&client, &format!("{endpoint}/api/models"), &query)
        .await
        .map_err(|e| format!("the hub at {endpoint} did not answer the search: {e}"))?;
    let repos = found
        .into_iter()
        .filter_map(|m| m.id.or(m.model_id))
        .filter(|id| plain_repo_id(id))
        .take(MAX_REPOS);
    let lists = futures::stream::iter(repos)
        .map(|repo| {
            let client = &client;
            async move {
                let url = format!("{endpoint}/api/models/{repo}");
                let info = get_json::<RepoInfo>(client, &url, &[("blobs", "true")]).await;
                (repo, info)
            }
        })
        .buffered(PARALLEL_REPOS)
        .collect::<Vec<_>>()
        .await;
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for (repo, info) in lists {
        match info {
            Ok(info) => files.extend(gguf_files(&repo, info, budget)),
            Err(reason) => skipped.push(Skipped { repo, reason }),
        }
    }
    Ok((files, skipped))
}

/// A repository's model files: its `.gguf` files other than vision projectors
/// (`mmproj*`, which are not models on their own), at most [`MAX_FILES_PER_REPO`].
fn gguf_files(repo: &str, info: RepoInfo, budget: u64) -> impl Iterator<Item = Hit> + '_ {
    info.siblings
        .into_iter()
        .filter(|s| {
            let name = s.rfilename.to_ascii_lowercase();
            let base = name.rsplit('/').next().unwrap_or_default();
            name.ends_with(".gguf") && !base.starts_with("mmproj")
        })
        .take(MAX_FILES_PER_REPO)
        .map(move |s| {
            let size = s.size.or(s.lfs.and_then(|l| l.size));
            hit(repo, &s.rfilename, size, budget, None)
        })
}

/// `owner/name` of letters, digits, `-`, `_` and `.`: what the hub's ids are, and what may
/// go into a URL path unescaped.
fn plain_repo_id(id: &str) -> bool {
    let Some((owner, name)) = id.split_once('/') else {
        return false;
    };
    let plain = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    plain(owner) && plain(name)
}

/// GETs `url` with `query` (URL-encoded by reqwest) and reads a JSON answer of at most
/// [`MAX_ANSWER_BYTES`]. Errors never quote the URL, which holds the caller's text.
async fn get_json<T: DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
    query: &[(&str, &str)],
) -> std::result::Result<T, String> {
    let mut resp = client
        .get(url)
        .query(query)
        .send()
        .await
        .map_err(|e| cause(&e.without_url()))?;
    if !resp.status().is_success() {
        return Err(format!("it answered {}", resp.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| cause(&e.without_url()))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(format!("its answer is over {} MiB", MAX_ANSWER_BYTES >> 20));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("its answer is not the expected JSON: {e}"))
}

/// An HTTP error and its causes in one line ("error sending request" alone says nothing).
fn cause(e: &reqwest::Error) -> String {
    let mut line = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        line = format!("{line}: {s}");
        source = s.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quants_are_read_from_file_names_as_the_hubs_repos_write_them() {
        for (file, quant) in [
            ("qwen2.5-1.5b-instruct-q4_k_m.gguf", "Q4_K_M"),
            ("Llama-3.2-1B-Instruct-Q8_0.gguf", "Q8_0"),
            ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1"),
            ("gemma-3-270m-q4_k_m.gguf", "Q4_K_M"),
            ("Phi-4-mini-instruct-IQ4_XS.gguf", "IQ4_XS"),
            ("model_Q6_K.gguf", "Q6_K"),
            ("Qwen3-4B-UD-Q4_K_XL.gguf", "Q4_K_XL"),
            ("model-bf16.gguf", "BF16"),
            ("model.fp16.gguf", "F16"),
            ("Q4_K_M/model-00001-of-00002.gguf", "Q4_K_M"),
            ("tinyllama-1.1b-chat.gguf", "unknown"),
            ("Q2-model-v1.gguf", "unknown"),
        ] {
            assert_eq!(quant_of(file), quant, "{file}");
        }
    }

    #[test]
    fn kernels_exist_for_the_issue_12_formats_and_their_k_mixes_only() {
        for q in [
            "Q4_0", "Q4_1", "Q5_0", "Q8_0", "Q4_K_M", "Q4_K_S", "Q5_K_M", "Q5_K_L", "Q6_K", "F16",
            "BF16", "F32",
        ] {
            assert!(has_kernel(q), "{q}");
        }
        for q in [
            "Q2_K", "Q3_K_M", "Q3_K_L", "IQ4_XS", "IQ2_XXS", "TQ1_0", "Q5_1", "Q4_K_XL", "unknown",
        ] {
            assert!(!has_kernel(q), "{q}");
        }
    }

    #[test]
    fn fits_means_the_size_and_its_margin_are_within_the_budget() {
        let size = 3 * GIB;
        let h = hit("o/r", "m-Q4_K_M.gguf", Some(size), 5 * GIB, None);
        assert_eq!(h.needs_bytes, Some(5 * GIB));
        assert_eq!(h.fits, Some(true));
        let tight = hit("o/r", "m-Q4_K_M.gguf", Some(size), 5 * GIB - 1, None);
        assert_eq!(
            tight.fits,
            Some(false),
            "the file alone fits, its margin does not"
        );
        let unknown = hit("o/r", "m-Q4_K_M.gguf", None, GIB, None);
        assert_eq!((unknown.needs_bytes, unknown.fits), (None, None));
    }

    #[test]
    fn empty_overlong_and_control_text_is_refused() {
        assert_eq!(valid_query("  qwen 3b ").unwrap(), "qwen 3b");
        assert_eq!(
            valid_query(&"é".repeat(MAX_QUERY_CHARS)).unwrap().len(),
            200
        );
        for bad in ["", "   ", &"q".repeat(MAX_QUERY_CHARS + 1), "qwen\n3b"] {
            assert!(valid_query(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_word_of_the_text_must_match_a_catalog_entry() {
        let ids = |text: &str| -> Vec<String> {
            catalog_hits(&catalog().unwrap(), text, u64::MAX)
                .into_iter()
                .filter_map(|h| h.catalog_id)
                .collect()
        };
        assert_eq!(ids("SmolLM2 135m"), ["smollm2-135m-instruct"]);
        assert!(ids("smollm2 no-such-word").is_empty());
    }

    #[test]
    fn repo_ids_with_path_tricks_are_not_asked_for() {
        assert!(plain_repo_id("bartowski/Qwen2.5-1.5B-Instruct-GGUF"));
        for bad in [
            "noslash", "a/b/c", "../x", "a/..", "a/b?c", "a/b%2F", "/b", "a/",
        ] {
            assert!(!plain_repo_id(bad), "{bad}");
        }
    }
}
