//! The orchestrator's one error type. Each variant knows its stable code, whether a client
//! may retry it, and (for rate limits) when; `server::error` alone maps it to HTTP.

use std::time::Duration;

/// Which limit turned a request away; each has its own 429 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// Requests per minute of the whole workspace.
    WorkspaceRate,
    /// Requests per minute of one user.
    UserRate,
    /// Requests in flight for the workspace (the bulkhead).
    Concurrency,
    /// Daily USD budget: spent.
    Budget,
    /// Daily USD or token budget: what is spent plus what calls in flight hold would pass
    /// it; a retry shortly after, once they settle, may pass.
    BudgetReserved,
    /// Daily token budget.
    Tokens,
}

impl LimitKind {
    /// The error code and metric label of this limit.
    pub fn code(self) -> &'static str {
        match self {
            LimitKind::WorkspaceRate => "rate_limited_workspace",
            LimitKind::UserRate => "rate_limited_user",
            LimitKind::Concurrency => "concurrency_limit",
            LimitKind::Budget => "budget_exceeded",
            LimitKind::BudgetReserved => "budget_reserved",
            LimitKind::Tokens => "tokens_per_day_exceeded",
        }
    }
}

/// What became of one candidate model of a request that none answered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CandidateOutcome {
    /// Its address, `provider/model`.
    pub model: String,
    pub outcome: Outcome,
    /// A stable code: the provider error's kind (`timeout`, `rate_limited`, ...) for a
    /// failure; `breaker_open`, `provider_not_usable` or `data_policy` for a skip.
    pub reason: &'static str,
}

impl CandidateOutcome {
    /// Model `model` was called and every attempt failed with `kind`.
    pub fn failed(model: &str, kind: &'static str) -> CandidateOutcome {
        CandidateOutcome {
            model: model.to_owned(),
            outcome: Outcome::Failed,
            reason: kind,
        }
    }

    /// Model `model` was not called, for `reason`.
    pub fn skipped(model: &str, reason: &'static str) -> CandidateOutcome {
        CandidateOutcome {
            model: model.to_owned(),
            outcome: Outcome::Skipped,
            reason,
        }
    }
}

/// Whether a candidate was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Called (with its retries), and every attempt failed.
    Failed,
    /// Not called.
    Skipped,
}

/// Everything that can stop a request, with the code clients see.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or breaks a rule; `code` names the rule.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// A value is well-formed but cannot be accepted (bad template, duplicate version).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// The body is over the size limit.
    #[error("the request body is over the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not JSON by its declared content type.
    #[error("the body must be application/json")]
    UnsupportedMediaType,
    /// The body did not arrive within the body timeout.
    #[error("the request body did not arrive within {0:?}")]
    RequestTimeout(Duration),
    /// Too many headers, or too many bytes of them.
    #[error("the request has more than {count} headers or {bytes} bytes of them")]
    HeadersTooLarge {
        /// Most headers accepted.
        count: usize,
        /// Most header bytes accepted.
        bytes: usize,
    },
    /// The server holds as many connections as it may.
    #[error("the server has {0} connections open, its limit; try again shortly")]
    TooManyConnections(usize),
    /// The endpoint exists but not for this HTTP method.
    #[error("this endpoint does not accept that method")]
    MethodNotAllowed,
    /// No key, or a key Hearth does not know.
    #[error("missing or unknown API key")]
    Unauthorized,
    /// The caller may not do this.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// The named thing does not exist (or is not visible to this workspace).
    #[error("{0}")]
    NotFound(String),
    /// A quota or budget turned the request away.
    #[error("{message}")]
    LimitExceeded {
        kind: LimitKind,
        retry_after: Duration,
        message: String,
    },
    /// Every candidate provider failed or was skipped; `candidates` says what became of each.
    #[error("{message}")]
    ProvidersUnavailable {
        message: String,
        candidates: Vec<CandidateOutcome>,
    },
    /// A provider refused the request for a reason retrying cannot fix; `candidates` says
    /// what became of each candidate before it.
    #[error("{message}")]
    Provider {
        message: String,
        candidates: Vec<CandidateOutcome>,
    },
    /// Every candidate that answered gave an answer without the shape asked for (not JSON,
    /// not valid against the schema); `candidates` says what became of each.
    #[error("{message}")]
    InvalidOutput {
        message: String,
        candidates: Vec<CandidateOutcome>,
    },
    /// The request's overall deadline passed.
    #[error("the request deadline of {0:?} passed")]
    DeadlineExceeded(Duration),
    /// The store failed; details are logged, not shown.
    #[error("internal storage error")]
    Storage(String),
    /// A config or policy that does not hold together, with the place it was found.
    #[error("{0}")]
    Config(String),
    /// A file or directory could not be read, written or copied (what, and why).
    #[error("{0}")]
    Io(String),
    /// The server could not listen on its address.
    #[error("{0}")]
    Bind(String),
    /// Something of Hearth's own failed (a task that stopped, a registry or client that
    /// could not be built): a bug or an exhausted machine, never the caller's doing.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// What became of each candidate model, when no candidate answered (else empty).
    pub fn candidates(&self) -> &[CandidateOutcome] {
        match self {
            Error::ProvidersUnavailable { candidates, .. }
            | Error::Provider { candidates, .. }
            | Error::InvalidOutput { candidates, .. } => candidates,
            _ => &[],
        }
    }

    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest { code, .. }
            | Error::Unprocessable { code, .. }
            | Error::Forbidden { code, .. } => code,
            Error::Unauthorized => "unauthorized",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::UnsupportedMediaType => "unsupported_media_type",
            Error::RequestTimeout(_) => "request_timeout",
            Error::HeadersTooLarge { .. } => "headers_too_large",
            Error::TooManyConnections(_) => "too_many_connections",
            Error::MethodNotAllowed => "method_not_allowed",
            Error::NotFound(_) => "not_found",
            Error::LimitExceeded { kind, .. } => kind.code(),
            Error::ProvidersUnavailable { .. } => "providers_unavailable",
            Error::Provider { .. } => "provider_error",
            Error::InvalidOutput { .. } => "invalid_output",
            Error::DeadlineExceeded(_) => "deadline_exceeded",
            Error::Storage(_) => "internal_error",
            Error::Config(_) => "config_error",
            Error::Io(_) => "io_error",
            Error::Bind(_) => "bind_error",
            Error::Internal(_) => "internal_error",
        }
    }

    /// A 400 with the given code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Error::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// A 422 with the given code.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Error::Unprocessable {
            code,
            message: message.into(),
        }
    }

    /// A 403 with the given code.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Error::Forbidden {
            code,
            message: message.into(),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Storage(e.to_string())
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
