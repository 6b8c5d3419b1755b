//! Durability over real restarts on one data dir: prompts, keys, usage, spend, audit and
//! cache survive, and a `kill -9` under load loses no audit event of an answered request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use common::{create_key, metric, Server};
use futures::StreamExt;
use serde_json::{json, Value};

/// Every audit event the key may read, all pages, newest first.
async fn all_audit_events(s: &Server, key: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor: Option<i64> = None;
    for _ in 0..1000 {
        let path = match cursor {
            Some(c) => format!("/audit?limit=500&cursor={c}"),
            None => "/audit?limit=500".to_owned(),
        };
        let (status, v) = s.get_json(&path, Some(key)).await;
        assert_eq!(status, 200, "{v}");
        events.extend(v["events"].as_array().unwrap().iter().cloned());
        match v["next_cursor"].as_i64() {
            Some(c) => {
                assert!(cursor.is_none_or(|prev| c < prev), "the cursor moves on");
                cursor = Some(c);
            }
            None => return events,
        }
    }
    panic!("more than 1000 pages of audit events");
}

/// `hearth_audit_pending_events` as the demo's keyless `/metrics` shows it.
async fn audit_pending(s: &Server) -> f64 {
    let (status, text) = s.get("/metrics", None).await;
    assert_eq!(status, 200, "{text}");
    metric(&text, "hearth_audit_pending_events", &[])
}

/// The sum of `requests` in a workspace's usage rows.
async fn usage_requests(s: &Server, admin: &str, ws: &str) -> u64 {
    let (status, v) = s
        .get_json(&format!("/admin/usage?workspace={ws}"), Some(admin))
        .await;
    assert_eq!(status, 200, "{v}");
    v["usage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["requests"].as_u64().unwrap())
        .sum()
}

#[tokio::test]
async fn keys_prompts_usage_spend_audit_and_cache_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(tmp.path(), &["--demo"]);
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let user = create_key(&s.dir, "tenant_pro", "user");
    let prompt = json!({
        "prompt_id": "kept", "version": "v2", "template": "Answer about {{ product }} briefly.",
        "variables": ["product"], "owner": "persistence", "status": "stable", "workspace": "tenant_pro",
        "changelog": "survives restarts"
    });
    let (status, _, v) = s.post("/admin/prompts", Some(&admin), &prompt).await;
    assert_eq!(status, 201, "{v}");

    let req = json!({"task": "chat", "message": "Will this be remembered?", "prompt_id": "kept", "variables": {"product": "Hearth"}});
    let (status, _, first) = s.post("/chat", Some(&user), &req).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["cache_hit"], false);
    assert_eq!(first["prompt_version"], "v2");
    let trace_id = first["trace_id"].as_str().unwrap().to_owned();
    let (_, before) = s
        .get_json("/admin/workspaces/tenant_pro", Some(&admin))
        .await;
    let spent_before = before["today"]["spent_usd"].as_f64().unwrap();
    assert!(spent_before > 0.0, "{before}");
    let (_, usage_before) = s
        .get_json("/admin/usage?workspace=tenant_pro", Some(&admin))
        .await;

    s.kill();
    let s = Server::start_in(tmp.path(), &["--demo"]);

    let (status, v) = s
        .get_json("/admin/prompts/kept?workspace=tenant_pro", Some(&admin))
        .await;
    assert_eq!(status, 200, "the admin key and the prompt survive: {v}");
    let versions = v["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1, "{v}");
    assert_eq!(versions[0]["status"], "stable");
    assert_eq!(
        versions[0]["template"],
        "Answer about {{ product }} briefly."
    );
    assert_eq!(versions[0]["changelog"], "survives restarts");

    let (_, usage_after) = s
        .get_json("/admin/usage?workspace=tenant_pro", Some(&admin))
        .await;
    assert_eq!(usage_after, usage_before);
    let (_, after) = s
        .get_json("/admin/workspaces/tenant_pro", Some(&admin))
        .await;
    assert_eq!(after["today"]["spent_usd"].as_f64().unwrap(), spent_before);

    let (status, v) = s.get_json("/audit", Some(&user)).await;
    assert_eq!(status, 200, "the user key survives: {v}");
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{v}");
    assert_eq!(events[0]["trace_id"], trace_id.as_str());
    assert_eq!(events[0]["prompt_id"], "kept");

    let (status, _, again) = s.post("/chat", Some(&user), &req).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["cache_hit"], true, "the cache survives: {again}");
    assert_eq!(again["answer"], first["answer"]);
    assert_eq!(again["estimated_cost_usd"], 0.0);
}

#[tokio::test]
async fn the_budget_ledger_resumes_from_the_stored_spend_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(tmp.path(), &["--demo"]);
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let key = create_key(&s.dir, "tenant_free", "user");
    let req = |n: u32| json!({"task": "extract", "message": format!("restart budget {n:04}"), "max_output_tokens": 24});
    let (status, _, v) = s.post("/chat", Some(&key), &req(0)).await;
    assert_eq!(status, 200, "{v}");
    let cost = v["estimated_cost_usd"].as_f64().unwrap();
    // Room for about three more requests today.
    let budget = 4.5 * cost;
    let (status, v) = s
        .patch_workspace(&admin, "tenant_free", &json!({"daily_budget_usd": budget}))
        .await;
    assert_eq!(status, 200, "{v}");

    s.kill();
    let s = Server::start_in(tmp.path(), &["--demo"]);
    let mut served = 1;
    for n in 1..20 {
        let (status, _, v) = s.post("/chat", Some(&key), &req(n)).await;
        if status == 429 {
            assert_eq!(v["error"]["code"], "budget_exceeded");
            break;
        }
        assert_eq!(status, 200, "{v}");
        served += 1;
    }
    assert!(
        served <= 4,
        "the spend before the restart still counts: {served} served"
    );
    let (_, w) = s
        .get_json("/admin/workspaces/tenant_free", Some(&admin))
        .await;
    assert!(
        w["today"]["spent_usd"].as_f64().unwrap() <= budget + 1e-9,
        "{w}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_under_load_loses_no_audit_event_whose_response_was_sent() {
    const TOTAL: usize = 300;
    const IN_FLIGHT: usize = 16;
    const KILL_AFTER: usize = 150;

    let tmp = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(tmp.path(), &["--demo"]);
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let user = create_key(&s.dir, "tenant_enterprise", "user");

    let answered = Arc::new(Mutex::new(Vec::<String>::new()));
    let (half_tx, half_rx) = tokio::sync::oneshot::channel::<()>();
    let load = {
        let (http, url, answered) = (s.http.clone(), s.url("/chat"), answered.clone());
        tokio::spawn(async move {
            let mut half_tx = Some(half_tx);
            let mut errors = 0usize;
            let mut responses = futures::stream::iter(0..TOTAL)
                .map(|i| {
                    let (http, url, user) = (http.clone(), url.clone(), user.clone());
                    async move {
                        let body = json!({"task": "extract", "message": format!("load ticket {i}"), "max_output_tokens": 32});
                        let resp = http.post(url).bearer_auth(user).json(&body).send().await.ok()?;
                        let status = resp.status().as_u16();
                        let header = resp.headers().get("x-hearth-trace-id")?.to_str().ok()?.to_owned();
                        let v: Value = resp.json().await.ok()?;
                        Some((status, header, v))
                    }
                })
                .buffer_unordered(IN_FLIGHT);
            while let Some(r) = responses.next().await {
                match r {
                    Some((200, header, v)) => {
                        assert_eq!(v["trace_id"], header.as_str(), "{v}");
                        let mut a = answered.lock().unwrap();
                        a.push(header);
                        if a.len() >= KILL_AFTER {
                            if let Some(tx) = half_tx.take() {
                                let _ = tx.send(());
                            }
                        }
                    }
                    Some((status, _, v)) => panic!("unexpected {status} before the crash: {v}"),
                    None => errors += 1,
                }
            }
            errors
        })
    };

    half_rx.await.expect("half of the load was answered");
    s.kill();
    let errors = load.await.unwrap();
    let answered = answered.lock().unwrap().clone();
    assert!(answered.len() >= KILL_AFTER, "{} answered", answered.len());
    assert!(
        errors > 0 && answered.len() < TOTAL,
        "the crash happened mid-load: {} answered, {errors} failed",
        answered.len()
    );

    eprintln!(
        "{} answered before the crash, {errors} cut off",
        answered.len()
    );
    let s = Server::start_in(tmp.path(), &["--demo"]);
    let events = all_audit_events(&s, &admin).await;
    let stored: HashSet<&str> = events
        .iter()
        .filter(|e| e["event_type"] == "llm_request_completed")
        .map(|e| e["trace_id"].as_str().unwrap())
        .collect();
    let lost: Vec<&String> = answered
        .iter()
        .filter(|t| !stored.contains(t.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} answered requests have no audit event: {lost:?}",
        lost.len(),
        answered.len()
    );
    assert_eq!(
        events
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect::<HashSet<_>>()
            .len(),
        events.len(),
        "pages do not overlap"
    );

    // Usage is written in the audit event's transaction: the two agree after the crash.
    let completed = events
        .iter()
        .filter(|e| {
            e["event_type"] == "llm_request_completed" && e["tenant_id"] == "tenant_enterprise"
        })
        .count() as u64;
    assert_eq!(
        usage_requests(&s, &admin, "tenant_enterprise").await,
        completed
    );

    // And the restarted server serves.
    let key = create_key(&s.dir, "tenant_enterprise", "user");
    let (status, _, v) = s
        .post(
            "/chat",
            Some(&key),
            &json!({"task": "extract", "message": "after the crash"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
}

/// Runs `answer` against a server on a fresh data dir while another process holds SQLite's
/// write lock, so whatever it gets answered is durable only in the server's journal; then
/// kills the server (`kill -9`) before the lock goes. Returns the data dir, an admin key of
/// the install and what `answer` returned; `answer` gets a user key of `tenant_enterprise`.
async fn answered_then_killed_while_locked<T>(
    answer: impl AsyncFnOnce(&Server, &str) -> T,
) -> (tempfile::TempDir, String, T) {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(tmp.path(), &["--demo"]);
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let user = create_key(&s.dir, "tenant_enterprise", "user");
    let lock = rusqlite::Connection::open(tmp.path().join("hearth.db")).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let out = answer(&s, &user).await;
    s.kill();
    lock.execute_batch("ROLLBACK").unwrap();
    (tmp, admin, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_given_while_the_database_is_locked_survive_a_crash() {
    const ANSWERS: usize = 12;
    let (tmp, admin, answered) =
        answered_then_killed_while_locked(async |s: &Server, user: &str| {
            let mut answered = Vec::new();
            for i in 0..ANSWERS {
                let body = json!({"task": "extract", "message": format!("locked ticket {i}")});
                let (status, headers, v) = s.post("/chat", Some(user), &body).await;
                assert_eq!(
                    status, 200,
                    "answers keep coming while SQLite is locked: {v}"
                );
                answered.push(headers["x-hearth-trace-id"].to_str().unwrap().to_owned());
            }
            answered
        })
        .await;

    let s = Server::start_in(tmp.path(), &["--demo"]);
    let events = all_audit_events(&s, &admin).await;
    let stored: HashSet<&str> = events
        .iter()
        .map(|e| e["trace_id"].as_str().unwrap())
        .collect();
    for t in &answered {
        assert!(stored.contains(t.as_str()), "{t} was answered, then lost");
    }
    assert_eq!(
        usage_requests(&s, &admin, "tenant_enterprise").await,
        ANSWERS as u64,
        "the usage of journaled answers is recovered with them"
    );
}

#[tokio::test]
async fn the_audit_backlog_shows_while_the_database_is_locked_and_drains_once_it_is_free() {
    const ANSWERS: usize = 5;
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_in(tmp.path(), &["--demo"]);
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let user = create_key(&s.dir, "tenant_enterprise", "user");

    let lock = rusqlite::Connection::open(tmp.path().join("hearth.db")).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    for i in 0..ANSWERS {
        let body = json!({"task": "extract", "message": format!("backlog ticket {i}")});
        let (status, _, v) = s.post("/chat", Some(&user), &body).await;
        assert_eq!(status, 200, "{v}");
    }
    assert_eq!(audit_pending(&s).await, ANSWERS as f64);

    lock.execute_batch("ROLLBACK").unwrap();
    let events = all_audit_events(&s, &admin).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e["tenant_id"] == "tenant_enterprise")
            .count(),
        ANSWERS,
        "/audit waits for the backlog to be committed"
    );
    assert_eq!(audit_pending(&s).await, 0.0);
}

/// The trace id of a streamed answer read to its end (`[DONE]` after the finishing chunk),
/// or None when the stream broke off.
async fn finished_stream(http: &reqwest::Client, url: &str, key: &str, i: usize) -> Option<String> {
    let body = json!({"model": "hearth/extract", "stream": true, "max_tokens": 32,
                      "messages": [{"role": "user", "content": format!("streamed ticket {i}")}]});
    let resp = http
        .post(url)
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .ok()?;
    let text = resp.text().await.ok()?;
    if !text.ends_with("data: [DONE]\n\n") {
        return None;
    }
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find_map(|v| v["hearth"]["trace_id"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streams_finished_before_a_crash_keep_their_audit_events_even_with_the_database_locked() {
    const STREAMS: usize = 24;
    // A finished stream's event is durable only in the journal.
    let (tmp, admin, finished) =
        answered_then_killed_while_locked(async |s: &Server, user: &str| {
            let url = s.url("/v1/chat/completions");
            futures::stream::iter(0..STREAMS)
                .map(|i| finished_stream(&s.http, &url, user, i))
                .buffer_unordered(6)
                .filter_map(|t| async move { t })
                .collect::<Vec<String>>()
                .await
        })
        .await;
    assert_eq!(
        finished.len(),
        STREAMS,
        "every stream finished before the crash"
    );

    let s = Server::start_in(tmp.path(), &["--demo"]);
    let events = all_audit_events(&s, &admin).await;
    let completed: HashSet<&str> = events
        .iter()
        .filter(|e| e["event_type"] == "llm_request_completed")
        .map(|e| e["trace_id"].as_str().unwrap())
        .collect();
    for t in &finished {
        assert!(
            completed.contains(t.as_str()),
            "stream {t} finished, then its event was lost"
        );
    }
    assert_eq!(
        usage_requests(&s, &admin, "tenant_enterprise").await,
        STREAMS as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_during_journal_recovery_loses_nothing_and_commits_nothing_twice() {
    const ANSWERS: usize = 1500;
    // A journal of many answers a killed server never committed.
    let (tmp, admin, answered) =
        answered_then_killed_while_locked(async |s: &Server, user: &str| {
            futures::stream::iter(0..ANSWERS)
                .map(|i| async move {
                    let body =
                        json!({"task": "extract", "message": format!("journaled ticket {i}")});
                    let (status, headers, v) = s.post("/chat", Some(user), &body).await;
                    assert_eq!(status, 200, "{v}");
                    headers["x-hearth-trace-id"].to_str().unwrap().to_owned()
                })
                .buffer_unordered(32)
                .collect::<Vec<String>>()
                .await
        })
        .await;

    // Starts that recover it are killed 10 ms later each time, until one got as far as
    // removing the journal: recovery takes tens of ms here, so some kills land inside it.
    let journal_dirs = || {
        std::fs::read_dir(tmp.path().join("journal"))
            .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let [dead] = journal_dirs()
        .try_into()
        .expect("one journal, the killed server's");
    let mut kills = 0;
    for delay_ms in (10u64..=1000).step_by(10) {
        if !dead.exists() {
            break;
        }
        kills += 1;
        let mut child = common::hearth()
            .args(["serve", "--demo", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(tmp.path())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
        child.kill().unwrap();
        child.wait().unwrap();
    }
    eprintln!("{kills} starts killed before one recovered the journal");
    assert!(
        kills >= 2,
        "recovery finished before the first kill: nothing was tested"
    );

    let s = Server::start_in(tmp.path(), &["--demo"]);
    let events = all_audit_events(&s, &admin).await;
    let mut seen = HashSet::new();
    for e in events
        .iter()
        .filter(|e| e["tenant_id"] == "tenant_enterprise")
    {
        let t = e["trace_id"].as_str().unwrap();
        assert!(seen.insert(t.to_owned()), "{t} was committed twice");
    }
    for t in &answered {
        assert!(seen.contains(t), "{t} was answered, then lost");
    }
    assert_eq!(
        usage_requests(&s, &admin, "tenant_enterprise").await,
        ANSWERS as u64,
        "usage counted once per answer"
    );
}
