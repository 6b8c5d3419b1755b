//! The inference engine: one GGUF model loaded once, run one request at a time (requests
//! queue in front of it), greedy or sampled decoding with stop sequences, max tokens, EOS,
//! exact token counts, UTF-8-safe streaming and cancellation between tokens.

use std::path::Path;
use std::sync::OnceLock;

use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use llguidance::api::TopLevelGrammar;
use parking_lot::Mutex;
use serde::Serialize;

use super::gemma3::Gemma3;
use super::gguf::Gguf;
use super::grammar::{Constraint, Grammars};
use super::llama::Llama;
use super::memory::{MemoryEstimate, PROMPT_CHUNK};
use super::quant::attention::KvCacheType;
use super::standard_templates::standard_for;
use super::template::{ChatTemplate, Segment};
use super::tokenizer::{ModelTokenizer, Piece};
use super::tool_calls::{CallPlan, ToolStyle, Trigger};
use super::LoadError;
use crate::providers::format::grammar_for;
use crate::providers::{
    FinishReason, Message, OutputFormat, ProviderError, ProviderRequest, Role, ToolCall, Tools,
    Usage,
};

/// Tokens of context a model gets when its config sets none (fewer if its file allows fewer).
pub const DEFAULT_CONTEXT: usize = 8192;

/// The context a model runs with: `requested` or `DEFAULT_CONTEXT`, never more than the
/// file's own.
pub(super) fn effective_context(requested: Option<usize>, file_context: usize) -> usize {
    requested
        .unwrap_or(DEFAULT_CONTEXT)
        .clamp(1, file_context.max(1))
}

/// How to load a model.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// A chat template replacing the file's own.
    pub template: Option<String>,
    /// CPU threads candle uses (reported; `configure_threads` sets them).
    pub threads: usize,
    /// Tokens of context (prompt plus answer): `DEFAULT_CONTEXT` when None, never more than
    /// the file's own.
    pub context_length: Option<usize>,
    /// How the key/value cache stores keys and values.
    pub kv_cache_type: KvCacheType,
    /// Refuse a model whose estimate exceeds this many bytes; when None, the memory the
    /// system has available at load.
    pub memory_limit: Option<u64>,
}

impl LoadOptions {
    /// Defaults with `threads` threads.
    pub fn with_threads(threads: usize) -> LoadOptions {
        LoadOptions {
            template: None,
            threads,
            context_length: None,
            kv_cache_type: KvCacheType::F16,
            memory_limit: None,
        }
    }
}

enum Weights {
    Llama(Llama),
    Gemma3(Gemma3),
}

impl Weights {
    fn forward(&mut self, x: &Tensor, pos: usize) -> candle_core::Result<Tensor> {
        match self {
            Weights::Llama(m) => m.forward(x, pos),
            Weights::Gemma3(m) => m.forward(x, pos),
        }
    }
}

/// Whether the engine runs files of architecture `arch` (`general.architecture`).
pub(super) fn runs(arch: &str) -> bool {
    Llama::runs(arch) || arch == "gemma3"
}

/// The model and the tokens whose keys and values its cache holds, in order.
struct Session {
    weights: Weights,
    fed: Vec<u32>,
}

impl Session {
    /// How many leading prompt tokens need no computing: those the cache already holds,
    /// less at least one, since the last prompt token's logits are needed.
    fn reusable(&self, prompt: &[u32]) -> usize {
        let shared = self
            .fed
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count();
        shared.min(prompt.len().saturating_sub(1))
    }
}

/// What `hearth models info` and the admin API show about a loaded model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// `general.architecture`.
    pub architecture: String,
    /// `general.name`, if set.
    pub name: Option<String>,
    /// Tokens of context the engine accepts (prompt plus answer).
    pub context_length: usize,
    /// The context the file itself allows.
    pub file_context_length: usize,
    /// What the model takes in memory at that context, with its KV cache type.
    pub memory: MemoryEstimate,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// CPU threads candle uses.
    pub threads: usize,
    /// Which chat template prompts are rendered with: the file's own, the configured one, or
    /// the family's standard one when the file has none.
    pub chat_template: String,
    /// How tools reach the prompt and calls come back: the template's own format, or
    /// Hearth's for a template that has none.
    pub tool_calling: &'static str,
}

/// What one generation produced.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The answer's text (before its calls, when it makes any).
    pub text: String,
    pub usage: Usage,
    pub finish: FinishReason,
    /// The tool calls it makes.
    pub calls: Vec<ToolCall>,
}

/// A loaded model, shared by every request.
pub struct Engine {
    session: Mutex<Session>,
    repeat_penalty: f32,
    repeat_last_n: usize,
    /// Prompt tokens per forward pass (`PROMPT_CHUNK`; smaller in tests).
    prompt_chunk: usize,
    tokenizer: ModelTokenizer,
    template: ChatTemplate,
    tool_style: ToolStyle,
    /// The vocabulary for grammars, built on the first request that needs one.
    grammars: OnceLock<Result<Grammars, String>>,
    device: Device,
    /// What the model is.
    pub info: ModelInfo,
}

fn internal(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::Unavailable(format!("local engine: {e}"))
}

impl Engine {
    /// Loads a GGUF model with default options and the file's template unless
    /// `template_override`.
    pub fn load(
        path: &Path,
        template_override: Option<&str>,
        threads: usize,
    ) -> Result<Engine, LoadError> {
        let options = LoadOptions {
            template: template_override.map(str::to_owned),
            ..LoadOptions::with_threads(threads)
        };
        Engine::load_with(path, &options)
    }

    /// Loads a GGUF model; the architecture is chosen by `general.architecture`. The memory it
    /// needs is estimated from the header first, and a model that would not fit is refused
    /// before any weight is read.
    pub fn load_with(path: &Path, options: &LoadOptions) -> Result<Engine, LoadError> {
        let template_override = options.template.as_deref();
        let threads = options.threads;
        let g = Gguf::open(path)?;
        let arch = g.string("general.architecture")?.to_owned();
        if !runs(&arch) {
            return Err(LoadError::Unsupported(format!("architecture `{arch}`")));
        }
        let name = g.opt_string("general.name").map(str::to_owned);
        let file_context = g.opt_u32(&format!("{arch}.context_length")).unwrap_or(2048) as usize;
        let context = effective_context(options.context_length, file_context);
        let kv = options.kv_cache_type;
        let memory = MemoryEstimate::of(&g, &arch, context, kv)?;
        let (limit, source) = match options.memory_limit {
            Some(limit) => (Some(limit), "the configured memory_limit_mb"),
            None => (
                crate::machine::memory_available(),
                "MemAvailable in /proc/meminfo",
            ),
        };
        if let Some(why) = limit.and_then(|l| memory.refusal(l, context, source)) {
            return Err(LoadError::TooLarge(why));
        }
        g.tensors_inside()?;
        let tokenizer = ModelTokenizer::for_model(&g, path)?;
        let (chat_template, source) = match template_override {
            Some(t) => ("the configured one".to_owned(), t.to_owned()),
            None => match g.opt_string("tokenizer.chat_template") {
                Some(t) => ("the file's own".to_owned(), t.to_owned()),
                None => {
                    let (name, t) = standard_for(&arch, |t| tokenizer.has_token(t));
                    (format!("{name} (the file has none)"), t.to_owned())
                }
            },
        };
        let bos = tokenizer
            .bos
            .as_ref()
            .map(|b| b.1.clone())
            .unwrap_or_default();
        let template =
            ChatTemplate::new(&source, &bos, &tokenizer.eos_token).map_err(LoadError::Format)?;
        let tool_style = ToolStyle::of(&source);
        let device = Device::Cpu;
        let Gguf {
            mut content,
            mut reader,
            ..
        } = g;
        // The vocabulary's arrays (about 25 MB of parsed values for a 262,144-token one) are in
        // the tokenizer now; freed before the weights come in, they do not add to the peak.
        content
            .metadata
            .retain(|key, _| !key.starts_with("tokenizer."));
        let weights = match arch.as_str() {
            a if Llama::runs(a) => {
                Llama::from_gguf(&content, &mut reader, (context, kv), &device).map(Weights::Llama)
            }
            "gemma3" => Gemma3::from_gguf(&content, &mut reader, (context, kv), &device)
                .map(Weights::Gemma3),
            other => return Err(LoadError::Unsupported(format!("architecture `{other}`"))),
        }
        .map_err(|e| LoadError::Damaged(super::candle_reason(&e)))?;
        let info = ModelInfo {
            architecture: arch,
            name,
            context_length: context,
            file_context_length: file_context,
            memory,
            vocab_size: tokenizer.vocab_size,
            threads,
            chat_template,
            tool_calling: tool_style.name(),
        };
        Ok(Engine {
            session: Mutex::new(Session {
                weights,
                fed: Vec::new(),
            }),
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            prompt_chunk: PROMPT_CHUNK,
            tokenizer,
            template,
            tool_style,
            grammars: OnceLock::new(),
            device,
            info,
        })
    }

    /// Feeds prompts `n` tokens at a time, so a test can cross chunk boundaries with a tiny
    /// model's short context.
    #[cfg(test)]
    pub(super) fn with_prompt_chunk(mut self, n: usize) -> Self {
        self.prompt_chunk = n.max(1);
        self
    }

    /// Penalises tokens among the last `last_n` (prompt and answer) by `penalty` (1.0 is
    /// off). Small models loop without it.
    pub fn with_repeat_penalty(mut self, penalty: f32, last_n: usize) -> Self {
        self.repeat_penalty = penalty;
        self.repeat_last_n = last_n;
        self
    }

    /// The prompt's ids: template structure with control tokens, message contents without,
    /// tokenized as llama.cpp tokenizes the whole rendered prompt.
    pub fn prompt_ids(&self, messages: &[Message]) -> Result<Vec<u32>, ProviderError> {
        self.chat_ids(messages, &Tools::default())
    }

    /// The prompt's ids with `tools` offered (`prompt_ids`).
    pub fn chat_ids(&self, messages: &[Message], tools: &Tools) -> Result<Vec<u32>, ProviderError> {
        if let [Message {
            role: Role::Text,
            content,
            ..
        }] = messages
        {
            return self.text_ids(content);
        }
        if messages.iter().any(|m| m.role == Role::Text) {
            return Err(ProviderError::InvalidRequest(
                "raw text (a text completion) comes alone: no system prompt or turns with it"
                    .into(),
            ));
        }
        let prompted = self.tool_style.conversation(messages, tools);
        let messages = &prompted.messages;
        let segments = self
            .template
            .render(messages, prompted.tools)
            .map_err(ProviderError::InvalidRequest)?;
        let pieces: Vec<Piece> = segments
            .iter()
            .map(|s| match s {
                Segment::Structure(text) => Piece::Structure(text),
                Segment::Content(i) => Piece::Text(&messages[*i].content),
                Segment::Data(text) => Piece::Text(text),
            })
            .collect();
        let mut ids = self.tokenizer.encode_prompt(&pieces).map_err(internal)?;
        // Gemma's templates write `bos_token` themselves; the model wants it once.
        match &self.tokenizer.bos {
            Some((bos, _)) if ids.first() != Some(bos) => ids.insert(0, *bos),
            _ => {}
        }
        Ok(ids)
    }

    /// The ids of a text completion's prompt, after BOS when the model wants one. Control-token
    /// text becomes control tokens, as llama.cpp's server reads a completion prompt: whoever
    /// sends raw text writes the whole prompt, template included (a chat's end-user text, by
    /// contrast, never becomes control tokens).
    fn text_ids(&self, text: &str) -> Result<Vec<u32>, ProviderError> {
        let mut ids = self.encode_structure(text)?;
        // A prompt that writes BOS itself gets it once.
        match &self.tokenizer.bos {
            Some((bos, _)) if ids.first() != Some(bos) => ids.insert(0, *bos),
            _ => {}
        }
        Ok(ids)
    }

    /// The ids of plain text, as user text is encoded.
    pub fn encode_text(&self, text: &str) -> Result<Vec<u32>, ProviderError> {
        self.tokenizer.encode_text(text).map_err(internal)
    }

    /// The ids of template text, where control-token text becomes control tokens.
    pub fn encode_structure(&self, text: &str) -> Result<Vec<u32>, ProviderError> {
        self.tokenizer.encode_structure(text).map_err(internal)
    }

    /// The text of ids.
    pub fn decode(&self, ids: &[u32]) -> Result<String, ProviderError> {
        self.tokenizer.decode(ids).map_err(internal)
    }

    /// Runs one generation. `on_text` receives each new piece of answer text and returns
    /// false to stop (the client went away); while tool calls are written, it is asked after
    /// every token with an empty piece.
    pub fn generate(
        &self,
        req: &ProviderRequest,
        on_text: &mut dyn FnMut(&str, Usage) -> bool,
    ) -> Result<Answer, ProviderError> {
        self.generate_with(req, Sampler::new(req), on_text)
    }

    /// `generate` with the model made to write `script`'s tokens first (where the grammar
    /// allows them): tests make a tiny model start a tool call, as a real one would.
    #[cfg(test)]
    pub(super) fn generate_scripted(
        &self,
        req: &ProviderRequest,
        script: &[u32],
        on_text: &mut dyn FnMut(&str, Usage) -> bool,
    ) -> Result<Answer, ProviderError> {
        let mut sampler = Sampler::new(req);
        sampler.script = script.iter().copied().collect();
        self.generate_with(req, sampler, on_text)
    }

    fn generate_with(
        &self,
        req: &ProviderRequest,
        mut sampler: Sampler,
        on_text: &mut dyn FnMut(&str, Usage) -> bool,
    ) -> Result<Answer, ProviderError> {
        let plan = self.tool_style.plan(&req.tools);
        let prompt = self.chat_ids(&req.messages, &req.tools)?;
        let max_new = req.max_output_tokens as usize;
        let limit = self.info.context_length;
        if prompt.len() + max_new > limit {
            return Err(ProviderError::ContextTooLong(format!(
                "{} prompt tokens plus {max_new} to generate exceed the context of {limit}",
                prompt.len()
            )));
        }
        let (mut calls, mut constraint) = self.decoding(req, plan.as_ref())?;
        let mut session = self.session.lock();
        let reused = session.reusable(&prompt);
        let mut logits = self.feed(&mut session, &prompt[reused..], reused)?;
        let trigger = match calls {
            Calls::Watch(t) => Some(t),
            _ => None,
        };
        let mut out = Output::new(&req.stop, trigger);
        let mut generated: Vec<u32> = Vec::new();
        let mut finish = FinishReason::Length;
        while generated.len() < max_new {
            let mut logits_now = self.penalised(&logits, &prompt, &generated)?;
            if let Some(c) = &mut constraint {
                logits_now = self.masked(&logits_now, c)?;
            }
            let next = sampler.sample(&logits_now).map_err(internal)?;
            if self.tokenizer.eos_ids.contains(&next) {
                finish = FinishReason::Stop;
                break;
            }
            if let Some(c) = &mut constraint {
                c.accept(next)?;
            }
            generated.push(next);
            let so_far = usage(&prompt, &generated, reused);
            let cut = match calls {
                // Calls are not text: nothing is handed out, but the caller may still stop.
                Calls::Collect { .. } if !on_text("", so_far) => break,
                Calls::Collect { .. } => Cut::None,
                _ => {
                    let (piece, cut) = out.advance(&self.decode(&generated)?);
                    if !piece.is_empty() && !on_text(piece, so_far) {
                        break;
                    }
                    cut
                }
            };
            match cut {
                Cut::Stop => {
                    finish = FinishReason::Stop;
                    break;
                }
                Cut::Trigger => {
                    let p = plan
                        .as_ref()
                        .ok_or_else(|| internal("a trigger without tools"))?;
                    let kept = self.tokens_within(&generated, out.text.len())?;
                    generated.truncate(kept);
                    constraint = Some(self.grammar(p.grammar(None))?);
                    calls = Calls::Collect { from: kept };
                    logits = self.back_to(&mut session, &prompt, &generated)?;
                    continue;
                }
                Cut::None => {}
            }
            if constraint.as_ref().is_some_and(Constraint::finished) {
                finish = FinishReason::Stop;
                break;
            }
            if generated.len() < max_new {
                logits = self.feed(&mut session, &[next], prompt.len() + generated.len() - 1)?;
            }
        }
        let used = usage(&prompt, &generated, reused);
        let rest = out.finish();
        if !rest.is_empty() {
            on_text(rest, used);
        }
        let answer = Answer {
            text: out.text,
            usage: used,
            finish,
            calls: Vec::new(),
        };
        match (calls, &plan) {
            (Calls::Collect { from }, Some(p)) => {
                let written = self.decode(&generated[from..])?;
                Ok(with_calls(answer, p, &written, on_text))
            }
            _ => Ok(answer),
        }
    }

    /// How an answer starts: whether it may call tools, and the grammar it is held to from
    /// its first token (a forced call, "a format or calls", or the request's format).
    fn decoding(
        &self,
        req: &ProviderRequest,
        plan: Option<&CallPlan>,
    ) -> Result<(Calls, Option<Constraint>), ProviderError> {
        let format = req.response_format.grammar_schema();
        Ok(match plan {
            None => (Calls::Off, self.constraint(&req.response_format)?),
            Some(p) if p.forced() => (
                Calls::Collect { from: 0 },
                Some(self.grammar(p.grammar(None))?),
            ),
            Some(p) if format.is_some() => (
                Calls::Collect { from: 0 },
                Some(self.grammar(p.grammar(format))?),
            ),
            Some(p) => (Calls::Watch(p.trigger()), None),
        })
    }

    /// The logits after `generated`, once the tokens after it were dropped: the model
    /// started a call, and from there every token is held to the calls' grammar.
    fn back_to(
        &self,
        session: &mut Session,
        prompt: &[u32],
        generated: &[u32],
    ) -> Result<Tensor, ProviderError> {
        let (last, pos) = match generated.last() {
            None => (prompt[prompt.len() - 1], prompt.len() - 1),
            Some(t) => (*t, prompt.len() + generated.len() - 1),
        };
        self.feed(session, &[last], pos)
    }

    /// How many of `generated`'s tokens decode within the answer's first `len` bytes.
    fn tokens_within(&self, generated: &[u32], len: usize) -> Result<usize, ProviderError> {
        for k in (1..=generated.len()).rev() {
            if self.decode(&generated[..k])?.len() <= len {
                return Ok(k);
            }
        }
        Ok(0)
    }

    /// The grammar an answer of this format is held to, if any (the benchmark times its
    /// mask on its own).
    pub fn constraint(&self, format: &OutputFormat) -> Result<Option<Constraint>, ProviderError> {
        format
            .grammar_schema()
            .map(|schema| self.grammar(grammar_for(schema)))
            .transpose()
    }

    /// A fresh constraint to `grammar`, over this model's vocabulary.
    fn grammar(&self, grammar: TopLevelGrammar) -> Result<Constraint, ProviderError> {
        let grammars = self.grammars.get_or_init(|| {
            let _span = tracing::info_span!("grammar.vocabulary").entered();
            Grammars::new(&self.tokenizer.token_bytes, self.tokenizer.eos_ids[0])
        });
        let grammars = grammars.as_ref().map_err(|e| {
            ProviderError::Unsupported(format!("constrained decoding with this model: {e}"))
        })?;
        grammars.constrain(grammar, &self.tokenizer.eos_ids)
    }

    /// The logits with every token the grammar forbids next at minus infinity.
    fn masked(&self, logits: &Tensor, c: &mut Constraint) -> Result<Tensor, ProviderError> {
        let mut values = logits.to_vec1::<f32>().map_err(internal)?;
        c.mask(&mut values)?;
        Tensor::new(values, &self.device).map_err(internal)
    }

    fn penalised(
        &self,
        logits: &Tensor,
        prompt: &[u32],
        generated: &[u32],
    ) -> Result<Tensor, ProviderError> {
        if self.repeat_penalty == 1.0 {
            return Ok(logits.clone());
        }
        let recent: Vec<u32> = prompt
            .iter()
            .chain(generated)
            .rev()
            .take(self.repeat_last_n)
            .copied()
            .collect();
        candle_transformers::utils::apply_repeat_penalty(logits, self.repeat_penalty, &recent)
            .map_err(internal)
    }

    /// Logits after feeding `ids` at position `pos` (in chunks of `PROMPT_CHUNK`), as f32 on
    /// the CPU; the session then records the cache as holding its first `pos` tokens
    /// followed by `ids`.
    fn feed(&self, s: &mut Session, ids: &[u32], pos: usize) -> Result<Tensor, ProviderError> {
        // Taken out while the pass runs: should it fail part-way, the cache's state is unknown.
        let mut fed = std::mem::take(&mut s.fed);
        let mut logits = None;
        for (i, chunk) in ids.chunks(self.prompt_chunk).enumerate() {
            let input = Tensor::new(chunk, &self.device)
                .and_then(|t| t.unsqueeze(0))
                .map_err(internal)?;
            logits = Some(
                s.weights
                    .forward(&input, pos + i * self.prompt_chunk)
                    .and_then(|l| l.squeeze(0))
                    .and_then(|l| l.to_dtype(candle_core::DType::F32))
                    .map_err(internal)?,
            );
        }
        let logits = logits.ok_or_else(|| internal("nothing to feed"))?;
        fed.truncate(pos);
        fed.extend_from_slice(ids);
        s.fed = fed;
        Ok(logits)
    }

    /// Forgets what the cache holds, so the next request computes its whole prompt (the
    /// benchmark times full prompts, as llama.cpp's side does after its reset).
    pub fn forget_prefix(&self) {
        self.session.lock().fed.clear();
    }

    /// Logits after `ids` fed from position 0 as a request's prompt is (in one pass per
    /// prompt chunk), for tests of the batched path that compare with another engine.
    pub fn logits_after(&self, ids: &[u32]) -> Result<Vec<f32>, ProviderError> {
        let mut session = self.session.lock();
        self.feed(&mut session, ids, 0)?
            .to_vec1::<f32>()
            .map_err(internal)
    }

    /// Logits after each token of `ids` fed one at a time (teacher forcing), for tests
    /// that compare with another engine position by position.
    pub fn logits_along(&self, ids: &[u32]) -> Result<Vec<Vec<f32>>, ProviderError> {
        let mut session = self.session.lock();
        ids.iter()
            .enumerate()
            .map(|(pos, id)| {
                self.feed(&mut session, &[*id], pos)?
                    .to_vec1::<f32>()
                    .map_err(internal)
            })
            .collect()
    }
}

/// Draws each next token: temperature scaling, top-k, top-p (candle's; its share counts
/// the whole vocabulary's probability), min-p, then a seeded draw. Temperature 0 is greedy
/// whatever else is set, so the exact cache can serve it.
struct Sampler {
    inner: LogitsProcessor,
    min_p: f32,
    /// Tokens drawn before any other, while the logits allow them (`generate_scripted`).
    #[cfg(test)]
    script: std::collections::VecDeque<u32>,
}

impl Sampler {
    fn new(req: &ProviderRequest) -> Sampler {
        Sampler {
            inner: LogitsProcessor::from_sampling(
                req.seed.unwrap_or_else(rand::random),
                sampling(req),
            ),
            min_p: req.min_p.unwrap_or(0.0),
            #[cfg(test)]
            script: Default::default(),
        }
    }

    fn sample(&mut self, logits: &Tensor) -> candle_core::Result<u32> {
        #[cfg(test)]
        if let Some(next) = self.script.pop_front() {
            let allowed = logits.get(next as usize)?.to_scalar::<f32>()?.is_finite();
            match allowed {
                true => return Ok(next),
                false => self.script.clear(),
            }
        }
        let min_p = self.min_p;
        // candle has no min-p; zeroing probabilities before its top-k and top-p (which keep
        // the most likely tokens) keeps the same tokens as applying it after them.
        self.inner.sample_f(logits, |prs| keep_min_p(prs, min_p))
    }
}

fn sampling(req: &ProviderRequest) -> Sampling {
    let temperature = f64::from(req.temperature);
    if temperature <= 0.0 {
        return Sampling::ArgMax;
    }
    let k = req.top_k.map(|k| k as usize).filter(|k| *k > 0);
    let p = req.top_p.map(f64::from).filter(|p| *p < 1.0);
    match (k, p) {
        (Some(k), Some(p)) => Sampling::TopKThenTopP { k, p, temperature },
        (Some(k), None) => Sampling::TopK { k, temperature },
        (None, Some(p)) => Sampling::TopP { p, temperature },
        (None, None) => Sampling::All { temperature },
    }
}

/// Zeroes the probabilities below `min_p` times the largest one (min-p sampling).
fn keep_min_p(prs: &mut [f32], min_p: f32) {
    let floor = prs.iter().copied().fold(0.0, f32::max) * min_p;
    for p in prs.iter_mut().filter(|p| **p < floor) {
        *p = 0.0;
    }
}

/// `answer` with the calls in `written` (what was decoded from the calls' start), or, where
/// it holds none (an answer in the requested format, or a call cut short), with `written`
/// as more of its text.
fn with_calls(
    mut answer: Answer,
    plan: &CallPlan,
    written: &str,
    on_text: &mut dyn FnMut(&str, Usage) -> bool,
) -> Answer {
    answer.calls = plan.parse(written);
    if answer.calls.is_empty() {
        on_text(written, answer.usage);
        answer.text.push_str(written);
    } else {
        answer.text = answer.text.trim_end().to_owned();
        answer.finish = FinishReason::ToolCalls;
    }
    answer
}

/// Whether the answer calls tools, and from which generated token its calls are written.
#[derive(Clone, Copy)]
enum Calls {
    /// No tools offered.
    Off,
    /// Free text until the trigger.
    Watch(Trigger),
    /// Calls (or, where a format is requested, maybe an answer in it) from token `from` on.
    Collect { from: usize },
}

/// Where the answer text was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    None,
    /// At a stop sequence: the answer ends.
    Stop,
    /// At the start of a tool call.
    Trigger,
}

/// The answer text so far and how much of it has been handed out. Text is held back
/// while it ends in an incomplete UTF-8 sequence or could be the start of a stop sequence
/// or of a tool call.
struct Output<'a> {
    stop: &'a [String],
    trigger: Option<Trigger>,
    text: String,
    sent: usize,
}

impl<'a> Output<'a> {
    fn new(stop: &'a [String], trigger: Option<Trigger>) -> Self {
        Output {
            stop,
            trigger,
            text: String::new(),
            sent: 0,
        }
    }

    /// Takes the decoded text of all generated tokens; returns the new piece to send and
    /// whether a stop sequence or a call was reached (the text is cut before it).
    fn advance(&mut self, decoded: &str) -> (&str, Cut) {
        if decoded.ends_with('\u{FFFD}') {
            return ("", Cut::None);
        }
        self.text = decoded.to_owned();
        let stop = self
            .stop
            .iter()
            .filter_map(|s| self.text.find(s.as_str()))
            .min()
            .map(|at| (at, Cut::Stop));
        let call = self
            .trigger
            .and_then(|t| t.found_in(&self.text))
            .map(|at| (at, Cut::Trigger));
        if let Some((at, cut)) = [stop, call].into_iter().flatten().min_by_key(|(at, _)| *at) {
            self.text.truncate(at);
            let piece_start = self.sent.min(at);
            self.sent = at;
            return (&self.text[piece_start..], cut);
        }
        let hold = self
            .stop
            .iter()
            .map(|s| partial_suffix(&self.text, s))
            .chain(self.trigger.map(|t| t.held_in(&self.text)))
            .max()
            .unwrap_or(0);
        let safe = self.text.len() - hold;
        let start = self.sent;
        self.sent = safe.max(start);
        (&self.text[start..self.sent], Cut::None)
    }

    /// What was held back, once generation ends without a stop sequence.
    fn finish(&mut self) -> &str {
        let start = self.sent;
        self.sent = self.text.len();
        &self.text[start..]
    }
}

impl Trigger {
    /// Where in `text` a call starts, if one does.
    fn found_in(&self, text: &str) -> Option<usize> {
        match self.at_start {
            true => {
                let lead = text.len() - text.trim_start().len();
                text[lead..].starts_with(self.text).then_some(lead)
            }
            false => text.find(self.text),
        }
    }

    /// How many bytes at the end of `text` could still become a call.
    fn held_in(&self, text: &str) -> usize {
        match self.at_start {
            true if self.text.starts_with(text.trim_start()) => text.len(),
            true => 0,
            false => partial_suffix(text, self.text),
        }
    }
}

/// The length of the longest suffix of `text` that is a proper prefix of `stop`.
fn partial_suffix(text: &str, stop: &str) -> usize {
    (1..stop.len())
        .rev()
        .find(|n| stop.is_char_boundary(*n) && text.ends_with(&stop[..*n]))
        .unwrap_or(0)
}

/// The tokens of a generation so far.
fn usage(prompt: &[u32], generated: &[u32], reused: usize) -> Usage {
    Usage {
        input_tokens: prompt.len() as u64,
        output_tokens: generated.len() as u64,
        cached_input_tokens: reused as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(temperature: f32, top_k: Option<u32>, min_p: Option<f32>, seed: u64) -> Sampler {
        Sampler::new(&ProviderRequest {
            temperature,
            top_k,
            min_p,
            seed: Some(seed),
            ..ProviderRequest::greedy("tiny", vec![], 1)
        })
    }

    fn draws(s: &mut Sampler, logits: &[f32], n: usize) -> Vec<u32> {
        let logits = Tensor::new(logits, &Device::Cpu).unwrap();
        (0..n).map(|_| s.sample(&logits).unwrap()).collect()
    }

    fn distinct(tokens: &[u32]) -> Vec<u32> {
        let mut d = tokens.to_vec();
        d.sort_unstable();
        d.dedup();
        d
    }

    const LOGITS: [f32; 5] = [1.0, 3.0, 2.5, -1.0, 0.0];

    #[test]
    fn top_k_of_one_is_greedy_whatever_the_temperature() {
        for (seed, temperature) in [(1, 0.3), (2, 1.0), (3, 2.0)] {
            let mut s = sampler(temperature, Some(1), None, seed);
            assert_eq!(distinct(&draws(&mut s, &LOGITS, 100)), vec![1]);
        }
        let mut wide = sampler(2.0, None, None, 1);
        assert!(distinct(&draws(&mut wide, &LOGITS, 100)).len() > 1);
    }

    #[test]
    fn temperature_zero_is_greedy_whatever_else_is_set() {
        let mut s = sampler(0.0, Some(5), Some(0.01), 9);
        assert_eq!(distinct(&draws(&mut s, &LOGITS, 50)), vec![1]);
    }

    #[test]
    fn min_p_of_one_keeps_only_the_top_tokens_ties_included() {
        let mut s = sampler(1.5, None, Some(1.0), 4);
        assert_eq!(distinct(&draws(&mut s, &LOGITS, 100)), vec![1]);
        let tied = [2.0, 5.0, 5.0, 4.9];
        let mut s = sampler(1.5, None, Some(1.0), 5);
        assert_eq!(distinct(&draws(&mut s, &tied, 200)), vec![1, 2]);
    }

    #[test]
    fn a_fixed_seed_draws_the_same_sequence_twice() {
        let flat = [0.0, 0.1, 0.2, 0.3];
        let first = draws(&mut sampler(1.0, Some(3), Some(0.5), 7), &flat, 50);
        let again = draws(&mut sampler(1.0, Some(3), Some(0.5), 7), &flat, 50);
        assert_eq!(first, again);
        assert_eq!(
            distinct(&first),
            vec![1, 2, 3],
            "top-k 3 leaves token 0 out"
        );
        let other = draws(&mut sampler(1.0, Some(3), Some(0.5), 8), &flat, 50);
        assert_ne!(first, other);
    }

    #[test]
    fn the_min_p_filter_keeps_exactly_the_tokens_at_or_above_its_share_of_the_top() {
        let mut prs = [0.0625, 0.5, 0.125, 0.25, 0.0625];
        keep_min_p(&mut prs, 0.25);
        assert_eq!(prs, [0.0, 0.5, 0.125, 0.25, 0.0]);
        let mut all = [0.25, 0.5, 0.25];
        keep_min_p(&mut all, 0.0);
        assert_eq!(all, [0.25, 0.5, 0.25], "min_p 0 is off");
    }

    #[test]
    fn min_p_applies_to_temperature_scaled_probabilities() {
        // Probabilities 8:4:2:1 at temperature 1; the square roots of those at 2.
        let logits = [8f32, 4.0, 2.0, 1.0].map(f32::ln);
        let mut cold = sampler(1.0, None, Some(0.3), 11);
        assert_eq!(distinct(&draws(&mut cold, &logits, 400)), vec![0, 1]);
        let mut warm = sampler(2.0, None, Some(0.3), 11);
        assert_eq!(distinct(&draws(&mut warm, &logits, 400)), vec![0, 1, 2, 3]);
    }

    #[test]
    fn stop_sequences_cut_the_text_and_nothing_after_them_is_sent() {
        let stop = vec!["\nUser:".to_owned()];
        let mut o = Output::new(&stop, None);
        assert_eq!(o.advance("Paris"), ("Paris", Cut::None));
        assert_eq!(
            o.advance("Paris.\nUs"),
            (".", Cut::None),
            "a possible stop start is held back"
        );
        assert_eq!(o.advance("Paris.\nUser: more"), ("", Cut::Stop));
        assert_eq!(o.text, "Paris.");
    }

    #[test]
    fn an_incomplete_utf8_sequence_is_held_until_complete() {
        let mut o = Output::new(&[], None);
        assert_eq!(o.advance("Vi"), ("Vi", Cut::None));
        assert_eq!(o.advance("Vi\u{FFFD}"), ("", Cut::None));
        assert_eq!(o.advance("Việt"), ("ệt", Cut::None));
        assert_eq!(o.finish(), "");
    }
}
