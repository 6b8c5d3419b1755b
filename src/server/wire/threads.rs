//! The UI's saved work on the wire: threads, their messages, and comparisons.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::store::comparisons::Comparison;
use crate::store::threads::{Thread, ThreadMessage};

/// `POST /threads` and `PATCH /threads/{id}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TitleBody {
    /// Up to 200 characters are kept; a new thread without one is "New chat".
    pub title: Option<String>,
}

/// `GET /threads?q=`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words that a listed thread's title or messages contain.
    pub q: Option<String>,
}

/// `POST /threads/{id}/messages`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// The UI's own data about the message, stored as given.
    #[serde(default)]
    pub meta: Value,
}

/// `POST /comparisons`.
#[derive(Deserialize, ToSchema)]
pub struct NewComparison {
    /// The first 60 characters of the prompt when absent.
    pub title: Option<String>,
    pub prompt: String,
    /// 1 to 4 models, in column order.
    pub models: Vec<String>,
    /// Each column's result as the UI recorded it, stored as given.
    #[serde(default)]
    pub results: Vec<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct ThreadList {
    pub threads: Vec<Thread>,
}

#[derive(Serialize, ToSchema)]
pub struct MessageList {
    pub messages: Vec<ThreadMessage>,
}

#[derive(Serialize, ToSchema)]
pub struct ComparisonList {
    pub comparisons: Vec<Comparison>,
}
