//! The Gemma 3 transformer, by Hearth's own forward pass: llama.cpp's graph for `gemma3`.
//! candle-transformers 0.11's `quantized_gemma3` gates its feed-forward with SiLU where Gemma
//! uses GELU (tanh approximation), so its logits on the real Gemma 3 270M file were about a
//! third too large and ranked differently from llama.cpp's (`tests/local_gemma.rs`); this one
//! agrees with llama.cpp, cuts its key/value cache back to a shared prefix as the llama pass
//! does, and masks the sliding-window layers as llama.cpp does.
//!
//! Per layer: RMS norm, attention (q and k each RMS-normed per head, rotated in halves with
//! base 10,000 on sliding-window layers and the file's base on the global ones, one global
//! layer in six), RMS norm of its output, residual; RMS norm, GELU-gated feed-forward, RMS norm
//! of its output, residual. Embeddings are scaled by the square root of the width; the output
//! head is the embedding (tied).

use std::io::{Read, Seek};

use candle_core::quantized::gguf_file::Content;
use candle_core::{Device, IndexOp, Module, Result, Tensor};
use candle_transformers::quantized_nn::RmsNorm;

use super::blocks::{attend_cached, meta_u32, Linear, Loader, Rope, RopeStyle};
use super::quant::attention::{KvCache, Span};

/// One layer in this many attends globally; the others within the sliding window.
const GLOBAL_EVERY: usize = 6;
/// The rotary base of the sliding-window layers (llama.cpp's default for gemma3).
const LOCAL_ROPE_BASE: f32 = 10_000.0;

struct Layer {
    attn_norm: RmsNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    q_norm: RmsNorm,
    k_norm: RmsNorm,
    post_attn_norm: RmsNorm,
    ffn_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
    post_ffn_norm: RmsNorm,
    /// The sliding window of this layer, or None for a global one.
    window: Option<usize>,
    global_rope: bool,
    /// Keys and values of every position fed so far.
    cache: KvCache,
}

/// A loaded Gemma 3 model and its key/value cache.
pub struct Gemma3 {
    /// The embedding, also the output head (tied).
    embed: Linear,
    scale: f64,
    layers: Vec<Layer>,
    norm: RmsNorm,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    local_rope: Rope,
    global_rope: Rope,
}

impl Gemma3 {
    /// Loads the weights named as llama.cpp names them.
    pub fn from_gguf<R: Read + Seek>(
        ct: &Content,
        r: &mut R,
        context: usize,
        device: &Device,
    ) -> Result<Gemma3> {
        let heads = meta_u32(ct, "gemma3.attention.head_count")?;
        let kv_heads = meta_u32(ct, "gemma3.attention.head_count_kv")?;
        let hidden = meta_u32(ct, "gemma3.embedding_length")?;
        let head_dim = meta_u32(ct, "gemma3.attention.key_length")?;
        if heads == 0 || kv_heads == 0 || !heads.is_multiple_of(kv_heads) {
            candle_core::bail!("inconsistent head counts: {heads} heads, {kv_heads} kv heads");
        }
        // The rotary tables are sized by this, so a hostile value must not reach them.
        if head_dim == 0 || head_dim > 1024 || !head_dim.is_multiple_of(2) {
            candle_core::bail!("unusable attention key length {head_dim}");
        }
        let window = meta_u32(ct, "gemma3.attention.sliding_window")?;
        let eps = match ct.metadata.get("gemma3.attention.layer_norm_rms_epsilon") {
            Some(v) => f64::from(v.to_f32()?),
            None => candle_core::bail!("cannot find the rms norm epsilon in metadata"),
        };
        let base = ct
            .metadata
            .get("gemma3.rope.freq_base")
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(1_000_000.0);
        let mut l = Loader::new(ct, r, device);
        let embed = l.linear("token_embd.weight")?;
        let norm = l.norm("output_norm.weight", eps)?;
        let mut layers = Vec::new();
        for i in 0..meta_u32(ct, "gemma3.block_count")? {
            let w = |part: &str| format!("blk.{i}.{part}.weight");
            let global = (i + 1) % GLOBAL_EVERY == 0;
            layers.push(Layer {
                attn_norm: l.norm(&w("attn_norm"), eps)?,
                q: l.linear(&w("attn_q"))?,
                k: l.linear(&w("attn_k"))?,
                v: l.linear(&w("attn_v"))?,
                o: l.linear(&w("attn_output"))?,
                q_norm: l.norm(&w("attn_q_norm"), eps)?,
                k_norm: l.norm(&w("attn_k_norm"), eps)?,
                post_attn_norm: l.norm(&w("post_attention_norm"), eps)?,
                ffn_norm: l.norm(&w("ffn_norm"), eps)?,
                gate: l.linear(&w("ffn_gate"))?,
                up: l.linear(&w("ffn_up"))?,
                down: l.linear(&w("ffn_down"))?,
                post_ffn_norm: l.norm(&w("post_ffw_norm"), eps)?,
                // A window of 0 would hide a query from itself: no window, as llama.cpp.
                window: (!global && window > 0).then_some(window),
                global_rope: global,
                cache: KvCache::new(kv_heads, head_dim, context),
            });
        }
        Ok(Gemma3 {
            embed,
            scale: (hidden as f64).sqrt(),
            layers,
            norm,
            heads,
            kv_heads,
            head_dim,
            local_rope: Rope::new(
                head_dim,
                LOCAL_ROPE_BASE,
                None,
                RopeStyle::Halves,
                context,
                device,
            )?,
            global_rope: Rope::new(head_dim, base, None, RopeStyle::Halves, context, device)?,
        })
    }

    /// Logits of the next token after `ids` (batch, sequence) placed at positions `pos..`.
    /// The cache keeps the first `pos` positions of what was fed before and drops the rest,
    /// so `pos` may be anything up to the number of positions fed so far.
    pub fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        let (_, seq) = ids.dims2()?;
        let mut x = (self.embed.embedding(ids)? * self.scale)?;
        for i in 0..self.layers.len() {
            let h = self.attend(i, &self.layers[i].attn_norm.forward(&x)?, pos)?;
            let layer = &self.layers[i];
            x = (x + layer.post_attn_norm.forward(&h)?)?;
            let h = layer.ffn_norm.forward(&x)?;
            let [gate, up] = Linear::forward_all([&layer.gate, &layer.up], &h)?;
            let gated = (gate.gelu()? * up)?;
            x = (x + layer.post_ffn_norm.forward(&layer.down.forward(&gated)?)?)?;
        }
        let last = self.norm.forward(&x)?.i((.., seq - 1, ..))?;
        self.embed.forward(&last)
    }

    /// Attention of layer `i` for new positions `pos..`, after cutting its cache back to
    /// `pos` entries.
    fn attend(&mut self, i: usize, x: &Tensor, pos: usize) -> Result<Tensor> {
        let (b, seq, _) = x.dims3()?;
        let (heads, kv_heads, head_dim) = (self.heads, self.kv_heads, self.head_dim);
        let rope = match self.layers[i].global_rope {
            true => &self.global_rope,
            false => &self.local_rope,
        };
        let layer = &mut self.layers[i];
        let split = |t: Tensor, n: usize| -> Result<Tensor> {
            t.reshape((b, seq, n, head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let [q, k, v] = Linear::forward_all([&layer.q, &layer.k, &layer.v], x)?;
        let q = layer.q_norm.forward(&split(q, heads)?)?;
        let k = layer.k_norm.forward(&split(k, kv_heads)?)?;
        let v = split(v, kv_heads)?;
        let (q, k) = (rope.apply(&q, pos)?, rope.apply(&k, pos)?);
        let span = Span {
            heads,
            scale: 1.0 / (head_dim as f32).sqrt(),
            window: layer.window,
        };
        let y = attend_cached(&mut layer.cache, pos, (&q, &k, &v), span)?;
        layer.o.forward(&y)
    }
}
