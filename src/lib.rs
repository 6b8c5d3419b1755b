//! Hearth: a local-first LLM orchestrator. Every LLM call goes through one orchestrator
//! (`Hearth`) that applies the workspace's policy — prompt version, route, cache, quota,
//! data policy, resilience — calls a provider and leaves an audit event and metrics.

pub mod admin;
pub mod audit;
pub mod cache;
pub mod config;
pub mod error;
#[cfg(test)]
mod fuzzing;
pub mod machine;
pub mod models;
pub mod orchestrator;
pub mod pii;
pub mod prompts;
pub mod providers;
pub mod quota;
pub mod resilience;
pub mod routing;
pub mod secrets;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod workspace;

pub use config::Config;
pub use error::{Error, Result};
pub use orchestrator::{ChatOutcome, ChatRequest, Hearth};
