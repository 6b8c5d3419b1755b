//! The hosted fallbacks of the built-in policy: a provider whose API key is in the
//! environment (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `GEMINI_API_KEY`) joins the built-in
//! policy as a fallback for `chat` and `extract`, after the on-device model. Without those
//! variables nothing is added and nothing can leave the machine. Only the environment is
//! read here, never the keychain, so starting Hearth never prompts to unlock one.
//!
//! The additions are written into the policy's TOML text, so the policy editor and
//! `GET /admin/policy` show exactly what is in force.

/// One hosted provider the built-in policy knows how to fall back to.
struct HostedDefault {
    key_env: &'static str,
    alias: &'static str,
    tables: &'static str,
}

const HOSTED_DEFAULTS: &[HostedDefault] = &[
    HostedDefault {
        key_env: "OPENAI_API_KEY",
        alias: "gpt4o_mini",
        tables: r#"
[providers.openai]
kind = "openai"
api_key_env = "OPENAI_API_KEY"
models = ["gpt-4o-mini"]

[models.gpt4o_mini]
provider = "openai"
model_id = "gpt-4o-mini"
max_output_tokens = 4096
input_usd_per_1m = 0.15
output_usd_per_1m = 0.60
cached_input_usd_per_1m = 0.075
"#,
    },
    HostedDefault {
        key_env: "ANTHROPIC_API_KEY",
        alias: "claude_haiku",
        tables: r#"
[providers.anthropic]
kind = "anthropic"
api_key_env = "ANTHROPIC_API_KEY"
models = ["claude-3-5-haiku-latest"]

[models.claude_haiku]
provider = "anthropic"
model_id = "claude-3-5-haiku-latest"
max_output_tokens = 4096
input_usd_per_1m = 0.80
output_usd_per_1m = 4.00
cached_input_usd_per_1m = 0.08
"#,
    },
    HostedDefault {
        key_env: "GEMINI_API_KEY",
        alias: "gemini_flash",
        tables: r#"
[providers.gemini]
kind = "gemini"
api_key_env = "GEMINI_API_KEY"
models = ["gemini-2.0-flash"]

[models.gemini_flash]
provider = "gemini"
model_id = "gemini-2.0-flash"
max_output_tokens = 4096
input_usd_per_1m = 0.10
output_usd_per_1m = 0.40
"#,
    },
];

/// The routes that get the hosted fallbacks; their tables in the built-in policy hold
/// exactly this line after the header, which the fallbacks follow.
const ROUTES_WITH_FALLBACKS: &[&str] = &["chat", "extract"];
const PRIMARY_LINE: &str = "primary = \"smollm2\"\n";

/// The built-in policy's text with a fallback for every provider whose key `env` finds.
pub fn with_hosted_fallbacks(builtin: &str, env: impl Fn(&str) -> Option<String>) -> String {
    let present: Vec<&HostedDefault> = HOSTED_DEFAULTS
        .iter()
        .filter(|h| env(h.key_env).is_some_and(|v| !v.trim().is_empty()))
        .collect();
    if present.is_empty() {
        return builtin.to_owned();
    }
    let aliases: Vec<String> = present.iter().map(|h| format!("\"{}\"", h.alias)).collect();
    let fallbacks = format!("fallbacks = [{}]\n", aliases.join(", "));
    let mut text = builtin.to_owned();
    for route in ROUTES_WITH_FALLBACKS {
        let head = format!("[routes.{route}]\n{PRIMARY_LINE}");
        text = text.replacen(&head, &format!("{head}{fallbacks}"), 1);
    }
    text.push_str("\n# Added because their API keys are in the environment:\n");
    for h in present {
        text.push_str(h.tables);
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::{Config, DEFAULT_POLICY_TOML};

    fn builtin_with(vars: &[&str]) -> Config {
        let text = with_hosted_fallbacks(DEFAULT_POLICY_TOML, |v| {
            vars.contains(&v).then(|| "test-value".to_owned())
        });
        Config::parse(&text, "built-in policy").unwrap()
    }

    #[test]
    fn without_keys_in_the_environment_the_builtin_policy_is_local_only() {
        let c = builtin_with(&[]);
        assert_eq!(c.source, DEFAULT_POLICY_TOML);
        assert!(c.policy.routes.values().all(|r| r.fallbacks.is_empty()));
        assert_eq!(c.policy.providers.keys().collect::<Vec<_>>(), ["local"]);
    }

    #[test]
    fn a_key_in_the_environment_makes_its_provider_a_fallback_for_chat_and_extract() {
        let c = builtin_with(&["OPENAI_API_KEY", "GEMINI_API_KEY"]);
        for task in ["chat", "extract"] {
            let route = &c.policy.routes[task];
            assert_eq!(route.primary, "smollm2");
            assert_eq!(route.fallbacks, ["gpt4o_mini", "gemini_flash"], "{task}");
        }
        assert!(c.policy.routes["classify"].fallbacks.is_empty());
        assert!(c.policy.providers.contains_key("openai"));
        assert!(!c.policy.providers.contains_key("anthropic"));
        assert!(c.source.contains("api_key_env = \"GEMINI_API_KEY\""));
    }

    #[test]
    fn every_known_hosted_default_parses_with_the_builtin_policy() {
        let c = builtin_with(&["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"]);
        assert_eq!(c.policy.routes["chat"].fallbacks.len(), 3);
    }
}
