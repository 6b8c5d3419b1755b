//! The one error body every endpoint answers with.

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::CandidateOutcome;

/// `{"error": {...}}`, OpenAI's shape with Hearth's stable `code` and the trace id.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody<'a> {
    pub error: ErrorObject<'a>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorObject<'a> {
    /// A stable code (`budget_exceeded`, `invalid_request`...); docs/API.md lists them.
    pub code: &'static str,
    pub message: String,
    /// OpenAI's error type for the status (`invalid_request_error`, `rate_limit_error`...).
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub trace_id: &'a str,
    /// When no candidate model answered: each one in the order tried, and what became of it.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub candidates: &'a [CandidateOutcome],
}
