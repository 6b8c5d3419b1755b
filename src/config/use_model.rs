//! `hearth models use` and `POST /admin/models/use`: one edit of a policy's text that makes an
//! installed on-device model the primary of a route, keeping the text's comments and layout.

use toml_edit::{value, Array, DocumentMut, Item, Table};

/// Why the policy's text could not be edited.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UseModelError {
    /// The text is not TOML.
    #[error("the policy: {0}")]
    NotToml(String),
    /// It has no route for the task.
    #[error("the policy has no route `{0}`")]
    NoRoute(String),
    /// Its `models` key holds something other than a table.
    #[error("`models` in the policy is not a table")]
    ModelsNotATable,
}

/// `text` with `local/<id>` as the primary of `task`'s route: a `[models.*]` entry for it
/// is added when the policy has none, and every tier that allowed the route's old primary
/// allows the new one too, so the change reaches the workspaces that used the route. The
/// caller validates the result (`Config::parse`) before it is saved or applied.
pub fn use_model(text: &str, id: &str, task: &str) -> Result<String, UseModelError> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| UseModelError::NotToml(e.to_string()))?;
    let old_primary = doc
        .get("routes")
        .and_then(|r| r.get(task))
        .and_then(|r| r.get("primary"))
        .and_then(Item::as_str)
        .map(str::to_owned)
        .ok_or_else(|| UseModelError::NoRoute(task.to_owned()))?;
    let alias = alias_for(&mut doc, id)?;
    doc["routes"][task]["primary"] = value(alias.as_str());
    if let Some(tiers) = doc.get_mut("tiers").and_then(Item::as_table_like_mut) {
        for (_, tier) in tiers.iter_mut() {
            let Some(allowed) = tier.get_mut("allowed_models").and_then(Item::as_array_mut) else {
                continue;
            };
            let has = |a: &Array, m: &str| a.iter().any(|v| v.as_str() == Some(m));
            if has(allowed, &old_primary) && !has(allowed, &alias) {
                allowed.push(alias.as_str());
            }
        }
    }
    Ok(doc.to_string())
}

/// The alias of the policy's entry for `local/<id>`, added when there is none.
fn alias_for(doc: &mut DocumentMut, id: &str) -> Result<String, UseModelError> {
    let models = doc
        .entry("models")
        .or_insert_with(|| Item::Table(Table::new()))
        .as_table_like_mut()
        .ok_or(UseModelError::ModelsNotATable)?;
    let existing = models.iter().find(|(_, m)| {
        m.get("provider").and_then(Item::as_str) == Some("local")
            && m.get("model_id").and_then(Item::as_str) == Some(id)
    });
    if let Some((alias, _)) = existing {
        return Ok(alias.to_owned());
    }
    let alias = if models.contains_key(id) {
        format!("local-{id}")
    } else {
        id.to_owned()
    };
    let mut entry = Table::new();
    entry["provider"] = value("local");
    entry["model_id"] = value(id);
    entry["max_output_tokens"] = value(i64::from(super::DEFAULT_MAX_OUTPUT_TOKENS));
    entry["input_usd_per_1k"] = value(0.0);
    entry["output_usd_per_1k"] = value(0.0);
    models.insert(&alias, Item::Table(entry));
    Ok(alias)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_gets_the_model_its_entry_and_the_tiers_that_had_the_old_primary() {
        let edited = use_model(super::super::DEFAULT_POLICY_TOML, "gemma-3-270m", "chat").unwrap();
        let config = crate::config::Config::parse(&edited, "edited").unwrap();
        let p = &config.policy;
        assert_eq!(p.routes["chat"].primary, "gemma-3-270m");
        assert_eq!(p.models["gemma-3-270m"].address, "local/gemma-3-270m");
        assert_eq!(p.routes["extract"].primary, "smollm2", "other routes stay");
        let doc = edited.parse::<DocumentMut>().unwrap();
        let free: Vec<&str> = doc["tiers"]["free"]["allowed_models"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(free, ["smollm2", "gemma-3-270m"]);
        assert!(
            edited.contains("# Hearth's built-in policy"),
            "comments are kept"
        );
    }

    #[test]
    fn a_model_the_policy_names_already_keeps_its_entry() {
        let once = use_model(
            super::super::DEFAULT_POLICY_TOML,
            "smollm2-135m-instruct",
            "code",
        );
        let once = once.unwrap();
        assert_eq!(
            once.matches("model_id = \"smollm2-135m-instruct\"").count(),
            1
        );
        let config = crate::config::Config::parse(&once, "edited").unwrap();
        assert_eq!(config.policy.routes["code"].primary, "smollm2");
    }

    #[test]
    fn an_unknown_route_is_refused_by_name() {
        let e = use_model(super::super::DEFAULT_POLICY_TOML, "gemma-3-270m", "poetry");
        assert_eq!(e.unwrap_err(), UseModelError::NoRoute("poetry".into()));
    }
}
