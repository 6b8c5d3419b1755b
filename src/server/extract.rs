//! axum's `Path` and `Query` extractors with the one error shape: a rejected path parameter
//! or query string is a JSON 400 `invalid_request` (with the trace id, as every error),
//! never axum's plain text, and never echoes what the caller sent.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

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
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(_) => Err(invalid(
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
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(_) => Err(invalid(
                "the query string has an unknown, repeated or malformed parameter",
            )),
        }
    }
}

fn invalid(message: &'static str) -> Error {
    Error::bad_request("invalid_request", message)
}
