//! `hearth keys`: API keys, created for a workspace and shown once.

use std::io::Write;

use clap::{Subcommand, ValueEnum};
use hearth::admin;
use hearth::workspace::Role;
use hearth::Hearth;

use super::output::{self, Table};
use super::CliError;

/// `hearth keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Creates a key and prints it alone on stdout (it is stored only as a hash).
    Create {
        /// The workspace the key bills to.
        #[arg(long)]
        workspace: String,
        /// `service` may name the end user of each request; `admin` also opens `/admin/*`.
        #[arg(long, value_enum, default_value_t = RoleArg::User)]
        role: RoleArg,
        /// The user the key belongs to.
        #[arg(long, default_value = "cli")]
        user: String,
    },
    /// Lists keys (never the keys themselves).
    List {
        /// Only this workspace's keys.
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Revokes a key by its id.
    Revoke {
        /// The key's id (`key_...`), as `keys list` shows it.
        key_id: String,
    },
}

/// A key's role as typed on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Calls models and reads its workspace's audit log, as its own user.
    User,
    /// An app's back end: may name the end user each request acts for.
    Service,
    /// Also manages the install.
    Admin,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::User => Role::User,
            RoleArg::Service => Role::Service,
            RoleArg::Admin => Role::Admin,
        }
    }
}

/// Runs a `keys` command.
pub fn run(hearth: &Hearth, cmd: KeysCommand) -> Result<(), CliError> {
    match cmd {
        KeysCommand::Create {
            workspace,
            role,
            user,
        } => create(hearth, &workspace, role.into(), &user),
        KeysCommand::List { workspace } => list(hearth, workspace.as_deref()),
        KeysCommand::Revoke { key_id } => {
            admin::revoke_key(hearth, &key_id)?;
            output::line(&format!("revoked {key_id}"))
        }
    }
}

fn create(hearth: &Hearth, workspace: &str, role: Role, user: &str) -> Result<(), CliError> {
    let (new, _) = admin::create_key(hearth, workspace, user, role)?;
    // Scripts capture stdout as the key, so the id a person needs to revoke it goes to stderr.
    let _ = writeln!(
        std::io::stderr(),
        "created {} for user `{user}` in workspace `{workspace}` (role {})",
        new.id,
        role.as_str()
    );
    output::line(&new.key)
}

fn list(hearth: &Hearth, workspace: Option<&str>) -> Result<(), CliError> {
    let keys = admin::list_keys(hearth, workspace)?;
    let mut table = Table::new(&["id", "workspace", "user", "role", "created", "revoked"]);
    for k in keys {
        table.push(vec![
            k.id,
            k.workspace,
            k.user,
            k.role.as_str().to_owned(),
            output::time(k.created_at_ms),
            k.revoked_at_ms.map(output::time).unwrap_or_default(),
        ]);
    }
    table.print()
}
