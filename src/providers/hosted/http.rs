//! The HTTP client all hosted adapters share, and the one mapping from a failed HTTP call
//! (transport error, status and body) to the typed `ProviderError`.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde::Deserialize;

use super::{lenient, Endpoint};
use crate::providers::{BuildError, ProviderError};

/// The longest provider message kept in an error; bodies can be long and are not ours.
const MAX_MESSAGE_CHARS: usize = 200;

/// One pooled client for every hosted provider: rustls, HTTP/2 where the server offers it
/// (ALPN), keep-alive, and the proxy settings reqwest reads from `HTTPS_PROXY`,
/// `HTTP_PROXY` and `NO_PROXY`. No overall timeout: the orchestrator bounds each attempt.
pub fn build_client() -> Result<reqwest::Client, BuildError> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .user_agent(concat!("hearth/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| BuildError::Client(e.to_string()))
}

impl Endpoint {
    /// A request to `path` under the base URL with the configured extra headers.
    pub(crate) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base_url))
            .headers(self.headers.clone())
    }
}

/// Sends and returns the response when its status is a success, else the mapped error.
pub(crate) async fn send(req: reqwest::RequestBuilder) -> Result<reqwest::Response, ProviderError> {
    let resp = req.send().await.map_err(transport)?;
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap_or_default();
    Err(from_status(status, &headers, &body))
}

/// Reads a successful response's JSON body.
pub(crate) async fn json_body(resp: reqwest::Response) -> Result<serde_json::Value, ProviderError> {
    let bytes = resp.bytes().await.map_err(transport)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ProviderError::Unavailable(format!("the provider sent a body that is not JSON ({e})"))
    })
}

/// The ids of a `{"data":[{"id":...}]}` model list (OpenAI's and Anthropic's shape).
pub(crate) fn model_ids(v: &serde_json::Value) -> Vec<String> {
    lenient::read::<ModelList>(v)
        .data
        .into_iter()
        .filter_map(|m| m.id)
        .collect()
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct ModelList {
    #[serde(deserialize_with = "lenient::list")]
    data: Vec<ListedModel>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct ListedModel {
    #[serde(deserialize_with = "lenient::value")]
    id: Option<String>,
}

/// A transport failure: no answer in time, or no connection.
pub(crate) fn transport(e: reqwest::Error) -> ProviderError {
    let e = e.without_url();
    if e.is_timeout() {
        ProviderError::Timeout
    } else if e.is_decode() || e.is_body() {
        ProviderError::Unavailable(format!("the response broke off: {e}"))
    } else {
        ProviderError::Unavailable(format!("could not reach the provider: {e}"))
    }
}

/// The typed error for a non-success status. Context overflows are recognised from the
/// body, since providers report them as a plain 400.
pub(crate) fn from_status(status: StatusCode, headers: &HeaderMap, body: &str) -> ProviderError {
    let message = error_message(body).unwrap_or_else(|| status.to_string());
    match status.as_u16() {
        401 | 403 => ProviderError::Auth,
        429 => ProviderError::RateLimited {
            retry_after: retry_after(headers).or_else(|| retry_delay_in_body(body)),
        },
        408 | 504 => ProviderError::Timeout,
        529 => ProviderError::Unavailable(format!("overloaded: {message}")),
        500..=599 => ProviderError::Unavailable(format!("HTTP {}: {message}", status.as_u16())),
        _ if is_context_overflow(body) => ProviderError::ContextTooLong(message),
        _ => ProviderError::InvalidRequest(format!("HTTP {}: {message}", status.as_u16())),
    }
}

/// The typed error for an error object found inside a stream or a 200 body.
pub(crate) fn from_error_object(kind: &str, message: &str) -> ProviderError {
    let message = clip(message);
    match kind {
        "rate_limit_error" | "rate_limit_exceeded" | "RESOURCE_EXHAUSTED" => {
            ProviderError::RateLimited { retry_after: None }
        }
        "overloaded_error" | "api_error" | "server_error" | "UNAVAILABLE" | "INTERNAL" => {
            ProviderError::Unavailable(format!("{kind}: {message}"))
        }
        "authentication_error" | "permission_error" | "UNAUTHENTICATED" | "PERMISSION_DENIED" => {
            ProviderError::Auth
        }
        "timeout_error" | "DEADLINE_EXCEEDED" => ProviderError::Timeout,
        _ if is_context_overflow(&message) => ProviderError::ContextTooLong(message),
        _ => ProviderError::InvalidRequest(format!("{kind}: {message}")),
    }
}

fn is_context_overflow(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "context_length_exceeded",
        "maximum context length",
        "context length",
        "context window",
        "prompt is too long",
        "too many tokens",
        "exceeds the maximum number of tokens",
        "input token count",
    ]
    .iter()
    .any(|needle| t.contains(needle))
}

/// `error.message` as OpenAI, Anthropic and Gemini all nest it, clipped.
fn error_message(body: &str) -> Option<String> {
    let m = error_envelope(body)?.error.message?;
    Some(clip(&m))
}

/// The `{"error": {...}}` a provider puts a failure in, when the body is JSON.
fn error_envelope(body: &str) -> Option<ErrorEnvelope> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    Some(lenient::read(&v))
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct ErrorEnvelope {
    #[serde(deserialize_with = "lenient::value")]
    error: ErrorFields,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct ErrorFields {
    #[serde(deserialize_with = "lenient::value")]
    message: Option<String>,
    /// Gemini's `google.rpc` details, `RetryInfo` among them.
    #[serde(deserialize_with = "lenient::list")]
    details: Vec<ErrorDetail>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ErrorDetail {
    #[serde(deserialize_with = "lenient::value")]
    retry_delay: Option<String>,
}

fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(MAX_MESSAGE_CHARS).collect();
    if s.chars().count() > MAX_MESSAGE_CHARS {
        out.push('…');
    }
    out
}

/// `retry-after-ms`, else `retry-after` in seconds (HTTP dates are rare here and ignored).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    let secs = value("retry-after-ms")
        .map(|ms| ms / 1000.0)
        .or_else(|| value("retry-after"))?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

/// Gemini's `RetryInfo.retryDelay` ("17s") in a 429 body.
fn retry_delay_in_body(body: &str) -> Option<Duration> {
    let details = error_envelope(body)?.error.details;
    details.iter().find_map(|d| {
        let s = d.retry_delay.as_deref()?.strip_suffix('s')?;
        let secs = s.parse::<f64>().ok()?;
        (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn statuses_map_to_the_typed_errors_the_orchestrator_retries_or_not() {
        let none = HeaderMap::new();
        let s = |c: u16| StatusCode::from_u16(c).unwrap();
        assert_eq!(from_status(s(401), &none, ""), ProviderError::Auth);
        assert_eq!(from_status(s(403), &none, ""), ProviderError::Auth);
        assert_eq!(from_status(s(504), &none, ""), ProviderError::Timeout);
        assert!(matches!(
            from_status(s(529), &none, ""),
            ProviderError::Unavailable(_)
        ));
        assert!(matches!(
            from_status(s(503), &none, ""),
            ProviderError::Unavailable(_)
        ));
        assert!(matches!(
            from_status(s(400), &none, "{}"),
            ProviderError::InvalidRequest(_)
        ));
        let overflow = r#"{"error":{"message":"This model's maximum context length is 8192 tokens","code":"context_length_exceeded"}}"#;
        assert!(matches!(
            from_status(s(400), &none, overflow),
            ProviderError::ContextTooLong(_)
        ));
    }

    #[test]
    fn retry_after_is_read_from_the_header_in_seconds_or_ms_or_from_geminis_body() {
        let s429 = StatusCode::TOO_MANY_REQUESTS;
        let e = from_status(s429, &headers(&[("retry-after", "7")]), "");
        assert_eq!(
            e,
            ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        let e = from_status(s429, &headers(&[("retry-after-ms", "250")]), "");
        assert_eq!(
            e,
            ProviderError::RateLimited {
                retry_after: Some(Duration::from_millis(250))
            }
        );
        let body = r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"quota","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"17s"}]}}"#;
        let e = from_status(s429, &HeaderMap::new(), body);
        assert_eq!(
            e,
            ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(17))
            }
        );
    }

    #[test]
    fn a_long_provider_message_is_clipped() {
        let body = format!(r#"{{"error":{{"message":"{}"}}}}"#, "x".repeat(5000));
        let ProviderError::InvalidRequest(m) =
            from_status(StatusCode::BAD_REQUEST, &HeaderMap::new(), &body)
        else {
            panic!("expected InvalidRequest");
        };
        assert!(m.chars().count() < MAX_MESSAGE_CHARS + 20, "{m}");
    }
}
