//! Every resource a caller controls has a bound: each is refused with its JSON error at the
//! bound and accepted just below it, over real HTTP against `hearth serve`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{create_key, Server};
use serde_json::json;

/// Sample lines of one metric family in a Prometheus text exposition.
fn series<'a>(metrics: &'a str, name: &str) -> Vec<&'a str> {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .collect()
}

#[tokio::test]
async fn caller_chosen_tasks_and_models_never_become_metric_series() {
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_pro", "user");
    let admin = create_key(&s.dir, "tenant_pro", "admin");
    let (_, before) = s.get("/metrics", Some(&admin)).await;

    for i in 0..40 {
        let task = format!("zz{i}{}", "t".repeat(60));
        let (status, _, body) = s
            .post(
                "/chat",
                Some(&key),
                &json!({"task": task, "message": "hello"}),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        let long_task = format!("zz{i}{}", "t".repeat(20_000));
        let (status, _, body) = s
            .post(
                "/chat",
                Some(&key),
                &json!({"task": long_task, "message": "hello"}),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_request", "{body}");
        let wire = json!({"model": format!("mock-fast/zz{i}"), "max_tokens": 8,
                          "metadata": {"task": format!("zz-meta-{i}")},
                          "messages": [{"role": "user", "content": "hello"}]});
        let (status, _, body) = s.post("/v1/chat/completions", Some(&key), &wire).await;
        assert!((400..500).contains(&status), "{status} {body}");
        // A served request with a made-up task label still counts, as `other`.
        let served = json!({"model": "mock-fast/fast-extract-v1", "max_tokens": 8,
                            "metadata": {"task": format!("zz-served-{i}")},
                            "messages": [{"role": "user", "content": format!("hello {i}")}]});
        let (status, _, body) = s.post("/v1/chat/completions", Some(&key), &served).await;
        assert_eq!(status, 200, "{body}");
    }

    let (status, after) = s.get("/metrics", Some(&admin)).await;
    assert_eq!(status, 200);
    assert!(
        !after.contains("zz"),
        "no caller text in any label: {}",
        after.lines().find(|l| l.contains("zz")).unwrap_or_default()
    );
    let requests = series(&after, "llm_requests_total");
    assert!(
        requests.len() <= 4,
        "a handful of series, not one per request: {requests:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|l| l.contains("task=\"other\"") && l.contains("status=\"ok\"")),
        "served requests with an unrouted task count as `other`: {requests:#?}"
    );
    assert!(
        after.len() < before.len() + 20_000,
        "the exposition grew by {} bytes after 160 requests",
        after.len() - before.len()
    );
}
