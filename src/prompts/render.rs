use minijinja::{Environment, UndefinedBehavior};

use super::PromptVersion;
use crate::error::{Error, Result};

/// Checks that a template compiles and uses only its declared variables.
pub(super) fn check_template(template: &str, declared: &[String]) -> Result<()> {
    let env = environment();
    let tmpl = env.template_from_str(template).map_err(|e| {
        Error::unprocessable(
            "invalid_template",
            format!("the template does not compile: {e}"),
        )
    })?;
    let used = tmpl.undeclared_variables(false);
    let mut missing: Vec<_> = used
        .iter()
        .filter(|v| !declared.contains(v))
        .cloned()
        .collect();
    missing.sort();
    if !missing.is_empty() {
        return Err(Error::unprocessable(
            "invalid_template",
            format!(
                "the template uses undeclared variables: {}",
                missing.join(", ")
            ),
        ));
    }
    Ok(())
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

/// Renders a version's system prompt. Every declared variable must be given; values are
/// inserted as text and never evaluated as template code.
pub fn render_system_prompt(
    p: &PromptVersion,
    vars: &serde_json::Map<String, serde_json::Value>,
) -> Result<String> {
    if let Some(missing) = p.variables.iter().find(|v| !vars.contains_key(*v)) {
        return Err(Error::bad_request(
            "prompt_variable_missing",
            format!(
                "{} {} needs the variable `{missing}`",
                p.prompt_id, p.version
            ),
        ));
    }
    if let Some(extra) = vars.keys().find(|k| !p.variables.contains(k)) {
        return Err(Error::bad_request(
            "invalid_request",
            format!(
                "{} {} declares no variable `{extra}`",
                p.prompt_id, p.version
            ),
        ));
    }
    let env = environment();
    env.render_str(&p.template, vars).map_err(|e| {
        Error::bad_request(
            "invalid_request",
            format!("the prompt could not be rendered: {}", e.kind()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompts::RolloutStatus;
    use crate::providers::ResponseFormat;

    fn prompt(template: &str, vars: &[&str]) -> PromptVersion {
        PromptVersion {
            scope: String::new(),
            prompt_id: "p".into(),
            version: "v1".into(),
            template: template.into(),
            variables: vars.iter().map(|s| s.to_string()).collect(),
            owner: "t".into(),
            compatible_models: vec![],
            schema_version: None,
            response_format: ResponseFormat::Text,
            eval: serde_json::json!({}),
            changelog: String::new(),
            status: RolloutStatus::Stable,
            canary_share: 0.0,
            created_at_ms: 0,
        }
    }

    #[test]
    fn a_hostile_variable_value_is_text_not_template_code() {
        let p = prompt("Product: {{ product }}", &["product"]);
        let mut vars = serde_json::Map::new();
        vars.insert(
            "product".into(),
            serde_json::json!("{{ 7*7 }} {% for x in range(10) %}x{% endfor %}"),
        );
        let out = render_system_prompt(&p, &vars).unwrap();
        assert_eq!(
            out,
            "Product: {{ 7*7 }} {% for x in range(10) %}x{% endfor %}"
        );
    }

    #[test]
    fn a_missing_variable_is_a_clear_error() {
        let p = prompt("Hi {{ name }}", &["name"]);
        let err = render_system_prompt(&p, &serde_json::Map::new()).unwrap_err();
        assert_eq!(err.code(), "prompt_variable_missing");
    }

    #[test]
    fn templates_using_undeclared_variables_are_refused_at_creation() {
        assert_eq!(
            check_template("{{ a }} {{ b }}", &["a".into()])
                .unwrap_err()
                .code(),
            "invalid_template"
        );
        assert_eq!(
            check_template("{% if %}", &[]).unwrap_err().code(),
            "invalid_template"
        );
        assert!(check_template("{{ a }}", &["a".into()]).is_ok());
    }
}
