//! What a model will take in memory, estimated from its GGUF header before any weight is
//! read, and what the machine has: a load that would not fit is refused with both numbers
//! rather than swapping the machine to a halt.

use candle_core::quantized::gguf_file::Content;
use serde::Serialize;

use super::gguf::Gguf;
use super::quant::attention::KvCacheType;
use super::LoadError;

/// Prompt tokens computed in one pass; longer prompts go through in pieces, so prompt
/// memory stays bounded by this whatever the prompt's length.
pub const PROMPT_CHUNK: usize = 512;
const MIB: u64 = 1 << 20;

/// The estimate `hearth models info` and `GET /admin/models` show.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct MemoryEstimate {
    /// The weights as the file holds them (the kernels' tiles are no larger).
    pub weights_bytes: u64,
    /// The key/value cache when the whole context is in use (it grows as used).
    pub kv_cache_bytes: u64,
    /// How the cache stores keys and values (`f16` or `q8_0` in JSON).
    #[serde(serialize_with = "crate::config::kv_cache_type::serialize")]
    #[schema(value_type = String)]
    pub kv_cache_type: KvCacheType,
    /// Activations of one prompt chunk, the logits and the rotary tables.
    pub scratch_bytes: u64,
    /// The sum.
    pub total_bytes: u64,
}

impl MemoryEstimate {
    /// The estimate for the model in `g` run with `context` tokens of context and a cache of
    /// `kv`; `Unsupported` when that cache cannot hold the model's heads.
    pub fn of(
        g: &Gguf,
        arch: &str,
        context: usize,
        kv: KvCacheType,
    ) -> Result<MemoryEstimate, LoadError> {
        let ct = &g.content;
        let weights_bytes = weights(ct);
        let num = |key: &str| g.opt_u32(&format!("{arch}.{key}")).map_or(0, u64::from);
        let (hidden, heads) = (num("embedding_length"), num("attention.head_count").max(1));
        let head_dim = match num("attention.key_length") {
            0 => hidden / heads,
            d => d,
        };
        let kv_heads = match num("attention.head_count_kv") {
            0 => heads,
            n => n,
        };
        let row_bytes = kv
            .row_bytes(head_dim as usize)
            .map_err(LoadError::Unsupported)? as u64;
        let context = context as u64;
        let kv_cache_bytes = num("block_count") * kv_heads * 2 * context * row_bytes;
        let vocab = ct
            .tensor_infos
            .get("token_embd.weight")
            .map_or(0, |t| t.shape.dims()[0] as u64);
        let chunk = PROMPT_CHUNK as u64;
        // Per chunk token: the residual and its norms, q/k/v/attention out, the feed-forward's
        // three widths, and the cos/sin of its position in two rotations, in f32; plus logits.
        let per_token =
            6 * hidden + 4 * heads * head_dim + 3 * num("feed_forward_length") + 2 * head_dim;
        let scratch_bytes = 4 * (chunk * per_token + 2 * vocab);
        Ok(MemoryEstimate {
            weights_bytes,
            kv_cache_bytes,
            kv_cache_type: kv,
            scratch_bytes,
            total_bytes: weights_bytes + kv_cache_bytes + scratch_bytes,
        })
    }

    /// Why a model that needs this does not fit in `limit` bytes, or None if it does.
    pub fn refusal(&self, limit: u64, context: usize, source: &str) -> Option<String> {
        (self.total_bytes > limit).then(|| {
            format!(
                "the model needs about {} MiB (weights {} MiB, {} KV cache {} MiB at {context} \
                 tokens of context, scratch {} MiB) but {} MiB are available ({source}); lower \
                 `context_length` or pick a smaller model",
                self.total_bytes.div_ceil(MIB),
                self.weights_bytes.div_ceil(MIB),
                self.kv_cache_type.name(),
                self.kv_cache_bytes.div_ceil(MIB),
                self.scratch_bytes.div_ceil(MIB),
                limit / MIB,
            )
        })
    }
}

/// Bytes of every tensor in the file, in its own format.
fn weights(ct: &Content) -> u64 {
    ct.tensor_infos
        .values()
        .map(|t| {
            let dtype = t.ggml_dtype;
            (t.shape.elem_count() / dtype.block_size() * dtype.type_size()) as u64
        })
        .sum()
}
