//! The on-device sentence encoder: a BERT model in safetensors (all-MiniLM-L6-v2), run by
//! candle-transformers' BERT, its last hidden states mean-pooled over the real tokens and
//! scaled to unit length, as sentence-transformers computes them.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use parking_lot::Mutex;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::{candle_reason, LoadError};
use crate::providers::{shorten, unit, EmbedResponse, ProviderError, Usage};

/// Tokens an input is cut to: sentence-transformers' `max_seq_length` for this model (its
/// tokenizer.json says 128; sentence-transformers overrides it with 256, and so do we).
pub const MAX_INPUT_TOKENS: usize = 256;

/// Inputs run through the model together: the attention scores of a batch at the longest
/// input are 16 x 12 heads x 256 x 256 floats (50 MB), whatever the request's size.
const BATCH: usize = 16;

/// A loaded encoder. One batch runs at a time (a batch already uses every core).
pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    one_at_a_time: Mutex<()>,
}

impl Embedder {
    /// Loads `weights` (safetensors) with `config.json` and `tokenizer.json` beside it.
    pub fn load(weights: &Path) -> Result<Embedder, LoadError> {
        let dir = weights.parent().unwrap_or(Path::new("."));
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .map_err(|e| LoadError::Io(format!("{}: {e}", dir.join(name).display())))
        };
        let config: Config = serde_json::from_str(&read("config.json")?)
            .map_err(|e| LoadError::Format(format!("config.json: {e}")))?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| LoadError::Format(format!("tokenizer.json: {e}")))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_INPUT_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| LoadError::Format(format!("tokenizer.json: {e}")))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        let device = Device::Cpu;
        let tensors = candle_core::safetensors::load(weights, &device).map_err(|e| {
            LoadError::Format(format!("{}: {}", weights.display(), candle_reason(&e)))
        })?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let model = BertModel::load(vb, &config)
            .map_err(|e| LoadError::Format(format!("not a BERT model: {}", candle_reason(&e))))?;
        Ok(Embedder {
            model,
            tokenizer,
            one_at_a_time: Mutex::new(()),
        })
    }

    /// One unit vector per input (cut to `dimensions` and scaled back to unit length when
    /// asked), and the tokens read, [CLS] and [SEP] included.
    pub fn embed(
        &self,
        inputs: &[String],
        dimensions: Option<u32>,
    ) -> Result<EmbedResponse, ProviderError> {
        let _running = self.one_at_a_time.lock();
        let mut vectors = Vec::with_capacity(inputs.len());
        let mut tokens = 0;
        for batch in inputs.chunks(BATCH) {
            let (pooled, read) = self.batch(batch).map_err(|e| {
                ProviderError::Unavailable(format!(
                    "the embedding model failed: {}",
                    candle_reason(&e)
                ))
            })?;
            tokens += read;
            for v in pooled {
                vectors.push(shorten(unit(v), dimensions)?);
            }
        }
        Ok(EmbedResponse {
            vectors,
            usage: Usage {
                input_tokens: tokens,
                ..Usage::default()
            },
        })
    }

    /// The mean of each input's token states over its real (unpadded) tokens.
    fn batch(&self, texts: &[String]) -> candle_core::Result<(Vec<Vec<f32>>, u64)> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| candle_core::Error::Msg(format!("tokenizer: {e}")))?;
        let rows = |f: fn(&tokenizers::Encoding) -> &[u32]| {
            let rows = encodings
                .iter()
                .map(|e| Tensor::new(f(e), &Device::Cpu))
                .collect::<candle_core::Result<Vec<_>>>()?;
            Tensor::stack(&rows, 0)
        };
        let ids = rows(tokenizers::Encoding::get_ids)?;
        let types = rows(tokenizers::Encoding::get_type_ids)?;
        let mask = rows(tokenizers::Encoding::get_attention_mask)?;
        let states = self.model.forward(&ids, &types, Some(&mask))?;
        let mask = mask.to_dtype(DType::F32)?;
        let counts = mask.sum(1)?;
        let summed = states.broadcast_mul(&mask.unsqueeze(2)?)?.sum(1)?;
        let pooled = summed.broadcast_div(&counts.unsqueeze(1)?)?;
        let read = counts.sum_all()?.to_scalar::<f32>()? as u64;
        Ok((pooled.to_vec2::<f32>()?, read))
    }
}
