//! Connections as an attacker or a careless client uses them, over raw TCP and HTTP/2 against
//! `hearth serve`: an early answer leaves a kept-alive connection usable, half-sent requests
//! and idle connections are closed in bounded time, connections past the cap get a JSON 503,
//! and the loopback guard refuses a host it cannot read or that is not its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{create_key, Server};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The demo on a fresh data dir with `[server]` settings of its own.
fn demo_with(server: &str) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("policy.toml");
    let demo = include_str!("../src/config/demo.toml");
    std::fs::write(&cfg, format!("[server]\n{server}\n\n{demo}")).unwrap();
    let s = Server::start(&["--demo", "--config", cfg.to_str().unwrap()]);
    (dir, s)
}

fn host_of(s: &Server) -> String {
    s.base.trim_start_matches("http://").to_owned()
}

async fn connect(s: &Server) -> TcpStream {
    TcpStream::connect(host_of(s)).await.unwrap()
}

/// One HTTP/1.1 response: status, lower-cased head, body.
struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|_| panic!("not JSON ({}): {:?}", self.status, self.body))
    }
}

/// Reads one response with a content length, or None when the connection closed first.
async fn read_reply(tcp: &mut TcpStream) -> Option<Reply> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut chunk))
            .await
            .expect("no answer within 10 s")
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    while buf.len() < head_end + length {
        let n = tcp.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let status = head[9..12].parse().unwrap();
    let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).into_owned();
    Some(Reply { status, head, body })
}

/// Whether the server closes the connection within `within` (reads EOF or a reset).
async fn closed_within(tcp: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    matches!(
        tokio::time::timeout(within, tcp.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn an_early_answer_leaves_a_kept_alive_connection_usable() {
    let s = Server::demo();
    let user = create_key(&s.dir, "tenant_pro", "user");
    let host = host_of(&s);
    let body = br#"{"id": "w2", "tier": "free", "title": "x", "message": "hello there"}"#;
    // Each is answered before a handler could want the body: no key, a non-admin key, a
    // path that does not exist, a method the path does not take, a page of another site.
    let early = [
        ("POST /admin/workspaces", String::new(), 401),
        (
            "POST /admin/workspaces",
            format!("authorization: Bearer {user}\r\n"),
            403,
        ),
        ("POST /threads", String::new(), 401),
        ("POST /comparisons", String::new(), 401),
        ("POST /no/such/path", String::new(), 404),
        ("PUT /v1/chat/completions", String::new(), 405),
        (
            "POST /chat",
            "origin: http://evil.example\r\n".to_owned(),
            403,
        ),
    ];
    for (line, extra, status) in early {
        let mut tcp = connect(&s).await;
        let head = format!(
            "{line} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n",
            body.len()
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        // The body comes a moment later, as it does from a client that writes it apart.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = tcp.write_all(body).await;
        let reply = read_reply(&mut tcp).await.expect("an answer");
        assert_eq!(reply.status, status, "{line}: {}", reply.body);
        assert!(reply.json()["error"]["code"].is_string(), "{line}");
        let next = format!("GET /health HTTP/1.1\r\nhost: {host}\r\n\r\n");
        let _ = tcp.write_all(next.as_bytes()).await;
        match read_reply(&mut tcp).await {
            Some(r) => assert_eq!(r.status, 200, "{line}: the next request on the connection"),
            None => assert!(
                reply.head.contains("connection: close"),
                "{line}: the connection was dropped without `connection: close`"
            ),
        }
    }
}

#[tokio::test]
async fn a_request_head_that_never_ends_and_an_idle_connection_are_closed() {
    let (_dir, s) = demo_with("header_timeout_ms = 500");
    let host = host_of(&s);
    let mut half = connect(&s).await;
    half.write_all(format!("GET /health HTTP/1.1\r\nhost: {host}\r\nx-slow: ").as_bytes())
        .await
        .unwrap();
    assert!(
        closed_within(&mut half, Duration::from_secs(5)).await,
        "half a request head still holds its connection"
    );

    let mut idle = connect(&s).await;
    idle.write_all(format!("GET /health HTTP/1.1\r\nhost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(read_reply(&mut idle).await.unwrap().status, 200);
    assert!(
        closed_within(&mut idle, Duration::from_secs(5)).await,
        "an idle kept-alive connection is never closed"
    );
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_a_json_408() {
    let (_dir, s) = demo_with("body_timeout_ms = 500");
    let key = create_key(&s.dir, "tenant_pro", "user");
    let mut tcp = connect(&s).await;
    let head = format!(
        "POST /chat HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {key}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"message\":",
        host_of(&s)
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let reply = read_reply(&mut tcp).await.expect("an answer");
    assert_eq!(reply.status, 408, "{}", reply.body);
    assert_eq!(reply.json()["error"]["code"], "request_timeout");
    assert!(reply.head.contains("connection: close"), "{}", reply.head);
}

#[tokio::test]
async fn connections_past_the_cap_get_a_json_503_and_the_server_recovers() {
    let (_dir, s) = demo_with("max_connections = 8\nheader_timeout_ms = 30000");
    let host = host_of(&s);
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(connect(&s).await);
    }
    // Let the server accept all eight before the ninth arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut over = connect(&s).await;
    over.write_all(format!("GET /health HTTP/1.1\r\nhost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let reply = read_reply(&mut over)
        .await
        .expect("a refusal, not a silent close");
    assert_eq!(reply.status, 503, "{}", reply.body);
    let v = reply.json();
    assert_eq!(v["error"]["code"], "too_many_connections", "{v}");
    assert_eq!(
        v["error"]["trace_id"].as_str().map(str::len),
        Some(32),
        "{v}"
    );
    assert!(reply.head.contains("retry-after: 1"), "{}", reply.head);

    drop(held);
    let mut served = false;
    for _ in 0..50 {
        if let Ok((200, _)) =
            tokio::time::timeout(Duration::from_secs(2), s.get("/health", None)).await
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "closed connections free their places");
}

#[tokio::test]
async fn the_loopback_guard_refuses_a_host_it_cannot_read_or_that_is_not_its_own() {
    let s = Server::demo();
    let host = host_of(&s);
    let heads: [(&str, Vec<u8>); 4] = [
        ("no host", b"GET /session HTTP/1.0\r\n\r\n".to_vec()),
        (
            "a host with a byte that is not ASCII",
            [
                format!("GET /session HTTP/1.1\r\nhost: {host}").as_bytes(),
                b"\xff\r\n\r\n",
            ]
            .concat(),
        ),
        (
            "a request line naming another host",
            format!("GET http://evil.example/session HTTP/1.1\r\nhost: {host}\r\n\r\n")
                .into_bytes(),
        ),
        (
            "an origin with a byte that is not ASCII",
            [
                format!("GET /session HTTP/1.1\r\nhost: {host}\r\norigin: http://{host}")
                    .as_bytes(),
                b"\xc3\xa9\r\n\r\n",
            ]
            .concat(),
        ),
    ];
    for (what, head) in heads {
        let mut tcp = connect(&s).await;
        tcp.write_all(&head).await.unwrap();
        let reply = read_reply(&mut tcp)
            .await
            .unwrap_or_else(|| panic!("{what}: no answer"));
        assert_eq!(reply.status, 403, "{what}: {}", reply.body);
        assert_eq!(reply.json()["error"]["code"], "forbidden_origin", "{what}");
        assert!(
            !reply.body.contains("\"token\""),
            "{what}: the session token leaked"
        );
    }

    // HTTP/2 names the host in `:authority`, with no Host header.
    let port = s.base.rsplit(':').next().unwrap();
    let addr: std::net::SocketAddr = host.parse().unwrap();
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .resolve("evil.example", addr)
        .build()
        .unwrap();
    let foreign = h2
        .get(format!("http://evil.example:{port}/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.version(), reqwest::Version::HTTP_2);
    assert_eq!(foreign.status(), 403, "a foreign :authority");
    let own = h2.get(format!("{}/health", s.base)).send().await.unwrap();
    assert_eq!(own.status(), 200, "the server's own :authority");
}
