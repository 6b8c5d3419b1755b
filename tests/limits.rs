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

/// The status of a raw HTTP/1.1 request with exactly these headers (and no body).
async fn status_with_headers(s: &Server, headers: &[(String, String)]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = s.base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(host).await.unwrap();
    let mut head = String::from("GET /health HTTP/1.1\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("connection: close\r\n\r\n");
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut reply = String::new();
    tcp.read_to_string(&mut reply).await.unwrap();
    let status = reply[9..12].parse().unwrap();
    let body = reply
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

#[tokio::test]
async fn headers_are_bounded_by_count_and_by_bytes() {
    let s = Server::demo();
    let host = (
        "host".to_owned(),
        s.base.trim_start_matches("http://").to_owned(),
    );
    // `connection: close` is the last of each request's headers.
    let many = |n: usize| {
        let mut h = vec![host.clone()];
        h.extend((0..n - 2).map(|i| (format!("x-h{i}"), "v".to_owned())));
        h
    };
    assert_eq!(
        status_with_headers(&s, &many(64)).await.0,
        200,
        "64 headers"
    );
    let (status, body) = status_with_headers(&s, &many(65)).await;
    assert_eq!(status, 431, "65 headers: {body}");
    assert!(body.contains("\"headers_too_large\""), "{body}");

    // 16 KiB of names and values in all.
    let sized = |total: usize| {
        let used = host.0.len() + host.1.len() + "connection".len() + "close".len() + "x-big".len();
        vec![host.clone(), ("x-big".to_owned(), "v".repeat(total - used))]
    };
    assert_eq!(
        status_with_headers(&s, &sized(16 * 1024)).await.0,
        200,
        "16 KiB of headers"
    );
    let (status, body) = status_with_headers(&s, &sized(16 * 1024 + 1)).await;
    assert_eq!(status, 431, "one byte more: {body}");
}

#[tokio::test]
async fn a_body_at_the_limit_is_read_and_one_byte_over_is_413() {
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_enterprise", "user");
    let limit = 1024 * 1024;
    let sized = |len: usize| {
        let frame = br#"{"task":"extract","message":"refund "#.len() + br#""}"#.len();
        format!(
            r#"{{"task":"extract","message":"refund {}"}}"#,
            "a".repeat(len - frame)
        )
    };
    for (len, want) in [(limit, 200), (limit + 1, 413)] {
        let body = sized(len);
        assert_eq!(body.len(), len);
        let resp = s
            .http
            .post(s.url("/chat"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert_eq!(status, want, "a body of {len} bytes: {text}");
    }
}

#[tokio::test]
async fn a_request_may_carry_1024_messages_and_not_1025() {
    let s = Server::demo();
    let key = create_key(&s.dir, "tenant_enterprise", "user");
    for (n, want) in [(1024, 200), (1025, 400)] {
        let messages: Vec<_> = (0..n)
            .map(|i| json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": format!("m{i}")}))
            .collect();
        let body = json!({"model": "hearth/chat", "max_tokens": 8, "messages": messages});
        let (status, _, v) = s.post("/v1/chat/completions", Some(&key), &body).await;
        assert_eq!(status, want, "{n} messages: {v}");
        if want == 400 {
            assert_eq!(v["error"]["code"], "invalid_request", "{v}");
        }
    }
}

#[tokio::test]
async fn a_prompt_renders_up_to_1_mib_and_is_refused_past_it() {
    let s = Server::demo();
    let admin = create_key(&s.dir, "tenant_enterprise", "admin");
    // 32 KiB of variables rendered `rounds` times over.
    let prompt = json!({
        "prompt_id": "repeat", "version": "v1", "owner": "test", "status": "stable",
        "template": "{% for r in rounds %}{% for d in docs %}{{ d }}{% endfor %}{% endfor %}",
        "variables": ["docs", "rounds"],
    });
    let (status, _, v) = s.post("/admin/prompts", Some(&admin), &prompt).await;
    assert_eq!(status, 201, "{v}");
    let docs = vec!["x".repeat(1024); 32];
    for (rounds, want) in [(32, 200), (33, 400)] {
        let body = json!({"task": "chat", "message": "hi", "prompt_id": "repeat",
                          "variables": {"docs": docs, "rounds": vec![0; rounds]}});
        let (status, _, v) = s.post("/chat", Some(&admin), &body).await;
        assert_eq!(status, want, "{} KiB of system prompt: {v}", rounds * 32);
    }
}
