//! Constrained decoding: before each token is drawn, every token that cannot continue the
//! answer's grammar (JSON valid against the request's schema, or tool calls whose arguments
//! are) gets a logit of minus infinity, so the model can only write what parses and
//! validates (llguidance computes the allowed set from the vocabulary's bytes). The end of
//! the answer is allowed only where the grammar is complete.

use std::sync::Arc;

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{ApproximateTokEnv, TokEnv, TokRxInfo, TokTrie};
use llguidance::{Matcher, ParserFactory};

use crate::providers::ProviderError;

/// A model's vocabulary, ready to compile grammars against; built once per loaded model, on
/// its first constrained request.
pub(super) struct Grammars {
    factory: ParserFactory,
}

impl Grammars {
    /// The vocabulary from each token's bytes; `eos` is the id that stands for "the end".
    pub(super) fn new(token_bytes: &[Vec<u8>], eos: u32) -> Result<Grammars, String> {
        let info = TokRxInfo::new(token_bytes.len() as u32, eos);
        let trie = TokTrie::from(&info, token_bytes);
        let env: TokEnv = Arc::new(ApproximateTokEnv::new(trie));
        let mut factory = ParserFactory::new_simple(&env).map_err(|e| e.to_string())?;
        factory.quiet();
        Ok(Grammars { factory })
    }

    /// A fresh constraint for one answer.
    pub(super) fn constrain(
        &self,
        grammar: TopLevelGrammar,
        end_ids: &[u32],
    ) -> Result<Constraint, ProviderError> {
        let parser = self
            .factory
            .create_parser(grammar)
            .map_err(|e| ProviderError::Unsupported(format!("the answer's grammar: {e}")))?;
        Ok(Constraint {
            matcher: Matcher::new(Ok(parser)),
            end_ids: end_ids.to_vec(),
            eos: self.factory.tok_env().tok_trie().eos_token(),
        })
    }
}

/// The grammar's state along one answer.
pub struct Constraint {
    matcher: Matcher,
    /// Every id that ends the answer (EOS and the end-of-turn tokens).
    end_ids: Vec<u32>,
    /// The one the grammar knows as the end.
    eos: u32,
}

impl Constraint {
    /// Sets the logit of every token the grammar does not allow next to minus infinity.
    pub fn mask(&mut self, logits: &mut [f32]) -> Result<(), ProviderError> {
        let allowed = self.matcher.compute_mask().map_err(grammar_failed)?;
        let may_end = allowed.is_allowed(self.eos);
        for (id, logit) in logits.iter_mut().enumerate() {
            let id = id as u32;
            let ok = if self.end_ids.contains(&id) {
                may_end
            } else {
                (id as usize) < allowed.len() && allowed.is_allowed(id)
            };
            if !ok {
                *logit = f32::NEG_INFINITY;
            }
        }
        Ok(())
    }

    /// Moves past a drawn token.
    pub fn accept(&mut self, token: u32) -> Result<(), ProviderError> {
        self.matcher.consume_token(token).map_err(grammar_failed)
    }

    /// Whether the JSON is complete and nothing may follow it.
    pub fn finished(&self) -> bool {
        self.matcher.is_stopped()
    }
}

fn grammar_failed(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::Unavailable(format!("local engine: the grammar failed: {e}"))
}
