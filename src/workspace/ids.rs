use std::fmt;

use crate::error::Error;

/// A workspace id: 1-64 characters of `[A-Za-z0-9_.-]`, checked once at the edge.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct WorkspaceId(String);

impl WorkspaceId {
    /// Parses an id, refusing anything that could not be a workspace name.
    pub fn parse(s: &str) -> Result<Self, Error> {
        if valid_name(s, 64) {
            Ok(WorkspaceId(s.to_owned()))
        } else {
            Err(Error::bad_request(
                "invalid_request",
                "a workspace id is 1-64 characters of letters, digits, '_', '.' or '-'",
            ))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An end user's id as the caller names it (never stored raw in the audit log).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    /// Parses a user id: 1-128 printable characters without control codes.
    pub fn parse(s: &str) -> Result<Self, Error> {
        if !s.is_empty() && s.len() <= 128 && !s.chars().any(char::is_control) {
            Ok(UserId(s.to_owned()))
        } else {
            Err(Error::bad_request(
                "invalid_request",
                "a user id is 1-128 characters without control codes",
            ))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// True when `s` is a non-empty name of at most `max` characters of `[A-Za-z0-9_.-]`.
pub(crate) fn valid_name(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}
