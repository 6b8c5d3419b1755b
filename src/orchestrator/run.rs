//! One request on its way through the stages.

use std::sync::Arc;

use super::prepare::Prepared;
use super::trace::Trace;
use super::{ChatRequest, Hearth};
use crate::error::{Error, Result};

/// A request, the plan prepared for it (with the snapshot of the policy and providers it
/// runs on from start to end) and its trace. The stages after `prepare` are its methods:
/// `choose` (attempt.rs) with `begin` (gate.rs), then `settle` (settle.rs). The streamed
/// path moves the run into the task that relays the stream.
pub(super) struct Run {
    pub hearth: Arc<Hearth>,
    pub req: ChatRequest,
    pub plan: Prepared,
    pub trace: Trace,
}

impl Run {
    /// Traces and prepares `req` on the snapshot in force now. A request naming no known
    /// workspace is refused untraced; any other refusal is audited before it is returned.
    pub(super) fn start(hearth: &Arc<Hearth>, req: ChatRequest, trace_id: String) -> Result<Run> {
        let snap = hearth.snapshot();
        let (mut trace, ws) = hearth.new_trace(&req, &snap.config, trace_id)?;
        match hearth.prepare(&req, ws, snap, &mut trace) {
            Ok(plan) => Ok(Run {
                hearth: Arc::clone(hearth),
                req,
                plan,
                trace,
            }),
            Err(e) => Err(hearth.fail(&mut trace, e)),
        }
    }

    /// Audits and counts the run's end in `err`.
    pub(super) fn fail(&mut self, err: Error) -> Error {
        self.hearth.fail(&mut self.trace, err)
    }
}
