//! `hearth chat`: one request through the same orchestrator the server uses, in-process.

use clap::Args;
use hearth::orchestrator::{CachePreference, PromptRef};
use hearth::providers::{self, Message};
use hearth::workspace::{Principal, Role, UserId, WorkspaceId};
use hearth::ChatRequest;

use super::{output, CliError, InstallArgs};

/// Flags of `hearth chat`.
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The user message.
    message: String,
    /// The workspace the request is billed to.
    #[arg(long, default_value = "default")]
    workspace: String,
    /// The end user (the canary bucket and per-user limits key on it).
    #[arg(long, default_value = "cli")]
    user: String,
    /// The task, i.e. the route to take.
    #[arg(long, default_value = "chat")]
    task: String,
    /// A registered prompt to use as the system message.
    #[arg(long, value_name = "ID[@VERSION]", value_parser = parse_prompt_ref)]
    prompt: Option<PromptRef>,
    /// A prompt variable; repeat for more.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,
    /// A model instead of the task's route.
    #[arg(long, value_name = "PROVIDER/MODEL")]
    model: Option<String>,
    /// Prints the whole `/chat` response object instead of the answer.
    #[arg(long)]
    json: bool,
    /// Seeds the demo's tenants and prompts first.
    #[arg(long)]
    demo: bool,
}

fn parse_prompt_ref(s: &str) -> Result<PromptRef, String> {
    let (id, version) = match s.split_once('@') {
        Some((id, v)) => (id, Some(v.to_owned())),
        None => (s, None),
    };
    if id.is_empty() || version.as_deref() == Some("") {
        return Err(format!("`{s}` is not ID or ID@VERSION"));
    }
    Ok(PromptRef {
        id: id.to_owned(),
        version,
    })
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("`{s}` is not NAME=VALUE")),
    }
}

/// Sends the message and prints the answer (or the whole outcome with `--json`).
pub async fn run(install: &InstallArgs, args: ChatArgs) -> Result<(), CliError> {
    let hearth = install.open_with(args.demo)?;
    if args.demo {
        hearth.seed_demo()?;
    }
    // Loading a local model is not part of the request's time.
    hearth.warm_providers().await;
    let json = args.json;
    let outcome = hearth
        .chat(request(args)?, uuid::Uuid::new_v4().to_string())
        .await?;
    // In SQLite before the process exits, for `hearth audit` and `hearth usage` to read.
    hearth.settle_writes().await?;
    if json {
        output::json_line(&outcome)
    } else {
        output::line(&outcome.answer)
    }
}

/// The request `/chat` would build: deterministic, cache on its default, route by task.
fn request(args: ChatArgs) -> Result<ChatRequest, CliError> {
    let principal = Principal {
        workspace: WorkspaceId::parse(&args.workspace)?,
        user: UserId::parse(&args.user)?,
        role: Role::User,
    };
    let variables = args
        .vars
        .into_iter()
        .map(|(name, value)| (name, serde_json::Value::String(value)))
        .collect();
    Ok(ChatRequest {
        principal,
        endpoint: "cli",
        task: args.task,
        model: args.model,
        prompt: args.prompt,
        variables,
        messages: vec![Message::new(providers::Role::User, args.message)],
        max_output_tokens: None,
        temperature: 0.0,
        top_p: None,
        top_k: None,
        min_p: None,
        stop: Vec::new(),
        seed: None,
        response_format: None,
        tools: Default::default(),
        cache: CachePreference::Auto,
        received_at: std::time::Instant::now(),
    })
}
