//! The whole (non-streamed) answer: prepare, the candidate loop, settle.

use std::sync::Arc;

use super::attempt::{Chosen, Whole};
use super::settle::Served;
use super::trace::Trace;
use super::{ChatOutcome, ChatRequest, Hearth, Snapshot};
use crate::error::Result;
use crate::workspace::Workspace;

impl Hearth {
    /// Serves a request whole: the seed's `/chat` and non-streamed OpenAI calls.
    pub async fn chat(&self, req: ChatRequest, trace_id: String) -> Result<ChatOutcome> {
        let snap = self.snapshot();
        let (mut trace, ws) = self.new_trace(&req, &snap.config, trace_id)?;
        match self.chat_inner(&req, ws, snap, &mut trace).await {
            Ok(out) => Ok(out),
            Err(e) => Err(self.fail(&mut trace, e)),
        }
    }

    async fn chat_inner(
        &self,
        req: &ChatRequest,
        ws: Workspace,
        snap: Arc<Snapshot>,
        trace: &mut Trace,
    ) -> Result<ChatOutcome> {
        let mut p = self.prepare(req, ws, snap, trace)?;
        match self.choose::<Whole>(req, &mut p, trace).await? {
            Chosen::Template => self.settle_template(trace),
            Chosen::Cached {
                model,
                hit,
                first_choice,
            } => {
                let served = Served {
                    model: &model,
                    response: &hit.response,
                    call: None,
                    first_choice,
                    cached: Some(hit.cost_usd),
                };
                self.settle(trace, &p, served)
            }
            Chosen::Called {
                model,
                call,
                answer: response,
                first_choice,
            } => {
                let served = Served {
                    model: &model,
                    response: &response,
                    call: Some(*call),
                    first_choice,
                    cached: None,
                };
                self.settle(trace, &p, served)
            }
        }
    }
}
