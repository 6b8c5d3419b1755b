//! What an administrator does to an install, with each rule held once: the CLI and the HTTP
//! admin routes both call here, so neither can let through what the other refuses.

mod keys;
mod workspaces;

pub use keys::{create_key, list_keys, revoke_key};
pub use workspaces::{create_workspace, update_workspace};
