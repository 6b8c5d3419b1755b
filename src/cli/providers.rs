//! `hearth providers`: hosted providers added from the command line, their keys in the OS
//! keychain, and a one-call check that a provider answers.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use hearth::config::{
    AddedProvider, HostedConfig, HostedKind, Locality, Prices, ProviderConfig, ProviderDataPolicy,
    DEFAULT_MAX_OUTPUT_TOKENS,
};
use hearth::secrets::{Keychain, Secret};
use hearth::store;

use super::output::{self, Table};
use super::{CliError, InstallArgs};

/// How long `providers test` waits for the provider.
const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `hearth providers ...`
#[derive(Debug, Subcommand)]
pub enum ProvidersCommand {
    /// Adds a hosted provider; its models become addressable as `NAME/MODEL`.
    Add(AddArgs),
    /// Lists every provider, from the config file and added ones, with where its key is.
    List,
    /// Removes an added provider (its keychain entry too).
    Remove {
        /// The provider's name.
        name: String,
    },
    /// Stores the provider's key, read from stdin, in the OS keychain.
    SetKey {
        /// The provider's name.
        name: String,
    },
    /// Makes one cheap call (the model list) and reports its latency.
    Test {
        /// The provider's name.
        name: String,
    },
}

/// `hearth providers add`
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The provider's name, the `NAME` of `NAME/MODEL`.
    name: String,
    /// The wire format it speaks.
    #[arg(long, value_enum)]
    kind: KindArg,
    /// The API's base URL [default: the provider's own; required for openai-compatible].
    #[arg(long)]
    base_url: Option<String>,
    /// The environment variable that holds its key (else the OS keychain, see set-key).
    #[arg(long, value_name = "VAR")]
    api_key_env: Option<String>,
    /// A model id it serves (repeatable).
    #[arg(long = "model", value_name = "MODEL", required = true)]
    models: Vec<String>,
    /// A header sent with every call, `NAME=VALUE` (repeatable).
    #[arg(long = "header", value_name = "NAME=VALUE")]
    headers: Vec<String>,
    /// A model's price in USD per 1M tokens, `MODEL=INPUT,OUTPUT[,CACHED_INPUT]` (repeatable).
    #[arg(long = "price", value_name = "MODEL=IN,OUT[,CACHED]")]
    prices: Vec<String>,
    /// The output cap of its models.
    #[arg(long, default_value_t = DEFAULT_MAX_OUTPUT_TOKENS)]
    max_output_tokens: u32,
    /// Where it runs: a server on this machine may be `on-device`.
    #[arg(long, value_enum, default_value_t = LocalityArg::Hosted)]
    data_policy: LocalityArg,
    /// Where a hosted provider processes data.
    #[arg(long)]
    region: Option<String>,
    /// How many days it keeps prompts and answers.
    #[arg(long)]
    retention_days: Option<u32>,
    /// Text with personal data may reach it unredacted.
    #[arg(long)]
    pii_allowed: bool,
}

/// A provider kind as typed.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// OpenAI's API.
    Openai,
    /// Any server speaking OpenAI Chat Completions.
    OpenaiCompatible,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini.
    Gemini,
}

impl From<KindArg> for HostedKind {
    fn from(k: KindArg) -> HostedKind {
        match k {
            KindArg::Openai => HostedKind::Openai,
            KindArg::OpenaiCompatible => HostedKind::OpenaiCompatible,
            KindArg::Anthropic => HostedKind::Anthropic,
            KindArg::Gemini => HostedKind::Gemini,
        }
    }
}

/// Where a provider runs, as typed.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LocalityArg {
    /// A hosted service: the workspace's data policy and the PII guard apply.
    Hosted,
    /// A server on this machine: treated like the local model.
    OnDevice,
}

/// Runs a `providers` command.
pub async fn run(install: &InstallArgs, cmd: ProvidersCommand) -> Result<(), CliError> {
    match cmd {
        ProvidersCommand::Add(args) => add(install, args),
        ProvidersCommand::List => list(install),
        ProvidersCommand::Remove { name } => remove(install, &name),
        ProvidersCommand::SetKey { name } => set_key(install, &name),
        ProvidersCommand::Test { name } => test(install, &name).await,
    }
}

fn add(install: &InstallArgs, a: AddArgs) -> Result<(), CliError> {
    let headers = a
        .headers
        .iter()
        .map(|h| {
            h.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| CliError::Invalid(format!("--header `{h}` is not NAME=VALUE")))
        })
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    let prices = a
        .prices
        .iter()
        .map(|p| parse_price(p))
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    let added = AddedProvider {
        name: a.name.clone(),
        kind: a.kind.into(),
        config: HostedConfig {
            base_url: a.base_url,
            api_key_env: a.api_key_env,
            models: a.models,
            headers,
            data_policy: ProviderDataPolicy {
                locality: match a.data_policy {
                    LocalityArg::Hosted => Locality::Hosted,
                    LocalityArg::OnDevice => Locality::OnDevice,
                },
                region: a.region,
                retention_days: a.retention_days,
                pii_allowed: a.pii_allowed,
            },
        },
        prices,
        max_output_tokens: a.max_output_tokens,
    };
    added
        .validate()
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    let hearth = install.open()?;
    // The open policy holds the added providers too: a name taken by one of those is the
    // store's `provider_exists` (below), not a clash with the config file.
    let already_added = hearth
        .store()
        .with(|c| store::providers::list(c))?
        .iter()
        .any(|p| p.name == added.name);
    if !already_added && hearth.config().policy.providers.contains_key(&added.name) {
        return Err(CliError::Invalid(format!(
            "the config file already has a provider named `{}`",
            added.name
        )));
    }
    hearth
        .store()
        .with(|c| store::providers::insert(c, &added))?;
    let models: Vec<String> = added
        .config
        .models
        .iter()
        .map(|m| format!("{}/{m}", added.name))
        .collect();
    output::line(&format!(
        "added provider `{}` ({}): {}; a running server picks it up when restarted",
        added.name,
        added.kind.as_str(),
        models.join(", ")
    ))
}

/// `MODEL=IN,OUT[,CACHED]` in USD per 1M tokens.
fn parse_price(s: &str) -> Result<(String, Prices), CliError> {
    let bad = || CliError::Invalid(format!("--price `{s}` is not MODEL=INPUT,OUTPUT[,CACHED]"));
    let (model, nums) = s.split_once('=').ok_or_else(bad)?;
    let nums = nums
        .split(',')
        .map(|n| {
            n.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(bad)?;
    let prices = match nums[..] {
        [i, o] => Prices {
            input_usd_per_1m: i,
            output_usd_per_1m: o,
            cached_input_usd_per_1m: None,
        },
        [i, o, c] => Prices {
            input_usd_per_1m: i,
            output_usd_per_1m: o,
            cached_input_usd_per_1m: Some(c),
        },
        _ => return Err(bad()),
    };
    Ok((model.trim().to_owned(), prices))
}

fn list(install: &InstallArgs) -> Result<(), CliError> {
    let hearth = install.open()?;
    let added: Vec<String> = hearth
        .store()
        .with(|c| store::providers::list(c))?
        .into_iter()
        .map(|p| p.name)
        .collect();
    let policy = &hearth.config().policy;
    let mut table = Table::new(&["name", "kind", "source", "locality", "key", "models"]);
    for (name, cfg) in &policy.providers {
        let kind = cfg
            .hosted()
            .map_or_else(|| kind_name(cfg), |(k, _)| k.as_str());
        let key = match (cfg.hosted(), hearth.providers().key_source(name)) {
            (None, _) => "-".to_owned(),
            (Some(_), Some(src)) => src.as_str().to_owned(),
            (Some(_), None) => "none".to_owned(),
        };
        let models: Vec<&str> = policy
            .models
            .values()
            .filter(|m| &m.provider == name)
            .map(|m| m.address.as_str())
            .collect();
        let locality = match cfg.locality() {
            Locality::OnDevice => "on_device",
            Locality::Hosted => "hosted",
        };
        table.push(vec![
            name.clone(),
            kind.to_owned(),
            if added.contains(name) {
                "added"
            } else {
                "config"
            }
            .to_owned(),
            locality.to_owned(),
            key,
            models.join(", "),
        ]);
    }
    table.print()
}

fn kind_name(cfg: &ProviderConfig) -> &'static str {
    match cfg {
        ProviderConfig::Mock(_) => "mock",
        _ => "local",
    }
}

fn remove(install: &InstallArgs, name: &str) -> Result<(), CliError> {
    let hearth = install.open()?;
    if !hearth.store().with(|c| store::providers::remove(c, name))? {
        return Err(CliError::Invalid(format!(
            "no added provider `{name}` (providers from the config file are removed there)"
        )));
    }
    // A keychain that is not there holds no key to remove.
    let _ = Keychain::new().delete(name);
    output::line(&format!("removed provider `{name}`"))
}

fn set_key(install: &InstallArgs, name: &str) -> Result<(), CliError> {
    let hearth = install.open()?;
    if hearth
        .config()
        .policy
        .providers
        .get(name)
        .and_then(ProviderConfig::hosted)
        .is_none()
    {
        return Err(CliError::Invalid(format!("no hosted provider `{name}`")));
    }
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    let key = Secret::new(&text).ok_or_else(|| {
        CliError::Invalid(
            "no key on stdin (pipe it in: `... | hearth providers set-key NAME`)".into(),
        )
    })?;
    Keychain::new()
        .set(name, &key)
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    output::line(&format!("stored the key of `{name}` in the OS keychain"))
}

async fn test(install: &InstallArgs, name: &str) -> Result<(), CliError> {
    let hearth = install.open()?;
    let provider = hearth
        .providers()
        .get(name)
        .ok_or_else(|| CliError::Invalid(format!("no provider `{name}`")))?;
    let started = Instant::now();
    let models = tokio::time::timeout(TEST_TIMEOUT, provider.list_models())
        .await
        .map_err(|_| {
            CliError::Invalid(format!(
                "`{name}` did not answer within {} s",
                TEST_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| CliError::Invalid(format!("`{name}` failed: {e}")))?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    output::line(&format!(
        "`{name}` answered in {ms:.0} ms; {} models",
        models.len()
    ))?;
    for m in models {
        output::line(&format!("  {m}"))?;
    }
    Ok(())
}
