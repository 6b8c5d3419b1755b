use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::render::check_template;
use super::{NewPrompt, PromptVersion, RolloutStatus};
use crate::error::{Error, Result};
use crate::store::{self, now_ms, Store};
use crate::workspace::{valid_name, UserId, WorkspaceId};

/// The prompt registry over the store.
pub struct Registry {
    store: Arc<Store>,
}

const GLOBAL: &str = "";

impl Registry {
    /// A registry on the install's store.
    pub fn new(store: Arc<Store>) -> Self {
        Registry { store }
    }

    /// Creates a new immutable version after checking its template.
    pub fn create(&self, new: NewPrompt) -> Result<PromptVersion> {
        if !valid_name(&new.prompt_id, 64) || !valid_name(&new.version, 32) {
            return Err(Error::unprocessable(
                "invalid_value",
                "prompt_id and version are 1-64 (version 1-32) characters of letters, digits, '_', '.' or '-'",
            ));
        }
        check_template(&new.template, &new.variables)?;
        let scope = match &new.workspace {
            Some(w) => {
                let ws = WorkspaceId::parse(w)?;
                if self
                    .store
                    .with(|c| store::workspaces::get(c, &ws))?
                    .is_none()
                {
                    return Err(Error::NotFound(format!("no workspace `{ws}`")));
                }
                ws.as_str().to_owned()
            }
            None => GLOBAL.to_owned(),
        };
        let eval = new.eval.unwrap_or_else(|| serde_json::json!({}));
        if !eval.is_object() {
            return Err(Error::unprocessable(
                "invalid_value",
                "eval must be a JSON object of scores",
            ));
        }
        let status = new.status.unwrap_or(RolloutStatus::Draft);
        let p = PromptVersion {
            scope,
            prompt_id: new.prompt_id,
            version: new.version,
            template: new.template,
            variables: new.variables,
            owner: new.owner,
            compatible_models: new.compatible_models,
            schema_version: new.schema_version,
            response_format: new.response_format,
            eval,
            changelog: new.changelog,
            status: RolloutStatus::Draft,
            canary_share: 0.0,
            created_at_ms: now_ms(),
        };
        self.store.with(|c| {
            let tx = c.transaction()?;
            store::prompts::insert(&tx, &p)?;
            tx.commit()?;
            Ok(())
        })?;
        if status != RolloutStatus::Draft {
            // A status given at creation is the creator's explicit choice.
            self.promote(&p.scope, &p.prompt_id, &p.version, status, 0.1, true)?;
        }
        self.find(&p.scope, &p.prompt_id, &p.version)
    }

    /// Every version visible to a workspace (its own and install-wide), or all install-wide
    /// ones when `workspace` is None.
    pub fn list(&self, workspace: Option<&WorkspaceId>) -> Result<Vec<PromptVersion>> {
        let scopes: Vec<&str> = match workspace {
            Some(w) => vec![w.as_str(), GLOBAL],
            None => vec![GLOBAL],
        };
        self.store.with(|c| store::prompts::list(c, &scopes))
    }

    /// The scope a prompt id resolves in for this workspace: its own first, then install-wide.
    fn versions_for(&self, ws: &WorkspaceId, prompt_id: &str) -> Result<Vec<PromptVersion>> {
        self.store.with(|c| {
            let own = store::prompts::versions(c, ws.as_str(), prompt_id)?;
            if !own.is_empty() {
                return Ok(own);
            }
            store::prompts::versions(c, GLOBAL, prompt_id)
        })
    }

    /// The version a request gets: the one it names, else the canary for a sticky share of
    /// users, else the stable one.
    pub fn resolve(
        &self,
        ws: &WorkspaceId,
        prompt_id: &str,
        version: Option<&str>,
        user: &UserId,
    ) -> Result<PromptVersion> {
        let versions = self.versions_for(ws, prompt_id)?;
        if versions.is_empty() {
            return Err(Error::bad_request(
                "unknown_prompt",
                format!("no prompt `{prompt_id}`"),
            ));
        }
        if let Some(v) = version {
            return versions
                .into_iter()
                .find(|p| p.version == v)
                .ok_or_else(|| {
                    Error::bad_request(
                        "unknown_prompt_version",
                        format!("prompt `{prompt_id}` has no version `{v}`"),
                    )
                });
        }
        let canary = versions.iter().find(|p| p.status == RolloutStatus::Canary);
        if let Some(c) = canary {
            if user_bucket(prompt_id, user) < c.canary_share {
                return Ok(c.clone());
            }
        }
        versions
            .into_iter()
            .find(|p| p.status == RolloutStatus::Stable)
            .ok_or_else(|| {
                Error::bad_request(
                    "unknown_prompt_version",
                    format!("prompt `{prompt_id}` has no stable version; name one or promote one"),
                )
            })
    }

    /// One version in a scope.
    pub fn find(&self, scope: &str, prompt_id: &str, version: &str) -> Result<PromptVersion> {
        self.store
            .with(|c| store::prompts::versions(c, scope, prompt_id))?
            .into_iter()
            .find(|p| p.version == version)
            .ok_or_else(|| {
                Error::NotFound(format!("prompt `{prompt_id}` has no version `{version}`"))
            })
    }

    /// Moves a version to `status`. A new stable version retires the old stable one; a new
    /// canary replaces the old canary (which goes back to draft). A stable or canary version
    /// whose variables differ from the stable one's is refused unless `force`: callers send
    /// the stable version's variables, and rendering takes exactly the declared ones, so
    /// every request routed to it would fail.
    pub fn promote(
        &self,
        scope: &str,
        prompt_id: &str,
        version: &str,
        status: RolloutStatus,
        canary_share: f64,
        force: bool,
    ) -> Result<PromptVersion> {
        if !force && matches!(status, RolloutStatus::Stable | RolloutStatus::Canary) {
            self.check_callers(scope, prompt_id, version)?;
        }
        let action = match status {
            RolloutStatus::Stable => "promote_stable",
            RolloutStatus::Canary => "promote_canary",
            RolloutStatus::Deprecated => "deprecate",
            RolloutStatus::Draft => "demote_draft",
        };
        self.set_rollout(scope, prompt_id, version, status, canary_share, action)
    }

    fn set_rollout(
        &self,
        scope: &str,
        prompt_id: &str,
        version: &str,
        status: RolloutStatus,
        canary_share: f64,
        action: &str,
    ) -> Result<PromptVersion> {
        if !(0.0..=1.0).contains(&canary_share) {
            return Err(Error::unprocessable(
                "invalid_value",
                "canary_share must be between 0 and 1",
            ));
        }
        self.find(scope, prompt_id, version)?;
        self.store.with(|c| {
            let tx = c.transaction()?;
            let all = store::prompts::versions(&tx, scope, prompt_id)?;
            for other in all
                .iter()
                .filter(|p| p.version != version && p.status == status)
            {
                let (to, share) = match status {
                    RolloutStatus::Stable => (RolloutStatus::Deprecated, 0.0),
                    RolloutStatus::Canary => (RolloutStatus::Draft, 0.0),
                    s => (s, other.canary_share),
                };
                store::prompts::set_status(
                    &tx,
                    scope,
                    prompt_id,
                    &other.version,
                    to,
                    share,
                    "superseded",
                )?;
            }
            let share = if status == RolloutStatus::Canary {
                canary_share
            } else {
                0.0
            };
            store::prompts::set_status(&tx, scope, prompt_id, version, status, share, action)?;
            tx.commit()?;
            Ok(())
        })?;
        self.find(scope, prompt_id, version)
    }

    /// Refuses a version whose declared variables differ from those of the stable version
    /// (what callers send today), naming what is missing and what is no longer taken.
    fn check_callers(&self, scope: &str, prompt_id: &str, version: &str) -> Result<()> {
        let all = self
            .store
            .with(|c| store::prompts::versions(c, scope, prompt_id))?;
        let Some(target) = all.iter().find(|p| p.version == version) else {
            return Ok(());
        };
        let Some(serving) = all
            .iter()
            .find(|p| p.status == RolloutStatus::Stable && p.version != version)
        else {
            return Ok(());
        };
        let missing = names_not_in(&target.variables, &serving.variables);
        let unused = names_not_in(&serving.variables, &target.variables);
        if missing.is_empty() && unused.is_empty() {
            return Ok(());
        }
        let mut why = Vec::new();
        if !missing.is_empty() {
            why.push(format!(
                "needs {missing}, which they do not send (prompt_variable_missing)"
            ));
        }
        if !unused.is_empty() {
            why.push(format!(
                "does not take {unused}, which they send (invalid_request)"
            ));
        }
        Err(Error::unprocessable(
            "prompt_variables_differ",
            format!(
                "callers of {prompt_id} send the variables of {} (stable); {version} {}: their requests would fail. Promote with force to go ahead",
                serving.version,
                why.join(" and ")
            ),
        ))
    }

    /// Makes an older version stable again: the one named, else the most recent stable
    /// version other than the current one (so a second rollback undoes the first).
    pub fn rollback(
        &self,
        scope: &str,
        prompt_id: &str,
        version: Option<&str>,
    ) -> Result<PromptVersion> {
        let target = match version {
            Some(v) => v.to_owned(),
            None => {
                let current = self
                    .store
                    .with(|c| store::prompts::versions(c, scope, prompt_id))?
                    .into_iter()
                    .find(|p| p.status == RolloutStatus::Stable)
                    .map(|p| p.version);
                let history = self
                    .store
                    .with(|c| store::prompts::stable_history(c, scope, prompt_id))?;
                history
                    .into_iter()
                    .find(|v| Some(v) != current.as_ref())
                    .ok_or_else(|| {
                        Error::unprocessable(
                            "invalid_value",
                            format!("`{prompt_id}` has no earlier stable version"),
                        )
                    })?
            }
        };
        self.set_rollout(
            scope,
            prompt_id,
            &target,
            RolloutStatus::Stable,
            0.0,
            "rollback",
        )
    }
}

/// The names of `a` that `b` lacks, quoted and joined (empty when none).
fn names_not_in(a: &[String], b: &[String]) -> String {
    a.iter()
        .filter(|n| !b.contains(n))
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A user's sticky position in [0, 1) for a prompt's canary.
fn user_bucket(prompt_id: &str, user: &UserId) -> f64 {
    let digest = Sha256::new()
        .chain_update(prompt_id.as_bytes())
        .chain_update([0])
        .chain_update(user.as_str().as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(version: &str, status: Option<RolloutStatus>) -> NewPrompt {
        NewPrompt {
            prompt_id: "triage".into(),
            version: version.into(),
            template: format!("triage {version}"),
            variables: vec![],
            owner: "support".into(),
            compatible_models: vec![],
            schema_version: Some("t.v1".into()),
            response_format: Default::default(),
            eval: None,
            changelog: "c".into(),
            status,
            workspace: None,
        }
    }

    fn registry() -> (tempfile::TempDir, Registry) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        (dir, Registry::new(store))
    }

    #[test]
    fn a_canary_serves_about_its_share_of_users_and_each_user_sticks_to_one_version() {
        let (_d, r) = registry();
        r.create(new("v1", Some(RolloutStatus::Stable))).unwrap();
        r.create(new("v2", None)).unwrap();
        r.promote("", "triage", "v2", RolloutStatus::Canary, 0.25, false)
            .unwrap();
        let ws = WorkspaceId::parse("w").unwrap();
        let mut canary = 0;
        for i in 0..1000 {
            let u = UserId::parse(&format!("user{i}")).unwrap();
            let v = r.resolve(&ws, "triage", None, &u).unwrap().version;
            assert_eq!(v, r.resolve(&ws, "triage", None, &u).unwrap().version);
            canary += usize::from(v == "v2");
        }
        assert!(
            (180..=320).contains(&canary),
            "{canary} of 1000 on the canary"
        );
    }

    #[test]
    fn a_version_whose_variables_callers_do_not_send_is_refused_unless_forced() {
        let (_d, r) = registry();
        let with_vars = |version: &str, vars: &[&str]| NewPrompt {
            variables: vars.iter().map(|v| v.to_string()).collect(),
            template: vars.iter().map(|v| format!("{{{{ {v} }}}}")).collect(),
            ..new(version, None)
        };
        r.create(NewPrompt {
            status: Some(RolloutStatus::Stable),
            ..with_vars("v1", &["customer"])
        })
        .unwrap();
        r.create(with_vars("v2", &["customer", "tier"])).unwrap();
        r.create(with_vars("v3", &["customer"])).unwrap();
        for status in [RolloutStatus::Canary, RolloutStatus::Stable] {
            let e = r
                .promote("", "triage", "v2", status, 0.1, false)
                .unwrap_err();
            assert_eq!(e.code(), "prompt_variables_differ");
            assert!(e.to_string().contains("`tier`"), "{e}");
        }
        let ws = WorkspaceId::parse("w").unwrap();
        let u = UserId::parse("u").unwrap();
        assert_eq!(
            r.resolve(&ws, "triage", None, &u).unwrap().version,
            "v1",
            "nothing changed"
        );
        r.promote("", "triage", "v3", RolloutStatus::Canary, 0.5, false)
            .expect("the same variables need no override");
        let forced = r.promote("", "triage", "v2", RolloutStatus::Canary, 0.1, true);
        assert_eq!(
            forced.unwrap().status,
            RolloutStatus::Canary,
            "force overrides"
        );
    }

    #[test]
    fn rollback_restores_the_previous_stable_version_and_versions_stay_immutable() {
        let (_d, r) = registry();
        r.create(new("v1", Some(RolloutStatus::Stable))).unwrap();
        r.create(new("v2", Some(RolloutStatus::Stable))).unwrap();
        let ws = WorkspaceId::parse("w").unwrap();
        let u = UserId::parse("u").unwrap();
        assert_eq!(r.resolve(&ws, "triage", None, &u).unwrap().version, "v2");
        assert_eq!(r.rollback("", "triage", None).unwrap().version, "v1");
        assert_eq!(r.resolve(&ws, "triage", None, &u).unwrap().version, "v1");
        assert_eq!(
            r.rollback("", "triage", None).unwrap().version,
            "v2",
            "a second rollback undoes the first"
        );
        assert_eq!(
            r.create(new("v1", None)).unwrap_err().code(),
            "prompt_exists"
        );
        let edit = r.store.with(|c| {
            c.execute("UPDATE prompts SET template = 'x' WHERE version = 'v1'", [])?;
            Ok(())
        });
        assert!(edit.is_err(), "the database refuses to edit a version");
    }
}
