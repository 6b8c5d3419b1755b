//! The prompt registry: immutable, versioned prompts with owner, schema, eval metadata,
//! changelog and rollout status, resolved per request (explicit version, else stable, or
//! canary for a sticky share of users) and rendered with minijinja, undefined variables
//! refused.

mod record;
mod registry;
mod render;

pub use record::{NewPrompt, PromptVersion, RolloutStatus};
pub use registry::Registry;
pub use render::render_system_prompt;
