//! axum's `Path` and `Query` extractors with the one error shape: a rejected path parameter
//! or query string is a JSON 400 `invalid_request` with the trace id, never axum's plain
//! text, and never echoes what the caller sent.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::trace::TraceId;
use crate::error::Error;

/// Path parameters, deserialized.
pub struct Path<T>(pub T);

/// The query string, deserialized (unknown parameters are refused where `T` says so).
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(_) => Err(invalid(
                parts,
                "a path parameter is not valid UTF-8 text of the expected form",
            )),
        }
    }
}

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(_) => Err(invalid(
                parts,
                "the query string has an unknown, repeated or malformed parameter",
            )),
        }
    }
}

fn invalid(parts: &Parts, message: &'static str) -> ApiError {
    ApiError::new(
        Error::bad_request("invalid_request", message),
        &TraceId::of(parts),
    )
}
