//! The PII guard: before a hosted provider is called, the rendered prompt is scanned and the
//! workspace's data policy decides, per candidate, whether it sees the text as is, redacted,
//! or not at all. Only the kinds found are recorded, never the values.
//!
//! The rules, for a request in which PII was found:
//! - an on-device provider always sees the text as is;
//! - `pii_to_local_only`: a hosted provider never sees it (the candidate is skipped);
//! - `redact`: a hosted provider that does not declare `pii_allowed` sees placeholders;
//! - `any`: a hosted provider sees it only if it declares `pii_allowed`, else it is skipped;
//! - `local_only` never reaches here with a hosted candidate (the router removed them).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::config::{Locality, ModelSpec, Policy};
use crate::error::{Error, Result};
use crate::pii::{PiiDetector, PiiKind};
use crate::providers::{Message, ToolCall};
use crate::workspace::{DataPolicy, Workspace};

/// What a scan of one request found.
#[derive(Debug, Clone, Default)]
pub(super) struct PiiScan {
    /// Kinds found, sorted; empty when the text is clean or was not scanned.
    pub kinds: Vec<PiiKind>,
    /// The messages with placeholders, made only when the policy is `redact`.
    pub redacted: Option<Vec<Message>>,
}

/// How one candidate may see the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum View {
    /// As written.
    Original,
    /// With PII replaced by placeholders.
    Redacted,
    /// Not at all.
    Forbidden,
}

impl PiiScan {
    /// The kinds as one audit phrase: `pii: email, phone`.
    pub fn summary(&self) -> String {
        let kinds: Vec<&str> = self.kinds.iter().map(|k| k.as_str()).collect();
        format!("pii: {}", kinds.join(", "))
    }

    /// How `m`'s provider may see this request under the workspace's policy.
    pub fn view(&self, policy: &Policy, data: DataPolicy, m: &ModelSpec) -> View {
        let Some(provider) = policy.providers.get(&m.provider) else {
            return View::Forbidden;
        };
        if self.kinds.is_empty() || provider.locality() == Locality::OnDevice {
            return View::Original;
        }
        match data {
            DataPolicy::LocalOnly | DataPolicy::PiiToLocalOnly => View::Forbidden,
            _ if provider.pii_allowed() => View::Original,
            DataPolicy::Redact if self.redacted.is_some() => View::Redacted,
            DataPolicy::Redact | DataPolicy::Any => View::Forbidden,
        }
    }
}

/// A workspace's patterns and the detector compiled from them.
type Compiled = (Vec<String>, Arc<PiiDetector>);

/// Compiled detectors of workspaces with their own patterns, rebuilt when the list changes.
#[derive(Default)]
pub(super) struct Detectors {
    by_workspace: Mutex<HashMap<String, Compiled>>,
}

impl Detectors {
    fn for_workspace(&self, ws: &Workspace) -> Result<Arc<PiiDetector>> {
        if ws.pii_patterns.is_empty() {
            return Ok(Arc::new(PiiDetector::builtin()));
        }
        let mut map = self.by_workspace.lock();
        if let Some((patterns, d)) = map.get(ws.id.as_str()) {
            if *patterns == ws.pii_patterns {
                return Ok(d.clone());
            }
        }
        let d = Arc::new(PiiDetector::with_custom(&ws.pii_patterns).map_err(|e| {
            Error::Config(format!("workspace `{}` has a bad PII pattern: {e}", ws.id))
        })?);
        map.insert(
            ws.id.as_str().to_owned(),
            (ws.pii_patterns.clone(), d.clone()),
        );
        Ok(d)
    }

    /// Scans the messages when a hosted candidate might see them; the text of an all
    /// on-device request is not scanned at all.
    pub fn scan(
        &self,
        ws: &Workspace,
        policy: &Policy,
        candidates: &[ModelSpec],
        messages: &[Message],
    ) -> Result<PiiScan> {
        let hosted = candidates
            .iter()
            .any(|m| policy.locality(&m.provider) != Some(Locality::OnDevice));
        if !hosted {
            return Ok(PiiScan::default());
        }
        let detector = self.for_workspace(ws)?;
        // A call's arguments leave the machine as much as a message's text does.
        let texts = messages.iter().flat_map(|m| {
            std::iter::once(&m.content).chain(m.tool_calls.iter().map(|c| &c.arguments))
        });
        let mut kinds: Vec<PiiKind> = texts
            .flat_map(|t| detector.scan(t))
            .map(|f| f.kind)
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        // Redacted copies only when they will be sent: PII found under `redact`.
        let redacted = (!kinds.is_empty() && ws.data_policy == DataPolicy::Redact).then(|| {
            messages
                .iter()
                .map(|m| Message {
                    content: detector.redact(&m.content).text,
                    tool_calls: m
                        .tool_calls
                        .iter()
                        .map(|c| ToolCall {
                            arguments: detector.redact(&c.arguments).text,
                            ..c.clone()
                        })
                        .collect(),
                    ..m.clone()
                })
                .collect()
        });
        Ok(PiiScan { kinds, redacted })
    }
}

/// Applies the guard to the router's candidates: drops those that may not see the request,
/// saying why, and fails with `policy_blocked` when none is left.
pub(super) fn filter(
    scan: &PiiScan,
    policy: &Policy,
    data: DataPolicy,
    candidates: Vec<ModelSpec>,
    reasons: &mut Vec<String>,
) -> Result<Vec<ModelSpec>> {
    if scan.kinds.is_empty() {
        return Ok(candidates);
    }
    reasons.push(scan.summary());
    let mut kept = Vec::with_capacity(candidates.len());
    for m in candidates {
        match scan.view(policy, data, &m) {
            View::Original => kept.push(m),
            View::Redacted => {
                reasons.push(format!("redact for {}", m.address));
                kept.push(m);
            }
            View::Forbidden => {
                reasons.push(format!(
                    "skip {} ({}, data policy {})",
                    m.address,
                    scan.summary(),
                    data.as_str()
                ));
            }
        }
    }
    if kept.is_empty() {
        let kinds: Vec<&str> = scan.kinds.iter().map(|k| k.as_str()).collect();
        return Err(Error::forbidden(
            "policy_blocked",
            format!(
                "the request contains personal data ({}) and no model this workspace may use is allowed to see it under data policy `{}`: use an on-device model, the `redact` policy, or a provider that declares pii_allowed",
                kinds.join(", "),
                data.as_str()
            ),
        ));
    }
    Ok(kept)
}
