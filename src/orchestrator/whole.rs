//! The whole (non-streamed) answer: prepare, the candidate loop, settle.

use std::sync::Arc;

use super::attempt::{Chosen, Whole};
use super::run::Run;
use super::settle::Served;
use super::{ChatOutcome, ChatRequest, Hearth};
use crate::error::Result;

impl Hearth {
    /// Serves a request whole: the seed's `/chat` and non-streamed OpenAI calls.
    pub async fn chat(self: &Arc<Self>, req: ChatRequest, trace_id: String) -> Result<ChatOutcome> {
        let mut run = Run::start(self, req, trace_id)?;
        match run.whole().await {
            Ok(out) => Ok(out),
            Err(e) => Err(run.fail(e)),
        }
    }
}

impl Run {
    async fn whole(&mut self) -> Result<ChatOutcome> {
        match self.choose(&Whole).await? {
            Chosen::Template => self.settle_template(),
            Chosen::Cached {
                model,
                hit,
                first_choice,
            } => self.settle(Served {
                model: &model,
                response: &hit.response,
                call: None,
                first_choice,
                cached: Some(hit.cost_usd),
            }),
            Chosen::Called {
                model,
                call,
                answer: response,
                first_choice,
            } => self.settle(Served {
                model: &model,
                response: &response,
                call: Some(*call),
                first_choice,
                cached: None,
            }),
        }
    }
}
