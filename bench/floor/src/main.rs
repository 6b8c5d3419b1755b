//! The benchmark floor.
//!
//! A minimal axum + tokio server, the same stack Hearth runs on, that answers
//! `POST /v1/chat/completions` with one fixed OpenAI `chat.completion` body of the same size
//! and shape as Hearth's answer for the bench request, and does nothing else: no auth, no
//! quota, no routing, no cache, no audit, no metrics. Whatever Hearth costs above this is
//! Hearth's own overhead.
//!
//! `hearth-bench-floor [--addr HOST:PORT] [--upstream]` (default `127.0.0.1:0`) prints
//! `hearth listening on http://ADDR` on stdout once it accepts connections, the same line
//! Hearth prints, so `bench/run.sh` starts both the same way.
//!
//! With `--upstream` the same server plays a fast OpenAI-compatible upstream for
//! `bench/upstream.sh`: the same fixed body without the `x-hearth-*` headers (an upstream
//! does not send them), plus `GET /v1/models` listing the one model it claims to serve,
//! `fast-extract-v1`. It still reads no request: Hearth's adapter is what is measured.

use std::io::Write;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The answer Hearth's `mock-fast` provider gives the bench request, as Hearth's
/// OpenAI-compatible endpoint wraps it (OpenAI's field order, 549 bytes).
const COMPLETION: &str = concat!(
    r#"{"id":"chatcmpl-8c1f0e2a4b6d4f7e9a1b3c5d7e9f0a12","object":"chat.completion","#,
    r#""created":1767225600,"model":"mock-fast/fast-extract-v1","choices":[{"index":0,"#,
    r#""message":{"role":"assistant","content":"{\"category\":\"billing\",\"priority\":\"high\","#,
    r#"\"summary\":\"Customer reports being charged twice and asks for a refund of the "#,
    r#"duplicate charge.\",\"sentiment\":\"negative\",\"needs_human\":false}","refusal":null},"#,
    r#""logprobs":null,"finish_reason":"stop"}],"#,
    r#""usage":{"prompt_tokens":30,"completion_tokens":24,"total_tokens":54},"#,
    r#""system_fingerprint":null}"#
);

/// The fixed body, checked once at startup to be the JSON object it claims to be.
fn completion_body() -> Result<Bytes, BoxError> {
    let value: serde_json::Value = serde_json::from_str(COMPLETION)?;
    if value.get("object").and_then(serde_json::Value::as_str) != Some("chat.completion") {
        return Err("the fixed body is not a chat.completion".into());
    }
    Ok(Bytes::from_static(COMPLETION.as_bytes()))
}

/// The response headers Hearth adds, with fixed values, so both answers weigh the same on
/// the wire.
fn completion_headers() -> [(HeaderName, HeaderValue); 5] {
    [
        (CONTENT_TYPE, HeaderValue::from_static("application/json")),
        (
            HeaderName::from_static("x-hearth-trace-id"),
            HeaderValue::from_static("8c1f0e2a4b6d4f7e9a1b3c5d7e9f0a12"),
        ),
        (
            HeaderName::from_static("x-hearth-provider"),
            HeaderValue::from_static("mock-fast"),
        ),
        (
            HeaderName::from_static("x-hearth-cache"),
            HeaderValue::from_static("miss"),
        ),
        (
            HeaderName::from_static("x-hearth-cost-usd"),
            HeaderValue::from_static("0.0000108"),
        ),
    ]
}

/// `GET /v1/models` in `--upstream` mode: the model the bench policy configures.
const MODELS: &str = r#"{"object":"list","data":[{"id":"fast-extract-v1","object":"model","created":1767225600,"owned_by":"bench"}]}"#;

const USAGE: &str =
    "usage: hearth-bench-floor [--addr HOST:PORT] [--upstream]   (default 127.0.0.1:0)";

/// What the command line asked for.
struct Args {
    addr: SocketAddr,
    upstream: bool,
}

fn parse_args() -> Result<Args, BoxError> {
    let mut addr = String::from("127.0.0.1:0");
    let mut upstream = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--addr" {
            addr = args
                .next()
                .ok_or("--addr needs a value, e.g. 127.0.0.1:8080")?;
        } else if let Some(value) = arg.strip_prefix("--addr=") {
            addr = value.to_owned();
        } else if arg == "--upstream" {
            upstream = true;
        } else if arg == "-h" || arg == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        } else {
            return Err(format!("unknown argument {arg:?}; {USAGE}").into());
        }
    }
    Ok(Args {
        addr: addr.parse()?,
        upstream,
    })
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    let body = completion_body()?;
    let app = if args.upstream {
        Router::new()
            .route(
                "/v1/chat/completions",
                post(move |_request: Bytes| {
                    let body = body.clone();
                    async move { ([(CONTENT_TYPE, "application/json")], body).into_response() }
                }),
            )
            .route(
                "/v1/models",
                get(|| async { ([(CONTENT_TYPE, "application/json")], MODELS).into_response() }),
            )
    } else {
        Router::new().route(
            "/v1/chat/completions",
            post(move |_request: Bytes| {
                let body = body.clone();
                async move { (completion_headers(), body).into_response() }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let local = listener.local_addr()?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "hearth listening on http://{local}")?;
    stdout.flush()?;
    drop(stdout);
    // The same socket option as Hearth's listener, so the floor stays the same stack.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await?;
    Ok(())
}
