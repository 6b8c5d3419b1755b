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

/// Largest system prompt a template may render, in bytes: a loop over a variable must not
/// turn a request within the body limit into gigabytes.
pub const MAX_RENDERED_BYTES: usize = 1024 * 1024;

/// Template steps one render may take: far above any prompt's needs, far below a loop that
/// would hold a worker for seconds.
const RENDER_FUEL: u64 = 200_000;

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_fuel(Some(RENDER_FUEL));
    env
}

/// A sink that refuses to grow past `MAX_RENDERED_BYTES`, which stops the render there.
#[derive(Default)]
struct Capped(Vec<u8>);

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_RENDERED_BYTES {
            return Err(std::io::Error::other("the rendered prompt is too large"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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
    let failed = |why: String| Error::bad_request("invalid_request", why);
    let tmpl = env
        .template_from_str(&p.template)
        .map_err(|e| failed(format!("the prompt could not be rendered: {}", e.kind())))?;
    let mut out = Capped::default();
    tmpl.render_captured_to(vars, &mut out).map_err(|e| {
        failed(match e.kind() {
            minijinja::ErrorKind::WriteFailure => {
                format!("the rendered prompt is over {MAX_RENDERED_BYTES} bytes")
            }
            minijinja::ErrorKind::OutOfFuel => {
                format!("the prompt template takes more than {RENDER_FUEL} steps")
            }
            kind => format!("the prompt could not be rendered: {kind}"),
        })
    })?;
    String::from_utf8(out.0).map_err(|_| failed("the rendered prompt is not UTF-8".into()))
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
    fn a_render_is_refused_past_its_size_and_accepted_at_it() {
        let p = prompt(
            "{% for i in range(n) %}{{ doc }}{% endfor %}",
            &["doc", "n"],
        );
        let vars = |n: usize| {
            let mut v = serde_json::Map::new();
            v.insert("doc".into(), serde_json::json!("x".repeat(1024)));
            v.insert("n".into(), serde_json::json!(n));
            v
        };
        let at = render_system_prompt(&p, &vars(MAX_RENDERED_BYTES / 1024)).unwrap();
        assert_eq!(at.len(), MAX_RENDERED_BYTES);
        let over = render_system_prompt(&p, &vars(MAX_RENDERED_BYTES / 1024 + 1)).unwrap_err();
        assert_eq!(over.code(), "invalid_request");
        assert!(over.to_string().contains("over 1048576 bytes"), "{over}");
    }

    #[test]
    fn a_template_that_loops_without_end_runs_out_of_fuel() {
        let p = prompt(
            "{% for a in range(n) %}{% for b in range(n) %}{% endfor %}{% endfor %}",
            &["n"],
        );
        let mut vars = serde_json::Map::new();
        vars.insert("n".into(), serde_json::json!(10_000));
        let err = render_system_prompt(&p, &vars).unwrap_err();
        assert!(err.to_string().contains("steps"), "{err}");
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
